"""A configuration in rl-zoo3's vocabulary -> the pieces SB3 needs.

Configurations (sampled, hand-tuned, or a user's file) are plain JSON-able dicts: the algorithm's
keyword arguments plus rl-zoo3's conventions (``n_envs``, ``normalize``, ``frame_stack``,
``env_wrapper``, ``policy``, ``lin_`` schedules, ``policy_kwargs`` as a string). Keeping them as
data means a configuration hashes, stores and travels to worker processes unchanged; it is turned
into objects here, at training time.
"""

from __future__ import annotations

import ast
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from ...errors import UserError

_SCHEDULE_PREFIX = "lin_"


def _allowed_name(dotted: str) -> Any:
    """Classes a ``policy_kwargs`` string may name: torch activations/optimizers, SB3's RMSpropTFLike."""
    import torch

    head, _, tail = dotted.rpartition(".")
    if head in ("nn", "th.nn", "torch.nn") and isinstance(getattr(torch.nn, tail, None), type):
        return getattr(torch.nn, tail)
    if head in ("th.optim", "torch.optim", "optim") and isinstance(getattr(torch.optim, tail, None), type):
        return getattr(torch.optim, tail)
    if dotted == "RMSpropTFLike":
        from stable_baselines3.common.sb2_compat.rmsprop_tf_like import RMSpropTFLike

        return RMSpropTFLike
    raise UserError(f"policy_kwargs names {dotted!r}, which is not an allowed torch class")


def _evaluate(node: ast.AST) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [_evaluate(item) for item in node.elts]
        return items if isinstance(node, ast.List) else tuple(items)
    if isinstance(node, ast.Dict):
        return {_evaluate(k): _evaluate(v) for k, v in zip(node.keys, node.values)}
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _evaluate(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict" and not node.args:
        return {kw.arg: _evaluate(kw.value) for kw in node.keywords}
    if isinstance(node, (ast.Name, ast.Attribute)):
        return _allowed_name(ast.unparse(node))
    raise UserError(f"policy_kwargs: {ast.unparse(node)!r} is not allowed (only literals, dict(...) and torch classes)")


def parse_policy_kwargs(value: str | Mapping[str, Any]) -> dict[str, Any]:
    """Parse rl-zoo3's ``policy_kwargs`` string (``"dict(net_arch=[64, 64], activation_fn=nn.ReLU)"``)
    without ``eval``: only literals, ``dict(...)`` calls and whitelisted torch classes."""
    if isinstance(value, Mapping):
        return dict(value)
    try:
        tree = ast.parse(value, mode="eval")
    except SyntaxError:
        raise UserError(f"policy_kwargs {value!r} is not a Python expression") from None
    parsed = _evaluate(tree.body)
    if not isinstance(parsed, dict):
        raise UserError(f"policy_kwargs {value!r} must describe a dict")
    return parsed


def parse_normalize(value: Any) -> dict[str, Any] | None:
    """rl-zoo3's ``normalize``: a bool, a mapping, or its string form ``"dict(norm_obs=True, ...)"``
    (parsed like ``policy_kwargs``, without ``eval``). None: no normalization."""
    if isinstance(value, str):
        value = parse_policy_kwargs(value)
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, bool):
        return {} if value else None
    raise UserError(f"normalize must be true/false, a mapping or rl-zoo3's dict(...) string, got {value!r}")


# What a value must be, per hyperparameter, so that a bad one is refused before any training
# instead of crashing every trial: (kind, lowest, highest, lowest allowed itself).
_LIMIT = 10**9
_RULES: dict[str, tuple[str, float, float, bool]] = {
    **{key: ("int", 1, _LIMIT, True) for key in ("n_envs", "n_steps", "batch_size", "n_epochs", "buffer_size",
                                                 "target_update_interval", "frame_stack")},
    "learning_starts": ("int", 0, _LIMIT, True),
    **{key: ("float", 0.0, 1.0, False) for key in ("gamma", "gae_lambda", "tau")},
    **{key: ("float", 0.0, 1.0, True) for key in ("exploration_fraction", "exploration_initial_eps",
                                                  "exploration_final_eps")},
    "learning_rate": ("float", 0.0, math.inf, False),
    # The RL paper's PPO space starts clip_range and max_grad_norm at 0 (no update): legal, if useless.
    **{key: ("float", 0.0, math.inf, True) for key in ("clip_range", "max_grad_norm", "vf_coef", "noise_std")},
}


