"""SAC with SB3's meaning for every hyperparameter, as one pure function of (hyperparameters, key).

The replay buffer and the collect-then-train loop are :mod:`.off_policy`'s. SB3's semantics:
- actor: an MLP (``net_arch`` 256x256, ReLU) to a mean and a log standard deviation (clipped to
  [-20, 2]); actions ``tanh(mean + std * noise)`` with the tanh-corrected log-probability (+1e-6);
  two critics ``Q_i(obs, action)`` and their Polyak-averaged targets (``tau`` every
  ``target_update_interval`` gradient steps of one training call, counted from its first as SB3
  does); torch's default initialisation everywhere;
- ``ent_coef``: a number (fixed), or ``auto``/``auto_X`` (learned from X, default 1, towards
  ``target_entropy``, ``auto`` = -action size), its step using the coefficient from before it;
- per gradient step, in SB3's order: the entropy coefficient, the critics (``0.5 * sum`` of MSEs
  against ``r + gamma * (1 - done) * (min_i Q_target_i(s', a') - alpha * log pi(a'|s'))``), then the
  actor against the updated critics (``alpha * log pi - min_i Q_i``); three Adams (torch's eps 1e-8),
  no gradient clipping; ``lin_X`` learning rates for all three;
- exploration samples the actor; evaluation uses ``tanh(mean)``.
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple

import jax
import jax.numpy as jnp
import optax

from ..spec import RLTrainSpec
from .common import (RunLength, adam_step, checkpoint_updates, mlp, network, polyak, scheduled, torch_linear_init,
                     with_defaults)
from .envs import make_env
from .off_policy import ActorCriticShape, Algorithm, loop_settings, make_off_policy_trainer, twin_q

SB3_DEFAULTS = {"learning_rate": 3e-4, "buffer_size": 1_000_000, "learning_starts": 100, "batch_size": 256,
                "tau": 0.005, "gamma": 0.99, "train_freq": 1, "gradient_steps": 1, "ent_coef": "auto",
                "target_update_interval": 1, "target_entropy": "auto", "n_envs": 1}
#: What a configuration may set for the jax SAC (``use_sde: false`` is SB3's default, so accepted).
SUPPORTED = frozenset(SB3_DEFAULTS) | {"policy", "policy_kwargs", "use_sde", "sde_sample_freq"}
LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0


class SACHyper(NamedTuple):
    learning_rate: jax.Array
    gamma: jax.Array
    tau: jax.Array
    learning_starts: jax.Array
    ent_coef: jax.Array  # the fixed value, or the learned one's start
    learn_ent_coef: jax.Array
    target_entropy: jax.Array
    target_update_interval: jax.Array
    run: RunLength


def _ent_coef(value: Any) -> tuple[float, bool]:
    if isinstance(value, str) and value.startswith("auto"):
        return (float(value[5:]) if value.startswith("auto_") else 1.0), True
    return float(value), False


def split_config(config: Mapping[str, Any], spec: RLTrainSpec, budget: int
                 ) -> tuple[ActorCriticShape, SACHyper, tuple[int, ...]]:
    values = with_defaults(config, "SAC", SUPPORTED, SB3_DEFAULTS, spec)
    loop = loop_settings(values, spec, budget)
    learning_rate, lr_schedule = scheduled(values["learning_rate"])
    pi_arch, qf_arch, activation = network(values.get("policy_kwargs"), [256, 256], "relu", value_key="qf")
    steps, updates = checkpoint_updates(budget, loop["n_envs"] * loop["train_freq"], spec.curve_points)
    ent_coef, learn = _ent_coef(values["ent_coef"])
    target_entropy = values["target_entropy"]
    action_size = make_env(spec.env_id).action_size
    shape = ActorCriticShape(spec.env_id, loop["n_envs"], loop["train_freq"], loop["gradient_steps"], loop["batch_size"],
                     loop["buffer_slots"], lr_schedule, budget, updates, spec.eval_episodes, pi_arch, qf_arch, activation)
    hyper = SACHyper(jnp.float32(learning_rate), jnp.float32(values["gamma"]), jnp.float32(values["tau"]),
                     jnp.int32(loop["learning_starts"]), jnp.float32(ent_coef), jnp.bool_(learn),
                     jnp.float32(-action_size if target_entropy == "auto" else float(target_entropy)),
                     jnp.int32(values["target_update_interval"]), RunLength.of(shape))
    return shape, hyper, steps


def squashed_sample(actor: dict[str, Any], obs: jax.Array, key: jax.Array, activation: str
                    ) -> tuple[jax.Array, jax.Array]:
    """SB3's ``SquashedDiagGaussianDistribution``: (tanh(sample), its log-probability)."""
    latent = mlp(actor["latent"], obs, activation)
    mean = latent @ actor["mu"][0] + actor["mu"][1]
    log_std = jnp.clip(latent @ actor["log_std"][0] + actor["log_std"][1], LOG_STD_MIN, LOG_STD_MAX)
    noise = jax.random.normal(key, mean.shape)
    gaussian = mean + jnp.exp(log_std) * noise
    log_prob = jnp.sum(-0.5 * noise**2 - log_std - 0.5 * jnp.log(2 * jnp.pi), axis=-1)
    action = jnp.tanh(gaussian)
    return action, log_prob - jnp.sum(jnp.log(1.0 - action**2 + 1e-6), axis=-1)


