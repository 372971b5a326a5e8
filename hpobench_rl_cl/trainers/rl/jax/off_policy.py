"""What DQN, SAC and TD3 share, with SB3's meaning: the replay buffer and the collect-then-train loop.

One iteration = ``train_freq`` calls of the vectorized env, then, once more than ``learning_starts``
steps were taken, ``gradient_steps`` updates (-1: as many as env steps collected), each on a fresh
minibatch. Before ``learning_starts`` actions are uniform random (SB3's ``_sample_action``); then the
algorithm's exploration chooses them. The replay buffer (``buffer_size // n_envs`` slots per env,
clamped to the run's length as the SB3 backend does) stores the terminal observation as the next
observation and bootstraps time-limit truncations (``handle_timeout_termination``); minibatches are
drawn uniformly from the filled slots, env index uniform. Continuous actions are stored in [-1, 1]
and unscaled for the environment. A run shorter than the protocol's full length (a multi-fidelity
rung) scales ``learning_starts`` as the SB3 backend does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, NamedTuple

import jax
import jax.numpy as jnp

from ..spec import RLTrainSpec
from .common import Trainer, linear_head, progress_remaining
from .envs import JaxEnv

#: SB3's defaults of the loop's hyperparameters that DQN, SAC and TD3 all take.
LOOP_KEYS = ("n_envs", "train_freq", "gradient_steps", "buffer_size", "learning_starts", "batch_size")


@dataclass(frozen=True)
class OffPolicyShape:
    """The loop's part of an off-policy algorithm's shape (its batch key)."""

    env_id: str
    n_envs: int
    train_freq: int  # env calls per collection
    gradient_steps: int
    batch_size: int
    buffer_slots: int  # per env
    learning_rate_schedule: bool
    total_timesteps: int
    eval_after: tuple[int, ...]  # collections done before each learning-curve evaluation
    eval_episodes: int

    @property
    def rollout(self) -> int:
        return self.n_envs * self.train_freq


@dataclass(frozen=True)
class ActorCriticShape(OffPolicyShape):
    """SAC's and TD3's shape: the loop's, the actor's and the critics' layers."""

    pi_arch: tuple[int, ...]
    qf_arch: tuple[int, ...]
    activation: str


