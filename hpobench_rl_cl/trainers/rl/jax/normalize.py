"""SB3's ``VecNormalize`` for the jax PPO (rl-zoo3's ``normalize``), as state in a trial's carry.

Observations: a running mean and variance (``RunningMeanStd``: count starts at 1e-4) updated with
every observation the vectorized env returns while training (the reset's included, a terminal
observation not), observations normalised as ``clip((obs - mean) / sqrt(var + 1e-8), +-clip_obs)``
(the terminal one too, with the updated statistics). Rewards: a running discounted return per env
(``returns * gamma + reward``, zeroed when an episode ends) whose running variance scales the reward,
``clip(reward / sqrt(var + 1e-8), +-clip_reward)``. Evaluation uses the training statistics, frozen,
and unnormalised returns, as the SB3 backend does. Defaults are VecNormalize's (gamma 0.99,
clips 10), overridden by the keys of rl-zoo3's ``normalize`` mapping.
"""

from __future__ import annotations

from typing import Any, Mapping, NamedTuple

import jax
import jax.numpy as jnp

EPSILON = 1e-8
DEFAULTS = {"norm_obs": True, "norm_reward": True, "clip_obs": 10.0, "clip_reward": 10.0, "gamma": 0.99}


class RunningMeanStd(NamedTuple):
    mean: jax.Array
    var: jax.Array
    count: jax.Array


def running_mean_std(shape: tuple[int, ...]) -> RunningMeanStd:
    return RunningMeanStd(jnp.zeros(shape), jnp.ones(shape), jnp.float32(1e-4))


def update(rms: RunningMeanStd, batch: jax.Array) -> RunningMeanStd:
    """SB3's ``RunningMeanStd.update`` with a batch (first axis) of values."""
    batch_mean, batch_var, batch_count = batch.mean(axis=0), batch.var(axis=0), batch.shape[0]
    delta = batch_mean - rms.mean
    total = rms.count + batch_count
    m2 = rms.var * rms.count + batch_var * batch_count + delta**2 * rms.count * batch_count / total
    return RunningMeanStd(rms.mean + delta * batch_count / total, m2 / total, total)


class NormalizeSettings(NamedTuple):
    """Per-trial values (arrays inside a batch); whether to normalise at all is part of the shape."""

    clip_obs: jax.Array
    clip_reward: jax.Array
    gamma: jax.Array


class Normalizer(NamedTuple):
    """The statistics and the running returns of one trial's training envs, and its settings."""

    obs: RunningMeanStd
    returns_rms: RunningMeanStd
    returns: jax.Array
    settings: NormalizeSettings


def settings(kwargs: Mapping[str, Any] | None) -> tuple[bool, bool, NormalizeSettings]:
    """(normalise observations, normalise rewards, per-trial values) from rl-zoo3's parsed ``normalize``."""
    values = {**DEFAULTS, **(kwargs or {})}
    unknown = set(values) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"the jax backend's normalize takes {sorted(DEFAULTS)}, not {sorted(unknown)}")
    on = kwargs is not None
    return (on and bool(values["norm_obs"]), on and bool(values["norm_reward"]),
            NormalizeSettings(*(jnp.float32(values[k]) for k in ("clip_obs", "clip_reward", "gamma"))))


def start(obs: jax.Array, values: NormalizeSettings, normalize_obs: bool) -> Normalizer:
    """Fresh statistics, updated with the reset's observations (as ``VecNormalize.reset``)."""
    stats = running_mean_std(obs.shape[1:])
    return Normalizer(update(stats, obs) if normalize_obs else stats, running_mean_std(()), jnp.zeros(obs.shape[0]),
                      values)


def observation(normalizer: Normalizer, obs: jax.Array, normalize_obs: bool) -> jax.Array:
    if not normalize_obs:
        return obs
    scaled = (obs - normalizer.obs.mean) / jnp.sqrt(normalizer.obs.var + EPSILON)
    return jnp.clip(scaled, -normalizer.settings.clip_obs, normalizer.settings.clip_obs)


def step(normalizer: Normalizer, obs: jax.Array, reward: jax.Array, done: jax.Array, normalize_obs: bool,
         normalize_reward: bool) -> tuple[Normalizer, jax.Array]:
    """``VecNormalize.step_wait``'s statistics after one vectorized step: (statistics, the reward to learn from)."""
    values = normalizer.settings
    stats = update(normalizer.obs, obs) if normalize_obs else normalizer.obs
    returns = normalizer.returns * values.gamma + reward
    returns_rms = update(normalizer.returns_rms, returns) if normalize_reward else normalizer.returns_rms
    scaled = jnp.clip(reward / jnp.sqrt(returns_rms.var + EPSILON), -values.clip_reward, values.clip_reward)
    return (Normalizer(stats, returns_rms, jnp.where(done, 0.0, returns), values),
            scaled if normalize_reward else reward)
