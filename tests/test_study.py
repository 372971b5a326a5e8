import json
from pathlib import Path

import pandas as pd
import pytest

from hpobench_rl_cl import api
from hpobench_rl_cl.errors import SealError, StoreError, UserError
from hpobench_rl_cl.protocol.rl import load_protocol
from hpobench_rl_cl.store.export import EXPORT_COLUMNS
from hpobench_rl_cl.store.sqlite_store import ResultStore, TrialKey
from hpobench_rl_cl.trainers.base import Trial, TrialResult
from hpobench_rl_cl.trainers.rl.sb3 import train_trial

pytestmark = pytest.mark.slow


def _run(tiny_protocol, workdir, **kwargs):
    return api.run_study(tiny_protocol, scale="smoke", store=workdir["store"], results=workdir["results"],
                         progress=False, workers=1, **kwargs)


def test_study_tunes_on_tuning_seeds_only_then_tests_both_roles(tiny_protocol, workdir):
    summary = _run(tiny_protocol, workdir)
    protocol = load_protocol(tiny_protocol, "smoke")
    trials = api.show_study(summary["study_id"], workdir["store"])["trials"]
    tuning = [t for t in trials if t["phase"] == "tuning"]
    test = [t for t in trials if t["phase"] == "test"]
    assert {t["seed"] for t in tuning} == set(protocol.tuning_seeds)
    assert len(tuning) == 3 * 2 and all(t["budget"] == 128 for t in tuning)
    assert sorted((t["role"], t["seed"]) for t in test) == [("hand-tuned", 5), ("hand-tuned", 6),
                                                           ("incumbent", 5), ("incumbent", 6)]
    assert summary["budget"]["used_full_runs"] <= protocol.budget_full_runs
    # the incumbent is the best mean over the tuning seeds
    by_config = pd.DataFrame(tuning).groupby("config_hash")["score"].mean()
    assert summary["incumbent"]["tuning_score"] == pytest.approx(by_config.max())
    assert summary["incumbent"]["config_hash"] == by_config.idxmax()
    incumbent_tests = [t for t in test if t["role"] == "incumbent"]
    assert {t["config_hash"] for t in incumbent_tests} == {by_config.idxmax()}
    assert summary["held_out"]["incumbent"]["scores"] == [t["score"] for t in sorted(incumbent_tests, key=lambda t: t["seed"])]
    exported = pd.read_csv(workdir["results"] / "rl" / f"{summary['study_id']}.csv")
    assert list(exported.columns) == list(EXPORT_COLUMNS) and len(exported) == len(trials)
    assert (exported["protocol_hash"] == protocol.hash).all()
    provenance = json.loads((workdir["results"] / "rl" / f"{summary['study_id']}.summary.json").read_text())["provenance"]
    assert provenance["packages"]["stable-baselines3"] == "2.9.2" and provenance["suite_commit"]


def test_rerun_resumes_without_recomputing(tiny_protocol, workdir):
    first = _run(tiny_protocol, workdir)
    before = api.show_study(first["study_id"], workdir["store"])["trials"]
    second = _run(tiny_protocol, workdir)
    after = api.show_study(first["study_id"], workdir["store"])["trials"]
    assert [t["finished_at"] for t in before] == [t["finished_at"] for t in after]
    assert first["held_out"] == second["held_out"]


def test_a_trial_is_deterministic(tiny_protocol):
    spec = load_protocol(tiny_protocol, "smoke").train_specs("cpu")["tuning"]
    trial = Trial({"n_steps": 64, "batch_size": 32, "learning_rate": 3e-3}, seed=3, budget=192)
    first, second = train_trial(spec, trial), train_trial(spec, trial)
    assert first.status == "ok"
    assert (first.score, first.curve) == (second.score, second.curve)
    assert train_trial(spec, Trial(trial.config, seed=4, budget=192)).curve != first.curve


def test_user_config_on_test_seeds_is_refused_unless_audit(tiny_protocol, workdir):
    config = {"learning_rate": 1e-3, "n_epochs": 2}
    with pytest.raises(SealError, match="selecting on the test set"):
        api.train_config(tiny_protocol, config, scale="smoke", seeds=[5], store=workdir["store"],
                     results=workdir["results"], progress=False, workers=1)
    audit = api.train_config(tiny_protocol, config, scale="smoke", seeds=[5], audit=True, store=workdir["store"],
                         results=workdir["results"], progress=False, workers=1)
    assert audit["audit"] and audit["phase"] == "test"
    stored = api.show_study(audit["study_id"], workdir["store"])["trials"]
    assert [(t["role"], t["audit"], t["seed"]) for t in stored] == [("user", 1, 5)]


