"""Trainer backends. Importing this package registers the built-in ones: ``sb3`` (RL) and
``avalanche`` (CL)."""

from . import avalanche_cl, sb3  # noqa: F401  (register "avalanche" and "sb3")
from .base import BACKENDS, TrainerBackend, TrainSpec, Trial, TrialResult

__all__ = ["BACKENDS", "TrainerBackend", "TrainSpec", "Trial", "TrialResult"]
