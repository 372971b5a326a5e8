"""RL protocol files: load, validate, resolve a scale, hash.

A protocol (``protocol/data/rl/NAME.yaml``, or any YAML path) declares one benchmark: the environment
and algorithm, the backend that trains it, the full-fidelity run, the search space, the budget, the
tuning seeds and the sealed test seeds, and the hand-tuned baseline's source. Its top-level values
are the reference (``paper``) scale; the ``scales`` block overrides a few of them for ``smoke``
(tests, seconds) and ``quick`` (minutes).

Budget unit: one *full-run equivalent* is one configuration trained at full fidelity on every
tuning seed (``total_timesteps * len(tuning_seeds)`` env steps). ``budget_full_runs: 10`` lets a
tool evaluate ten configurations at full fidelity, or more at lower fidelity.

:func:`read_protocol` checks what the file declares and imports no trainer; :func:`load_protocol`
also has the protocol's backend check what only it knows (algorithm, environment, hyperparameter
names, the hand-tuned configuration).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import ProtocolError, UserError
from .common import (DEFAULT_PROTOCOL, DEFAULT_SCALE, MAX_TRAINING_UNITS, ProtocolBase, apply_scale, backend_name,
                     check_budget, check_types, hpo_runs, protocol_path, read_protocol_file)
from .search_space import load_space_definition
from .seeds import SeedSplit

MIN_FIDELITY_STEPS = 1000
MAX_MIN_FIDELITY = 1 / 9

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
    "backend": str,
    "hpo_runs": int,
    "population_segments": int,
    "curve_points": int,
    "base_config": dict,
    "env_kwargs": dict,
    "scales": dict,
}
_SCALABLE = {"total_timesteps", "eval_episodes", "budget_full_runs", "tuning_seeds", "test_seeds", "curve_points",
             "hpo_runs", "population_segments"}
#: Segments of a population-based tool's run: the RL paper's 20 configuration changes (tuners/pb2.yaml).
POPULATION_SEGMENTS = 21


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
    backend: str = "sb3"
    hpo_runs: int = 1
    population_segments: int = POPULATION_SEGMENTS
    description: str = ""
    family: str = "rl"
    source_path: str = field(default="", compare=False)

    # What the study runner asks of every protocol family -------------------------------------
    budget_unit = "env_steps"

    @property
    def full_fidelity(self) -> int:
        return self.total_timesteps

    @property
    def min_fidelity(self) -> float:
        """Multi-fidelity tools may go down to the paper's 1e3 steps, but never below a ninth of a
        full run (so that small scales keep several rungs)."""
        return min(MIN_FIDELITY_STEPS / self.total_timesteps, MAX_MIN_FIDELITY)

    def content(self) -> dict[str, Any]:
        """As every protocol's; the paper's number of population segments stays out (the shipped
        hashes predate it), another number enters."""
        data = super().content()
        if data["population_segments"] == POPULATION_SEGMENTS:
            del data["population_segments"]
        return data

    def hand_tuned_run_config(self) -> tuple[dict[str, Any], str]:
        """The hand-tuned baseline's configuration and where it comes from."""
        from ..trainers.rl.hand_tuned import hand_tuned_config

        return hand_tuned_config(self.algorithm, self.env_id, self.hand_tuned)

    def train_specs(self, device: str = "auto") -> dict[str, Any]:
        """The trainer's specification for each phase (the same environment in all of them)."""
        from ..trainers.rl.spec import RLTrainSpec

        spec = RLTrainSpec(
            env_id=self.env_id, algorithm=self.algorithm, policy=self.policy, eval_episodes=self.eval_episodes,
            curve_points=self.curve_points, worst_score=self.worst_score, env_kwargs=self.env_kwargs, device=device,
            full_timesteps=self.total_timesteps,
        )
        return {"tuning": spec, "user": spec, self.held_out_phase: spec}


def load_protocol(name_or_path: str = DEFAULT_PROTOCOL, scale: str = DEFAULT_SCALE) -> RLProtocol:
    """Load and validate a protocol at a scale, its backend's checks included. Raises
    :class:`ProtocolError` naming what is wrong."""
    protocol = read_protocol(name_or_path, scale)
    check_with_backend(protocol)
    return protocol


def check_with_backend(protocol: Any) -> None:
    """What only the protocol's backend knows: its algorithm, environment, hyperparameter names."""
    from ..trainers.base import BACKENDS

    try:
        backend = BACKENDS.get(protocol.backend)
    except UserError as error:
        raise ProtocolError(f"{protocol.source_path}: {error}") from None
    backend().check_protocol(protocol)


def read_protocol(name_or_path: str = DEFAULT_PROTOCOL, scale: str = DEFAULT_SCALE) -> RLProtocol:
    """A protocol as its file declares it, checked without its backend (nothing heavy is imported)."""
    path = protocol_path(name_or_path)
    data = read_protocol_file(path)
    origin = str(path)
    check_types(data, origin, _REQUIRED, _OPTIONAL)
    resolved = apply_scale(data, scale, origin, _SCALABLE, "total_timesteps")
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
        backend=backend_name(resolved, "rl", origin),
        hpo_runs=hpo_runs(resolved, origin),
        population_segments=resolved.get("population_segments", POPULATION_SEGMENTS),
        description=resolved.get("description", ""),
        family=resolved.get("family", "rl"),
        source_path=origin,
    )
    _check_declaration(protocol, origin)
    return protocol


SPACE_VARIANTS = ("lr", "small", "full")


def protocol_variant(protocol: RLProtocol, *, space: str = "full", tuning_seeds: int | None = None,
                     check_backend: bool = True) -> RLProtocol:
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
        available = read_protocol(protocol.source_path, "paper").seeds.tuning
        if not 1 <= tuning_seeds <= len(available):
            raise ProtocolError(f"{protocol.name}: tuning_seeds must be 1..{len(available)}, got {tuning_seeds}")
        name += f"+{tuning_seeds}seed{'s' if tuning_seeds > 1 else ''}"
        changes["seeds"] = SeedSplit.validated(available[:tuning_seeds], protocol.seeds.held_out, origin=protocol.name)
    variant = replace(protocol, name=name, **changes)
    _check_declaration(variant, f"{protocol.source_path} ({name})")
    if check_backend:
        check_with_backend(variant)
    return variant


def _check_declaration(protocol: RLProtocol, origin: str) -> None:
    for key in ("total_timesteps", "eval_episodes", "curve_points"):
        if not 1 <= getattr(protocol, key) <= MAX_TRAINING_UNITS:
            raise ProtocolError(f"{origin}: {key} must be from 1 to {MAX_TRAINING_UNITS:,}, got {getattr(protocol, key)}")
    check_budget(protocol.budget_full_runs, origin)
    if not 2 <= protocol.population_segments <= 1000:
        raise ProtocolError(f"{origin}: population_segments must be from 2 to 1,000, got {protocol.population_segments}")
    space = protocol.search_space()
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
