"""HPO tools behind one ask/tell interface. Importing this package registers the built-in tools:
``random``, ``smac``, ``smac-mf``, ``dehb``, ``tpe``."""

from . import dehb, random_search, smac, smac_mf, tpe  # noqa: F401  (each registers itself)
from .base import OPTIMIZERS, Budget, Optimizer, TrialInfo

__all__ = ["OPTIMIZERS", "Budget", "Optimizer", "TrialInfo"]
