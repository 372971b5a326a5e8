"""RL algorithms by name, and what a protocol may say about them (the SB3 backend's checks).

Built in: SB3's PPO, A2C, DQN, SAC, TD3 (imported on first use). A plugin is any SB3-compatible
class, registered by an entry point in the ``hpobench_rl_cl.algorithms`` group or named by a dotted
path in a protocol (``algorithm: sb3_contrib:QRDQN``).
"""

from __future__ import annotations

import inspect
from functools import lru_cache
from typing import Any

from ...errors import ProtocolError, UserError
from ...registry import Registry

ALGORITHMS: Registry[type] = Registry(
    "RL algorithm", "hpobench_rl_cl.algorithms",
    {name: f"stable_baselines3:{name}" for name in ("PPO", "A2C", "DQN", "SAC", "TD3")},
)

# rl-zoo3's conventions on top of the algorithm's own keyword arguments (see run_config.py).
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


def rollout_steps(algorithm: str, config: Any) -> int:
    """Env steps SB3 collects between two checks of the budget: a whole rollout of ``n_steps`` per
    env for on-policy algorithms (those that take ``n_steps``), one step per env otherwise."""
    n_envs = int(config.get("n_envs", 1))
    cls = ALGORITHMS.get(algorithm)
    if "n_steps" not in accepted_hyperparameters(algorithm):
        return n_envs
    defaults = (inspect.signature(k.__init__).parameters.get("n_steps") for k in cls.__mro__ if "__init__" in vars(k))
    default = next((p.default for p in defaults if p is not None and p.default is not inspect.Parameter.empty), 2048)
    return int(config.get("n_steps", default)) * n_envs


def check_sb3_protocol(protocol: Any) -> None:
    """The algorithm and environment exist; every hyperparameter the search space, the base
    configuration and the hand-tuned configuration set is one the algorithm takes."""
    from ConfigSpace import CategoricalHyperparameter

    from .envs import check_env_id
    from .run_config import check_values, parse_normalize, parse_policy_kwargs

    origin = protocol.source_path
    check_env_id(protocol.env_id, origin)
    accepted = accepted_hyperparameters(protocol.algorithm)
    for hp_name in list(protocol.search_space().keys()) + list(protocol.base_config):
        if hp_name not in accepted:
            raise ProtocolError(f"{origin}: unknown hyperparameter {hp_name!r} for algorithm {protocol.algorithm}")
    config, where = protocol.hand_tuned_run_config()
    for hp_name in config:
        if hp_name not in accepted:
            raise ProtocolError(f"{origin}: hand-tuned ({where}) sets {hp_name!r}, unknown to {protocol.algorithm}")
    try:
        check_values(protocol.base_config, f"{origin}: base_config")
        check_values(config, f"{origin}: hand-tuned ({where})")
        for hp in protocol.search_space().values():
            values = hp.choices if isinstance(hp, CategoricalHyperparameter) else (hp.lower, hp.upper)
            for value in values:
                check_values({hp.name: value}, f"{origin}: search space")
        if "policy_kwargs" in config:
            parse_policy_kwargs(config["policy_kwargs"])
        if "normalize" in config:
            parse_normalize(config["normalize"])
    except ProtocolError:
        raise
    except UserError as error:
        raise ProtocolError(str(error)) from None
