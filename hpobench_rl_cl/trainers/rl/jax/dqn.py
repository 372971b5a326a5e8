"""DQN with SB3's meaning for every hyperparameter, as one pure function of (hyperparameters, key).

The same design as :mod:`.ppo`: :class:`DQNShape` (the batch key) holds what changes shapes or loop
structure, :class:`DQNHyper` what may differ between the trials of one batch.

SB3's semantics, each kept here (``tests/test_jax_backend.py`` checks them):
- ``QNetwork``: an MLP (``net_arch`` 64x64, ReLU by default) with torch's default ``nn.Linear``
  initialisation (weights and biases uniform in +-1/sqrt(fan_in)); the target network starts as a
  copy and follows by ``tau``-Polyak updates every ``target_update_interval // n_envs`` env calls;
- one collection = ``train_freq`` calls of the vectorized env, then, once more than
  ``learning_starts`` steps were taken, ``gradient_steps`` updates (-1: as many as steps collected);
  actions are uniform random before ``learning_starts``, then epsilon-greedy with one coin for all
  envs (SB3's ``predict``); epsilon follows SB3's linear schedule from ``exploration_initial_eps`` to
  ``exploration_final_eps`` over ``exploration_fraction`` of the run, set after each env call
  (0 before the first);
- the replay buffer (``buffer_size // n_envs`` slots per env, clamped to the run's length as the SB3
  backend does) stores the terminal observation as the next observation and bootstraps
  time-limit truncations (``handle_timeout_termination``); minibatches are drawn uniformly from
  the filled slots, env index uniform;
- the loss is Huber (``smooth_l1_loss``) against ``r + gamma * (1 - done) * max_a Q_target(s', a)``,
  one Adam (torch's eps 1e-8), gradients clipped by global norm ``max_grad_norm`` (10);
- ``lin_X`` learning rates follow SB3's progress remaining, read at each training call;
- a run shorter than the protocol's full length (a multi-fidelity rung) scales ``learning_starts``
  as the SB3 backend does.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import optax

from ..spec import RLTrainSpec
from .common import Trainer, checkpoint_updates, mlp, network, scheduled, sgd_step
from .envs import make_env

SB3_DEFAULTS = {"learning_rate": 1e-4, "buffer_size": 1_000_000, "learning_starts": 100, "batch_size": 32,
                "tau": 1.0, "gamma": 0.99, "train_freq": 4, "gradient_steps": 1, "target_update_interval": 10_000,
                "exploration_fraction": 0.1, "exploration_initial_eps": 1.0, "exploration_final_eps": 0.05,
                "max_grad_norm": 10.0, "n_envs": 1}
#: What a configuration may set for the jax DQN (everything else SB3 would accept is refused).
SUPPORTED = frozenset(SB3_DEFAULTS) | {"policy", "policy_kwargs"}


@dataclass(frozen=True)
class DQNShape:
    """What changes array shapes or loop structure: trials share a compiled call only when equal."""

    env_id: str
    n_envs: int
    train_freq: int  # env calls per collection
    gradient_steps: int
    batch_size: int
    buffer_slots: int  # per env
    net_arch: tuple[int, ...]
    activation: str
    learning_rate_schedule: bool
    total_timesteps: int
    eval_after: tuple[int, ...]  # collections done before each learning-curve evaluation
    eval_episodes: int

    @property
    def rollout(self) -> int:
        return self.n_envs * self.train_freq


class DQNHyper(NamedTuple):
    """Per-trial values (arrays inside a batch)."""

    learning_rate: jax.Array
    gamma: jax.Array
    tau: jax.Array
    target_update_calls: jax.Array
    learning_starts: jax.Array
    exploration_fraction: jax.Array
    exploration_initial_eps: jax.Array
    exploration_final_eps: jax.Array
    max_grad_norm: jax.Array


def _train_freq(value: Any) -> int:
    """SB3's ``train_freq``: an int or ``(n, "step")``; episodes do not fit a fixed loop."""
    if isinstance(value, (list, tuple)):
        count, unit = value
        if unit != "step":
            raise ValueError(f"the jax DQN counts train_freq in steps, not {unit!r}")
        return int(count)
    return int(value)


