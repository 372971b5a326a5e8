"""The runner's logic against the closed-form backend: milliseconds per test, nothing trains."""

from __future__ import annotations

import json
import sqlite3

import pytest
from closed_form import PROTOCOL, ClosedFormBackend, score

from hpobench_rl_cl import api, provenance
from hpobench_rl_cl.errors import BackendError, SealError, UserError
from hpobench_rl_cl.optimizers import OPTIMIZERS, Optimizer, Proposal
from hpobench_rl_cl.protocol import read_protocol
from hpobench_rl_cl.runner.session import Session
from hpobench_rl_cl.runner.verify import verify
from hpobench_rl_cl.store.sqlite_store import ResultStore, TrialKey
from hpobench_rl_cl.trainers.base import BACKENDS, TrialResult

BACKENDS.add("closed-form", ClosedFormBackend)


class LowFidelityOnly(Optimizer):
    """Asks a quarter-run of a fixed sequence of learning rates, forever: it never asks a full run."""

    multi_fidelity = True

    def __init__(self, space, *, seed, budget) -> None:
        super().__init__(space, seed=seed, budget=budget)
        self.asked = 0

    def ask(self) -> Proposal:
        self.asked += 1
        return Proposal({"learning_rate": (0.1 * self.asked) % 1.0, "width": 16}, fidelity=0.25)

    def tell(self, proposal: Proposal, score: float) -> None:
        """Learns nothing."""


class NothingToAsk(Optimizer):
    def ask(self) -> None:
        return None

    def tell(self, proposal: Proposal, score: float) -> None:
        """Never called."""


OPTIMIZERS.add("low-fidelity-only", LowFidelityOnly)
OPTIMIZERS.add("nothing-to-ask", NothingToAsk)


@pytest.fixture
def protocol_file(tmp_path):
    ClosedFormBackend.calls = []
    ClosedFormBackend.results_per_call = None
    ClosedFormBackend.crash = False
    path = tmp_path / "closed-form.yaml"
    path.write_text(PROTOCOL)
    return str(path)


def _run(protocol_file, tmp_path, optimizer="random", **changes):
    if changes:
        text = open(protocol_file).read()
        for key, value in changes.items():
            text = text.replace(f"{key}: ", f"{key}: {value} #", 1)
        open(protocol_file, "w").write(text)
    return api.run_study(protocol_file, scale="paper", optimizer=optimizer, workers=1, store=tmp_path / "runs",
                         results=tmp_path / "results", progress=False)


def _trials(summary, tmp_path):
    return api.show_study(summary["study_id"], tmp_path / "runs")["trials"]


def test_budget_is_never_exceeded_and_every_configuration_trains_on_every_tuning_seed(protocol_file, tmp_path):
    summary = _run(protocol_file, tmp_path, budget_full_runs=3.5)
    tuning = [t for t in _trials(summary, tmp_path) if t["phase"] == "tuning"]
    assert summary["budget"]["used_full_runs"] == 3 and summary["budget"]["configurations"] == 3
    assert len(tuning) == 3 * 2 and {t["seed"] for t in tuning} == {0, 1}


def test_incumbent_is_the_best_mean_tuning_score_at_full_fidelity(protocol_file, tmp_path):
    summary = _run(protocol_file, tmp_path)
    tuning = [t for t in _trials(summary, tmp_path) if t["phase"] == "tuning"]
    by_config: dict[str, list[float]] = {}
    for t in tuning:
        by_config.setdefault(t["config_hash"], []).append(t["score"])
    best = max(by_config, key=lambda c: sum(by_config[c]) / len(by_config[c]))
    assert summary["incumbent"]["config_hash"] == best
    expected = [score(summary["incumbent"]["config"], seed, 1000) for seed in (5, 6, 7)]
    assert summary["held_out"]["incumbent"]["scores"] == pytest.approx(expected)


def test_reserve_and_promotion_when_a_tool_never_asks_a_full_run(protocol_file, tmp_path):
    summary = _run(protocol_file, tmp_path, optimizer="low-fidelity-only")
    trials = _trials(summary, tmp_path)
    low = [t for t in trials if t["phase"] == "tuning" and t["fidelity"] < 1]
    full = [t for t in trials if t["phase"] == "tuning" and t["fidelity"] == 1]
    # 4 full runs: one stays in reserve, so the tool gets 3 / 0.25 = 12 quarter-runs.
    assert len({t["config_hash"] for t in low}) == 12
    assert len(full) == 2, "the reserve trains one configuration at full fidelity on both tuning seeds"
    best_low = max(low, key=lambda t: t["score"])
    assert full[0]["config_hash"] == best_low["config_hash"] == summary["incumbent"]["config_hash"]
    assert summary["budget"]["used_full_runs"] == 4


