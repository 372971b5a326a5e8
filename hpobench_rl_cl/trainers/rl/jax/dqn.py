"""DQN with SB3's meaning for every hyperparameter, as one pure function of (hyperparameters, key).

The same design as :mod:`.ppo`: :class:`DQNShape` (the batch key) holds what changes shapes or loop
structure, :class:`DQNHyper` what may differ between the trials of one batch; the replay buffer and
the collect-then-train loop are :mod:`.off_policy`'s.

SB3's semantics, each kept here (``tests/test_jax_backend.py`` checks them):
- ``QNetwork``: an MLP (``net_arch`` 64x64, ReLU by default) with torch's default ``nn.Linear``
  initialisation; with ``CnnPolicy``, SB3's NatureCNN on the image scaled to [0, 1] and then
  ``net_arch`` (none by default); the target network starts as a copy and follows by ``tau``-Polyak
  updates every ``target_update_interval // n_envs`` env calls;
- after ``learning_starts``, epsilon-greedy with one coin for all envs (SB3's ``predict``); epsilon
  follows SB3's linear schedule from ``exploration_initial_eps`` to ``exploration_final_eps`` over
  ``exploration_fraction`` of the run, set after each env call (0 before the first);
- the loss is Huber (``smooth_l1_loss``) against ``r + gamma * (1 - done) * max_a Q_target(s', a)``,
  one Adam (torch's eps 1e-8), gradients clipped by global norm ``max_grad_norm`` (10);
- ``lin_X`` learning rates follow SB3's progress remaining, read at each training call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import optax

from ..spec import RLTrainSpec
from .common import (NATURE_CNN_FEATURES, RunLength, checkpoint_updates, linear_head, nature_cnn, nature_cnn_init, network,
                     polyak, progress_remaining, scheduled, sgd_step, torch_linear_init, with_defaults)
from .envs import make_env
from .off_policy import Algorithm, OffPolicyShape, loop_settings, make_off_policy_trainer

SB3_DEFAULTS = {"learning_rate": 1e-4, "buffer_size": 1_000_000, "learning_starts": 100, "batch_size": 32,
                "tau": 1.0, "gamma": 0.99, "train_freq": 4, "gradient_steps": 1, "target_update_interval": 10_000,
                "exploration_fraction": 0.1, "exploration_initial_eps": 1.0, "exploration_final_eps": 0.05,
                "max_grad_norm": 10.0, "n_envs": 1}
#: What a configuration may set for the jax DQN (everything else SB3 would accept is refused).
SUPPORTED = frozenset(SB3_DEFAULTS) | {"policy", "policy_kwargs"}


@dataclass(frozen=True)
class DQNShape(OffPolicyShape):
    net_arch: tuple[int, ...]
    activation: str
    cnn: bool  # CnnPolicy: NatureCNN features before net_arch


class DQNHyper(NamedTuple):
    """Per-trial values (arrays inside a batch)."""

    learning_rate: jax.Array
    gamma: jax.Array
    tau: jax.Array
    learning_starts: jax.Array
    target_update_calls: jax.Array
    exploration_fraction: jax.Array
    exploration_initial_eps: jax.Array
    exploration_final_eps: jax.Array
    max_grad_norm: jax.Array
    run: RunLength


def split_config(config: Mapping[str, Any], spec: RLTrainSpec, budget: int
                 ) -> tuple[DQNShape, DQNHyper, tuple[int, ...]]:
    """A configuration (SB3 names, rl-zoo3 conventions) as (shape, per-trial values, checkpoint steps)."""
    values = with_defaults(config, "DQN", SUPPORTED, SB3_DEFAULTS, spec, policies=("MlpPolicy", "CnnPolicy"))
    loop = loop_settings(values, spec, budget)
    learning_rate, lr_schedule = scheduled(values["learning_rate"])
    cnn = values["policy"] == "CnnPolicy"
    if cnn and len(make_env(spec.env_id).network_input_shape) != 3:
        raise ValueError(f"CnnPolicy needs image observations; {spec.env_id} has none")
    arch, _, activation = network(values.get("policy_kwargs"), [] if cnn else [64, 64], "relu")
    steps, updates = checkpoint_updates(budget, loop["n_envs"] * loop["train_freq"], spec.curve_points)
    shape = DQNShape(spec.env_id, loop["n_envs"], loop["train_freq"], loop["gradient_steps"], loop["batch_size"],
                     loop["buffer_slots"], lr_schedule, budget, updates, spec.eval_episodes, arch, activation, cnn)
    hyper = DQNHyper(
        jnp.float32(learning_rate), jnp.float32(values["gamma"]), jnp.float32(values["tau"]),
        jnp.int32(loop["learning_starts"]), jnp.int32(max(int(values["target_update_interval"]) // loop["n_envs"], 1)),
        *(jnp.float32(values[k]) for k in ("exploration_fraction", "exploration_initial_eps",
                                          "exploration_final_eps", "max_grad_norm")), RunLength.of(shape))
    return shape, hyper, steps


def init_params(key: jax.Array, shape: DQNShape, env: Any) -> dict[str, list]:
    """SB3's ``QNetwork``: ``features`` (NatureCNN's layers, or none) and the linear ``q`` layers."""
    if not shape.cnn:  # an MLP draws from the key itself, as before CnnPolicy existed (committed results)
        return {"features": [], "q": torch_linear_init(key, (math.prod(env.network_input_shape), *shape.net_arch,
                                                             env.n_actions))}
    features_key, q_key = jax.random.split(key)
    return {"features": nature_cnn_init(features_key, env.network_input_shape),
            "q": torch_linear_init(q_key, (NATURE_CNN_FEATURES, *shape.net_arch, env.n_actions))}


def q_values(params: dict[str, list], obs: jax.Array, shape: DQNShape, env: Any) -> jax.Array:
    """Q(obs, .) for a batch of observations."""
    x = env.network_input(obs)
    if shape.cnn:
        x = nature_cnn(params["features"], x)
    else:  # SB3's FlattenExtractor
        x = x.reshape(*x.shape[:x.ndim - len(env.network_input_shape)], -1)
    return linear_head(params["q"], x, shape.activation)


def exploration_rate(hyper: DQNHyper, progress_remaining: jax.Array) -> jax.Array:
    """SB3's ``LinearSchedule(initial, final, fraction)`` at ``progress_remaining``."""
    done = 1.0 - progress_remaining
    slope = (hyper.exploration_final_eps - hyper.exploration_initial_eps) / jnp.maximum(hyper.exploration_fraction, 1e-12)
    return jnp.where(done > hyper.exploration_fraction, hyper.exploration_final_eps,
                     hyper.exploration_initial_eps + done * slope)