def test_hand_tuned_on_test_seeds_is_allowed_once_per_seed(tiny_protocol, workdir):
    kwargs = dict(scale="smoke", seeds=[5, 6], store=workdir["store"], results=workdir["results"], progress=False, workers=1)
    first = api.train_config(tiny_protocol, "hand-tuned", **kwargs)
    again = api.train_config(tiny_protocol, "hand-tuned", **kwargs)
    assert first["scores"] == again["scores"]
    assert len(api.show_study(first["study_id"], workdir["store"])["trials"]) == 2


def test_store_refuses_a_second_configuration_on_a_test_seed(tmp_path):
    store = ResultStore(tmp_path)
    store.open_study("s", family="rl", protocol_name="p", scale="smoke", protocol_hash="h", protocol_content={},
                     optimizer="random", hpo_seed=0, provenance={})
    result = TrialResult(1.0, "ok", [(1, 1.0)], 0.1, 0.1)
    store.put(TrialKey("s", "test", "incumbent", "aaa", 5, 10), {"a": 1}, 1.0, result, None)
    with pytest.raises(SealError, match="selecting on the test set"):
        store.put(TrialKey("s", "test", "incumbent", "bbb", 5, 10), {"a": 2}, 1.0, result, None)
    store.put(TrialKey("s", "test", "incumbent", "bbb", 5, 10, audit=True), {"a": 2}, 1.0, result, None)
    store.put(TrialKey("s", "test", "incumbent", "bbb", 6, 10), {"a": 2}, 1.0, result, None)
    assert len(store.trials("s")) == 3


def test_study_made_with_another_protocol_hash_is_refused(tiny_protocol, workdir, tmp_path):
    _run(tiny_protocol, workdir)
    changed = tmp_path / "tiny-cartpole.yaml"
    changed.write_text(Path(tiny_protocol).read_text().replace("eval_episodes: 2", "eval_episodes: 3"))
    with pytest.raises(StoreError, match="protocol hash"):
        api.run_study(str(changed), scale="smoke", store=workdir["store"], results=workdir["results"], progress=False, workers=1)


def test_crashing_configuration_is_stored_with_worst_score(tiny_protocol, workdir):
    # PPO refuses n_steps * n_envs = 1 inside SB3: each trial is stored as crashed with the worst score,
    # and a call whose every trial crashed ends with the first crash instead of a score.
    with pytest.raises(UserError, match=r"every trial crashed; the first: AssertionError: `n_steps \* n_envs`"):
        api.train_config(tiny_protocol, {"n_steps": 1}, scale="smoke", store=workdir["store"],
                         results=workdir["results"], progress=False, workers=1)
    trials = api.show_study("tiny-cartpole-smoke-user", workdir["store"])["trials"]
    assert [t["status"] for t in trials] == ["crashed", "crashed"]
    assert [t["score"] for t in trials] == [0.0, 0.0] and "n_steps" in trials[0]["error"]


def test_two_workers_on_a_local_dask_cluster_give_the_same_study(tiny_protocol, workdir, tmp_path):
    serial = _run(tiny_protocol, workdir)
    parallel = api.run_study(tiny_protocol, scale="smoke", store=tmp_path / "other", results=tmp_path / "res",
                             workers=2, progress=False)
    assert parallel["incumbent"] == serial["incumbent"]
    assert parallel["held_out"] == serial["held_out"]


def test_audit_of_a_stored_study_uses_its_incumbent_and_test_seeds(tiny_protocol, workdir):
    summary = _run(tiny_protocol, workdir)
    report, paths = api.audit(summary["study_id"], store=workdir["store"], reps=200)
    assert report["incumbent"] == summary["incumbent"]["config_hash"]
    gap = summary["incumbent"]["tuning_score"] - summary["held_out"]["incumbent"]["mean"]
    assert report["incumbent_gap"]["gap"] == pytest.approx(gap)
    assert report["incumbent_gap"]["held_out_seeds"] == 2
    assert all(p.exists() for p in paths)


def test_the_recorded_commit_is_dirty_only_when_code_changed(tmp_path):
    """A finished study appends to results/study_log.csv, a tracked file: the next study in a chain
    must still record a clean commit, and a study on edited code must not."""
    import subprocess

    from hpobench_rl_cl.provenance import git_commit

    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True,
                       capture_output=True)

    (tmp_path / "hpobench_rl_cl").mkdir()
    (tmp_path / "results").mkdir()
    (tmp_path / "hpobench_rl_cl" / "trainer.py").write_text("LEARNING_RATE = 1e-3\n")
    (tmp_path / "results" / "study_log.csv").write_text("study,event\n")
    git("init", "-q")
    git("add", ".")
    git("commit", "-q", "-m", "start")
    clean = git_commit(tmp_path)
    assert len(clean) == 40 and not clean.endswith("+dirty")
    (tmp_path / "results" / "study_log.csv").write_text("study,event\nA,finished\n")
    assert git_commit(tmp_path) == clean
    (tmp_path / "hpobench_rl_cl" / "trainer.py").write_text("LEARNING_RATE = 3e-4\n")
    assert git_commit(tmp_path) == clean + "+dirty"
