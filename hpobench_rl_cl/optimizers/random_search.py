"""Random search: seeded ConfigSpace sampling at full fidelity. The reference point."""

from __future__ import annotations

from ConfigSpace import ConfigurationSpace

from .base import Budget, Optimizer, Proposal, config_dict


class RandomSearch(Optimizer):
    def __init__(self, space: ConfigurationSpace, *, seed: int, budget: Budget) -> None:
        super().__init__(space, seed=seed, budget=budget)
        self.space.seed(seed)

    def ask(self) -> Proposal:
        return Proposal(config_dict(self.space.sample_configuration()))

    def tell(self, proposal: Proposal, score: float) -> None:
        """Random search learns nothing from scores."""