def dqn_loss(params: Any, target_params: Any, batch: dict[str, jax.Array], gamma: jax.Array,
             q: Callable[[Any, jax.Array], jax.Array]) -> jax.Array:
    """SB3's DQN loss on one minibatch; ``q(params, obs)``: the Q-network."""
    next_q = q(target_params, batch["next_obs"]).max(axis=-1)
    target = jax.lax.stop_gradient(batch["rewards"] + (1.0 - batch["dones"]) * gamma * next_q)
    current = jnp.take_along_axis(q(params, batch["obs"]), batch["actions"][:, None], axis=-1)[:, 0]
    return optax.huber_loss(current, target, delta=1.0).mean()


def make_trainer(shape: DQNShape):
    """One DQN trial of ``shape``."""
    env = make_env(shape.env_id)
    adam = optax.scale_by_adam(eps=1e-8)

    def q(params: dict[str, list], obs: jax.Array) -> jax.Array:
        return q_values(params, obs, shape, env)

    def init(hyper: DQNHyper, key: jax.Array) -> dict[str, Any]:
        params = init_params(key, shape, env)
        return {"params": params, "target": params, "opt": adam.init(params), "epsilon": jnp.float32(0.0)}

    def greedy(learner: dict[str, Any], obs: jax.Array) -> jax.Array:
        return jnp.argmax(q(learner["params"], obs), axis=-1)

    def explore(hyper: DQNHyper, learner: dict[str, Any], obs: jax.Array, key: jax.Array) -> jax.Array:
        coin_key, action_key = jax.random.split(key)
        random = jax.random.randint(action_key, (obs.shape[0],), 0, env.n_actions)
        return jnp.where(jax.random.uniform(coin_key) < learner["epsilon"], random, greedy(learner, obs))

    def after_env_call(hyper: DQNHyper, learner: dict[str, Any], calls: jax.Array, timesteps: jax.Array) -> dict:
        target = jax.lax.cond(calls % hyper.target_update_calls == 0,
                              lambda: polyak(learner["params"], learner["target"], hyper.tau), lambda: learner["target"])
        return {**learner, "target": target,
                "epsilon": exploration_rate(hyper, progress_remaining(timesteps, hyper.run))}

    def update(hyper: DQNHyper, learner: dict[str, Any], batch: dict, lr: jax.Array, key: jax.Array) -> dict:
        grads = jax.grad(dqn_loss)(learner["params"], learner["target"], batch, hyper.gamma, q)
        params, opt = sgd_step(learner["params"], grads, learner["opt"], adam, lr, hyper.max_grad_norm)
        return {**learner, "params": params, "opt": opt}

    return make_off_policy_trainer(shape, env, Algorithm(init, explore, after_env_call, update, greedy))
