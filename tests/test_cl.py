"""Continual learning: metrics, the two-phase protocol's refusals, real Avalanche training, loaders."""

from __future__ import annotations

import json
import pickle
import random
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import torch
import pandas as pd
import pytest
import yaml

from hpobench_rl_cl import api, cli
from hpobench_rl_cl.analysis import cl_metrics
from hpobench_rl_cl.analysis.results import collect
from hpobench_rl_cl.errors import ProtocolError, UserError
from hpobench_rl_cl.protocol.cl import load_cl_suite
from hpobench_rl_cl.trainers.cl.avalanche import train_cl_trial
from hpobench_rl_cl.trainers.base import Trial, own_python_random
from hpobench_rl_cl.trainers.cl.data import DataSpec, _render_glyph
from hpobench_rl_cl.trainers.cl.strategies import OWN_HYPERPARAMETERS

from conftest import FIXTURES

TINY_CL = str(FIXTURES / "tiny-cl.yaml")

# After experience i (row) on experience j (column); upper triangle = not yet seen.
MATRIX = [
    [0.9, 0.1, 0.0],
    [0.5, 0.8, 0.2],
    [0.3, 0.6, 0.7],
]


def test_metrics_against_a_hand_computed_matrix():
    # seen accuracy after each experience: 0.9, (0.5+0.8)/2 = 0.65, (0.3+0.6+0.7)/3 = 0.5333
    assert cl_metrics.final_accuracy(MATRIX) == pytest.approx(1.6 / 3)
    assert cl_metrics.average_incremental_accuracy(MATRIX) == pytest.approx((0.9 + 0.65 + 1.6 / 3) / 3)
    # forgetting: exp 0: max(0.9, 0.5) - 0.3 = 0.6; exp 1: 0.8 - 0.6 = 0.2 -> 0.4
    assert cl_metrics.forgetting(MATRIX) == pytest.approx(0.4)
    # backward transfer: (0.3 - 0.9 + 0.6 - 0.8) / 2 = -0.4
    assert cl_metrics.backward_transfer(MATRIX) == pytest.approx(-0.4)
    # weighted by test-set size (first experience twice as large): (2*0.3 + 0.6 + 0.7) / 4
    assert cl_metrics.final_accuracy(MATRIX, weights=[2, 1, 1]) == pytest.approx(1.9 / 4)
    with pytest.raises(ValueError, match="square"):
        cl_metrics.final_accuracy([[0.1, 0.2]])


def test_strategy_comparison_ranks_and_kendall_tau():
    def summary(tuning: float, evaluation: float, hand: float) -> dict:
        return {"incumbent": {"tuning_score": tuning},
                "held_out": {"incumbent": {"mean": evaluation}, "hand-tuned": {"mean": hand}}}

    comparison = cl_metrics.compare_strategies({
        "a": summary(90, 40, 30), "b": summary(80, 60, 50), "c": summary(70, 50, 40),
    })
    rows = {r["strategy"]: r for r in comparison["strategies"]}
    assert [rows[n]["tuning_rank"] for n in "abc"] == [1, 2, 3]
    assert [rows[n]["evaluation_rank"] for n in "abc"] == [3, 1, 2]
    assert rows["a"]["rank_shift"] == -2
    # pairs: (a,b) discordant, (a,c) discordant, (b,c) concordant -> (1 - 2) / 3
    assert comparison["kendall_tau_tuning_vs_evaluation"] == pytest.approx(-1 / 3)


def _write_protocol(tmp_path: Path, **changes) -> str:
    data = yaml.safe_load(Path(TINY_CL).read_text())
    data.update(changes)
    path = tmp_path / "protocol.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


