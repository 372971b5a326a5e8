"""Protocol files: load, validate, resolve a scale, hash.

A protocol (``protocols/rl/NAME.yaml``) declares one benchmark: the environment and algorithm, the
full-fidelity run, the search space, the budget, the tuning seeds and the sealed test seeds, and the
hand-tuned baseline's source. Its top-level values are the reference (``paper``) scale; the
``scales`` block overrides a few of them for ``smoke`` (tests, seconds) and ``quick`` (minutes).

Budget unit: one *full-run equivalent* is one configuration trained at full fidelity on every
tuning seed (``total_timesteps * len(tuning_seeds)`` env steps). ``budget_full_runs: 10`` lets a
tool evaluate ten configurations at full fidelity, or more at lower fidelity.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

import yaml

from ..errors import ProtocolError
from .base import ProtocolBase
from .paths import PROTOCOL_ROOT
from .search_space import load_space_definition
from .seeds import SeedSplit

SCALES = ("smoke", "quick", "paper")
MIN_FIDELITY_STEPS = 1000
MAX_MIN_FIDELITY = 1 / 9
DEFAULT_PROTOCOL = "ppo-cartpole"
DEFAULT_SCALE = "quick"

_REQUIRED = {
    "name": str,
    "env_id": str,
    "algorithm": str,
    "policy": str,
    "total_timesteps": int,
    "eval_episodes": int,
    "search_space": (str, dict),
    "budget_full_runs": (int, float),
    "tuning_seeds": list,
    "test_seeds": list,
    "hand_tuned": dict,
    "worst_score": (int, float),
}
_OPTIONAL = {
    "description": str,
    "family": str,
    "curve_points": int,
    "base_config": dict,
    "env_kwargs": dict,
    "scales": dict,
}
_SCALABLE = {"total_timesteps", "eval_episodes", "budget_full_runs", "tuning_seeds", "test_seeds", "curve_points"}


@dataclass(frozen=True)
class RLProtocol(ProtocolBase):
    """One RL benchmark at one scale. Build it with :func:`load_protocol`."""

    name: str
    scale: str
    env_id: str
    algorithm: str
    policy: str
    total_timesteps: int
    eval_episodes: int
    curve_points: int
    worst_score: float
    search_space_name: str
    search_space_definition: dict[str, Any]
    base_config: dict[str, Any]
    env_kwargs: dict[str, Any]
    budget_full_runs: float
    seeds: SeedSplit
    hand_tuned: dict[str, Any]
    description: str = ""
    family: str = "rl"
    source_path: str = field(default="", compare=False)

    @property
    def full_run_steps(self) -> int:
        """Env steps of one full-run equivalent: every tuning seed at full fidelity."""
        return self.total_timesteps * len(self.seeds.tuning)

    # What the study runner asks of every protocol family -------------------------------------
    backend = "sb3"
    budget_unit = "env_steps"
    held_out_phase = "test"

    @property
    def full_fidelity(self) -> int:
        return self.total_timesteps

    @property
    def min_fidelity(self) -> float:
        """Multi-fidelity tools may go down to the paper's 1e3 steps, but never below a ninth of a
        full run (so that small scales keep several rungs)."""
        return min(MIN_FIDELITY_STEPS / self.total_timesteps, MAX_MIN_FIDELITY)

    def hand_tuned_run_config(self) -> tuple[dict[str, Any], str]:
        """The hand-tuned baseline's configuration and where it comes from."""
        from ..trainers.hand_tuned import hand_tuned_config

        return hand_tuned_config(self.algorithm, self.env_id, self.hand_tuned)

    def accepted_hyperparameters(self) -> set[str] | None:
        from ..trainers.algorithms import accepted_hyperparameters

        return accepted_hyperparameters(self.algorithm)

    def train_specs(self, device: str = "auto") -> dict[str, Any]:
        """The trainer's specification for each phase (the same environment in all of them)."""
        from ..trainers.base import TrainSpec, resolve_device

        spec = TrainSpec(
            env_id=self.env_id, algorithm=self.algorithm, policy=self.policy, eval_episodes=self.eval_episodes,
            curve_points=self.curve_points, worst_score=self.worst_score, env_kwargs=self.env_kwargs,
            device=resolve_device(device, prefer_gpu="Cnn" in self.policy),
        )
        return {"tuning": spec, "evaluate": spec, "test": spec}


