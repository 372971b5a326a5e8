"""Bad input is one line naming the problem and exit 2, before any training; nothing is stored."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import FIXTURES, TINY

from hpobench_rl_cl import cli
from hpobench_rl_cl.store.sqlite_store import ResultStore
from hpobench_rl_cl.trainers.rl.run_config import build_run_config


def _one_line_error(capsys, argv: list[str]) -> str:
    assert cli.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    return err


def _protocol(tmp_path: Path, source: str = TINY, **changes) -> str:
    text = Path(source).read_text()
    data = yaml.safe_load(text)
    data.update(changes)
    path = tmp_path / "protocol.yaml"
    path.write_text(yaml.safe_dump(data))
    return str(path)


def _run(protocol: str, tmp_path: Path, *extra: str) -> list[str]:
    return ["run", protocol, "--scale", "smoke", "--workers", "1", "--store", str(tmp_path / "runs"),
            "--results", str(tmp_path / "results"), "--no-progress", *extra]


@pytest.mark.parametrize("changes,message", [
    ({"budget_full_runs": float("nan")}, "budget_full_runs must be from 1"),
    ({"budget_full_runs": 1.0e300}, "budget_full_runs must be from 1"),
    ({"test_seeds": [5, 10**23]}, "test_seeds must be integers from 0 to"),
    ({"scales": {"smoke": {"total_timesteps": 10**30}}}, "total_timesteps must be from 1 to"),
    ({"base_config": {"n_steps": 64, "batch_size": 32, "n_envs": 0}}, "n_envs 0 lies outside"),
    ({"scales": {"smoke": {"total_timesteps": 128}, "quick": {"total_timesteps": 64}}},
     "scale 'quick' shortens training (total_timesteps 64 < 256); a scale cuts trials, never training length"),
])
def test_bad_protocol_values_are_refused_before_training(tmp_path, capsys, changes, message):
    err = _one_line_error(capsys, _run(_protocol(tmp_path, **changes), tmp_path))
    assert message in err
    assert not (tmp_path / "runs").exists() or ResultStore(tmp_path / "runs").study_ids() == []


@pytest.mark.parametrize("seed,message", [("1e23", "invalid int value"), ("-5", "hpo_seed must be an integer")])
def test_bad_hpo_seed_is_one_line_and_leaves_no_study(tmp_path, capsys, seed, message):
    assert message in _one_line_error(capsys, _run(TINY, tmp_path, "--hpo-seed", seed))
    assert not (tmp_path / "runs").exists() or ResultStore(tmp_path / "runs").study_ids() == []


@pytest.mark.parametrize("protocol,strategy,message", [
    (TINY, "replay", "is an RL protocol: it has no strategies"),
    (str(FIXTURES / "tiny-cl.yaml"), "ewc", "name one of its strategies (naive, replay)"),
])
def test_a_strategy_the_protocol_lacks_is_one_line_and_leaves_no_study(tmp_path, capsys, protocol, strategy, message):
    assert message in _one_line_error(capsys, _run(protocol, tmp_path, "--strategy", strategy))
    assert not (tmp_path / "runs").exists() or ResultStore(tmp_path / "runs").study_ids() == []


def test_bad_seed_list_is_one_line(capsys):
    assert "seeds must be comma-separated integers" in _one_line_error(
        capsys, ["train", TINY, "--config", "hand-tuned", "--seeds", "a,b"])


@pytest.mark.parametrize("config,message", [
    ("{n_envs: 0}", "n_envs 0 lies outside"),
    ("{learning_rate: fast}", "learning_rate must be a number"),
    ("{learning_rate: -0.1}", "learning_rate -0.1 lies outside"),
    ("{n_steps: 1e20}", "n_steps must be an integer"),
])
def test_a_user_configuration_no_trial_could_train_is_refused_before_training(tmp_path, capsys, config, message):
    path = tmp_path / "mine.yaml"
    path.write_text(config + "\n")
    err = _one_line_error(capsys, ["train", TINY, "--config", str(path), "--scale", "smoke", "--workers", "1",
                                   "--store", str(tmp_path / "runs"), "--no-progress"])
    assert message in err
    assert not (tmp_path / "runs").exists() or ResultStore(tmp_path / "runs").trials() == []


def test_cl_data_that_is_not_here_is_reported_before_the_first_trial_with_where_it_looked(tmp_path, capsys):
    protocol = _protocol(tmp_path, FIXTURES / "tiny-cl.yaml",
                         tuning_data={"source": "cifar100", "classes": "0-3", "root": str(tmp_path / "nowhere")},
                         evaluation_data={"source": "cifar100", "classes": "4-7", "root": str(tmp_path / "nowhere")})
    err = _one_line_error(capsys, _run(protocol, tmp_path))
    assert "no CIFAR-100 under" in err and str(tmp_path / "nowhere" / "cifar-100-python" / "train") in err
    assert "download: true" in err
    assert not (tmp_path / "runs").exists() or ResultStore(tmp_path / "runs").trials() == []


def test_rl_zoo3_normalize_string_form_parses_without_eval():
    run = build_run_config({"normalize": "dict(norm_obs=True, norm_reward=False)"}, default_policy="MlpPolicy",
                           total_timesteps=100)
    assert run.normalize == {"norm_obs": True, "norm_reward": False}
    with pytest.raises(Exception, match="not allowed"):
        build_run_config({"normalize": "__import__('os').system('true')"}, default_policy="MlpPolicy",
                         total_timesteps=100)
