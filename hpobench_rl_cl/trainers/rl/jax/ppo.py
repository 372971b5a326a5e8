"""PPO with SB3's meaning for every hyperparameter, as one pure function of (hyperparameters, key).

:func:`make_trainer` takes what changes shapes or loop structure (:class:`PPOShape`: the batch key)
and returns one trial's pieces, written as if alone; :func:`.common.learning_curve` makes them one
function of (hyperparameters, key), which the backend jits once per shape and vmaps over a batch of
trials (PureJaxRL's and rejax's design). Everything in :class:`PPOHyper` may differ between the
trials of one batch.

SB3's semantics, each kept here (``tests/test_jax_backend.py`` checks them one by one):
- ``MlpPolicy``: separate policy and value networks (``net_arch`` 64x64, tanh by default), orthogonal
  initialisation (gain sqrt(2); 0.01 for the action head, 1 for the value head), biases 0;
- one loss ``policy + ent_coef * entropy + vf_coef * value`` and one Adam (eps 1e-5), gradients
  clipped by their global norm (``max_norm / (norm + 1e-6)``, as torch's ``clip_grad_norm_``);
- advantages normalised per minibatch (unbiased std, +1e-8) only when ``normalize_advantage``;
  value clipping only when ``clip_range_vf`` is set (SB3: None = off);
- rollouts of ``n_steps`` per env until ``total_timesteps`` is reached (whole rollouts); a
  time-limit truncation adds ``gamma * V(terminal observation)`` to the reward, a termination not;
  GAE as SB3's rollout buffer computes it;
- rl-zoo3's ``normalize`` (SB3's VecNormalize: running observation and return statistics, the
  policy and the value bootstrap seeing normalised observations, evaluation with the statistics
  frozen), :mod:`.normalize`;
- ``lin_X`` schedules for the learning rate and the clip range: ``X * progress_remaining``, with
  progress taken after each rollout (``1 - steps / total_timesteps``), as SB3 does;
- evaluation: the deterministic policy (arg max) on ``eval_episodes`` episodes of an environment
  seeded apart from training (seed + 1,000,000), the same episodes at every checkpoint.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import optax

from ..run_config import parse_normalize
from ..spec import RLTrainSpec
from . import normalize
from .common import (RunLength, Trainer, checkpoint_updates, mlp, network, progress_remaining, scheduled, sgd_step,
                     with_defaults)
from .envs import make_env

SB3_DEFAULTS = {"learning_rate": 3e-4, "n_steps": 2048, "batch_size": 64, "n_epochs": 10, "gamma": 0.99,
                "gae_lambda": 0.95, "clip_range": 0.2, "clip_range_vf": None, "normalize_advantage": True,
                "ent_coef": 0.0, "vf_coef": 0.5, "max_grad_norm": 0.5, "n_envs": 1}
#: What a configuration may set for the jax PPO (everything else SB3 would accept is refused);
#: ``use_sde`` only false, when SB3 ignores ``sde_sample_freq`` too (the paper's files name both).
SUPPORTED = frozenset(SB3_DEFAULTS) | {"policy", "policy_kwargs", "normalize", "use_sde", "sde_sample_freq"}


@dataclass(frozen=True)
class PPOShape:
    """What changes array shapes or loop structure: trials share a compiled call only when equal."""

    env_id: str
    n_envs: int
    n_steps: int
    batch_size: int
    n_epochs: int
    pi_arch: tuple[int, ...]
    vf_arch: tuple[int, ...]
    activation: str
    learning_rate_schedule: bool
    clip_range_schedule: bool
    clip_value: bool
    normalize_obs: bool
    normalize_reward: bool
    total_timesteps: int
    eval_after: tuple[int, ...]  # updates done before each learning-curve evaluation (the last: all)
    eval_episodes: int

    @property
    def rollout(self) -> int:
        return self.n_envs * self.n_steps


class PPOHyper(NamedTuple):
    """Per-trial values (arrays inside a batch)."""

    learning_rate: jax.Array
    gamma: jax.Array
    gae_lambda: jax.Array
    clip_range: jax.Array
    clip_range_vf: jax.Array
    ent_coef: jax.Array
    vf_coef: jax.Array
    max_grad_norm: jax.Array
    normalize_advantage: jax.Array
    normalization: normalize.NormalizeSettings
    run: RunLength


def split_config(config: Mapping[str, Any], spec: RLTrainSpec, budget: int
                 ) -> tuple[PPOShape, PPOHyper, tuple[int, ...]]:
    """A configuration (SB3 names, rl-zoo3 conventions) as (shape, per-trial values, checkpoint steps)."""
    values = with_defaults(config, "PPO", SUPPORTED, SB3_DEFAULTS, spec)
    normalize_obs, normalize_reward, normalization = normalize.settings(parse_normalize(values.get("normalize", False)))
    n_envs, n_steps, batch_size = int(values["n_envs"]), int(values["n_steps"]), int(values["batch_size"])
    if (n_envs * n_steps) % batch_size:
        raise ValueError(f"the jax PPO needs batch_size ({batch_size}) to divide n_steps * n_envs ({n_envs * n_steps})")
    learning_rate, lr_schedule = scheduled(values["learning_rate"])
    clip_range, clip_schedule = scheduled(values["clip_range"])
    pi_arch, vf_arch, activation = network(values.get("policy_kwargs"), [64, 64], "tanh")
    steps, updates = checkpoint_updates(budget, n_envs * n_steps, spec.curve_points)
    shape = PPOShape(spec.env_id, n_envs, n_steps, batch_size, int(values["n_epochs"]), pi_arch, vf_arch, activation,
                     lr_schedule, clip_schedule, values["clip_range_vf"] is not None, normalize_obs, normalize_reward,
                     budget, updates, spec.eval_episodes)
    hyper = PPOHyper(*(jnp.float32(v) for v in (
        learning_rate, values["gamma"], values["gae_lambda"], clip_range, values["clip_range_vf"] or 0.0,
        values["ent_coef"], values["vf_coef"], values["max_grad_norm"], bool(values["normalize_advantage"]))),
        normalization, RunLength.of(shape))
    return shape, hyper, steps


# networks ----------------------------------------------------------------------------------------
def _dense(key: jax.Array, n_in: int, n_out: int, gain: float) -> tuple[jax.Array, jax.Array]:
    return jax.nn.initializers.orthogonal(gain)(key, (n_in, n_out), jnp.float32), jnp.zeros(n_out, jnp.float32)


def init_params(key: jax.Array, shape: PPOShape, obs_size: int, n_actions: int) -> dict[str, Any]:
    keys = iter(jax.random.split(key, len(shape.pi_arch) + len(shape.vf_arch) + 2))
    params: dict[str, Any] = {}
    for name, arch in (("pi", shape.pi_arch), ("vf", shape.vf_arch)):
        sizes = (obs_size, *arch)
        params[name] = [_dense(next(keys), a, b, math.sqrt(2)) for a, b in zip(sizes[:-1], sizes[1:])]
    params["pi_out"] = _dense(next(keys), (shape.pi_arch or (obs_size,))[-1], n_actions, 0.01)
    params["vf_out"] = _dense(next(keys), (shape.vf_arch or (obs_size,))[-1], 1, 1.0)
    return params


def forward(params: dict[str, Any], obs: jax.Array, activation: str) -> tuple[jax.Array, jax.Array]:
    """Action logits and state values."""
    pi, vf = mlp(params["pi"], obs, activation), mlp(params["vf"], obs, activation)
    return pi @ params["pi_out"][0] + params["pi_out"][1], (vf @ params["vf_out"][0] + params["vf_out"][1])[..., 0]


# one trial ---------------------------------------------------------------------------------------
class PPOCarry(NamedTuple):
    """One trial's state between iterations (``timesteps``: env steps trained, SB3's num_timesteps)."""

    params: dict[str, Any]
    opt_state: Any
    obs: jax.Array
    env_state: Any
    starts: jax.Array
    key: jax.Array
    timesteps: jax.Array
    normalizer: normalize.Normalizer


class Rollout(NamedTuple):
    obs: jax.Array
    actions: jax.Array
    rewards: jax.Array
    episode_starts: jax.Array
    values: jax.Array
    log_probs: jax.Array


def gae(rollout: Rollout, last_values: jax.Array, dones: jax.Array, gamma: jax.Array,
        gae_lambda: jax.Array) -> tuple[jax.Array, jax.Array]:
    """SB3's ``compute_returns_and_advantage``: (advantages, returns), each (n_steps, n_envs)."""
    next_non_terminal = jnp.concatenate([1.0 - rollout.episode_starts[1:], (1.0 - dones)[None]])
    next_values = jnp.concatenate([rollout.values[1:], last_values[None]])
    deltas = rollout.rewards + gamma * next_values * next_non_terminal - rollout.values

    def backwards(last_gae: jax.Array, step: tuple[jax.Array, jax.Array]) -> tuple[jax.Array, jax.Array]:
        delta, non_terminal = step
        last_gae = delta + gamma * gae_lambda * non_terminal * last_gae
        return last_gae, last_gae

    _, advantages = jax.lax.scan(backwards, jnp.zeros_like(last_values), (deltas, next_non_terminal), reverse=True)
    return advantages, advantages + rollout.values