@pytest.mark.parametrize("changes, message", [
    ({"evaluation_data": {"source": "digits", "classes": "2-5"}}, r"overlap on class\(es\) \[2, 3\]"),
    ({"evaluation_data": {"source": "digits", "classes": "4-9"}}, "differ in shape"),
    ({"scenario": {"n_experiences": 3}}, "do not split into 3 equal"),
    ({"strategies": ["naive", "no-such-strategy"]}, "unknown CL strategy 'no-such-strategy'"),
    ({"strategies": ["ewc"], "strategy_spaces": {"ewc": {"hyperparameters": {"ewc_lambda": {
        "type": "uniform_float", "lower": 0.1, "upper": 10.0}}}}},
     r"hand-tuned configuration does not set \['ewc_lambda'\]"),
    ({"hand_tuned": {"source": "x", "config": {"lr": 0.1, "momentum": 0.9, "weight_decay": 0.0001,
                                                "batch_size": 32, "lr_schedule": "constant", "dropout": 0.1}}},
     r"unknown hyperparameter\(s\) \['dropout'\]"),
    ({"evaluation_seeds": [1, 9]}, "tuning and evaluation seeds overlap on"),
    ({"tuning_data": {"source": "digits", "classes": "0-12"}}, "outside the 10 classes"),
])
def test_protocol_refusals(tmp_path, changes, message):
    with pytest.raises(ProtocolError, match=message):
        load_cl_suite(_write_protocol(tmp_path, **changes), "paper")


def test_tuning_phase_is_never_given_the_evaluation_data():
    protocol = load_cl_suite(TINY_CL, "smoke").strategies["replay"]
    specs = protocol.train_specs("cpu")
    assert specs["tuning"].data == specs["user"].data == protocol.tuning_data
    assert specs["evaluation"].data == protocol.evaluation_data
    assert set(specs["tuning"].data.classes).isdisjoint(protocol.evaluation_data.classes)


def _digits_spec(strategy: str, memory: int = 40):
    protocol = load_cl_suite(TINY_CL, "smoke").strategies["naive"]
    spec = protocol.train_specs("cpu")["tuning"]
    from dataclasses import replace

    return replace(spec, strategy=strategy, memory_size=memory)


HAND_TUNED_OWN = yaml.safe_load((Path(__file__).parents[1] / "hpobench_rl_cl/protocol/data/search_spaces/cl_strategies.yaml").read_text())


@pytest.mark.slow
@pytest.mark.parametrize("strategy", sorted(OWN_HYPERPARAMETERS))
def test_every_builtin_strategy_trains_for_real(strategy):
    shared = {"lr": 0.05, "momentum": 0.9, "weight_decay": 1e-5, "batch_size": 32, "lr_schedule": "cosine"}
    config = {**shared, **(HAND_TUNED_OWN.get(strategy, {}).get("hand_tuned") or {})}
    result = train_cl_trial(_digits_spec(strategy), Trial(config, 0, 1))
    assert result.status == "ok", result.error
    matrix = np.asarray(result.notes["accuracy_matrix"])
    assert matrix.shape == (2, 2)
    assert result.score == pytest.approx(100 * cl_metrics.final_accuracy(matrix, result.notes["test_sizes"]))
    assert [step for step, _ in result.curve] == [1, 2]


@contextmanager
def another_thread_drawing_from_python_random():
    """What a Dask worker's heartbeat does while a trial trains (often: the switch interval is short,
    so the drawing thread runs between any two steps of the trial)."""
    stop, interval = threading.Event(), sys.getswitchinterval()
    drawing = threading.Thread(target=lambda: [random.random() for _ in iter(stop.is_set, True)])
    sys.setswitchinterval(1e-6)
    drawing.start()
    try:
        yield
    finally:
        stop.set()
        drawing.join()
        sys.setswitchinterval(interval)


def test_a_trial_draws_python_random_numbers_of_its_own_whatever_other_threads_draw():
    with another_thread_drawing_from_python_random(), own_python_random(7):
        draws = [random.random() for _ in range(2000)]
        random.shuffle(order := list(range(50)))
    expected = random.Random(7)
    assert draws == [expected.random() for _ in range(2000)]
    expected.shuffle(expected_order := list(range(50)))
    assert order == expected_order
    assert isinstance(random.shuffle.__self__, random.Random), "the shared generator is back afterwards"


