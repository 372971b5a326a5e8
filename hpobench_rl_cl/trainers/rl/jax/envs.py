"""Environments in JAX with gymnasium's episode semantics: gymnax's classic control here, MiniGrid's
Empty rooms in :mod:`.minigrid`.

gymnax 0.0.9 reports one ``done`` for a failure and for the time limit alike. SB3 bootstraps the
value of a time-limit truncation and not of a termination, so :func:`step` keeps them apart: it
asks the environment's own ``is_terminal`` with the time limit lifted (termination), and calls the
rest of ``done`` truncation, and hands back the observation before the automatic reset (what SB3
calls the terminal observation).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ....errors import ProtocolError

#: gymnasium id -> gymnax id (the same dynamics within 3e-6 per step, the same episode limits).
GYMNAX_IDS = {"CartPole-v1": "CartPole-v1", "Acrobot-v1": "Acrobot-v1", "Pendulum-v1": "Pendulum-v1",
              "MountainCar-v0": "MountainCar-v0", "MountainCarContinuous-v0": "MountainCarContinuous-v0"}
_NO_TIME_LIMIT = 2**30


class Step(NamedTuple):
    obs: jax.Array  # after the automatic reset, as a vectorized env returns it
    state: Any
    reward: jax.Array
    terminated: jax.Array
    truncated: jax.Array
    final_obs: jax.Array  # before the reset: SB3's terminal observation


@dataclass(frozen=True)
class JaxEnv:
    """A gymnax environment and its parameters, with gymnasium's termination/truncation split."""

    env_id: str
    env: Any
    params: Any

    @property
    def discrete(self) -> bool:
        return hasattr(self.env.action_space(self.params), "n")

    @property
    def n_actions(self) -> int:
        return int(self.env.action_space(self.params).n)

    @property
    def action_size(self) -> int:
        """Components of a continuous action."""
        return math.prod(self.env.action_space(self.params).shape)

    def unscale_action(self, scaled: jax.Array) -> jax.Array:
        """SB3's ``unscale_action``: a policy's action in [-1, 1] as the environment's."""
        space = self.env.action_space(self.params)
        return space.low + 0.5 * (scaled + 1.0) * (space.high - space.low)

    @property
    def obs_size(self) -> int:
        return math.prod(self.env.observation_space(self.params).shape)

    @property
    def obs_shape(self) -> tuple[int, ...]:
        return (self.obs_size,)

    obs_dtype = jnp.float32

    @property
    def network_input_shape(self) -> tuple[int, ...]:
        return self.obs_shape

    def network_input(self, obs: jax.Array) -> jax.Array:
        """What a network sees of an observation (an image environment renders and scales it)."""
        return obs

    @property
    def max_episode_steps(self) -> int:
        return int(self.params.max_steps_in_episode)

    def reset(self, key: jax.Array) -> tuple[jax.Array, Any]:
        return self.env.reset_env(key, self.params)

    def step(self, key: jax.Array, state: Any, action: jax.Array) -> Step:
        key_step, key_reset = jax.random.split(key)
        final_obs, stepped, reward, done, _ = self.env.step_env(key_step, state, action, self.params)
        terminated = self.env.is_terminal(stepped, self.params.replace(max_steps_in_episode=_NO_TIME_LIMIT))
        truncated = jnp.logical_and(done, jnp.logical_not(terminated))
        reset_obs, reset_state = self.env.reset_env(key_reset, self.params)
        state = jax.tree.map(lambda r, s: jax.lax.select(done, r, s), reset_state, stepped)
        obs = jax.lax.select(done, reset_obs, final_obs)
        return Step(obs, state, reward.astype(jnp.float32), terminated, truncated, final_obs)


def env_ids() -> tuple[str, ...]:
    """Every gymnasium id the jax backend has."""
    from .minigrid import XMINIGRID_IDS

    return (*GYMNAX_IDS, *XMINIGRID_IDS)


def make_env(env_id: str) -> Any:
    """``env_id``'s JAX environment (a :class:`JaxEnv` or a :class:`.minigrid.MiniGridEnv`)."""
    import gymnax

    from .minigrid import XMINIGRID_IDS, make_minigrid

    if env_id in XMINIGRID_IDS:
        return make_minigrid(env_id)
    if env_id not in GYMNAX_IDS:
        raise ProtocolError(f"the jax backend has no {env_id!r}; it has {', '.join(env_ids())}")
    env, params = gymnax.make(GYMNAX_IDS[env_id])
    return JaxEnv(env_id, env, params)
