"""HPO tools behind one ask/tell interface. Importing this package registers the built-in tools."""

from . import random_search  # noqa: F401  (registers "random")
from .base import OPTIMIZERS, Budget, Optimizer, TrialInfo

__all__ = ["OPTIMIZERS", "Budget", "Optimizer", "TrialInfo"]