def deterministic_action(actor: dict[str, Any], obs: jax.Array, activation: str) -> jax.Array:
    latent = mlp(actor["latent"], obs, activation)
    return jnp.tanh(latent @ actor["mu"][0] + actor["mu"][1])


def critic_loss(critics: list, targets: list, actor: dict[str, Any], ent_coef: jax.Array, batch: dict,
                gamma: jax.Array, key: jax.Array, activation: str) -> jax.Array:
    next_actions, next_log_prob = squashed_sample(actor, batch["next_obs"], key, activation)
    next_q = twin_q(targets, batch["next_obs"], next_actions, activation).min(axis=0) - ent_coef * next_log_prob
    target = jax.lax.stop_gradient(batch["rewards"] + (1.0 - batch["dones"]) * gamma * next_q)
    current = twin_q(critics, batch["obs"], batch["actions"], activation)
    return 0.5 * jnp.sum(jnp.mean((current - target) ** 2, axis=-1))


def actor_loss(actor: dict[str, Any], critics: list, ent_coef: jax.Array, obs: jax.Array, key: jax.Array,
               activation: str) -> jax.Array:
    actions, log_prob = squashed_sample(actor, obs, key, activation)
    return jnp.mean(ent_coef * log_prob - twin_q(critics, obs, actions, activation).min(axis=0))


def make_trainer(shape: ActorCriticShape):
    """One SAC trial of ``shape``."""
    env = make_env(shape.env_id)
    adam = optax.scale_by_adam(eps=1e-8)
    obs_size, action_size = env.obs_size, env.action_size

    def init(hyper: SACHyper, key: jax.Array) -> dict[str, Any]:
        latent_key, mu_key, std_key, q1_key, q2_key = jax.random.split(key, 5)
        latent = torch_linear_init(latent_key, (obs_size, *shape.pi_arch))
        width = (shape.pi_arch or (obs_size,))[-1]
        actor = {"latent": latent, "mu": torch_linear_init(mu_key, (width, action_size))[0],
                 "log_std": torch_linear_init(std_key, (width, action_size))[0]}
        critics = [torch_linear_init(k, (obs_size + action_size, *shape.qf_arch, 1)) for k in (q1_key, q2_key)]
        log_ent = jnp.log(hyper.ent_coef)
        return {"actor": actor, "critics": critics, "targets": critics, "log_ent": log_ent,
                "opt_actor": adam.init(actor), "opt_critics": adam.init(critics), "opt_ent": adam.init(log_ent),
                "step_in_call": jnp.int32(0)}

    def explore(hyper: SACHyper, learner: dict[str, Any], obs: jax.Array, key: jax.Array) -> jax.Array:
        return squashed_sample(learner["actor"], obs, key, shape.activation)[0]

    def after_env_call(hyper: SACHyper, learner: dict[str, Any], calls: jax.Array, timesteps: jax.Array) -> dict:
        return {**learner, "step_in_call": jnp.int32(0)}  # SB3 counts target updates within each train() call

    def update(hyper: SACHyper, learner: dict[str, Any], batch: dict, lr: jax.Array, key: jax.Array) -> dict:
        pi_key, next_key = jax.random.split(key)
        _, log_prob = squashed_sample(learner["actor"], batch["obs"], pi_key, shape.activation)
        ent_grad = jax.grad(lambda log_ent: -jnp.mean(log_ent * jax.lax.stop_gradient(log_prob + hyper.target_entropy)))(
            learner["log_ent"])
        ent_coef = jnp.exp(learner["log_ent"])
        log_ent, opt_ent = adam_step(learner["log_ent"], ent_grad, learner["opt_ent"], adam, lr)
        log_ent = jnp.where(hyper.learn_ent_coef, log_ent, learner["log_ent"])
        grads = jax.grad(critic_loss)(learner["critics"], learner["targets"], learner["actor"], ent_coef, batch,
                                      hyper.gamma, next_key, shape.activation)
        critics, opt_critics = adam_step(learner["critics"], grads, learner["opt_critics"], adam, lr)
        # The same sampled actions as the entropy step's (SB3 samples once per gradient step).
        grads = jax.grad(actor_loss)(learner["actor"], critics, ent_coef, batch["obs"], pi_key, shape.activation)
        actor, opt_actor = adam_step(learner["actor"], grads, learner["opt_actor"], adam, lr)
        targets = jax.lax.cond(learner["step_in_call"] % hyper.target_update_interval == 0,
                               lambda: polyak(critics, learner["targets"], hyper.tau), lambda: learner["targets"])
        return {"actor": actor, "critics": critics, "targets": targets, "log_ent": log_ent, "opt_actor": opt_actor,
                "opt_critics": opt_critics, "opt_ent": opt_ent, "step_in_call": learner["step_in_call"] + 1}

    def act(learner: dict[str, Any], obs: jax.Array) -> jax.Array:
        return deterministic_action(learner["actor"], obs, shape.activation)

    return make_off_policy_trainer(shape, env, Algorithm(init, explore, after_env_call, update, act))
