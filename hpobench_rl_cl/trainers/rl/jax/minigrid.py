"""MiniGrid's Empty rooms in JAX: xminigrid's dynamics, MiniGrid's observation.

xminigrid (XLand-MiniGrid) ports MiniGrid's Empty rooms with MiniGrid's start, goal, step limit and
reward, but differs in what the agent sees and does: its view is symbolic and sees through walls,
and it has six actions where MiniGrid has seven in another order. The SB3 backend trains on
MiniGrid's partial view rendered as RGB (``RGBImgPartialObsWrapper``, 8 px per tile: 56x56x3),
so this module keeps xminigrid's dynamics and rebuilds that observation in JAX: the same 7x7 window
cut and rotated as ``gen_obs_grid`` (Empty rooms see through walls: nothing is occluded), and tiles
drawn by MiniGrid's own renderer, so an observation here equals MiniGrid's pixel for pixel
(``tests/test_jax_minigrid.py``).

An observation is kept as the 7x7 view's tile codes (49 bytes, what a replay buffer stores) and
rendered to pixels only as a network's input (:meth:`MiniGridEnv.network_input`), where SB3 scales
images to [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from .envs import Step

#: gymnasium id -> xminigrid id: the rooms whose only objects are walls and the goal.
XMINIGRID_IDS = {f"MiniGrid-Empty-{n}x{n}-v0": f"MiniGrid-Empty-{n}x{n}" for n in (5, 6, 8, 16)}
VIEW = 7  # MiniGrid's agent_view_size
TILE_PIXELS = 8  # the SB3 backend's RGBImgPartialObsWrapper(tile_size=8)
#: MiniGrid's actions (left, right, forward, pickup, drop, toggle, done) as xminigrid's (forward,
#: right, left, pick_up, put_down, toggle). MiniGrid's "done" does nothing; in a room without
#: objects xminigrid's pick_up is the same no-op (the step still counts).
_XMINIGRID_ACTION = jnp.array([2, 1, 0, 3, 4, 5, 3])
# Tile codes of the view (Empty rooms see through walls: every cell of the view is lit).
_EMPTY, _WALL, _GOAL, _AGENT = 0, 1, 2, 3


@lru_cache(maxsize=None)
def tile_images() -> np.ndarray:
    """MiniGrid's renderer's tile for each code, lit, as MiniGrid writes it into its uint8 image:
    (4, 8, 8, 3) uint8."""
    from minigrid.core.grid import Grid
    from minigrid.core.world_object import Goal, Wall

    tiles = [Grid.render_tile(obj, highlight=True, tile_size=TILE_PIXELS) for obj in (None, Wall(), Goal())]
    tiles.append(Grid.render_tile(None, agent_dir=3, highlight=True, tile_size=TILE_PIXELS))
    return np.stack(tiles).astype(np.uint8)


def agent_view(objects: jax.Array, x: jax.Array, y: jax.Array, direction: jax.Array) -> jax.Array:
    """The (x, y)-indexed tile codes of the agent's view, as ``gen_obs_grid`` then ``get_pov_render``
    build it: the window in front of the agent (walls beyond the grid), rotated so the agent faces
    up, its own cell the agent facing up."""
    padded = jnp.pad(objects, VIEW, constant_values=_WALL)
    half = VIEW // 2
    top_x = jnp.array([x, x - half, x - VIEW + 1, x - half])[direction]
    top_y = jnp.array([y - half, y, y - half, y - VIEW + 1])[direction]
    window = jax.lax.dynamic_slice(padded, (top_x + VIEW, top_y + VIEW), (VIEW, VIEW))
    rotations = [window]
    for _ in range(3):
        rotations.append(rotations[-1][::-1, :].T)  # MiniGrid's Grid.rotate_left
    view = jnp.stack(rotations)[(direction + 1) % 4]
    return view.astype(jnp.uint8).at[half, VIEW - 1].set(_AGENT)


@dataclass(frozen=True)
class MiniGridEnv:
    """A MiniGrid Empty room with the interface of :class:`.envs.JaxEnv` (discrete actions)."""

    env_id: str
    env: Any
    params: Any

    discrete = True
    n_actions = 7
    obs_shape = (VIEW, VIEW)
    obs_dtype = jnp.uint8
    network_input_shape = (VIEW * TILE_PIXELS, VIEW * TILE_PIXELS, 3)

    @property
    def max_episode_steps(self) -> int:
        return int(self.params.max_steps)

    def network_input(self, obs: jax.Array) -> jax.Array:
        """Tile codes -> the RGB view a network sees, scaled to [0, 1] as SB3 scales images."""
        pixels = jnp.asarray(tile_images())[obs]  # (..., x, y, ty, tx, 3)
        pixels = jnp.swapaxes(pixels, -5, -4)  # (..., y, x, ty, tx, 3)
        pixels = jnp.swapaxes(pixels, -4, -3)  # (..., y, ty, x, tx, 3)
        *batch, _, _, _, _, channels = pixels.shape
        return pixels.reshape(*batch, VIEW * TILE_PIXELS, VIEW * TILE_PIXELS, channels).astype(jnp.float32) / 255.0

    def observe(self, timestep: Any) -> jax.Array:
        from xminigrid.core.constants import Tiles

        tiles = timestep.state.grid[..., 0].T  # (x, y), as MiniGrid indexes its grid
        objects = jnp.where(tiles == Tiles.WALL, _WALL, jnp.where(tiles == Tiles.GOAL, _GOAL, _EMPTY))
        row, column = timestep.state.agent.position
        return agent_view(objects, column, row, (timestep.state.agent.direction - 1) % 4)

    def reset(self, key: jax.Array) -> tuple[jax.Array, Any]:
        timestep = self.env.reset(self.params, key)
        return self.observe(timestep), timestep

    def step(self, key: jax.Array, state: Any, action: jax.Array) -> Step:
        stepped = self.env.step(self.params, state, _XMINIGRID_ACTION[action])
        terminated = stepped.discount == 0.0
        done = stepped.last()
        final_obs = self.observe(stepped)
        reset_obs, reset_state = self.reset(key)
        state = jax.tree.map(lambda r, s: jax.lax.select(done, r, s), reset_state, stepped)
        return Step(jnp.where(done, reset_obs, final_obs), state, stepped.reward.astype(jnp.float32), terminated,
                    jnp.logical_and(done, ~terminated), final_obs)


def make_minigrid(env_id: str) -> MiniGridEnv:
    import xminigrid

    env, params = xminigrid.make(XMINIGRID_IDS[env_id])
    return MiniGridEnv(env_id, env, params)