def test_a_tool_that_proposes_nothing_is_an_error(protocol_file, tmp_path):
    with pytest.raises(RuntimeError, match="proposed no configuration"):
        _run(protocol_file, tmp_path, optimizer="nothing-to-ask")


def test_a_study_whose_tuning_trials_all_crashed_ends_with_the_first_crash_not_an_incumbent(protocol_file, tmp_path):
    ClosedFormBackend.crash = True
    with pytest.raises(UserError, match="every tuning trial crashed, so there is no incumbent; the first: ValueError: "
                                        "no such width$"):
        _run(protocol_file, tmp_path)


def test_trials_are_grouped_by_the_backend_key_and_cut_to_its_batch_size(protocol_file, tmp_path):
    _run(protocol_file, tmp_path, budget_full_runs=8)
    calls = ClosedFormBackend.calls
    assert all(1 <= len(call) <= ClosedFormBackend.max_batch for call in calls)
    assert all(len({t.config["width"] for t in call}) == 1 for call in calls)
    # One worker with batches of 4 and two tuning seeds: the tool is asked for two configurations
    # at a time, and two of the same width share one call.
    assert any(len({t.config_hash for t in call}) == 2 for call in calls)


def test_a_backend_returning_the_wrong_number_of_results_is_an_error_naming_it(protocol_file, tmp_path):
    ClosedFormBackend.results_per_call = 1
    with pytest.raises(BackendError, match=r"backend .closed-form. returned 1 results for a batch of [2-4] trials"):
        _run(protocol_file, tmp_path)


def test_held_out_seeds_are_sealed_for_every_other_configuration(protocol_file, tmp_path):
    summary = _run(protocol_file, tmp_path)
    protocol = read_protocol(protocol_file, "paper")
    with Session(tmp_path / "runs", workers=1, progress=False) as session:
        study = session.study(protocol, summary["study_id"], "random", 0, "cpu")
        with pytest.raises(SealError, match="selecting on the test set"):
            study.train_roles({"incumbent": {"learning_rate": 0.9, "width": 32}}, (5,))
        audit = study.train_roles({"incumbent": {"learning_rate": 0.9, "width": 32}}, (5,), audit=True)
    assert audit["incumbent"][5].score == pytest.approx(score({"learning_rate": 0.9}, 5, 1000))


@pytest.mark.parametrize("tool", ["random", "smac", "dehb", "tpe"])
def test_an_interrupted_study_resumes_to_the_uninterrupted_result_without_retraining(tool, protocol_file, tmp_path):
    uninterrupted = _run(protocol_file, tmp_path / "a", tool)
    calls = len(ClosedFormBackend.calls)

    class Interrupted(Exception):
        pass

    original = ClosedFormBackend.train_batch

    def stop_after_three(self, spec, trials):
        if len(type(self).calls) == calls + 3:
            raise Interrupted
        return original(self, spec, trials)

    ClosedFormBackend.train_batch = stop_after_three
    try:
        with pytest.raises(Interrupted):
            _run(protocol_file, tmp_path / "b", tool)
    finally:
        ClosedFormBackend.train_batch = original
    stored = len(ResultStore(tmp_path / "b" / "runs").trials())
    before_resume = len(ClosedFormBackend.calls)
    resumed = _run(protocol_file, tmp_path / "b", tool)
    retrained = sum(len(call) for call in ClosedFormBackend.calls[before_resume:])
    assert resumed == {**uninterrupted, "time": resumed["time"]}
    assert stored + retrained == len(ResultStore(tmp_path / "b" / "runs").trials())


def _run_seed(protocol_file, tmp_path, hpo_seed):
    return api.run_study(protocol_file, scale="paper", hpo_seed=hpo_seed, workers=1, store=tmp_path / "runs",
                         results=tmp_path / "results", progress=False)


