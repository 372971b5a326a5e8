"""Observation wrappers an environment family needs before SB3 can train on it."""

from __future__ import annotations

from typing import Any, Callable

import gymnasium as gym


def minigrid_image(env: gym.Env) -> gym.Env:
    """MiniGrid's dict observation -> the agent's partial view as an RGB image (56x56x3 at 8 px per
    tile), large enough for SB3's NatureCNN (``CnnPolicy``)."""
    from minigrid.wrappers import ImgObsWrapper, RGBImgPartialObsWrapper

    return ImgObsWrapper(RGBImgPartialObsWrapper(env, tile_size=8))


def wrapper_for(env_id: str, configured: Callable[[gym.Env], gym.Env] | None) -> Callable[[gym.Env], Any] | None:
    """The configuration's own wrapper (rl-zoo3's ``env_wrapper``) wins; else the family default."""
    if configured is not None:
        return configured
    if env_id.startswith("MiniGrid-"):
        return minigrid_image
    return None
