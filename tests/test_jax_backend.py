"""The jax backend: gymnasium's dynamics and episode ends, SB3's meaning of each PPO piece, batching
that leaves a trial's first update alone, and a real study end to end."""

from __future__ import annotations

import gymnasium as gym
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from hpobench_rl_cl.trainers.base import Trial
from hpobench_rl_cl.trainers.rl.jax import dqn
from hpobench_rl_cl.trainers.rl.jax.common import clip_by_global_norm, stacked_batch
from hpobench_rl_cl.trainers.rl.jax.envs import make_env
from hpobench_rl_cl.trainers.rl.jax.ppo import PPOHyper, Rollout, gae, make_trainer, ppo_loss, split_config
from hpobench_rl_cl.trainers.rl.spec import RLTrainSpec

def _spec(algorithm: str = "PPO", full_timesteps: int | None = None) -> RLTrainSpec:
    return RLTrainSpec("CartPole-v1", algorithm, "MlpPolicy", 1, 1, 0.0, full_timesteps=full_timesteps)


ZOO_CARTPOLE = {"n_envs": 8, "n_steps": 32, "batch_size": 256, "gae_lambda": 0.8, "gamma": 0.98, "n_epochs": 20,
                "ent_coef": 0.0, "learning_rate": "lin_0.001", "clip_range": "lin_0.2", "policy": "MlpPolicy"}


@pytest.mark.parametrize("env_id", ["CartPole-v1", "Acrobot-v1"])
def test_gymnax_steps_like_gymnasium_and_keeps_truncation_apart(env_id):
    env, reference = make_env(env_id), gym.make(env_id).unwrapped
    obs, state = env.reset(jax.random.PRNGKey(3))
    rng = np.random.default_rng(0)
    for _ in range(40):
        if env_id == "CartPole-v1":
            reference.state = np.array([state.x, state.x_dot, state.theta, state.theta_dot], dtype=np.float64)
        else:
            reference.state = np.array([state.joint_angle1, state.joint_angle2, state.velocity_1, state.velocity_2])
        action = int(rng.integers(env.n_actions))
        expected, reward, terminated, _, _ = reference.step(action)
        step = env.step(jax.random.PRNGKey(0), state, jnp.int32(action))
        np.testing.assert_allclose(np.asarray(step.final_obs), expected, atol=1e-5)
        assert float(step.reward) == reward and bool(step.terminated) == terminated and not bool(step.truncated)
        if terminated:
            break
        state = step.state
    # The time limit: gymnasium's TimeLimit truncates at the same step count, and it is not a termination.
    assert env.max_episode_steps == gym.spec(env_id).max_episode_steps
    at_limit = state.replace(time=env.max_episode_steps - 1)
    step = env.step(jax.random.PRNGKey(1), at_limit, jnp.int32(0))
    assert bool(step.truncated) != bool(step.terminated)


def test_gae_is_sb3s_rollout_buffer():
    from gymnasium.spaces import Box, Discrete
    from stable_baselines3.common.buffers import RolloutBuffer

    n_steps, n_envs, rng = 7, 3, np.random.default_rng(1)
    buffer = RolloutBuffer(n_steps, Box(-1, 1, (2,)), Discrete(2), n_envs=n_envs, gamma=0.97, gae_lambda=0.9)
    rollout = Rollout(*(np.zeros((n_steps, n_envs), np.float32) for _ in range(3)),
                      (rng.random((n_steps, n_envs)) < 0.3).astype(np.float32),
                      rng.normal(size=(n_steps, n_envs)).astype(np.float32), np.zeros((n_steps, n_envs), np.float32))
    rewards = rng.normal(size=(n_steps, n_envs)).astype(np.float32)
    rollout = rollout._replace(rewards=rewards)
    for t in range(n_steps):
        buffer.add(np.zeros((n_envs, 2)), np.zeros((n_envs, 1)), rewards[t], rollout.episode_starts[t],
                   torch.tensor(rollout.values[t]), torch.zeros(n_envs))
    last_values, dones = rng.normal(size=n_envs).astype(np.float32), np.array([1.0, 0.0, 0.0], np.float32)
    buffer.compute_returns_and_advantage(torch.tensor(last_values), dones)
    advantages, returns = gae(rollout, jnp.asarray(last_values), jnp.asarray(dones), 0.97, 0.9)
    np.testing.assert_allclose(np.asarray(advantages), buffer.advantages, atol=1e-5)
    np.testing.assert_allclose(np.asarray(returns), buffer.returns, atol=1e-5)


