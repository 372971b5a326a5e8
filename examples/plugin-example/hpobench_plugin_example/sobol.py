"""Quasi-random search: configurations from a scrambled Sobol sequence over the search space."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from ConfigSpace import CategoricalHyperparameter
from scipy.stats import qmc

from hpobench_rl_cl.optimizers.base import Optimizer, Proposal, plain


def _from_unit(hyperparameter: Any, u: float) -> Any:
    """The value at position u in [0, 1) of a hyperparameter's range (log ranges stay log)."""
    if isinstance(hyperparameter, CategoricalHyperparameter):
        choices = hyperparameter.choices
        return choices[min(int(u * len(choices)), len(choices) - 1)]
    return hyperparameter.to_value(np.array([u]))[0]


class SobolSearch(Optimizer):
    """Full-fidelity configurations that cover the space more evenly than random sampling."""

    def __init__(self, space, *, seed, budget):
        super().__init__(space, seed=seed, budget=budget)
        self.sampler = qmc.Sobol(d=len(space), scramble=True, seed=seed)

    def ask(self) -> Proposal:
        with warnings.catch_warnings():
            # Asked one at a time, the sequence is still Sobol's; its power-of-2 balance note does not apply.
            warnings.simplefilter("ignore", UserWarning)
            point = self.sampler.random(1)[0]
        config = {hp.name: plain(_from_unit(hp, u)) for hp, u in zip(self.space.values(), point)}
        return Proposal(config, 1.0)

    def tell(self, proposal: Proposal, score: float) -> None:
        """Sobol search does not learn from scores."""
