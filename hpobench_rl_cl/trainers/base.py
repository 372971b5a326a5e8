"""What the runner hands a trainer backend, and what comes back.

The runner submits a *batch* of trials (configuration, seed, budget) at once. The SB3 backend runs
them one per worker; a GPU backend may train a whole batch together in one process. Either way
each trial gets its own future, so the runner can tell an HPO tool as soon as a configuration's
trials are done.
"""

from __future__ import annotations

import hashlib
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from ..registry import Registry


def config_hash(config: Mapping[str, Any]) -> str:
    """Stable short hash of a configuration (key order and int/float spelling do not matter)."""
    canonical = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class TrainSpec:
    """What every trial of one protocol shares."""

    env_id: str
    algorithm: str
    policy: str
    eval_episodes: int
    curve_points: int
    worst_score: float
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    device: str = "cpu"


@dataclass(frozen=True)
class Trial:
    """One training: a configuration on one seed for ``budget_steps`` env steps."""

    config: dict[str, Any]
    seed: int
    budget_steps: int

    @property
    def config_hash(self) -> str:
        return config_hash(self.config)


@dataclass
class TrialResult:
    """A finished trial. ``status`` is ``ok`` or ``crashed`` (then ``score`` is the protocol's worst)."""

    score: float
    status: str
    curve: list[tuple[int, float]]
    wall_s: float
    cpu_s: float
    error: str | None = None
    notes: dict[str, Any] = field(default_factory=dict)
    host: dict[str, Any] = field(default_factory=dict)


class TrainerBackend(ABC):
    """Runs batches of trials on an executor (a ``distributed.Client``)."""

    @abstractmethod
    def submit(self, client: Any, spec: TrainSpec, trials: Sequence[Trial]) -> list[Any]:
        """Start ``trials``; return one future per trial, resolving to a :class:`TrialResult`."""


BACKENDS: Registry[type[TrainerBackend]] = Registry("trainer backend", "hpobench_rl_cl.backends")
