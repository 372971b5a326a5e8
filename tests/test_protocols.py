import subprocess
import sys
from pathlib import Path

import pytest

from hpobench_rl_cl.errors import ProtocolError
from hpobench_rl_cl.protocol import SCALES, list_protocol_names, load_protocol
from hpobench_rl_cl.trainers.rl.hand_tuned import hand_tuned_config, zoo_entry
from hpobench_rl_cl.trainers.rl.run_config import build_run_config

SHIPPED = ["ppo-cartpole", "dqn-cartpole", "ppo-acrobot", "dqn-acrobot", "sac-pendulum", "td3-pendulum",
           "dqn-minigrid", "ppo-lunarlander", "sac-halfcheetah"]
SHIPPED_CL = ["glyphs-halves", "cifar100-b0-10", "cifar100-half"]


def test_every_required_protocol_ships():
    assert set(SHIPPED) <= set(list_protocol_names("rl"))
    assert set(SHIPPED_CL) <= set(list_protocol_names("cl"))


@pytest.mark.parametrize("name", SHIPPED_CL)
def test_shipped_cl_protocol_loads_at_every_scale(name):
    from hpobench_rl_cl.protocol.cl import load_cl_suite

    hashes = set()
    for scale in SCALES:
        suite = load_cl_suite(name, scale)
        for protocol in suite.strategies.values():
            hashes.add(protocol.hash)
            assert protocol.search_space().keys() <= protocol.hand_tuned_run_config()[0].keys()
    assert len(load_cl_suite(name, "paper").strategies) == 14, "every built-in strategy is compared at paper scale"
    assert len(hashes) == sum(len(load_cl_suite(name, s).strategies) for s in SCALES)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_protocol_loads_at_every_scale_with_a_parsable_hand_tuned_config(name):
    hashes = set()
    for scale in SCALES:
        protocol = load_protocol(name, scale)
        hashes.add(protocol.hash)
        assert not set(protocol.tuning_seeds) & set(protocol.seeds.held_out)
    assert len(hashes) == 3, "each scale is a different experiment and must hash differently"
    paper = load_protocol(name, "paper")
    config, source = hand_tuned_config(paper.algorithm, paper.env_id, paper.hand_tuned)
    run = build_run_config(config, default_policy=paper.policy, total_timesteps=paper.total_timesteps)
    if paper.hand_tuned["source"] == "rl-zoo3":
        entry = zoo_entry(paper.algorithm, paper.hand_tuned.get("key", paper.env_id))
        assert run.n_envs == entry.get("n_envs", 1)
        assert (run.normalize is not None) == bool(entry.get("normalize", False))
        assert "rl-zoo3" in source
    else:
        assert paper.hand_tuned["source"] in source


def test_paper_scale_is_the_papers_setting():
    protocol = load_protocol("ppo-acrobot", "paper")
    assert protocol.total_timesteps == 1_000_000
    assert protocol.tuning_seeds == (0, 1, 2, 3, 4)
    assert protocol.seeds.held_out == tuple(range(5, 15))
    assert protocol.budget_full_runs == 10


def test_rl_zoo3_conventions_become_sb3_objects():
    config, _ = hand_tuned_config("PPO", "HalfCheetah-v5", {"source": "rl-zoo3", "key": "HalfCheetah-v4"})
    run = build_run_config(config, default_policy="MlpPolicy", total_timesteps=1000)
    import torch

    assert run.algorithm_kwargs["policy_kwargs"]["activation_fn"] is torch.nn.ReLU
    assert run.algorithm_kwargs["policy_kwargs"]["net_arch"] == {"pi": [256, 256], "vf": [256, 256]}
    assert run.normalize == {}
    cartpole, _ = hand_tuned_config("PPO", "CartPole-v1", {"source": "rl-zoo3"})
    schedule = build_run_config(cartpole, default_policy="MlpPolicy", total_timesteps=1000).algorithm_kwargs["learning_rate"]
    assert schedule(1.0) == pytest.approx(0.001) and schedule(0.5) == pytest.approx(0.0005)
    td3, _ = hand_tuned_config("TD3", "Pendulum-v1", {"source": "rl-zoo3"})
    assert build_run_config(td3, default_policy="MlpPolicy", total_timesteps=1000).action_noise == ("normal", 0.1)


def test_replay_buffer_is_clamped_to_the_run_and_the_clamp_recorded():
    run = build_run_config({"buffer_size": 50_000_000}, default_policy="MlpPolicy", total_timesteps=2000)
    assert run.algorithm_kwargs["buffer_size"] == 2000
    assert run.notes == {"buffer_size_clamped_from": 50_000_000}