@pytest.mark.slow
def test_forgetting_is_real_and_replay_reduces_it():
    config = {"lr": 0.05, "momentum": 0.9, "weight_decay": 1e-5, "batch_size": 32, "lr_schedule": "constant"}
    naive = train_cl_trial(_digits_spec("naive"), Trial(config, 0, 3))
    replay = train_cl_trial(_digits_spec("replay", memory=100), Trial(config, 0, 3))
    # Naive fine-tuning forgets the first experience almost entirely; a replay memory keeps some of it.
    assert naive.notes["forgetting"] > 0.5
    assert replay.notes["forgetting"] < naive.notes["forgetting"]
    assert replay.score > naive.score
    # Same seed, same numbers: trials are deterministic; another seed trains another network.
    again = train_cl_trial(_digits_spec("naive"), Trial(config, 0, 3))
    assert again.notes["accuracy_matrix"] == naive.notes["accuracy_matrix"]
    other = train_cl_trial(_digits_spec("naive"), Trial(config, 1, 3))
    assert other.notes["accuracy_matrix"] != naive.notes["accuracy_matrix"]
    assert other.notes["class_order"] == naive.notes["class_order"], "the scenario is the protocol's, not the seed's"


@pytest.mark.slow
def test_two_phase_study_end_to_end(workdir, capsys):
    argv = ["run", TINY_CL, "--scale", "smoke", "--workers", "1", "--store", str(workdir["store"]),
            "--results", str(workdir["results"]), "--no-progress"]
    assert cli.main(argv) == 0
    printed = capsys.readouterr().out
    assert "Kendall tau, tuning vs evaluation ranks" in printed
    comparison = json.loads((workdir["results"] / "cl" / "tiny-cl-smoke-random-s0.comparison.json").read_text())
    assert [r["strategy"] for r in comparison["strategies"]] == ["naive", "replay"]
    frame = pd.read_csv(workdir["results"] / "cl" / "tiny-cl-replay-smoke-random-s0.csv")
    assert set(frame["phase"]) == {"tuning", "evaluation"}
    assert set(frame.loc[frame.phase == "tuning", "seed"]) == {0, 1}
    assert set(frame.loc[frame.phase == "evaluation", "seed"]) == {7, 8}
    assert set(frame.loc[frame.phase == "evaluation", "role"]) == {"incumbent", "hand-tuned"}
    for notes in frame["notes"]:
        assert len(json.loads(notes)["accuracy_matrix"]) == 2
    # Evaluation seeds are sealed: a user's configuration there is refused (one line, exit 2) ...
    config = workdir["store"].parent / "mine.yaml"
    config.write_text("{lr: 0.01, momentum: 0.0, weight_decay: 0.0001, batch_size: 16, lr_schedule: constant}\n")
    train = ["train", TINY_CL, "--strategy", "replay", "--config", str(config), "--seeds", "7",
                "--scale", "smoke", "--workers", "1", "--store", str(workdir["store"]), "--results",
                str(workdir["results"]), "--no-progress"]
    assert cli.main(train) == 2
    assert "sealed" in capsys.readouterr().err
    # ... and rerunning the study resumes it from the store: nothing is trained again.
    rerun = api.run_study(TINY_CL, scale="smoke", workers=1, store=workdir["store"], results=workdir["results"],
                          progress=False)
    assert rerun["strategies"] == comparison["strategies"]
    # The comparison is built again from the strategies' studies: as written it verifies, and
    # swapping the evaluation ranks is refused.
    collect(workdir["results"])
    path = workdir["results"] / "cl" / "tiny-cl-smoke-random-s0.comparison.json"
    first, second = comparison["strategies"]
    assert first["evaluation_rank"] != second["evaluation_rank"]
    first["evaluation_rank"], second["evaluation_rank"] = second["evaluation_rank"], first["evaluation_rank"]
    path.write_text(json.dumps(comparison))
    with pytest.raises(UserError, match="strategies differs from the studies behind it"):
        collect(workdir["results"])


