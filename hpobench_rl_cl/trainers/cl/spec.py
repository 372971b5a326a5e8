"""What every CL trial of one phase shares, as the runner hands it to a CL backend (light:
protocols and the runner import it without torch or Avalanche)."""

from __future__ import annotations

from dataclasses import dataclass

from .data import DataSpec


@dataclass(frozen=True)
class CLTrainSpec:
    """What every CL trial of one phase shares. It names only that phase's data."""

    strategy: str
    model: str
    data: DataSpec
    n_experiences: int
    first_experience_classes: int | None
    memory_size: int
    class_order_seed: int
    metric: str
    full_epochs: int  # the protocol's epochs per experience: a trial's budget is a fraction of them
    eval_batch_size: int = 256
    worst_score: float = 0.0
    device: str = "auto"


