"""RL algorithms by name, and what a protocol may say about them.

Built in: SB3's PPO, A2C, DQN, SAC, TD3. A plugin is any SB3-compatible class, registered by an
entry point in the ``hpobench_rl_cl.algorithms`` group or named by a dotted path in a protocol
(``algorithm: sb3_contrib:QRDQN``).
"""

from __future__ import annotations

import inspect
from functools import lru_cache

from ..errors import ProtocolError
from ..registry import Registry

ALGORITHMS: Registry[type] = Registry("RL algorithm", "hpobench_rl_cl.algorithms")


def _register_builtins() -> None:
    from stable_baselines3 import A2C, DQN, PPO, SAC, TD3

    for cls in (PPO, A2C, DQN, SAC, TD3):
        ALGORITHMS.add(cls.__name__, cls)


_register_builtins()

# rl-zoo3's conventions on top of the algorithm's own keyword arguments (see trainers/run_config.py).
RUN_CONFIG_KEYS = frozenset(
    {"policy", "n_envs", "normalize", "frame_stack", "env_wrapper", "policy_kwargs", "noise_type", "noise_std"}
)


@lru_cache(maxsize=None)
def accepted_hyperparameters(algorithm: str) -> frozenset[str]:
    """Keyword arguments a configuration may set for ``algorithm``."""
    cls = ALGORITHMS.get(algorithm)
    # A plugin subclass often takes (*args, **kwargs) and passes them on: collect the whole chain.
    parameters = {name for klass in cls.__mro__ if "__init__" in vars(klass) and klass is not object
                  for name in inspect.signature(klass.__init__).parameters}
    return frozenset(parameters - {"self", "policy", "env", "args", "kwargs"} | RUN_CONFIG_KEYS)


def register_env_families() -> None:
    """Make the optional environment families visible to gymnasium (idempotent)."""
    import gymnasium as gym
    import minigrid

    gym.register_envs(minigrid)


def check_env_id(env_id: str, origin: str) -> None:
    import gymnasium as gym

    register_env_families()
    if env_id not in gym.registry:
        raise ProtocolError(f"{origin}: unknown environment {env_id!r} (not registered with gymnasium)")