def test_gradient_clipping_is_torchs_global_norm():
    grads = {"a": jnp.array([3.0, 4.0]), "b": [jnp.array([[12.0]])]}
    tensors = [torch.tensor([3.0, 4.0], requires_grad=True), torch.tensor([[12.0]], requires_grad=True)]
    for tensor, value in zip(tensors, ([3.0, 4.0], [[12.0]])):
        tensor.grad = torch.tensor(value)
    torch.nn.utils.clip_grad_norm_(tensors, 0.5)
    clipped = clip_by_global_norm(grads, jnp.float32(0.5))
    np.testing.assert_allclose(np.asarray(clipped["a"]), tensors[0].grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(clipped["b"][0]), tensors[1].grad.numpy(), rtol=1e-6)


def _hyper(**changes) -> PPOHyper:
    values = dict(learning_rate=3e-4, gamma=0.99, gae_lambda=0.95, clip_range=0.2, clip_range_vf=0.0, ent_coef=0.01,
                  vf_coef=0.5, max_grad_norm=0.5, normalize_advantage=1.0)
    values.update(changes)
    from hpobench_rl_cl.trainers.rl.jax.normalize import settings

    return PPOHyper(**{k: jnp.float32(v) for k, v in values.items()}, normalization=settings(None)[2], run=None)


@pytest.mark.slow
@pytest.mark.parametrize("normalize,clip_vf", [(True, None), (False, 0.1)])
def test_ppo_loss_is_sb3s(normalize, clip_vf):
    """SB3's PPO.train() on one minibatch, written out with torch, against the jax loss."""
    config = {"n_steps": 8, "batch_size": 8, "normalize_advantage": normalize, "clip_range_vf": clip_vf}
    shape, _, _ = split_config(config, _spec(), 64)
    hyper = _hyper(normalize_advantage=float(normalize), clip_range_vf=clip_vf or 0.0)
    trainer = make_trainer(shape)
    params = trainer.setup(hyper, jax.random.PRNGKey(0))[0]
    rng = np.random.default_rng(2)
    batch = {"obs": rng.normal(size=(8, 4)).astype(np.float32), "actions": rng.integers(2, size=8),
             "values": rng.normal(size=8).astype(np.float32), "log_probs": np.log(np.full(8, 0.5, np.float32)),
             "advantages": rng.normal(size=8).astype(np.float32), "returns": rng.normal(size=8).astype(np.float32)}
    loss = float(ppo_loss(params, {k: jnp.asarray(v) for k, v in batch.items()}, hyper, jnp.float32(0.2), shape))

    t = {k: torch.tensor(v) for k, v in batch.items()}
    def torch_mlp(layers, x):
        for w, b in layers:
            x = torch.tanh(x @ torch.tensor(np.asarray(w)) + torch.tensor(np.asarray(b)))
        return x
    logits = torch_mlp(params["pi"], t["obs"]) @ torch.tensor(np.asarray(params["pi_out"][0])) + \
        torch.tensor(np.asarray(params["pi_out"][1]))
    values = (torch_mlp(params["vf"], t["obs"]) @ torch.tensor(np.asarray(params["vf_out"][0])) +
              torch.tensor(np.asarray(params["vf_out"][1]))).flatten()
    distribution = torch.distributions.Categorical(logits=logits)
    log_prob, entropy = distribution.log_prob(t["actions"]), distribution.entropy()
    advantages = t["advantages"]
    if normalize:
        advantages = (advantages - advantages.mean()) / (advantages.std() + 1e-8)
    ratio = torch.exp(log_prob - t["log_probs"])
    policy_loss = -torch.min(advantages * ratio, advantages * torch.clamp(ratio, 0.8, 1.2)).mean()
    if clip_vf is not None:
        values = t["values"] + torch.clamp(values - t["values"], -clip_vf, clip_vf)
    value_loss = torch.nn.functional.mse_loss(t["returns"], values)
    expected = policy_loss + 0.01 * -torch.mean(entropy) + 0.5 * value_loss
    assert loss == pytest.approx(float(expected), rel=1e-5, abs=1e-6)


