"""Environment families: what gymnasium needs imported before an id resolves, and the observation
wrapper a family needs before SB3 can train on it. Adding a family is one entry (here, or an entry
point in the ``hpobench_rl_cl.env_families`` group)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from ...errors import ProtocolError
from ...registry import Registry


@dataclass(frozen=True)
class EnvFamily:
    """``prefixes`` of its env ids; ``module`` whose import registers them with gymnasium (None: built
    into gymnasium); ``wrapper`` (a dotted path) applied to each env unless the configuration names its own."""

    prefixes: tuple[str, ...]
    module: str | None = None
    wrapper: str | None = None


ENV_FAMILIES: Registry[EnvFamily] = Registry("environment family", "hpobench_rl_cl.env_families")
ENV_FAMILIES.add("classic_control", EnvFamily(("CartPole-", "Acrobot-", "Pendulum-", "MountainCar")))
ENV_FAMILIES.add("box2d", EnvFamily(("LunarLander", "BipedalWalker", "CarRacing-")))
ENV_FAMILIES.add("mujoco", EnvFamily(("HalfCheetah-", "Hopper-", "Walker2d-", "Ant-", "Humanoid", "Swimmer-",
                                      "Reacher-", "Pusher-", "InvertedPendulum-", "InvertedDoublePendulum-")))
ENV_FAMILIES.add("minigrid", EnvFamily(("MiniGrid-",), module="minigrid",
                                       wrapper="hpobench_rl_cl.trainers.rl.envs:minigrid_image"))


def family_name(env_id: str) -> str | None:
    """The registered family an env id belongs to (None: none claims it)."""
    return next((name for name in ENV_FAMILIES.names() if env_id.startswith(ENV_FAMILIES.get(name).prefixes)), None)


def family_of(env_id: str) -> EnvFamily | None:
    name = family_name(env_id)
    return ENV_FAMILIES.get(name) if name else None


def make_registered(env_id: str) -> None:
    """Import the module that registers ``env_id``'s family with gymnasium (idempotent)."""
    import importlib

    import gymnasium as gym

    family = family_of(env_id)
    if family is not None and family.module:
        gym.register_envs(importlib.import_module(family.module))


def check_env_id(env_id: str, origin: str) -> None:
    import gymnasium as gym

    make_registered(env_id)
    if env_id not in gym.registry:
        raise ProtocolError(f"{origin}: unknown environment {env_id!r} (not registered with gymnasium)")


def minigrid_image(env: Any) -> Any:
    """MiniGrid's dict observation -> the agent's partial view as an RGB image (56x56x3 at 8 px per
    tile), large enough for SB3's NatureCNN (``CnnPolicy``)."""
    from minigrid.wrappers import ImgObsWrapper, RGBImgPartialObsWrapper

    return ImgObsWrapper(RGBImgPartialObsWrapper(env, tile_size=8))


def wrapper_for(env_id: str, configured: Callable[[Any], Any] | None) -> Callable[[Any], Any] | None:
    """The configuration's own wrapper (rl-zoo3's ``env_wrapper``) wins; else the family's."""
    from ...registry import import_dotted

    if configured is not None:
        return configured
    family = family_of(env_id)
    return import_dotted(family.wrapper) if family and family.wrapper else None  # type: ignore[return-value]
