"""HPO tools behind one ask/tell interface, found by name in :data:`OPTIMIZERS` (built in:
``random``, ``smac``, ``smac-mf``, ``dehb``, ``tpe``; each imported on first use)."""

from .base import OPTIMIZERS, Budget, Optimizer, Proposal

__all__ = ["OPTIMIZERS", "Budget", "Optimizer", "Proposal"]
