"""Trainer backends. Importing this package registers the built-in SB3 backend."""

from . import sb3  # noqa: F401  (registers "sb3")
from .base import BACKENDS, TrainerBackend, TrainSpec, Trial, TrialResult

__all__ = ["BACKENDS", "TrainerBackend", "TrainSpec", "Trial", "TrialResult"]
