"""TD3 with SB3's meaning for every hyperparameter, as one pure function of (hyperparameters, key).

The replay buffer and the collect-then-train loop are :mod:`.off_policy`'s. SB3's semantics:
- actor: an MLP (``net_arch`` 400x300, ReLU) with a tanh output; two critics ``Q_i(obs, action)``;
  target copies of both, Polyak-averaged (``tau``) when the actor updates; torch's default init;
- exploration: the actor's action plus Gaussian noise of ``noise_std`` (rl-zoo3's ``noise_type:
  normal``; none without it), clipped to [-1, 1];
- per gradient step: the critics (sum of MSEs against ``r + gamma * (1 - done) * min_i
  Q_target_i(s', clip(actor_target(s') + clip(N(0, target_policy_noise), +-target_noise_clip)))``),
  and every ``policy_delay``-th update (counted over the run) the actor (``-Q_1(s, actor(s))``) and
  both targets; two Adams (torch's eps 1e-8), no gradient clipping; ``lin_X`` learning rates.
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import optax

from ..spec import RLTrainSpec
from .common import (RunLength, adam_step, checkpoint_updates, linear_head, network, polyak, scheduled,
                     torch_linear_init, with_defaults)
from .envs import make_env
from .off_policy import ActorCriticShape, Algorithm, loop_settings, make_off_policy_trainer, twin_q

SB3_DEFAULTS = {"learning_rate": 1e-3, "buffer_size": 1_000_000, "learning_starts": 100, "batch_size": 256,
                "tau": 0.005, "gamma": 0.99, "train_freq": 1, "gradient_steps": 1, "policy_delay": 2,
                "target_policy_noise": 0.2, "target_noise_clip": 0.5, "n_envs": 1}
#: What a configuration may set for the jax TD3 (``noise_type``/``noise_std``: rl-zoo3's action noise).
SUPPORTED = frozenset(SB3_DEFAULTS) | {"policy", "policy_kwargs", "noise_type", "noise_std"}


class TD3Hyper(NamedTuple):
    learning_rate: jax.Array
    gamma: jax.Array
    tau: jax.Array
    learning_starts: jax.Array
    noise_std: jax.Array
    policy_delay: jax.Array
    target_policy_noise: jax.Array
    target_noise_clip: jax.Array
    run: RunLength


def split_config(config: Mapping[str, Any], spec: RLTrainSpec, budget: int
                 ) -> tuple[ActorCriticShape, TD3Hyper, tuple[int, ...]]:
    if config.get("noise_type", "normal") != "normal":
        raise ValueError(f"the jax TD3 has normal action noise only, not {config['noise_type']}")
    values = with_defaults(config, "TD3", SUPPORTED, SB3_DEFAULTS, spec)
    loop = loop_settings(values, spec, budget)
    learning_rate, lr_schedule = scheduled(values["learning_rate"])
    pi_arch, qf_arch, activation = network(values.get("policy_kwargs"), [400, 300], "relu", value_key="qf")
    steps, updates = checkpoint_updates(budget, loop["n_envs"] * loop["train_freq"], spec.curve_points)
    noise_std = float(values.get("noise_std", 0.0)) if "noise_type" in config else 0.0
    shape = ActorCriticShape(spec.env_id, loop["n_envs"], loop["train_freq"], loop["gradient_steps"], loop["batch_size"],
                     loop["buffer_slots"], lr_schedule, budget, updates, spec.eval_episodes, pi_arch, qf_arch, activation)
    hyper = TD3Hyper(jnp.float32(learning_rate), jnp.float32(values["gamma"]), jnp.float32(values["tau"]),
                     jnp.int32(loop["learning_starts"]), jnp.float32(noise_std), jnp.int32(values["policy_delay"]),
                     jnp.float32(values["target_policy_noise"]), jnp.float32(values["target_noise_clip"]),
                     RunLength.of(shape))
    return shape, hyper, steps


def actor_action(actor: list, obs: jax.Array, activation: str) -> jax.Array:
    return jnp.tanh(linear_head(actor, obs, activation))


def critic_loss(critics: list, targets: dict[str, Any], batch: dict, hyper: TD3Hyper, key: jax.Array,
                activation: str) -> jax.Array:
    noise = jnp.clip(hyper.target_policy_noise * jax.random.normal(key, batch["actions"].shape),
                     -hyper.target_noise_clip, hyper.target_noise_clip)
    next_actions = jnp.clip(actor_action(targets["actor"], batch["next_obs"], activation) + noise, -1.0, 1.0)
    next_q = twin_q(targets["critics"], batch["next_obs"], next_actions, activation).min(axis=0)
    target = jax.lax.stop_gradient(batch["rewards"] + (1.0 - batch["dones"]) * hyper.gamma * next_q)
    return jnp.sum(jnp.mean((twin_q(critics, batch["obs"], batch["actions"], activation) - target) ** 2, axis=-1))


def make_trainer(shape: ActorCriticShape):
    """One TD3 trial of ``shape``."""
    env = make_env(shape.env_id)
    adam = optax.scale_by_adam(eps=1e-8)
    obs_size, action_size = env.obs_size, env.action_size

    def init(hyper: TD3Hyper, key: jax.Array) -> dict[str, Any]:
        actor_key, q1_key, q2_key = jax.random.split(key, 3)
        actor = torch_linear_init(actor_key, (obs_size, *shape.pi_arch, action_size))
        critics = [torch_linear_init(k, (obs_size + action_size, *shape.qf_arch, 1)) for k in (q1_key, q2_key)]
        return {"actor": actor, "critics": critics, "targets": {"actor": actor, "critics": critics},
                "opt_actor": adam.init(actor), "opt_critics": adam.init(critics), "updates": jnp.int32(0)}

    def explore(hyper: TD3Hyper, learner: dict[str, Any], obs: jax.Array, key: jax.Array) -> jax.Array:
        action = actor_action(learner["actor"], obs, shape.activation)
        return jnp.clip(action + hyper.noise_std * jax.random.normal(key, action.shape), -1.0, 1.0)

    def after_env_call(hyper: TD3Hyper, learner: dict[str, Any], calls: jax.Array, timesteps: jax.Array) -> dict:
        return learner

    def update(hyper: TD3Hyper, learner: dict[str, Any], batch: dict, lr: jax.Array, key: jax.Array) -> dict:
        updates = learner["updates"] + 1
        grads = jax.grad(critic_loss)(learner["critics"], learner["targets"], batch, hyper, key, shape.activation)
        critics, opt_critics = adam_step(learner["critics"], grads, learner["opt_critics"], adam, lr)

        def delayed(_: None) -> tuple[list, Any, dict[str, Any]]:
            loss = lambda actor: -jnp.mean(twin_q(critics[:1], batch["obs"],  # noqa: E731
                                                    actor_action(actor, batch["obs"], shape.activation),
                                                    shape.activation)[0])
            actor, opt_actor = adam_step(learner["actor"], jax.grad(loss)(learner["actor"]), learner["opt_actor"],
                                          adam, lr)
            targets = {"actor": polyak(actor, learner["targets"]["actor"], hyper.tau),
                       "critics": polyak(critics, learner["targets"]["critics"], hyper.tau)}
            return actor, opt_actor, targets

        actor, opt_actor, targets = jax.lax.cond(
            updates % hyper.policy_delay == 0, delayed,
            lambda _: (learner["actor"], learner["opt_actor"], learner["targets"]), None)
        return {"actor": actor, "critics": critics, "targets": targets, "opt_actor": opt_actor,
                "opt_critics": opt_critics, "updates": updates}

    def act(learner: dict[str, Any], obs: jax.Array) -> jax.Array:
        return actor_action(learner["actor"], obs, shape.activation)

    return make_off_policy_trainer(shape, env, Algorithm(init, explore, after_env_call, update, act))