def split_config(config: Mapping[str, Any], spec: RLTrainSpec, budget: int
                 ) -> tuple[DQNShape, DQNHyper, tuple[int, ...]]:
    """A configuration (SB3 names, rl-zoo3 conventions) as (shape, per-trial values, checkpoint steps)."""
    unknown = set(config) - SUPPORTED
    if unknown:
        raise ValueError(f"the jax DQN does not take {sorted(unknown)}")
    if config.get("policy", "MlpPolicy") != "MlpPolicy":
        raise ValueError(f"the jax DQN has MlpPolicy only, not {config['policy']}")
    values = {**SB3_DEFAULTS, **config}
    n_envs, train_freq = int(values["n_envs"]), _train_freq(values["train_freq"])
    gradient_steps = int(values["gradient_steps"])
    gradient_steps = train_freq * n_envs if gradient_steps < 0 else gradient_steps
    trained = -(-budget // (n_envs * train_freq)) * n_envs * train_freq
    slots = max(min(int(values["buffer_size"]), trained) // n_envs, 1)
    learning_starts = int(values["learning_starts"])
    if spec.full_timesteps and budget < spec.full_timesteps:
        learning_starts = learning_starts * budget // spec.full_timesteps
    learning_rate, lr_schedule = scheduled(values["learning_rate"])
    arch, _, activation = network(values.get("policy_kwargs"), [64, 64], "relu")
    steps, updates = checkpoint_updates(budget, n_envs * train_freq, spec.curve_points)
    shape = DQNShape(spec.env_id, n_envs, train_freq, gradient_steps, int(values["batch_size"]), slots, arch,
                     activation, lr_schedule, budget, updates, spec.eval_episodes)
    hyper = DQNHyper(
        jnp.float32(learning_rate), jnp.float32(values["gamma"]), jnp.float32(values["tau"]),
        jnp.int32(max(int(values["target_update_interval"]) // n_envs, 1)), jnp.int32(learning_starts),
        *(jnp.float32(values[k]) for k in ("exploration_fraction", "exploration_initial_eps",
                                          "exploration_final_eps", "max_grad_norm")))
    return shape, hyper, steps


def init_params(key: jax.Array, sizes: tuple[int, ...]) -> list[tuple[jax.Array, jax.Array]]:
    """torch's ``nn.Linear`` initialisation for each layer."""
    layers = []
    for key, (n_in, n_out) in zip(jax.random.split(key, len(sizes) - 1), zip(sizes[:-1], sizes[1:])):
        bound = 1.0 / math.sqrt(n_in)
        w_key, b_key = jax.random.split(key)
        layers.append((jax.random.uniform(w_key, (n_in, n_out), jnp.float32, -bound, bound),
                       jax.random.uniform(b_key, (n_out,), jnp.float32, -bound, bound)))
    return layers


def q_values(params: list, obs: jax.Array, activation: str) -> jax.Array:
    return mlp(params[:-1], obs, activation) @ params[-1][0] + params[-1][1]


def exploration_rate(hyper: DQNHyper, progress_remaining: jax.Array) -> jax.Array:
    """SB3's ``get_linear_fn(initial, final, fraction)`` at ``progress_remaining``."""
    done = 1.0 - progress_remaining
    slope = (hyper.exploration_final_eps - hyper.exploration_initial_eps) / jnp.maximum(hyper.exploration_fraction, 1e-12)
    return jnp.where(done > hyper.exploration_fraction, hyper.exploration_final_eps,
                     hyper.exploration_initial_eps + done * slope)


def dqn_loss(params: list, target_params: list, batch: dict[str, jax.Array], gamma: jax.Array,
             activation: str) -> jax.Array:
    """SB3's DQN loss on one minibatch."""
    next_q = q_values(target_params, batch["next_obs"], activation).max(axis=-1)
    target = jax.lax.stop_gradient(batch["rewards"] + (1.0 - batch["dones"]) * gamma * next_q)
    current = jnp.take_along_axis(q_values(params, batch["obs"], activation), batch["actions"][:, None], axis=-1)[:, 0]
    return optax.huber_loss(current, target, delta=1.0).mean()


class Carry(NamedTuple):
    params: list
    target_params: list
    opt_state: Any
    obs: jax.Array
    env_state: Any
    buffer: dict[str, jax.Array]
    position: jax.Array
    full: jax.Array
    key: jax.Array
    timesteps: jax.Array
    calls: jax.Array
    epsilon: jax.Array


def make_trainer(shape: DQNShape) -> Trainer:
    """One DQN trial of ``shape``."""
    env = make_env(shape.env_id)
    adam = optax.scale_by_adam(eps=1e-8)
    sizes = (env.obs_size, *shape.net_arch, env.n_actions)
    n = shape.n_envs

    def setup(hyper: DQNHyper, key: jax.Array) -> Carry:
        key, init_key, reset_key = jax.random.split(key, 3)
        params = init_params(init_key, sizes)
        obs, env_state = jax.vmap(env.reset)(jax.random.split(reset_key, n))
        slots = (shape.buffer_slots, n)
        buffer = {"obs": jnp.zeros((*slots, env.obs_size)), "next_obs": jnp.zeros((*slots, env.obs_size)),
                  "actions": jnp.zeros(slots, jnp.int32), "rewards": jnp.zeros(slots), "dones": jnp.zeros(slots)}
        return Carry(params, params, adam.init(params), obs, env_state, buffer, jnp.int32(0), jnp.bool_(False),
                     key, jnp.int32(0), jnp.int32(0), jnp.float32(0.0))

    def env_call(hyper: DQNHyper, carry: Carry, _: None) -> tuple[Carry, None]:
        key, coin_key, random_key, step_key = jax.random.split(carry.key, 4)
        random_actions = jax.random.randint(random_key, (n,), 0, env.n_actions)
        greedy = jnp.argmax(q_values(carry.params, carry.obs, shape.activation), axis=-1)
        explore = jnp.logical_or(carry.timesteps < hyper.learning_starts,
                                 jax.random.uniform(coin_key) < carry.epsilon)
        actions = jnp.where(explore, random_actions, greedy)
        step = jax.vmap(env.step)(jax.random.split(step_key, n), carry.env_state, actions)
        transition = {"obs": carry.obs, "next_obs": step.final_obs, "actions": actions, "rewards": step.reward,
                      "dones": step.terminated.astype(jnp.float32)}
        buffer = jax.tree.map(lambda stored, new: stored.at[carry.position].set(new), carry.buffer, transition)
        position = (carry.position + 1) % shape.buffer_slots
        timesteps, calls = carry.timesteps + n, carry.calls + 1
        target_params = jax.lax.cond(
            calls % hyper.target_update_calls == 0,
            lambda: jax.tree.map(lambda p, t: hyper.tau * p + (1.0 - hyper.tau) * t, carry.params, carry.target_params),
            lambda: carry.target_params)
        epsilon = exploration_rate(hyper, 1.0 - timesteps / shape.total_timesteps)
        return carry._replace(target_params=target_params, obs=step.obs, env_state=step.state, buffer=buffer,
                              position=position, full=jnp.logical_or(carry.full, position == 0), key=key,
                              timesteps=timesteps, calls=calls, epsilon=epsilon), None

    def gradient_step(hyper: DQNHyper, lr: jax.Array, carry: Carry, learner: tuple, _: None) -> tuple[tuple, None]:
        params, opt_state, key = learner
        key, index_key, env_key = jax.random.split(key, 3)
        filled = jnp.where(carry.full, shape.buffer_slots, carry.position)
        rows = jax.random.randint(index_key, (shape.batch_size,), 0, jnp.maximum(filled, 1))
        envs = jax.random.randint(env_key, (shape.batch_size,), 0, n)
        batch = jax.tree.map(lambda stored: stored[rows, envs], carry.buffer)
        grads = jax.grad(dqn_loss)(params, carry.target_params, batch, hyper.gamma, shape.activation)
        return (*sgd_step(params, grads, opt_state, adam, lr, hyper.max_grad_norm), key), None

    def iteration(hyper: DQNHyper, carry: Carry) -> Carry:
        carry, _ = jax.lax.scan(lambda c, x: env_call(hyper, c, x), carry, None, length=shape.train_freq)
        progress = 1.0 - carry.timesteps / shape.total_timesteps
        lr = hyper.learning_rate * (progress if shape.learning_rate_schedule else 1.0)
        learner = (carry.params, carry.opt_state, carry.key)
        trained, _ = jax.lax.scan(lambda l, x: gradient_step(hyper, lr, carry, l, x), learner, None,
                                  length=shape.gradient_steps)
        # Only the learner's part is selected (under vmap both sides run; the buffer is never copied).
        params, opt_state, key = jax.tree.map(
            lambda t, c: jnp.where(carry.timesteps > hyper.learning_starts, t, c), trained, learner)
        return carry._replace(params=params, opt_state=opt_state, key=key)

    def act(carry: Carry, obs: jax.Array) -> jax.Array:
        return jnp.argmax(q_values(carry.params, obs, shape.activation), axis=-1)

    return Trainer(env, setup, iteration, act)
