"""What every protocol family shares: the shipped files, YAML loading and checks, scales, identity
(name at a scale), seeds, search space, and the content hash.

The shipped protocol and search-space files are package data (``protocol/data/``), found with
:mod:`importlib.resources`, so a non-editable install carries them; a user's protocol is any YAML
path. Nothing here imports a trainer: loading a protocol never loads torch, SB3 or Avalanche.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import asdict
from importlib.resources import files
from pathlib import Path
from typing import Any, Mapping

import yaml
from ConfigSpace import ConfigurationSpace

from ..errors import ProtocolError
from .search_space import build_space

DATA_ROOT = Path(str(files("hpobench_rl_cl.protocol") / "data"))
FAMILIES = ("rl", "cl")
SCALES = ("smoke", "quick", "paper")
DEFAULT_PROTOCOL = "ppo-cartpole-jax"
DEFAULT_SCALE = "quick"
#: The held-out phase of each family: RL retrains on sealed test seeds; CL runs on the evaluation
#: dataset (the CL paper's word). Every summary, export and table says ``held_out`` for either.
HELD_OUT_PHASES = {"rl": "test", "cl": "evaluation"}
#: The backend a protocol trains on when its file names none (it then stays out of the hash, so
#: the shipped protocols kept their identity when the key was introduced).
DEFAULT_BACKENDS = {"rl": "sb3", "cl": "avalanche"}


class ProtocolBase:
    """Mixin of the protocol dataclasses (:class:`~.rl.RLProtocol`, :class:`~.cl.CLProtocol`)."""

    name: str
    scale: str
    family: str
    backend: str
    seeds: Any
    search_space_name: str
    search_space_definition: dict[str, Any]

    @property
    def held_out_phase(self) -> str:
        return HELD_OUT_PHASES[self.family]

    @property
    def tuning_seeds(self) -> tuple[int, ...]:
        return self.seeds.tuning

    @property
    def held_out_seeds(self) -> tuple[int, ...]:
        return self.seeds.held_out

    @property
    def protocol_id(self) -> str:
        return f"{self.name}@{self.scale}"

    def search_space(self, seed: int | None = None) -> ConfigurationSpace:
        return build_space(self.search_space_definition, name=self.search_space_name, seed=seed)

    def content(self) -> dict[str, Any]:
        """Everything that defines what runs (what the hash covers). ``hpo_runs`` says how many
        studies make a complete entry, not what one runs: the leaderboard takes it from the official
        protocol, so it stays out of the hash."""
        data = asdict(self)  # type: ignore[call-overload]
        data.pop("source_path")
        data.pop("hpo_runs")
        if data["backend"] == DEFAULT_BACKENDS[self.family]:
            del data["backend"]
        data["seeds"] = {"tuning": list(self.seeds.tuning), self.held_out_phase: list(self.seeds.held_out)}
        return data

    @property
    def hash(self) -> str:
        return content_hash(self.content())


def content_hash(content: dict[str, Any]) -> str:
    """A protocol's hash from its content (what ``BenchmarkProtocol.content`` returns, or the same
    read back from an export's JSON)."""
    canonical = json.dumps(content, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def shipped_file(relative: str) -> Path:
    """A file of the package's protocol data (``rl/ppo-cartpole.yaml``, ``search_spaces/ppo.yaml``)."""
    return DATA_ROOT / relative


def protocol_path(name_or_path: str) -> Path:
    """A shipped protocol's name (``ppo-cartpole``) or a path to a YAML file."""
    candidate = Path(name_or_path)
    if candidate.suffix in (".yaml", ".yml"):
        if not candidate.is_file():
            raise ProtocolError(f"protocol file not found: {name_or_path}")
        return candidate
    for family in FAMILIES:
        path = DATA_ROOT / family / f"{name_or_path}.yaml"
        if path.is_file():
            return path
    raise ProtocolError(f"unknown protocol {name_or_path!r}; known: {', '.join(list_protocol_names())}")


def list_protocol_names(family: str | None = None) -> list[str]:
    families = (family,) if family else FAMILIES
    return sorted(p.stem for f in families for p in (DATA_ROOT / f).glob("*.yaml"))


def protocol_family(name_or_path: str) -> str:
    """``rl`` or ``cl``: the ``family`` a protocol file declares (``rl`` when it declares none)."""
    family = read_protocol_file(protocol_path(name_or_path)).get("family", "rl")
    if family not in FAMILIES:
        raise ProtocolError(f"{name_or_path}: family must be rl or cl, got {family!r}")
    return family


def read_yaml(path: Path, what: str) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark else ""
        raise ProtocolError(f"{path}: malformed YAML{where} in {what}: {getattr(error, 'problem', error)}") from None


def read_protocol_file(path: Path) -> dict[str, Any]:
    data = read_yaml(path, "a protocol")
    if not isinstance(data, dict):
        raise ProtocolError(f"{path}: a protocol must be a YAML mapping")
    return data


def check_types(data: Mapping[str, Any], origin: str, required: Mapping[str, Any], optional: Mapping[str, Any]) -> None:
    for key in required:
        if key not in data:
            raise ProtocolError(f"{origin}: missing required key {key!r}")
    for key, value in data.items():
        kind = required.get(key) or optional.get(key)
        if kind is None:
            raise ProtocolError(f"{origin}: unknown key {key!r}")
        if isinstance(value, bool) or not isinstance(value, kind):
            raise ProtocolError(f"{origin}: {key!r} has the wrong type ({type(value).__name__})")


def apply_scale(data: dict[str, Any], scale: str, origin: str, scalable: set[str], length_key: str) -> dict[str, Any]:
    """The file's values with the ``scales`` block's overrides for ``scale`` (``paper``: none).

    A scale cuts trials (configurations, seeds, tool runs), never the training length
    (``length_key``): a result from a run shorter than its protocol's is no result. Only ``smoke``,
    which tests the pipeline and is never exported, may shorten runs."""
    if scale not in SCALES:
        raise ProtocolError(f"unknown scale {scale!r}; choose one of {', '.join(SCALES)}")
    full = data.get(length_key)
    for name, values in (data.get("scales") or {}).items():
        shortened = (values or {}).get(length_key) if isinstance(values, dict) else None
        if name != "smoke" and isinstance(shortened, (int, float)) and isinstance(full, (int, float)) and shortened < full:
            raise ProtocolError(f"{origin}: scale {name!r} shortens training ({length_key} {shortened} < {full}); "
                                f"a scale cuts trials, never training length (only smoke may)")
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


#: Beyond these a run never ends on any machine: refused as typos, not attempted.
MAX_BUDGET_FULL_RUNS = 10_000
MAX_TRAINING_UNITS = 10**9


def check_budget(value: float, origin: str) -> None:
    """A budget is a finite number of full-run equivalents from 1 to :data:`MAX_BUDGET_FULL_RUNS`."""
    if not math.isfinite(value) or not 1 <= value <= MAX_BUDGET_FULL_RUNS:
        raise ProtocolError(
            f"{origin}: budget_full_runs must be from 1 (one configuration at full fidelity on every tuning seed) "
            f"to {MAX_BUDGET_FULL_RUNS:,}, got {value!r}")


def hpo_runs(data: Mapping[str, Any], origin: str) -> int:
    """Independent runs of each HPO tool (HPO seeds 0..n-1) that make a complete leaderboard entry."""
    runs = data.get("hpo_runs", 1)
    if isinstance(runs, bool) or not isinstance(runs, int) or not 1 <= runs <= 100:
        raise ProtocolError(f"{origin}: hpo_runs must be an integer from 1 to 100, got {runs!r}")
    return runs


def backend_name(data: Mapping[str, Any], family: str, origin: str) -> str:
    backend = data.get("backend", DEFAULT_BACKENDS[family])
    if not isinstance(backend, str) or not backend:
        raise ProtocolError(f"{origin}: backend must be a registered backend name, got {backend!r}")
    return backend