@pytest.mark.slow
def test_one_strategy_runs_alone_and_the_comparison_takes_the_others_from_their_exports(tmp_path, capsys):
    results = tmp_path / "results"
    comparison_path = results / "cl" / "tiny-cl-smoke-random-s0.comparison.json"
    replay_csv, naive_csv = (results / "cl" / f"tiny-cl-{s}-smoke-random-s0.csv" for s in ("replay", "naive"))

    def run(strategy: str, store: str) -> int:
        return cli.main(["run", TINY_CL, "--strategy", strategy, "--scale", "smoke", "--workers", "1",
                         "--store", str(tmp_path / store), "--results", str(results), "--no-progress"])

    # Alone: its study is exported; the comparison waits for the other strategy's.
    assert run("replay", "runs") == 0
    printed = capsys.readouterr().out
    assert "no comparison written" in printed and "tiny-cl-naive-smoke-random-s0" in printed
    assert replay_csv.is_file() and not comparison_path.exists()
    # The other strategy completes it, replay taken from its export.
    assert run("naive", "runs") == 0
    assert "Kendall tau" in capsys.readouterr().out
    comparison = json.loads(comparison_path.read_text())
    assert [r["strategy"] for r in comparison["strategies"]] == ["naive", "replay"]
    collect(results)
    # From an empty store one strategy's study is trained again, its export replaced and the
    # comparison rebuilt around it; the study log keeps both runs.
    key = ["phase", "role", "config_id", "seed"]
    before = pd.read_csv(replay_csv).sort_values(key, ignore_index=True)
    assert run("replay", "another-store") == 0
    after = pd.read_csv(replay_csv).sort_values(key, ignore_index=True)
    assert after["finished_at"].min() > before["finished_at"].max()
    assert list(after["score"]) == list(before["score"]), "the same machine trains the same scores"
    assert json.loads(comparison_path.read_text())["strategies"] == comparison["strategies"]
    log = pd.read_csv(results / "study_log.csv")
    assert list(log.loc[log.study_id == "tiny-cl-replay-smoke-random-s0", "event"]).count("finished") == 2
    collect(results)
    # An edited export of the other strategy is refused before anything trains.
    edited = pd.read_csv(naive_csv)
    edited.loc[edited.phase == "evaluation", "score"] += 10
    edited.to_csv(naive_csv, index=False)
    untouched = replay_csv.read_bytes()
    assert run("replay", "third-store") == 2
    assert "the export was edited" in capsys.readouterr().err
    assert replay_csv.read_bytes() == untouched


@pytest.mark.slow
def test_glyph_rendering_is_deterministic_and_the_dataset_has_its_shape():
    from PIL import ImageFont
    import matplotlib

    font = ImageFont.truetype(str(Path(matplotlib.get_data_path()) / "fonts/ttf/DejaVuSans.ttf"), 30)
    first = _render_glyph(font, "Q", np.random.default_rng(3))
    assert first.shape == (32, 32) and first.dtype == np.uint8
    assert np.array_equal(first, _render_glyph(font, "Q", np.random.default_rng(3)))
    assert not np.array_equal(first, _render_glyph(font, "Q", np.random.default_rng(4)))
    train, test = DataSpec("glyphs", (20, 39), {}).load()  # the cached dataset (rendered on first use)
    assert train.images.shape == (600, 1, 32, 32) and len(test) == 200
    assert sorted(set(train.targets)) == [0, 1]


