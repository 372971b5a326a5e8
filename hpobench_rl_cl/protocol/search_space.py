"""Search spaces: the paper's ConfigSpace-style YAML (``protocol/data/search_spaces/*.yaml``) to ConfigSpace."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path
from typing import Any, Mapping

from ConfigSpace import (
    CategoricalHyperparameter,
    ConfigurationSpace,
    UniformFloatHyperparameter,
    UniformIntegerHyperparameter,
)

from ..errors import ProtocolError

SEARCH_SPACE_DIR = Path(str(files("hpobench_rl_cl.protocol") / "data" / "search_spaces"))

# The paper's files name SB3 keyword arguments through its Hydra config tree.
_PAPER_PREFIX = "algorithm.model_kwargs."


def _number(value: Any, where: str) -> float:
    # PyYAML reads `1e3` (no dot) as a string: YAML 1.1 needs `1.0e3` for a float.
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ProtocolError(f"search space {where}: {value!r} is not a number") from None


def build_space(definition: Mapping[str, Any], *, name: str, seed: int | None = None) -> ConfigurationSpace:
    """Build a ConfigurationSpace from ``{"hyperparameters": {name: {type, lower, upper, log | choices}}}``."""
    hyperparameters = definition.get("hyperparameters") if isinstance(definition, Mapping) else None
    if not isinstance(hyperparameters, Mapping) or not hyperparameters:
        raise ProtocolError(f"search space {name!r} has no 'hyperparameters' mapping")
    space = ConfigurationSpace(name=name, seed=seed)
    for raw_name, spec in hyperparameters.items():
        hp_name = raw_name.removeprefix(_PAPER_PREFIX)
        where = f"{name!r}, hyperparameter {hp_name!r}"
        if not isinstance(spec, Mapping) or "type" not in spec:
            raise ProtocolError(f"search space {where}: needs a 'type'")
        kind = spec["type"]
        if kind == "categorical":
            choices = spec.get("choices")
            if not isinstance(choices, list) or len(choices) < 2:
                raise ProtocolError(f"search space {where}: categorical needs a 'choices' list of two or more values "
                                    "(a fixed value belongs in base_config: a search space leaves the tool a choice)")
            if len({repr(c) for c in choices}) != len(choices):
                raise ProtocolError(f"search space {where}: choices repeat a value")
            space.add(CategoricalHyperparameter(hp_name, choices))
            continue
        if kind not in ("uniform_float", "uniform_int"):
            raise ProtocolError(f"search space {where}: unknown type {kind!r} (uniform_float, uniform_int, categorical)")
        lower, upper = _number(spec.get("lower"), where), _number(spec.get("upper"), where)
        if not lower < upper:
            raise ProtocolError(f"search space {where}: lower {lower} must be below upper {upper}")
        log = bool(spec.get("log", False))
        if log and lower <= 0:
            raise ProtocolError(f"search space {where}: a log range needs lower > 0, got {lower}")
        if kind == "uniform_int":
            space.add(UniformIntegerHyperparameter(hp_name, int(lower), int(upper), log=log))
        else:
            space.add(UniformFloatHyperparameter(hp_name, lower, upper, log=log))
    return space


def load_space_definition(reference: str | Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """Resolve a protocol's ``search_space`` entry: a shipped file's stem, or an inline mapping."""
    if isinstance(reference, Mapping):
        return "inline", dict(reference)
    path = SEARCH_SPACE_DIR / f"{reference}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in SEARCH_SPACE_DIR.glob("*.yaml"))
        raise ProtocolError(f"unknown search space {reference!r}; known: {', '.join(known)}")
    import yaml

    return str(reference), yaml.safe_load(path.read_text())