def test_network_initialisation_is_sb3s():
    shape, hyper, _ = split_config(ZOO_CARTPOLE, _spec(), 1000)
    params = make_trainer(shape).setup(hyper, jax.random.PRNGKey(0))[0]
    w = np.asarray(params["pi"][0][0])
    np.testing.assert_allclose(w @ w.T, 2.0 * np.eye(4), atol=1e-5)  # orthogonal with gain sqrt(2)
    head = np.asarray(params["pi_out"][0])
    np.testing.assert_allclose(head.T @ head, 1e-4 * np.eye(2), atol=1e-8)  # gain 0.01
    assert all(not np.asarray(b).any() for _, b in params["pi"] + params["vf"])


@pytest.mark.slow
def test_the_first_update_agrees_alone_and_in_any_batch():
    shape, hyper, _ = split_config(ZOO_CARTPOLE, _spec(), 100_000)
    trainer = make_trainer(shape)

    def first_update(hyper, key):
        return trainer.iteration(hyper, trainer.setup(hyper, key))[0]

    alone = jax.jit(first_update)(hyper, jax.random.PRNGKey(7))
    others = [hyper._replace(learning_rate=jnp.float32(lr)) for lr in (1e-4, 5e-3, 2e-3)]
    axes = stacked_batch(others + [hyper])[1]
    batched_update = jax.jit(jax.vmap(first_update, in_axes=(axes, 0)))  # compiled once for both compositions
    for position in (0, 3):
        stacked, _ = stacked_batch(others[:position] + [hyper] + others[position:])
        keys = jnp.stack([jax.random.PRNGKey(seed) for seed in (1, 2, 3)][:position] + [jax.random.PRNGKey(7)] +
                         [jax.random.PRNGKey(seed) for seed in (1, 2, 3)][position:])
        batched = batched_update(stacked, keys)
        for mine, theirs in zip(jax.tree.leaves(alone), jax.tree.leaves(batched)):
            np.testing.assert_allclose(np.asarray(theirs[position]), np.asarray(mine), atol=1e-5)


@pytest.mark.slow
def test_a_real_study_on_the_jax_backend_trains_batches_and_records_their_layout(tmp_path):
    from hpobench_rl_cl import api

    kwargs = dict(scale="smoke", workers=1, store=tmp_path / "runs", results=tmp_path / "results", progress=False)
    summary = api.run_study("ppo-cartpole-jax", **kwargs)
    assert summary["protocol_status"] == "official" and summary["budget"]["crashed_trials"] == 0
    trials = api.show_study(summary["study_id"], tmp_path / "runs")["trials"]
    import json

    layouts = [json.loads(t["notes_json"])["batch"] for t in trials]
    assert all(layout["trials"] >= 1 and layout["size"] >= layout["trials"] for layout in layouts)
    assert max(layout["trials"] for layout in layouts) == 2, "a configuration's tuning seeds share one call"
    assert all(t["trained"] >= t["budget"] for t in trials)
    again = api.run_study("ppo-cartpole-jax", **{**kwargs, "store": tmp_path / "again", "results": tmp_path / "r2"})
    assert again["held_out"] == summary["held_out"], "bit-reproducible given the same batch layout"
    from hpobench_rl_cl.runner.verify import verify

    report = verify(summary["study_id"], store=tmp_path / "runs", sample=len(trials), device="cpu")
    assert report["all_identical"], "verify retrains a trial in its recorded call"
    assert sorted(r["call_size"] for r in report["trials"]) == sorted(layout["trials"] for layout in layouts)