def protocol_path(name_or_path: str) -> Path:
    """A shipped protocol's name (``ppo-cartpole``) or a path to a YAML file."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml"):
        if not candidate.is_file():
            raise ProtocolError(f"protocol file not found: {name_or_path}")
        return candidate
    for family in ("rl", "cl"):
        path = PROTOCOL_ROOT / family / f"{name_or_path}.yaml"
        if path.is_file():
            return path
    raise ProtocolError(f"unknown protocol {name_or_path!r}; known: {', '.join(list_protocol_names())}")


def list_protocol_names(family: str | None = None) -> list[str]:
    families = (family,) if family else ("rl", "cl")
    return sorted(p.stem for f in families for p in (PROTOCOL_ROOT / f).glob("*.yaml"))


def protocol_family(name_or_path: str) -> str:
    """``rl`` or ``cl``: the ``family`` a protocol file declares (``rl`` when it declares none)."""
    family = read_protocol_file(protocol_path(name_or_path)).get("family", "rl")
    if family not in ("rl", "cl"):
        raise ProtocolError(f"{name_or_path}: family must be rl or cl, got {family!r}")
    return family


def read_protocol_file(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ProtocolError(f"{path}: malformed YAML{where}: {getattr(error, 'problem', error)}") from None
    if not isinstance(data, dict):
        raise ProtocolError(f"{path}: a protocol must be a YAML mapping")
    return data


def check_types(data: Mapping[str, Any], origin: str, required: Mapping[str, Any], optional: Mapping[str, Any]) -> None:
    for key, kind in required.items():
        if key not in data:
            raise ProtocolError(f"{origin}: missing required key {key!r}")
    for key, value in data.items():
        kind = required.get(key) or optional.get(key)
        if kind is None:
            raise ProtocolError(f"{origin}: unknown key {key!r}")
        if isinstance(value, bool) or not isinstance(value, kind):
            raise ProtocolError(f"{origin}: {key!r} has the wrong type ({type(value).__name__})")


def apply_scale(data: dict[str, Any], scale: str, origin: str, scalable: set[str]) -> dict[str, Any]:
    if scale not in SCALES:
        raise ProtocolError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    resolved = {k: v for k, v in data.items() if k != "scales"}
    if scale == "paper":
        return resolved
    overrides = (data.get("scales") or {}).get(scale)
    if overrides is None:
        raise ProtocolError(f"{origin}: no {scale!r} scale defined")
    unknown = set(overrides) - scalable
    if unknown:
        raise ProtocolError(f"{origin}: scale {scale!r} may not override {', '.join(sorted(unknown))}")
    resolved.update(overrides)
    return resolved


def load_protocol(name_or_path: str = DEFAULT_PROTOCOL, scale: str = DEFAULT_SCALE) -> RLProtocol:
    """Load and validate a protocol at a scale. Raises :class:`ProtocolError` naming what is wrong."""
    path = protocol_path(name_or_path)
    data = read_protocol_file(path)
    origin = str(path)
    check_types(data, origin, _REQUIRED, _OPTIONAL)
    resolved = apply_scale(data, scale, origin, _SCALABLE)
    check_types(resolved, f"{origin} (scale {scale})", _REQUIRED, _OPTIONAL)
    space_name, space_definition = load_space_definition(resolved["search_space"])
    protocol = RLProtocol(
        name=resolved["name"],
        scale=scale,
        env_id=resolved["env_id"],
        algorithm=resolved["algorithm"],
        policy=resolved["policy"],
        total_timesteps=resolved["total_timesteps"],
        eval_episodes=resolved["eval_episodes"],
        curve_points=resolved.get("curve_points", 4),
        worst_score=float(resolved["worst_score"]),
        search_space_name=space_name,
        search_space_definition=space_definition,
        base_config=dict(resolved.get("base_config") or {}),
        env_kwargs=dict(resolved.get("env_kwargs") or {}),
        budget_full_runs=float(resolved["budget_full_runs"]),
        seeds=SeedSplit.validated(resolved["tuning_seeds"], resolved["test_seeds"], origin=origin),
        hand_tuned=dict(resolved["hand_tuned"]),
        description=resolved.get("description", ""),
        family=resolved.get("family", "rl"),
        source_path=origin,
    )
    _validate_semantics(protocol, origin)
    return protocol


SPACE_VARIANTS = ("lr", "small", "full")


def protocol_variant(protocol: RLProtocol, *, space: str = "full", tuning_seeds: int | None = None) -> RLProtocol:
    """The RL paper's variations of a protocol: its search space reduced to the learning rate
    (``lr``) or the paper's three most important hyperparameters (``small``), and/or tuning on the
    first ``tuning_seeds`` of the paper-scale tuning seeds. The variant is another benchmark: its
    name says so (``ppo-acrobot+small``, ``ppo-acrobot+5seeds``) and it hashes differently."""
    if space not in SPACE_VARIANTS:
        raise ProtocolError(f"unknown search-space variant {space!r}; choose one of {', '.join(SPACE_VARIANTS)}")
    name, changes = protocol.name, {}
    if space != "full":
        base = protocol.search_space_name.split("_")[0]
        space_name, definition = load_space_definition(f"{base}_{space}")
        name += f"+{space}"
        changes.update(search_space_name=space_name, search_space_definition=definition)
    if tuning_seeds is not None:
        available = load_protocol(protocol.source_path, "paper").seeds.tuning
        if not 1 <= tuning_seeds <= len(available):
            raise ProtocolError(f"{protocol.name}: tuning_seeds must be 1..{len(available)}, got {tuning_seeds}")
        name += f"+{tuning_seeds}seed{'s' if tuning_seeds > 1 else ''}"
        changes["seeds"] = SeedSplit.validated(available[:tuning_seeds], protocol.seeds.test, origin=protocol.name)
    variant = replace(protocol, name=name, **changes)
    _validate_semantics(variant, f"{protocol.source_path} ({name})")
    return variant


def _validate_semantics(protocol: RLProtocol, origin: str) -> None:
    from ..trainers.algorithms import accepted_hyperparameters, check_env_id
    from ..trainers.hand_tuned import hand_tuned_config
    from ..trainers.run_config import parse_policy_kwargs

    if protocol.total_timesteps < 1 or protocol.eval_episodes < 1:
        raise ProtocolError(f"{origin}: total_timesteps and eval_episodes must be positive")
    if protocol.budget_full_runs < 1:
        raise ProtocolError(
            f"{origin}: budget_full_runs {protocol.budget_full_runs:g} is smaller than one trial "
            "(one configuration at full fidelity on every tuning seed = 1 full-run equivalent)"
        )
    check_env_id(protocol.env_id, origin)
    accepted = accepted_hyperparameters(protocol.algorithm)
    space = protocol.search_space()
    for hp_name in list(space.keys()) + list(protocol.base_config):
        if hp_name not in accepted:
            raise ProtocolError(f"{origin}: unknown hyperparameter {hp_name!r} for algorithm {protocol.algorithm}")
    for hp_name, default in protocol.base_config.items():
        if hp_name in space and not space[hp_name].legal_value(default):
            raise ProtocolError(
                f"{origin}: base_config {hp_name}={default!r} lies outside its search range {space[hp_name]}"
            )
    source = protocol.hand_tuned.get("source")
    if not isinstance(source, str) or not source:
        raise ProtocolError(f"{origin}: hand_tuned needs a 'source' (rl-zoo3, or a citation with a 'config')")
    if source != "rl-zoo3" and not isinstance(protocol.hand_tuned.get("config"), dict):
        raise ProtocolError(f"{origin}: hand_tuned source {source!r} is not rl-zoo3, so it needs a 'config' mapping")
    config, where = hand_tuned_config(protocol.algorithm, protocol.env_id, protocol.hand_tuned)
    for hp_name in config:
        if hp_name not in accepted:
            raise ProtocolError(f"{origin}: hand-tuned ({where}) sets {hp_name!r}, unknown to {protocol.algorithm}")
    if "policy_kwargs" in config:
        parse_policy_kwargs(config["policy_kwargs"])
