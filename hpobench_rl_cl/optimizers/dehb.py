"""DEHB (differential evolution + Hyperband), fidelity = fraction of the full run's timesteps.

Defaults are the RL paper's settings (how-to-autorl tuners/dehb.yaml): minimum fidelity 1e3
steps, eta 1.9, mutation factor 0.2. DEHB minimizes, so it is told the negated score.
"""

from __future__ import annotations

import tempfile

from ConfigSpace import ConfigurationSpace

from .base import Budget, Optimizer, Proposal, config_dict

ETA = 1.9
MUTATION_FACTOR = 0.2


class DEHBOptimizer(Optimizer):
    multi_fidelity = True

    def __init__(self, space: ConfigurationSpace, *, seed: int, budget: Budget) -> None:
        super().__init__(space, seed=seed, budget=budget)
        from dehb import DEHB

        self._output = tempfile.TemporaryDirectory(prefix="hpobench-dehb-")
        self._dehb = DEHB(
            cs=space, dimensions=len(space), min_fidelity=budget.min_fidelity, max_fidelity=1.0, eta=ETA,
            mutation_factor=MUTATION_FACTOR, n_workers=1, output_path=self._output.name, seed=seed,
            log_level="ERROR", save_freq=None,
        )

    def ask(self) -> Proposal:
        return self._proposal(self._dehb.ask())

    def ask_batch(self, n: int) -> list[Proposal]:
        jobs = self._dehb.ask(n)
        return [self._proposal(job) for job in (jobs if n > 1 else [jobs])]

    @staticmethod
    def _proposal(job: dict) -> Proposal:
        config = config_dict(job["config"])  # DEHB hands out a Configuration when given a ConfigSpace
        return Proposal(config, fidelity=min(float(job["fidelity"]), 1.0), token=job)

    def tell(self, proposal: Proposal, score: float) -> None:
        self._dehb.tell(proposal.token, {"fitness": -score, "cost": proposal.fidelity})

    def close(self) -> None:
        self._output.cleanup()