def ppo_loss(params: dict[str, Any], batch: dict[str, jax.Array], hyper: PPOHyper, clip_range: jax.Array,
             shape: PPOShape) -> jax.Array:
    """SB3's PPO loss on one minibatch."""
    logits, values = forward(params, batch["obs"], shape.activation)
    log_probs_all = jax.nn.log_softmax(logits)
    log_prob = jnp.take_along_axis(log_probs_all, batch["actions"][:, None], axis=-1)[:, 0]
    entropy = -jnp.sum(jnp.exp(log_probs_all) * log_probs_all, axis=-1)
    advantages = batch["advantages"]
    normalized = (advantages - advantages.mean()) / (advantages.std(ddof=1) + 1e-8)
    advantages = jnp.where(hyper.normalize_advantage > 0, normalized, advantages)
    ratio = jnp.exp(log_prob - batch["log_probs"])
    policy_loss = -jnp.minimum(advantages * ratio, advantages * jnp.clip(ratio, 1 - clip_range, 1 + clip_range)).mean()
    if shape.clip_value:
        values = batch["values"] + jnp.clip(values - batch["values"], -hyper.clip_range_vf, hyper.clip_range_vf)
    value_loss = jnp.mean((batch["returns"] - values) ** 2)
    return policy_loss + hyper.ent_coef * -entropy.mean() + hyper.vf_coef * value_loss