def test_policy_kwargs_are_never_evaluated():
    from hpobench_rl_cl.errors import UserError

    with pytest.raises(UserError, match="not allowed"):
        build_run_config({"policy_kwargs": "__import__('os').system('echo pwned')"}, default_policy="MlpPolicy",
                         total_timesteps=10)
    with pytest.raises(UserError, match="not an allowed torch class"):
        build_run_config({"policy_kwargs": "dict(activation_fn=os.system)"}, default_policy="MlpPolicy",
                         total_timesteps=10)


def _write(tmp_path: Path, tiny_protocol: str, old: str, new: str) -> str:
    text = Path(tiny_protocol).read_text()
    assert old in text, old
    path = tmp_path / "bad.yaml"
    path.write_text(text.replace(old, new))
    return str(path)


BAD_INPUTS = [
    ("tuning_seeds: [0, 1]", "tuning_seeds: [0, 5]", "overlap on [5]"),
    ("tuning_seeds: [0, 1]", "tuning_seeds: [0, 0]", "repeats seed(s) [0]"),
    ("test_seeds: [5, 6]", "test_seeds: []", "test_seeds is empty"),
    ("env_id: CartPole-v1", "env_id: NoSuchEnv-v9", "unknown environment 'NoSuchEnv-v9'"),
    ("algorithm: PPO", "algorithm: NOPE", "unknown RL algorithm 'NOPE'"),
    ("n_epochs: {type", "n_epoch_typo: {type", "unknown hyperparameter 'n_epoch_typo'"),
    ("n_steps: 64,", "n_steps: 64, learning_rate: 5.0,", "lies outside its search range"),
    ("budget_full_runs: 3", "budget_full_runs: 0.5", "budget_full_runs must be from 1"),
    ("name: tiny-cartpole", "name: [unclosed", "malformed YAML"),
    ("policy: MlpPolicy", "policy: MlpPolicy\nsurprise: 1", "unknown key 'surprise'"),
]


@pytest.mark.parametrize("old,new,message", BAD_INPUTS)
def test_bad_protocol_is_refused_with_a_message_naming_the_problem(tmp_path, tiny_protocol, old, new, message):
    with pytest.raises(Exception) as caught:
        load_protocol(_write(tmp_path, tiny_protocol, old, new), "paper")
    assert message in str(caught.value)


def test_cli_bad_input_is_one_line_and_nonzero(tmp_path, tiny_protocol):
    bad = _write(tmp_path, tiny_protocol, "tuning_seeds: [0, 1]", "tuning_seeds: [0, 5]")
    done = subprocess.run([sys.executable, "-m", "hpobench_rl_cl", "run", bad, "--store", str(tmp_path / "s")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "overlap" in lines[0], done.stderr
    assert not (tmp_path / "s").exists(), "a refused protocol must not create a store"


def test_unknown_protocol_and_scale():
    with pytest.raises(ProtocolError, match="unknown protocol 'nope'"):
        load_protocol("nope")
    with pytest.raises(ProtocolError, match="unknown scale 'huge'"):
        load_protocol("ppo-cartpole", "huge")


@pytest.mark.slow
def test_hand_tuned_ppo_cartpole_reproduces_rl_zoo3_on_its_own_setting():
    """On the default (jax) backend; the SB3 backend's figure at full length is committed under
    results/agreement (484.56 mean over 10 seeds), measured by benchmarks/backend_agreement.py."""
    from hpobench_rl_cl import api

    outcome = api.reproduce_hand_tuned("ppo-cartpole-jax", seeds=(0,), workers=1)
    assert outcome["timesteps"] == 100_000
    assert outcome["reproduced"], outcome


@pytest.mark.slow
@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_protocol_trains_hand_tuned_and_a_sampled_config(name):
    """Classic control, Box2D, MuJoCo and MiniGrid images, each through the real trainer."""
    from hpobench_rl_cl.optimizers.base import config_dict
    from hpobench_rl_cl.runner.study import run_config_for
    from hpobench_rl_cl.trainers.base import Trial
    from hpobench_rl_cl.trainers.rl.sb3 import checkpoints, train_trial

    protocol = load_protocol(name, "smoke")
    spec = protocol.train_specs("cpu")["tuning"]
    steps = min(protocol.total_timesteps, 256)
    hand_tuned, _ = hand_tuned_config(protocol.algorithm, protocol.env_id, protocol.hand_tuned)
    sampled = run_config_for(protocol, config_dict(protocol.search_space(seed=0).sample_configuration()))
    for config in (hand_tuned, sampled):
        result = train_trial(spec, Trial(config, 0, steps))
        assert result.status == "ok", result.error
        assert [step for step, _ in result.curve] == checkpoints(steps, protocol.curve_points)
        assert protocol.worst_score <= result.score


def test_tuning_path_refuses_a_test_seed():
    from hpobench_rl_cl.errors import SealError

    seeds = load_protocol("ppo-cartpole", "paper").seeds
    seeds.require_tuning([0, 4])
    with pytest.raises(SealError, match=r"test seed\(s\) \[5\] may not be used while tuning"):
        seeds.require_tuning([0, 5])