def _held_out(study_id, tmp_path, role):
    return [t for t in ResultStore(tmp_path / "runs").trials(study_id) if t["phase"] == "test" and t["role"] == role]


def test_a_second_study_adopts_the_hand_tuned_test_trials_of_the_first_and_verify_retrains_them(protocol_file, tmp_path):
    first = _run_seed(protocol_file, tmp_path, 0)
    calls = len(ClosedFormBackend.calls)
    second = _run_seed(protocol_file, tmp_path, 1)
    trained = [t for call in ClosedFormBackend.calls[calls:] for t in call]
    assert not any(t.config == {"learning_rate": 0.5, "width": 16} for t in trained)
    adopted = _held_out(second["study_id"], tmp_path, "hand-tuned")
    assert [(t["seed"], t["score"]) for t in adopted] == \
        [(t["seed"], t["score"]) for t in _held_out(first["study_id"], tmp_path, "hand-tuned")]
    assert {json.loads(t["notes_json"])["adopted_from"] for t in adopted} == {first["study_id"]}
    assert second["hand_tuned"]["trained_by"] == first["study_id"] and "trained_by" not in first["hand_tuned"]
    assert second["held_out"]["hand-tuned"] == first["held_out"]["hand-tuned"]
    report = verify(second["study_id"], store=tmp_path / "runs", sample=3, protocol_file=protocol_file)
    assert report["all_identical"] and {r["role"] for r in report["trials"] if r["phase"] == "test"} >= {"hand-tuned"}


def test_hand_tuned_trials_are_never_adopted_from_other_code(protocol_file, tmp_path, monkeypatch):
    _run_seed(protocol_file, tmp_path, 0)
    monkeypatch.setattr(provenance, "code_fingerprint", lambda *args, **kwargs: "f" * 64)
    calls = len(ClosedFormBackend.calls)
    second = _run_seed(protocol_file, tmp_path, 1)
    trained = [t for call in ClosedFormBackend.calls[calls:] for t in call]
    assert sum(t.config == {"learning_rate": 0.5, "width": 16} for t in trained) == 3
    assert "trained_by" not in second["hand_tuned"]


def test_hand_tuned_trials_are_never_adopted_from_an_edited_store(protocol_file, tmp_path):
    first = _run_seed(protocol_file, tmp_path, 0)
    with sqlite3.connect(tmp_path / "runs" / "hpobench.sqlite") as db:
        db.execute("DROP TRIGGER trials_never_change")
        db.execute("UPDATE trials SET score = 99.0 WHERE study_id = ? AND role = 'hand-tuned'", (first["study_id"],))
    second = _run_seed(protocol_file, tmp_path, 1)
    assert "trained_by" not in second["hand_tuned"]
    assert [t["score"] for t in _held_out(second["study_id"], tmp_path, "hand-tuned")] == \
        [score({"learning_rate": 0.5}, seed, 1000) for seed in (5, 6, 7)]



def test_a_resumed_study_keeps_what_it_adopted_or_trained_and_never_mixes_the_two(protocol_file, tmp_path):
    first = _run_seed(protocol_file, tmp_path, 0)
    second = _run_seed(protocol_file, tmp_path, 1)
    store = ResultStore(tmp_path / "runs")
    own = _held_out(first["study_id"], tmp_path, "hand-tuned")
    config_id = own[0]["config_hash"]
    assert store.adopt_held_out(second["study_id"], "hand-tuned", config_id, (5, 6, 7), 1000) == first["study_id"]
    assert len(_held_out(second["study_id"], tmp_path, "hand-tuned")) == 3
    study = store.study(first["study_id"])
    store.open_study("interrupted", family="rl", protocol_name=study["protocol_name"], scale=study["scale"],
                     protocol_hash=study["protocol_hash"], protocol_content=json.loads(study["protocol_json"]),
                     optimizer="random", hpo_seed=2, provenance=json.loads(study["provenance_json"]))
    key = TrialKey("interrupted", "test", "hand-tuned", config_id, 5, 1000)
    store.put(key, json.loads(own[0]["config_json"]), 1.0, TrialResult(-1.0, "ok", [], 0.0, 0.0), None)
    assert store.adopt_held_out("interrupted", "hand-tuned", config_id, (5, 6, 7), 1000) is None
    assert [(t["seed"], t["score"]) for t in store.trials("interrupted")] == [(5, -1.0)]
