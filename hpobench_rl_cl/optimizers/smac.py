"""SMAC3's random-forest Bayesian optimization (``HyperparameterOptimizationFacade``).

The runner scores every configuration by its mean over all the protocol's tuning seeds, so SMAC
runs ``deterministic=True`` without instances: SMAC's own seed handling would score only a few
seeds per configuration. SMAC minimizes, so it is told the negated score. ``SMACBase`` is shared
with ``smac_mf.py``.
"""

from __future__ import annotations

import tempfile
from typing import Any

from ConfigSpace import ConfigurationSpace

from .base import Budget, Optimizer, Proposal, config_dict

# Upper bound on SMAC's own trial count: the runner, not SMAC, stops the study at the budget.
_MAX_SMAC_TRIALS = 100_000


def ask_tell_target(config: Any, seed: int = 0, budget: float = 1.0) -> float:
    raise RuntimeError("SMAC is driven by ask/tell here; its target function is never called")


class SMACBase(Optimizer):
    """SMAC's ask/tell; with ``multi_fidelity`` SMAC's budget is the fidelity (fraction of a full
    run), from the runner's minimum to 1."""

    def __init__(self, space: ConfigurationSpace, *, seed: int, budget: Budget) -> None:
        super().__init__(space, seed=seed, budget=budget)
        from smac import Scenario

        self._output = tempfile.TemporaryDirectory(prefix="hpobench-smac-")
        scenario_kwargs: dict[str, Any] = dict(
            deterministic=True, n_trials=_MAX_SMAC_TRIALS, seed=seed, output_directory=self._output.name
        )
        if self.multi_fidelity:
            scenario_kwargs.update(min_budget=budget.min_fidelity, max_budget=1.0)
        self._smac = self._facade(Scenario(space, **scenario_kwargs))

    def _facade(self, scenario: Any) -> Any:
        """The SMAC facade built on ``scenario``."""
        raise NotImplementedError

    def ask(self) -> Proposal:
        info = self._smac.ask()
        fidelity = float(info.budget) if self.multi_fidelity and info.budget is not None else 1.0
        return Proposal(config_dict(info.config), fidelity=min(fidelity, 1.0), token=info)

    def tell(self, proposal: Proposal, score: float) -> None:
        from smac.runhistory.dataclasses import TrialValue

        self._smac.tell(proposal.token, TrialValue(cost=-score))

    def close(self) -> None:
        self._output.cleanup()


class SMAC(SMACBase):
    def _facade(self, scenario: Any) -> Any:
        from smac import HyperparameterOptimizationFacade as Facade

        return Facade(scenario, ask_tell_target, overwrite=True, logging_level=40)