def make_trainer(shape: PPOShape) -> Trainer:
    """One PPO trial of ``shape``; its carry starts with the parameters."""
    env = make_env(shape.env_id)
    adam = optax.scale_by_adam(eps=1e-5)
    n_minibatches = shape.rollout // shape.batch_size

    def setup(hyper: PPOHyper, key: jax.Array) -> PPOCarry:
        key, init_key, reset_key = jax.random.split(key, 3)
        params = init_params(init_key, shape, env.obs_size, env.n_actions)
        obs, env_state = jax.vmap(env.reset)(jax.random.split(reset_key, shape.n_envs))
        normalizer = normalize.start(obs, hyper.normalization, shape.normalize_obs)
        obs = normalize.observation(normalizer, obs, shape.normalize_obs)
        return PPOCarry(params, adam.init(params), obs, env_state, jnp.ones(shape.n_envs), key, jnp.int32(0),
                        normalizer)

    def iteration(hyper: PPOHyper, carry: PPOCarry) -> PPOCarry:
        def collect(state: tuple, _: None) -> tuple[tuple, Rollout]:
            params, obs, env_state, starts, key, normalizer = state
            key, action_key, step_key = jax.random.split(key, 3)
            logits, values = forward(params, obs, shape.activation)
            actions = jax.random.categorical(action_key, logits)
            log_probs = jnp.take_along_axis(jax.nn.log_softmax(logits), actions[:, None], axis=-1)[:, 0]
            step = jax.vmap(env.step)(jax.random.split(step_key, shape.n_envs), env_state, actions)
            dones = jnp.logical_or(step.terminated, step.truncated)
            normalizer, reward = normalize.step(normalizer, step.obs, step.reward, dones, shape.normalize_obs,
                                                shape.normalize_reward)
            next_obs, final_obs = (normalize.observation(normalizer, o, shape.normalize_obs)
                                   for o in (step.obs, step.final_obs))
            terminal_values = forward(params, final_obs, shape.activation)[1]
            rewards = reward + hyper.gamma * terminal_values * step.truncated
            return ((params, next_obs, step.state, dones.astype(jnp.float32), key, normalizer),
                    Rollout(obs, actions, rewards, starts, values, log_probs))

        params, opt_state, obs, env_state, starts, key, timesteps, normalizer = carry
        (_, obs, env_state, starts, key, normalizer), rollout = jax.lax.scan(
            collect, (params, obs, env_state, starts, key, normalizer), None, length=shape.n_steps)
        last_values = forward(params, obs, shape.activation)[1]
        advantages, returns = gae(rollout, last_values, starts, hyper.gamma, hyper.gae_lambda)
        timesteps = timesteps + shape.rollout
        progress = progress_remaining(timesteps, hyper.run)
        lr = hyper.learning_rate * (progress if shape.learning_rate_schedule else 1.0)
        clip_range = hyper.clip_range * (progress if shape.clip_range_schedule else 1.0)
        flat = {"obs": rollout.obs.reshape(shape.rollout, -1), "actions": rollout.actions.reshape(-1),
                "values": rollout.values.reshape(-1), "log_probs": rollout.log_probs.reshape(-1),
                "advantages": advantages.reshape(-1), "returns": returns.reshape(-1)}

        def epoch(_: jax.Array, state: tuple) -> tuple:
            params, opt_state, key = state
            key, perm_key = jax.random.split(key)
            order = jax.random.permutation(perm_key, shape.rollout).reshape(n_minibatches, shape.batch_size)

            def minibatch(state: tuple, indices: jax.Array) -> tuple[tuple, None]:
                params, opt_state = state
                grads = jax.grad(ppo_loss)(params, jax.tree.map(lambda x: x[indices], flat), hyper, clip_range, shape)
                return sgd_step(params, grads, opt_state, adam, lr, hyper.max_grad_norm), None

            (params, opt_state), _ = jax.lax.scan(minibatch, (params, opt_state), order)
            return params, opt_state, key

        params, opt_state, key = jax.lax.fori_loop(0, hyper.run.n_epochs, epoch, (params, opt_state, key))
        return PPOCarry(params, opt_state, obs, env_state, starts, key, timesteps, normalizer)

    def act(carry: PPOCarry, obs: jax.Array) -> jax.Array:
        obs = normalize.observation(carry.normalizer, obs, shape.normalize_obs)
        return jnp.argmax(forward(carry.params, obs, shape.activation)[0], axis=-1)

    return Trainer(env, setup, iteration, act)