@pytest.mark.slow
def test_cifar100_loader_reads_torchvision_on_disk_format(tmp_path):
    folder = tmp_path / "cifar-100-python"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for split, per_class in (("train", 3), ("test", 2)):
        labels = [c for c in range(100) for _ in range(per_class)]
        batch = {"data": rng.integers(0, 256, size=(len(labels), 3072), dtype=np.uint8), "fine_labels": labels,
                 "coarse_labels": [c // 5 for c in labels], "filenames": [f"{i}.png" for i in range(len(labels))]}
        (folder / split).write_bytes(pickle.dumps(batch))
    train, test = DataSpec("cifar100", (50, 51, 99), {"root": str(tmp_path)}).load()
    assert train.images.shape == (9, 3, 32, 32) and len(test) == 6
    assert train.targets == [0, 0, 0, 1, 1, 1, 2, 2, 2]
    raw = pickle.loads((folder / "train").read_bytes())
    first_of_50 = raw["data"][50 * 3].reshape(3, 32, 32) / 255.0
    assert np.allclose(train.images[0].numpy(), first_of_50)
    with pytest.raises(ProtocolError, match="CIFAR-100 not found"):
        DataSpec("cifar100", (0,), {"root": str(tmp_path / "missing")}).load()

    # The CL paper's pipeline: random crop and flip in training only, per-channel normalization in both.
    from hpobench_rl_cl.trainers.cl.avalanche import scenario_for
    from hpobench_rl_cl.trainers.cl.data import CIFAR100_MEAN, CIFAR100_STD
    from hpobench_rl_cl.trainers.cl.spec import CLTrainSpec

    spec = CLTrainSpec("naive", "resnet18-cifar", DataSpec("cifar100", (50, 51, 99), {"root": str(tmp_path)}), 3,
                       None, 10, 1993, "final_accuracy", full_epochs=1)
    scenario, _, _ = scenario_for(spec, "cpu")
    mean, std = np.array(CIFAR100_MEAN)[:, None, None], np.array(CIFAR100_STD)[:, None, None]
    image = scenario.test_stream[0].dataset[0][0].numpy()
    assert any(np.allclose(image, (raw.numpy() - mean) / std, atol=1e-5) for raw in test.images), \
        "evaluation: normalized, not augmented"
    torch.manual_seed(0)
    draws = [scenario.train_stream[0].dataset[0][0].numpy() for _ in range(8)]
    assert any(not np.allclose(draws[0], d) for d in draws[1:]), "training: a new random crop or flip per read"
    assert not any(np.allclose(draws[0], (raw.numpy() - mean) / std) for raw in train.images), "augmented"
    assert draws[0].min() < -1.0 < 1.0 < draws[0].max(), "and normalized (raw images lie in [0, 1])"


def _image_tree(root: Path, classes: list[str]) -> None:
    from PIL import Image

    for split in ("train", "val"):
        for index, name in enumerate(classes):
            (root / split / name).mkdir(parents=True)
            for k in range(2):
                Image.new("RGB", (40, 30), (index * 40, k * 100, 50)).save(root / split / name / f"{k}.png")


@pytest.mark.slow
def test_imagefolder_loader_and_disjointness_by_class_folder(tmp_path):
    _image_tree(tmp_path / "a", ["n01", "n02", "n03", "n04"])
    train, test = DataSpec("imagefolder", (2, 3), {"root": str(tmp_path / "a"), "image_size": 16}).load()
    assert len(train) == 4 and train.targets == [0, 0, 1, 1]
    assert train.images[0].shape == (3, 16, 16)
    _image_tree(tmp_path / "b", ["n04", "n05"])
    protocol = _write_protocol(
        tmp_path, model="mlp",
        tuning_data={"source": "imagefolder", "root": str(tmp_path / "a"), "classes": ["n03", "n04"], "image_size": 16},
        evaluation_data={"source": "imagefolder", "root": str(tmp_path / "b"), "classes": ["n04", "n05"],
                         "image_size": 16},
    )
    with pytest.raises(ProtocolError, match=r"overlap on class\(es\) \['n04'\]"):
        load_cl_suite(protocol, "paper")


@pytest.mark.slow
@pytest.mark.parametrize("how", ["symlinked", "copied"])
def test_evaluation_images_shared_with_the_tuning_data_are_refused_whatever_the_folder_names(tmp_path, how):
    import shutil

    _image_tree(tmp_path / "a", ["n01", "n02", "n03", "n04"])
    for split in ("train", "val"):
        (tmp_path / "b" / split).mkdir(parents=True)
        for mine, theirs in (("m1", "n03"), ("m2", "n04")):
            source, target = tmp_path / "a" / split / theirs, tmp_path / "b" / split / mine
            target.symlink_to(source, target_is_directory=True) if how == "symlinked" else shutil.copytree(source, target)
    protocol = _write_protocol(
        tmp_path, model="mlp",
        tuning_data={"source": "imagefolder", "root": str(tmp_path / "a"), "classes": ["n03", "n04"], "image_size": 16},
        evaluation_data={"source": "imagefolder", "root": str(tmp_path / "b"), "classes": ["m1", "m2"],
                         "image_size": 16},
    )
    load_cl_suite(protocol, "paper")  # the folder names are disjoint ...
    with pytest.raises(ProtocolError, match=r"evaluation_data shares 8 image\(s\) with tuning_data \(e.g. imagefolder"):
        api.run_study(protocol, scale="paper", workers=1, store=tmp_path / "runs", results=tmp_path / "results",
                      progress=False)  # ... the images are not, and nothing trains
    assert not (tmp_path / "runs").exists()


@pytest.mark.slow
def test_multi_fidelity_tools_train_fewer_epochs_and_refuse_a_single_level(workdir, capsys):
    comparison = api.run_study(TINY_CL, scale="smoke", optimizer="dehb", workers=1, store=workdir["store"],
                               results=workdir["results"], progress=False)
    frame = pd.read_csv(workdir["results"] / "cl" / "tiny-cl-naive-smoke-dehb-s0.csv")
    tuning = frame[frame["phase"] == "tuning"]
    assert set(tuning["budget"]) == {1, 2}, "DEHB asks for 1 of the 2 epochs, and for full runs"
    assert (frame.loc[frame["phase"] == "evaluation", "budget"] == 2).all()
    assert comparison["studies"][0]["budget"]["unit"] == "epochs"
    argv = ["run", "glyphs-halves", "--scale", "smoke", "--optimizer", "dehb", "--store", str(workdir["store"])]
    assert cli.main(argv) == 2
    assert "single fidelity level (1 epochs)" in capsys.readouterr().err


def test_tuned_epochs_scale_with_fidelity_and_are_what_the_budget_is_charged():
    """The CL paper's space tunes the epochs: a trial trains them scaled by its fidelity, never more
    than its budget, and the runner charges a tool what it trains."""
    from hpobench_rl_cl.protocol import read_cl_suite
    from hpobench_rl_cl.trainers.cl.avalanche import AvalancheBackend, lr_scheduler, trained_epochs

    assert trained_epochs({"epochs": 120}, 200, 200) == 120 and trained_epochs({"epochs": 120}, 50, 200) == 30
    assert trained_epochs({"epochs": 170}, 2, 2) == 2, "smoke's two epochs cap every configuration"
    assert trained_epochs({"lr": 0.1}, 5, 5) == 5, "without tuned epochs: the budget"
    protocol = read_cl_suite("cifar100-half", "paper").strategies["derpp"]
    assert protocol.memory_size == 1000 and protocol.tuning_seeds == (0,) and protocol.deviations
    assert set(protocol.search_space().keys()) >= {"epochs", "lr", "batch_size", "weight_decay", "lr_schedule",
                                                   "derpp_alpha", "derpp_beta"}
    spec = protocol.train_specs("cpu")["tuning"]
    assert AvalancheBackend().trained_units(spec, {"epochs": 40}, 100) == 20
    step = lr_scheduler("step", torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1), 40)
    assert step.milestones == {20: 1, 30: 1} and step.gamma == 0.1
    assert lr_scheduler("constant", None, 40) is None