def test_a_configuration_the_jax_ppo_cannot_train_is_refused_before_training():
    from hpobench_rl_cl.errors import UserError
    from hpobench_rl_cl.protocol import load_protocol
    from hpobench_rl_cl.trainers.base import BACKENDS

    protocol = load_protocol("ppo-cartpole-jax", "smoke")
    with pytest.raises(UserError, match="config: the jax PPO does not take \\['sde_net_arch'\\]"):
        BACKENDS.get("jax")().check_config(protocol, {"sde_net_arch": [4]}, "config")
    with pytest.raises(UserError, match="config: the jax PPO has MlpPolicy without gSDE only"):
        BACKENDS.get("jax")().check_config(protocol, {"use_sde": True}, "config")
    result = BACKENDS.get("jax")().train_batch(protocol.train_specs("cpu")["tuning"],
                                               [Trial({"n_steps": 10, "batch_size": 3}, 0, 64)])
    assert result[0].status == "crashed" and "batch_size (3) to divide" in result[0].error


def test_normalization_is_sb3s_vecnormalize():
    """Feed the same observations, rewards and episode ends to SB3's VecNormalize and to the jax
    normalizer: the same statistics, normalised observations and learning rewards."""
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecNormalize

    from hpobench_rl_cl.trainers.rl.jax import normalize

    rng = np.random.default_rng(0)
    reference = VecNormalize(make_vec_env("CartPole-v1", n_envs=3), gamma=0.97, clip_obs=2.0)
    on_obs, on_reward, values = normalize.settings({"gamma": 0.97, "clip_obs": 2.0})
    assert on_obs and on_reward
    first = rng.normal(size=(3, 4)).astype(np.float32) * 3
    reference.obs_rms.update(first)  # what VecNormalize.reset does with the first observations
    mine = normalize.start(jnp.asarray(first), values, True)
    for _ in range(20):
        obs = rng.normal(loc=1.0, size=(3, 4)).astype(np.float32) * 3
        reward, done = rng.normal(size=3).astype(np.float32), rng.random(3) < 0.2
        reference.obs_rms.update(obs)  # VecNormalize.step_wait, in its order
        expected_obs = reference.normalize_obs(obs)
        reference._update_reward(reward)
        expected_reward = reference.normalize_reward(reward)
        reference.returns[done] = 0
        mine, learned = normalize.step(mine, jnp.asarray(obs), jnp.asarray(reward), jnp.asarray(done), True, True)
        np.testing.assert_allclose(np.asarray(normalize.observation(mine, jnp.asarray(obs), True)), expected_obs,
                                   rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(np.asarray(learned), expected_reward, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(np.asarray(mine.obs.var), reference.obs_rms.var, rtol=1e-4)
    assert not normalize.settings(None)[0] and normalize.settings({"norm_reward": False})[:2] == (True, False)


@pytest.mark.slow
def test_rl_zoo3s_normalized_acrobot_ppo_trains_on_the_jax_backend():
    from hpobench_rl_cl.protocol import load_protocol
    from hpobench_rl_cl.trainers.base import BACKENDS

    protocol = load_protocol("ppo-acrobot-jax", "smoke")
    config = protocol.hand_tuned_run_config()[0]
    assert config["normalize"] is True and config["n_envs"] == 16
    results = BACKENDS.get("jax")().train_batch(protocol.train_specs("cpu")["test"], [Trial(config, 0, 8192)])
    assert results[0].status == "ok" and -500 <= results[0].score <= 0, results[0].error


# DQN ---------------------------------------------------------------------------------------------
ZOO_DQN_CARTPOLE = {"learning_rate": 2.3e-3, "batch_size": 64, "buffer_size": 100_000, "learning_starts": 1000,
                    "gamma": 0.99, "target_update_interval": 10, "train_freq": 256, "gradient_steps": 128,
                    "exploration_fraction": 0.16, "exploration_final_eps": 0.04,
                    "policy_kwargs": "dict(net_arch=[256, 256])"}


def test_dqn_configuration_splits_as_sb3_reads_it():
    shape, hyper, steps = dqn.split_config({**ZOO_DQN_CARTPOLE, "gradient_steps": -1, "n_envs": 2},
                                           _spec("DQN", full_timesteps=50_000), 5_000)
    assert shape.gradient_steps == 512, "-1: as many gradient steps as env steps collected"
    assert shape.buffer_slots == 5_120 // 2, "clamped to the run's (whole-collection) length, per env"
    assert int(hyper.learning_starts) == 100, "a tenth of the full length: learning_starts scaled likewise"
    assert int(hyper.target_update_calls) == 5, "SB3 counts target_update_interval // n_envs env calls"
    assert shape.net_arch == (256, 256) and shape.activation == "relu" and steps == (5_000,)
    with pytest.raises(ValueError, match="train_freq in steps"):
        dqn.split_config({"train_freq": [1, "episode"]}, _spec("DQN"), 1000)


def test_dqn_exploration_schedule_is_sb3s():
    from stable_baselines3.common.utils import LinearSchedule

    _, hyper, _ = dqn.split_config({"exploration_fraction": 0.3, "exploration_initial_eps": 0.9,
                                    "exploration_final_eps": 0.02}, _spec("DQN"), 1000)
    schedule = LinearSchedule(0.9, 0.02, 0.3)
    for progress in (1.0, 0.95, 0.8, 0.71, 0.5, 0.0):
        assert float(dqn.exploration_rate(hyper, jnp.float32(progress))) == pytest.approx(schedule(progress), abs=1e-6)


def test_dqn_network_and_loss_are_sb3s():
    """SB3's DQN.train() on one minibatch, on SB3's own QNetwork holding the jax parameters."""
    from stable_baselines3 import DQN

    from hpobench_rl_cl.trainers.rl.jax.envs import make_env

    shape, hyper, _ = dqn.split_config({"policy_kwargs": "dict(net_arch=[16, 16])"}, _spec("DQN"), 1000)
    env = make_env("CartPole-v1")
    params = dqn.init_params(jax.random.PRNGKey(0), shape, env)
    assert params["features"] == [], "MlpPolicy: SB3's FlattenExtractor, no parameters"
    for (w, b), n_in in zip(params["q"], (4, 16, 16)):
        bound = 1 / np.sqrt(n_in)  # torch's nn.Linear default
        assert np.abs(np.asarray(w)).max() <= bound and np.abs(np.asarray(w)).max() > 0.8 * bound
        assert np.abs(np.asarray(b)).max() <= bound
    target = dqn.init_params(jax.random.PRNGKey(1), shape, env)
    model = DQN("MlpPolicy", "CartPole-v1", policy_kwargs={"net_arch": [16, 16]}, device="cpu")
    for network, values in ((model.q_net, params), (model.q_net_target, target)):
        linears = [m for m in network.q_net if isinstance(m, torch.nn.Linear)]
        with torch.no_grad():
            for linear, (w, b) in zip(linears, values["q"]):
                linear.weight.copy_(torch.tensor(np.asarray(w).T))
                linear.bias.copy_(torch.tensor(np.asarray(b)))
    rng = np.random.default_rng(3)
    batch = {"obs": rng.normal(size=(8, 4)).astype(np.float32), "next_obs": rng.normal(size=(8, 4)).astype(np.float32),
             "actions": rng.integers(2, size=8), "rewards": rng.normal(size=8).astype(np.float32),
             "dones": (rng.random(8) < 0.3).astype(np.float32)}
    loss = float(dqn.dqn_loss(params, target, {k: jnp.asarray(v) for k, v in batch.items()}, jnp.float32(0.97),
                              lambda p, obs: dqn.q_values(p, obs, shape, env)))
    t = {k: torch.tensor(v) for k, v in batch.items()}
    with torch.no_grad():
        next_q = model.q_net_target(t["next_obs"]).max(dim=1)[0]
        target_q = t["rewards"] + (1 - t["dones"]) * 0.97 * next_q
        current = torch.gather(model.q_net(t["obs"]), 1, t["actions"].long()[:, None])[:, 0]
        expected = torch.nn.functional.smooth_l1_loss(current, target_q)
    assert loss == pytest.approx(float(expected), rel=1e-5)


@pytest.mark.slow
def test_dqn_replay_stores_the_terminal_observation_and_bootstraps_truncation():
    shape, hyper, _ = dqn.split_config({"train_freq": 1, "learning_starts": 10_000}, _spec("DQN"), 1000)
    trainer = dqn.make_trainer(shape)
    carry = trainer.setup(hyper, jax.random.PRNGKey(0))
    at_limit = carry.env_state.replace(time=carry.env_state.time + trainer.env.max_episode_steps - 1)
    carry = jax.jit(trainer.iteration)(hyper, carry._replace(env_state=at_limit))
    stored = jax.tree.map(lambda x: np.asarray(x[0, 0]), carry.replay)
    assert stored["dones"] == 0.0, "a time-limit truncation is bootstrapped (SB3's handle_timeout_termination)"
    assert not np.allclose(stored["next_obs"], np.asarray(carry.obs[0])), "next_obs: before the reset"
    assert int(carry.position) == 1 and int(carry.timesteps) == 1


@pytest.mark.slow
def test_a_real_dqn_study_on_the_jax_backend(tmp_path):
    from hpobench_rl_cl import api

    summary = api.run_study("dqn-cartpole-jax", scale="smoke", workers=1, store=tmp_path / "runs",
                            results=tmp_path / "results", progress=False)
    assert summary["protocol_status"] == "official" and summary["budget"]["crashed_trials"] == 0
    assert summary["held_out"]["hand-tuned"]["scores"] and summary["held_out"]["incumbent"]["scores"]


# SAC and TD3 -------------------------------------------------------------------------------------
def test_pendulum_steps_like_gymnasium():
    env, reference = make_env("Pendulum-v1"), gym.make("Pendulum-v1").unwrapped
    reference.reset(seed=0)
    _, state = env.reset(jax.random.PRNGKey(3))
    for torque in (-2.0, 0.7, 1.9, -0.3):
        reference.state = np.array([float(state.theta), float(state.theta_dot)])
        expected, reward, terminated, _, _ = reference.step(np.array([torque], np.float32))
        step = env.step(jax.random.PRNGKey(0), state, jnp.array([torque]))
        np.testing.assert_allclose(np.asarray(step.final_obs), expected, atol=1e-5)
        assert float(step.reward) == pytest.approx(reward, abs=1e-5) and not bool(step.terminated)
        state = step.state
    np.testing.assert_allclose(np.asarray(env.unscale_action(jnp.array([-1.0, 0.0, 0.5]))), [-2.0, 0.0, 1.0])


def _copy_into(linears, layers):
    with torch.no_grad():
        for linear, (w, b) in zip(linears, layers):
            linear.weight.copy_(torch.tensor(np.asarray(w).T))
            linear.bias.copy_(torch.tensor(np.asarray(b)))


def _linears(module):
    return [m for m in module.modules() if isinstance(m, torch.nn.Linear)]


def test_sac_networks_and_squashed_gaussian_are_sb3s():
    from stable_baselines3 import SAC
    from stable_baselines3.common.distributions import SquashedDiagGaussianDistribution

    from hpobench_rl_cl.trainers.rl.jax import sac
    from hpobench_rl_cl.trainers.rl.jax.off_policy import twin_q

    spec = RLTrainSpec("Pendulum-v1", "SAC", "MlpPolicy", 1, 1, 0.0)
    shape, hyper, _ = sac.split_config({"policy_kwargs": "dict(net_arch=[16, 16])", "ent_coef": "auto_0.1"}, spec, 1000)
    assert float(hyper.ent_coef) == pytest.approx(0.1) and bool(hyper.learn_ent_coef) and float(hyper.target_entropy) == -1
    learner = sac.make_trainer(shape).setup(hyper, jax.random.PRNGKey(0)).learner
    model = SAC("MlpPolicy", "Pendulum-v1", policy_kwargs={"net_arch": [16, 16]}, device="cpu")
    actor = learner["actor"]
    _copy_into(_linears(model.actor.latent_pi) + [model.actor.mu, model.actor.log_std],
               actor["latent"] + [actor["mu"], actor["log_std"]])
    for q_net, layers in zip(model.critic.q_networks, learner["critics"]):
        _copy_into(_linears(q_net), layers)
    obs = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    actions = np.random.default_rng(1).uniform(-1, 1, size=(5, 1)).astype(np.float32)
    with torch.no_grad():
        expected_action = model.actor(torch.tensor(obs), deterministic=True).numpy()
        expected_q = np.stack([q.numpy()[:, 0] for q in model.critic(torch.tensor(obs), torch.tensor(actions))])
    np.testing.assert_allclose(np.asarray(sac.deterministic_action(actor, jnp.asarray(obs), "relu")), expected_action,
                               atol=1e-6)
    np.testing.assert_allclose(np.asarray(twin_q(learner["critics"], jnp.asarray(obs), jnp.asarray(actions), "relu")),
                               expected_q, atol=1e-5)
    # The tanh-corrected log-probability of the same Gaussian sample.
    action, log_prob = sac.squashed_sample(actor, jnp.asarray(obs), jax.random.PRNGKey(5), "relu")
    with torch.no_grad():
        mean, log_std, _ = model.actor.get_action_dist_params(torch.tensor(obs))
        distribution = SquashedDiagGaussianDistribution(1).proba_distribution(mean, log_std)
        gaussian = torch.atanh(torch.tensor(np.asarray(action)).clamp(-1 + 1e-7, 1 - 1e-7))
        expected = distribution.log_prob(torch.tensor(np.asarray(action)), gaussian).numpy()
    np.testing.assert_allclose(np.asarray(log_prob), expected, rtol=1e-3, atol=1e-3)


def test_td3_networks_and_noise_are_sb3s():
    from stable_baselines3 import TD3

    from hpobench_rl_cl.trainers.rl.jax import td3
    from hpobench_rl_cl.trainers.rl.jax.off_policy import twin_q

    spec = RLTrainSpec("Pendulum-v1", "TD3", "MlpPolicy", 1, 1, 0.0)
    shape, hyper, _ = td3.split_config({"noise_type": "normal", "noise_std": 0.1}, spec, 1000)
    assert shape.pi_arch == (400, 300) and float(hyper.noise_std) == pytest.approx(0.1)
    assert float(td3.split_config({}, spec, 1000)[1].noise_std) == 0.0, "no noise_type: no action noise"
    with pytest.raises(ValueError, match="normal action noise only"):
        td3.split_config({"noise_type": "ornstein-uhlenbeck"}, spec, 1000)
    shape, hyper, _ = td3.split_config({"policy_kwargs": "dict(net_arch=[16, 16])"}, spec, 1000)
    learner = td3.make_trainer(shape).setup(hyper, jax.random.PRNGKey(0)).learner
    model = TD3("MlpPolicy", "Pendulum-v1", policy_kwargs={"net_arch": [16, 16]}, device="cpu")
    _copy_into(_linears(model.actor), learner["actor"])
    for q_net, layers in zip(model.critic.q_networks, learner["critics"]):
        _copy_into(_linears(q_net), layers)
    obs = np.random.default_rng(0).normal(size=(5, 3)).astype(np.float32)
    actions = np.random.default_rng(1).uniform(-1, 1, size=(5, 1)).astype(np.float32)
    with torch.no_grad():
        expected_action = model.actor(torch.tensor(obs)).numpy()
        expected_q = np.stack([q.numpy()[:, 0] for q in model.critic(torch.tensor(obs), torch.tensor(actions))])
    np.testing.assert_allclose(np.asarray(td3.actor_action(learner["actor"], jnp.asarray(obs), "relu")), expected_action,
                               atol=1e-6)
    np.testing.assert_allclose(np.asarray(twin_q(learner["critics"], jnp.asarray(obs), jnp.asarray(actions), "relu")),
                               expected_q, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize("algorithm", ["SAC", "TD3"])
def test_rl_zoo3s_pendulum_configuration_trains_on_the_jax_backend(algorithm):
    from hpobench_rl_cl.protocol import load_protocol
    from hpobench_rl_cl.trainers.base import BACKENDS

    protocol = load_protocol(f"{algorithm.lower()}-pendulum-jax", "smoke")
    spec = protocol.train_specs("cpu")["test"]
    config = protocol.hand_tuned_run_config()[0]
    results = BACKENDS.get("jax")().train_batch(spec, [Trial(config, seed, 256) for seed in (0, 1)])
    assert [r.status for r in results] == ["ok", "ok"], [r.error for r in results]
    assert all(-3300 < r.score < 0 and r.trained == 256 for r in results)
    assert results[0].score != results[1].score, "each trial its own seed"


def test_compiled_functions_are_kept_for_the_most_recent_shapes_only():
    """Each compiled shape holds ~1,100 memory mappings; past Linux's 65,530 per process a study that
    reached ~56 shapes died. The cache keeps the most recently used (an evicted shape reloads from
    the persistent compilation cache)."""
    from hpobench_rl_cl.trainers.rl.jax.backend import CompiledCache

    built = []
    cache = CompiledCache(limit=2)
    for key in ("a", "b", "a", "c", "a", "b"):
        cache.get(key, lambda key=key: built.append(key) or key.upper())
    assert built == ["a", "b", "c", "b"], "b was least recently used when c came, so it was built again"
    assert len(cache) == 2 and cache.get("a", lambda: "rebuilt") == "A"


@pytest.mark.slow
def test_one_compiled_function_serves_every_run_length_and_epoch_count(monkeypatch):
    """A multi-fidelity tool's rungs and PPO's epoch counts are loop lengths given at call time, not
    compiled in: before, DEHB's first bracket on the paper's PPO space compiled some 300 times."""
    from hpobench_rl_cl.trainers.rl.jax import backend
    from hpobench_rl_cl.trainers.rl.jax.common import compiled_shape

    cache = backend.CompiledCache()
    monkeypatch.setattr(backend, "_COMPILED", cache)
    config = {"n_steps": 32, "batch_size": 32, "learning_rate": "lin_0.001"}
    short, long = ({**config, "n_epochs": 2}, 256), ({**config, "n_epochs": 7}, 1024)
    shapes = [split_config(c, _spec(), budget)[0] for c, budget in (short, long)]
    assert shapes[0] != shapes[1] and compiled_shape(shapes[0]) == compiled_shape(shapes[1])
    results = [backend.JaxBackend().train_batch(_spec(), [Trial(c, 0, budget)])[0] for c, budget in (short, long)]
    assert len(cache) == 1, "the second run length reused the first one's compiled function"
    assert [r.trained for r in results] == [256, 1024] and all(r.status == "ok" for r in results)