def loop_settings(values: Mapping[str, Any], spec: RLTrainSpec, budget: int) -> dict[str, Any]:
    """The loop's settings from a configuration merged over its algorithm's SB3 defaults:
    (shape fields, learning_starts)."""
    n_envs, train_freq = int(values["n_envs"]), _train_freq(values["train_freq"])
    gradient_steps = int(values["gradient_steps"])
    trained = -(-budget // (n_envs * train_freq)) * n_envs * train_freq
    learning_starts = int(values["learning_starts"])
    if spec.full_timesteps and budget < spec.full_timesteps:
        learning_starts = learning_starts * budget // spec.full_timesteps
    return {"n_envs": n_envs, "train_freq": train_freq,
            "gradient_steps": train_freq * n_envs if gradient_steps < 0 else gradient_steps,
            "batch_size": int(values["batch_size"]),
            "buffer_slots": max(min(int(values["buffer_size"]), trained) // n_envs, 1),
            "learning_starts": learning_starts}


def _train_freq(value: Any) -> int:
    """SB3's ``train_freq``: an int or ``(n, "step")``; episodes do not fit a fixed loop."""
    if isinstance(value, (list, tuple)):
        count, unit = value
        if unit != "step":
            raise ValueError(f"the jax backend counts train_freq in steps, not {unit!r}")
        return int(count)
    return int(value)


def twin_q(critics: list, obs: jax.Array, actions: jax.Array, activation: str) -> jax.Array:
    """Each critic's Q(obs, action) (SAC's and TD3's ``ContinuousCritic``): (n_critics, batch)."""
    inputs = jnp.concatenate([obs, actions], axis=-1)
    return jnp.stack([linear_head(critic, inputs, activation)[..., 0] for critic in critics])


class OffPolicyCarry(NamedTuple):
    """One trial's state between iterations; ``learner`` is the algorithm's (networks, optimizers,
    counters), the rest the loop's."""

    learner: Any
    replay: dict[str, jax.Array]
    position: jax.Array
    full: jax.Array
    obs: jax.Array
    env_state: Any
    key: jax.Array
    timesteps: jax.Array
    calls: jax.Array


class Algorithm(NamedTuple):
    """An off-policy algorithm's part, each a function of one trial:

    - ``init(hyper, key) -> learner``;
    - ``explore(hyper, learner, obs, key) -> actions`` after ``learning_starts`` (continuous: in [-1, 1]);
    - ``after_env_call(hyper, learner, calls, timesteps) -> learner`` (DQN's target and epsilon);
    - ``update(hyper, learner, batch, lr, key) -> learner`` one gradient step;
    - ``act(learner, obs) -> actions`` the deterministic policy (continuous: in [-1, 1]).
    """

    init: Callable[..., Any]
    explore: Callable[..., jax.Array]
    after_env_call: Callable[..., Any]
    update: Callable[..., Any]
    act: Callable[..., jax.Array]


def make_off_policy_trainer(shape: OffPolicyShape, env: JaxEnv, algorithm: Algorithm) -> Trainer:
    n = shape.n_envs
    action_shape = () if env.discrete else (env.action_size,)

    def random_actions(key: jax.Array) -> jax.Array:
        if env.discrete:
            return jax.random.randint(key, (n,), 0, env.n_actions)
        return jax.random.uniform(key, (n, *action_shape), jnp.float32, -1.0, 1.0)

    def for_env(actions: jax.Array) -> jax.Array:
        return actions if env.discrete else env.unscale_action(actions)

    def setup(hyper: Any, key: jax.Array) -> OffPolicyCarry:
        key, init_key, reset_key = jax.random.split(key, 3)
        obs, env_state = jax.vmap(env.reset)(jax.random.split(reset_key, n))
        slots = (shape.buffer_slots, n)
        replay = {"obs": jnp.zeros((*slots, *env.obs_shape), env.obs_dtype),
                  "next_obs": jnp.zeros((*slots, *env.obs_shape), env.obs_dtype),
                  "actions": jnp.zeros((*slots, *action_shape), jnp.int32 if env.discrete else jnp.float32),
                  "rewards": jnp.zeros(slots), "dones": jnp.zeros(slots)}
        return OffPolicyCarry(algorithm.init(hyper, init_key), replay, jnp.int32(0), jnp.bool_(False), obs, env_state,
                              key, jnp.int32(0), jnp.int32(0))

    def env_call(hyper: Any, carry: OffPolicyCarry, _: None) -> tuple[OffPolicyCarry, None]:
        key, random_key, explore_key, step_key = jax.random.split(carry.key, 4)
        actions = jnp.where(carry.timesteps < hyper.learning_starts, random_actions(random_key),
                            algorithm.explore(hyper, carry.learner, carry.obs, explore_key))
        step = jax.vmap(env.step)(jax.random.split(step_key, n), carry.env_state, for_env(actions))
        transition = {"obs": carry.obs, "next_obs": step.final_obs, "actions": actions, "rewards": step.reward,
                      "dones": step.terminated.astype(jnp.float32)}
        replay = jax.tree.map(lambda stored, new: stored.at[carry.position].set(new), carry.replay, transition)
        position = (carry.position + 1) % shape.buffer_slots
        timesteps, calls = carry.timesteps + n, carry.calls + 1
        learner = algorithm.after_env_call(hyper, carry.learner, calls, timesteps)
        return carry._replace(learner=learner, replay=replay, position=position,
                              full=jnp.logical_or(carry.full, position == 0), obs=step.obs, env_state=step.state,
                              key=key, timesteps=timesteps, calls=calls), None

    def gradient_step(hyper: Any, lr: jax.Array, carry: OffPolicyCarry, state: tuple, _: None) -> tuple[tuple, None]:
        learner, key = state
        key, index_key, env_key, update_key = jax.random.split(key, 4)
        filled = jnp.where(carry.full, shape.buffer_slots, carry.position)
        rows = jax.random.randint(index_key, (shape.batch_size,), 0, jnp.maximum(filled, 1))
        envs = jax.random.randint(env_key, (shape.batch_size,), 0, n)
        batch = jax.tree.map(lambda stored: stored[rows, envs], carry.replay)
        return (algorithm.update(hyper, learner, batch, lr, update_key), key), None

    def iteration(hyper: Any, carry: OffPolicyCarry) -> OffPolicyCarry:
        carry, _ = jax.lax.scan(lambda c, x: env_call(hyper, c, x), carry, None, length=shape.train_freq)
        progress = progress_remaining(carry.timesteps, hyper.run)
        lr = hyper.learning_rate * (progress if shape.learning_rate_schedule else 1.0)
        start = (carry.learner, carry.key)
        trained, _ = jax.lax.scan(lambda s, x: gradient_step(hyper, lr, carry, s, x), start, None,
                                  length=shape.gradient_steps)
        # Only the learner is selected (under vmap both sides run; the replay buffer is never copied).
        learner, key = jax.tree.map(lambda t, c: jnp.where(carry.timesteps > hyper.learning_starts, t, c), trained, start)
        return carry._replace(learner=learner, key=key)

    def act(carry: OffPolicyCarry, obs: jax.Array) -> jax.Array:
        return for_env(algorithm.act(carry.learner, obs))

    return Trainer(env, setup, iteration, act)