def check_values(config: Mapping[str, Any], where: str) -> None:
    """Refuse, in one line naming the key, a value no training can use (wrong type, out of range,
    not finite). ``lin_`` schedules are checked by their start value."""
    for key, (kind, low, high, closed) in _RULES.items():
        if key not in config:
            continue
        value = config[key]
        if isinstance(value, str) and value.startswith(_SCHEDULE_PREFIX) and kind == "float":
            try:
                value = float(value[len(_SCHEDULE_PREFIX):])
            except ValueError:
                raise UserError(f"{where}: {key} {config[key]!r} is not a lin_<number> schedule") from None
        number_types = (int,) if kind == "int" else (int, float)
        if isinstance(value, bool) or not isinstance(value, number_types):
            wanted = "an integer" if kind == "int" else "a number"
            raise UserError(f"{where}: {key} must be {wanted}, got {config[key]!r}")
        inside = (low <= value if closed else low < value) and value <= high
        if not math.isfinite(value) or not inside:
            bound = f"{'[' if closed else '('}{low:g}, {high:g}]"
            raise UserError(f"{where}: {key} {config[key]!r} lies outside {bound}")


def _schedule(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(_SCHEDULE_PREFIX):
        from rl_zoo3.utils import linear_schedule

        return linear_schedule(float(value[len(_SCHEDULE_PREFIX) :]))
    return value


@dataclass
class RunConfig:
    """What one SB3 training needs, derived from a configuration dict."""

    algorithm_kwargs: dict[str, Any]
    policy: str
    n_envs: int = 1
    normalize: dict[str, Any] | None = None
    frame_stack: int | None = None
    wrapper_class: Callable[..., Any] | None = None
    action_noise: tuple[str, float] | None = None
    notes: dict[str, Any] = field(default_factory=dict)


def build_run_config(config: Mapping[str, Any], *, default_policy: str, total_timesteps: int,
                     full_timesteps: int | None = None) -> RunConfig:
    """Split a configuration into SB3 keyword arguments and rl-zoo3's environment conventions.

    A replay buffer larger than the run's total timesteps never fills, so it is clamped to the
    run length (identical behaviour, bounded memory). A run shorter than the protocol's full
    fidelity (``full_timesteps``: a multi-fidelity tool's low rung) scales ``learning_starts``
    by the same factor, so that a shortened run still learns over the same share of its steps
    (schedules and exploration fractions are fractions of the run in SB3 already). Both adjustments
    are recorded in ``notes``.
    """
    from rl_zoo3.utils import get_wrapper_class

    kwargs = dict(config)
    notes: dict[str, Any] = {}
    policy = kwargs.pop("policy", default_policy)
    n_envs = int(kwargs.pop("n_envs", 1))
    frame_stack = kwargs.pop("frame_stack", None)
    noise_type, noise_std = kwargs.pop("noise_type", None), kwargs.pop("noise_std", None)
    action_noise = (noise_type, float(noise_std)) if noise_type else None
    wrapper_class = get_wrapper_class({"env_wrapper": kwargs.pop("env_wrapper")}) if "env_wrapper" in kwargs else None
    normalize_kwargs = parse_normalize(kwargs.pop("normalize", False))
    if "policy_kwargs" in kwargs:
        kwargs["policy_kwargs"] = parse_policy_kwargs(kwargs["policy_kwargs"])
    if isinstance(kwargs.get("train_freq"), list):
        kwargs["train_freq"] = tuple(kwargs["train_freq"])
    kwargs = {key: _schedule(value) for key, value in kwargs.items()}
    if full_timesteps and total_timesteps < full_timesteps and kwargs.get("learning_starts"):
        notes["learning_starts_scaled_from"] = int(kwargs["learning_starts"])
        kwargs["learning_starts"] = int(kwargs["learning_starts"]) * total_timesteps // full_timesteps
    if "buffer_size" in kwargs and int(kwargs["buffer_size"]) > total_timesteps:
        notes["buffer_size_clamped_from"] = int(kwargs["buffer_size"])
        kwargs["buffer_size"] = max(int(total_timesteps), 1)
    return RunConfig(kwargs, policy, n_envs, normalize_kwargs, frame_stack, wrapper_class, action_noise, notes)


def make_action_noise(action_noise: tuple[str, float], n_actions: int) -> Any:
    """rl-zoo3's ``noise_type``/``noise_std`` -> an SB3 action-noise object."""
    from stable_baselines3.common.noise import NormalActionNoise, OrnsteinUhlenbeckActionNoise

    import numpy as np

    kind, std = action_noise
    classes = {"normal": NormalActionNoise, "ornstein-uhlenbeck": OrnsteinUhlenbeckActionNoise}
    if kind not in classes:
        raise UserError(f"unknown noise_type {kind!r}; known: {', '.join(classes)}")
    return classes[kind](mean=np.zeros(n_actions), sigma=std * np.ones(n_actions))
