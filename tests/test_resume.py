import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from hpobench_rl_cl import api

pytestmark = pytest.mark.slow


def _stored(db, columns: str = "phase, role, config_hash, seed, budget, finished_at") -> list[tuple]:
    if not db.exists():
        return []
    with sqlite3.connect(db, timeout=30) as connection:
        try:
            return connection.execute(f"SELECT {columns} FROM trials ORDER BY trial_id").fetchall()
        except sqlite3.OperationalError:  # tables not created yet
            return []


def _run_and_kill(command: list[str], db, trials: int) -> None:
    """Start ``command`` and SIGKILL its whole process group once ``trials`` trials are stored."""
    process = subprocess.Popen(command, start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while len(_stored(db)) < trials and time.time() < deadline and process.poll() is None:
        time.sleep(0.2)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()


# Every tool's resume after an interruption is tested against the closed-form backend
# (tests/test_runner.py); here a real SIGKILL of real trainings: DEHB (multi-fidelity, its replay at
# fidelities) on SB3, random search on the jax backend below.
@pytest.mark.parametrize("tool", ["dehb"])
def test_sigkilled_run_resumes_without_lost_or_duplicate_trials(tool, tiny_protocol, tmp_path):
    store, results = tmp_path / "runs", tmp_path / "results"
    command = [sys.executable, "-m", "hpobench_rl_cl", "run", tiny_protocol, "--scale", "quick", "--store", str(store),
               "--results", str(results), "--no-progress", "--workers", "1", "--optimizer", tool]
    db = store / "hpobench.sqlite"
    _run_and_kill(command, db, 2)
    before = _stored(db)
    assert 2 <= len(before) < 10, "the kill must land mid-study"

    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    after = _stored(db)
    keys = [row[:5] for row in after]
    assert len(keys) == len(set(keys)), "no trial stored twice"
    assert after[: len(before)] == before, "trials finished before the kill are kept, not recomputed"

    uninterrupted = api.run_study(tiny_protocol, scale="quick", optimizer=tool, store=tmp_path / "clean",
                                  results=tmp_path / "r2", progress=False, workers=1)
    clean = api.show_study(uninterrupted["study_id"], tmp_path / "clean")["trials"]
    assert sorted(row[:5] for row in after) == sorted(
        (t["phase"], t["role"], t["config_hash"], t["seed"], t["budget"]) for t in clean
    ), "with one worker the tool's state is rebuilt exactly: the resumed study is the uninterrupted one"
    resumed = api.show_study(uninterrupted["study_id"], store)["summary"]
    assert resumed["incumbent"] == uninterrupted["incumbent"] and resumed["held_out"] == uninterrupted["held_out"]


def test_sigkilled_jax_study_reruns_only_unfinished_batches_with_the_same_scores(tmp_path):
    """The jax backend stores a batch's trials together; a kill between batches loses none of them,
    and the batches run after the restart, in their recorded layout, score as uninterrupted ones."""
    store = tmp_path / "runs"
    command = [sys.executable, "-m", "hpobench_rl_cl", "run", "ppo-cartpole-jax", "--scale", "smoke", "--store",
               str(store), "--results", str(tmp_path / "results"), "--no-progress", "--workers", "1"]
    db = store / "hpobench.sqlite"
    _run_and_kill(command, db, 2)
    before = _stored(db)
    assert 2 <= len(before) < 8, "the kill must land mid-study (8 trials: 2 x 2 tuning, 2 x 2 test)"

    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    assert _stored(db)[: len(before)] == before, "batches finished before the kill are kept, not recomputed"
    uninterrupted = api.run_study("ppo-cartpole-jax", scale="smoke", store=tmp_path / "clean",
                                  results=tmp_path / "r2", progress=False, workers=1)
    scores = "phase, role, config_hash, seed, budget, score"
    assert sorted(_stored(db, scores)) == sorted(_stored(tmp_path / "clean" / "hpobench.sqlite", scores))
    assert api.show_study(uninterrupted["study_id"], store)["summary"]["held_out"] == uninterrupted["held_out"]
