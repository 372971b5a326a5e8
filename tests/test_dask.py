"""Trials on Dask: an existing cluster reached by address, workers that die mid-trial, a worker's
own threads beside a trial."""

import contextlib
import random
import textwrap
import time
from pathlib import Path

import pytest
from distributed import Client, LocalCluster

from hpobench_rl_cl import api
from hpobench_rl_cl.errors import UserError
from hpobench_rl_cl.trainers.base import own_python_random

pytestmark = pytest.mark.slow


def test_study_runs_on_a_cluster_passed_in_by_address(tiny_protocol, tmp_path):
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None) as cluster:
        remote = api.run_study(tiny_protocol, scale="smoke", scheduler=cluster.scheduler_address,
                               store=tmp_path / "a", results=tmp_path / "ra", progress=False)
    local = api.run_study(tiny_protocol, scale="smoke", workers=1, store=tmp_path / "b", results=tmp_path / "rb",
                          progress=False)
    assert remote["incumbent"] == local["incumbent"] and remote["held_out"] == local["held_out"]


def _draw_after_a_while(seed: int, private: bool) -> float:
    with own_python_random(seed) if private else contextlib.nullcontext():
        random.seed(seed)
        time.sleep(3)
        return random.random()


def test_a_trial_on_a_dask_worker_draws_python_random_numbers_no_other_thread_took():
    """The worker's heartbeat draws from Python's shared generator while a task runs: a trial that
    used it (A-GEM's memory selection) scored differently in each run of the same trial."""
    expected = random.Random(0).random()
    with LocalCluster(n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
            Client(cluster) as client:
        shared, private = (client.submit(_draw_after_a_while, 0, own, pure=False).result() for own in (False, True))
    assert shared != expected, "the worker's threads drew from the shared generator meanwhile"
    assert private == expected


DYING_ALGORITHM = """
import os
from pathlib import Path

from stable_baselines3 import PPO


class DiesOnWorkers(PPO):
    '''Kills its worker process the first DEATHS times it is built (counted in a marker file).'''

    def __init__(self, *args, **kwargs):
        marker = Path(os.environ["DYING_MARKER"])
        deaths = int(marker.read_text()) if marker.exists() else 0
        if deaths < int(os.environ["DYING_DEATHS"]):
            marker.write_text(str(deaths + 1))
            os._exit(1)
        super().__init__(*args, **kwargs)
"""


@pytest.mark.parametrize("deaths,status", [(1, "ok"), (2, "crashed")])
def test_worker_death_is_retried_once_then_stored_as_crashed(deaths, status, tiny_protocol, tmp_path, monkeypatch):
    (tmp_path / "dying_algorithm.py").write_text(textwrap.dedent(DYING_ALGORITHM))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", str(tmp_path))
    monkeypatch.setenv("DYING_MARKER", str(tmp_path / "deaths"))
    monkeypatch.setenv("DYING_DEATHS", str(deaths))
    protocol = tmp_path / "dying.yaml"
    protocol.write_text(Path(tiny_protocol).read_text()
                        .replace("algorithm: PPO", "algorithm: dying_algorithm:DiesOnWorkers")
                        .replace("{source: rl-zoo3, key: CartPole-v1}", "{source: SB3 defaults, config: {}}"))
    train = dict(scale="smoke", seeds=[0], workers=2, store=tmp_path / "runs", results=tmp_path / "results",
                 progress=False)
    if status == "ok":
        api.train_config(str(protocol), {"learning_rate": 1e-3, "n_epochs": 1}, **train)
    else:
        with pytest.raises(UserError, match="every trial crashed; the first: worker died twice while training"):
            api.train_config(str(protocol), {"learning_rate": 1e-3, "n_epochs": 1}, **train)
    trials = api.show_study("tiny-cartpole-smoke-user", tmp_path / "runs")["trials"]
    assert [t["status"] for t in trials] == [status]
    assert int((tmp_path / "deaths").read_text()) == deaths
    if status == "crashed":
        assert "worker died" in trials[0]["error"] and trials[0]["score"] == 0.0
