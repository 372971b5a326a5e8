"""What every RL trial of one protocol shares, as the runner hands it to an RL backend (light:
protocols and the runner import it without any training library)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RLTrainSpec:
    """The environment, algorithm and evaluation of a protocol's trials. ``device``: ``auto``,
    ``cpu`` or ``cuda``, resolved by the backend in the process that trains. ``full_timesteps``:
    the protocol's full-fidelity length (shorter runs scale length-valued hyperparameters)."""

    env_id: str
    algorithm: str
    policy: str
    eval_episodes: int
    curve_points: int
    worst_score: float
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    device: str = "auto"
    full_timesteps: int | None = None
