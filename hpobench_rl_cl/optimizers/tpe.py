"""Optuna's TPE sampler (rl-zoo3's tuning method), at full fidelity, through Optuna's ask/tell.

With several proposals in flight, TPE runs with Optuna's constant-liar option: running trials count
as bad results, so a batch of asks spreads out instead of proposing the same region again."""

from __future__ import annotations

from typing import Any

from ConfigSpace import (
    CategoricalHyperparameter,
    ConfigurationSpace,
    UniformFloatHyperparameter,
    UniformIntegerHyperparameter,
)

from ..errors import UserError
from .base import Budget, Optimizer, Proposal, plain


def optuna_distributions(space: ConfigurationSpace) -> dict[str, Any]:
    """The same search space in Optuna's vocabulary."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    distributions: dict[str, Any] = {}
    for hp in space.values():
        if isinstance(hp, CategoricalHyperparameter):
            distributions[hp.name] = CategoricalDistribution([plain(c) for c in hp.choices])
        elif isinstance(hp, UniformIntegerHyperparameter):
            distributions[hp.name] = IntDistribution(int(hp.lower), int(hp.upper), log=hp.log)
        elif isinstance(hp, UniformFloatHyperparameter):
            distributions[hp.name] = FloatDistribution(float(hp.lower), float(hp.upper), log=hp.log)
        else:
            raise UserError(f"tpe cannot handle hyperparameter {hp.name!r} of type {type(hp).__name__}")
    return distributions


class TPE(Optimizer):
    def __init__(self, space: ConfigurationSpace, *, seed: int, budget: Budget) -> None:
        super().__init__(space, seed=seed, budget=budget)
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        self._distributions = optuna_distributions(space)
        self._study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed, constant_liar=True))

    def ask(self) -> Proposal:
        trial = self._study.ask(self._distributions)
        return Proposal({name: plain(value) for name, value in trial.params.items()}, token=trial)

    def tell(self, proposal: Proposal, score: float) -> None:
        self._study.tell(proposal.token, score)
