"""The ask/tell interface every HPO tool implements, and the registry that finds tools by name.

The runner owns the budget, the seeds and the store; a tool only proposes configurations and
learns their scores. ``ask`` returns what to evaluate next (a :class:`Proposal`: a configuration
and a fidelity, the fraction of a full run); ``ask_batch`` several at once, for a runner with several
free workers or a batched backend; ``tell`` reports a score, higher is better, already averaged
over all the protocol's tuning seeds. Adding a tool is one file and one entry in :data:`OPTIMIZERS`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Mapping

from ConfigSpace import Configuration, ConfigurationSpace

from ..registry import Registry


def plain(value: Any) -> Any:
    """A JSON-able Python value from a ConfigSpace/NumPy one."""
    return value.item() if hasattr(value, "item") else value


def config_dict(configuration: Configuration | Mapping[str, Any]) -> dict[str, Any]:
    return {name: plain(value) for name, value in dict(configuration).items()}


@dataclass(frozen=True)
class Proposal:
    """A tool's proposal: a configuration of the search space at a fidelity in (0, 1].

    ``token`` is the tool's own handle (SMAC's TrialInfo, DEHB's job info), handed back in ``tell``.
    """

    config: dict[str, Any]
    fidelity: float = 1.0
    token: Any = None


@dataclass(frozen=True)
class Budget:
    """What every tool gets: full-run equivalents, and the smallest fidelity a tool may ask for."""

    full_runs: float
    min_fidelity: float


class Optimizer(ABC):
    """Base class of HPO tools, registered by name in :data:`OPTIMIZERS` (or an entry point)."""

    #: True for tools that ask for fidelities below 1 (they need a protocol with several levels).
    multi_fidelity: bool = False

    def __init__(self, space: ConfigurationSpace, *, seed: int, budget: Budget) -> None:
        self.space = space
        self.seed = seed
        self.budget = budget

    @abstractmethod
    def ask(self) -> Proposal | None:
        """The next configuration to evaluate, or None when the tool has nothing more to ask now."""

    def ask_batch(self, n: int) -> list[Proposal]:
        """Up to ``n`` proposals to evaluate at once, before any of them is told (fewer when the tool
        has nothing more to ask now). The default asks ``n`` times; a tool that has a batched ask of
        its own (DEHB) overrides it."""
        proposals = []
        for _ in range(n):
            proposal = self.ask()
            if proposal is None:
                break
            proposals.append(proposal)
        return proposals

    @abstractmethod
    def tell(self, proposal: Proposal, score: float) -> None:
        """The mean score over the tuning seeds of a configuration returned by ``ask``."""

    def close(self) -> None:
        """Release what the tool holds (threads, temporary folders)."""


OPTIMIZERS: Registry[type[Optimizer]] = Registry("HPO tool", "hpobench_rl_cl.optimizers", {
    "random": "hpobench_rl_cl.optimizers.random_search:RandomSearch",
    "smac": "hpobench_rl_cl.optimizers.smac:SMAC",
    "smac-mf": "hpobench_rl_cl.optimizers.smac_mf:SMACMultiFidelity",
    "dehb": "hpobench_rl_cl.optimizers.dehb:DEHBOptimizer",
    "tpe": "hpobench_rl_cl.optimizers.tpe:TPE",
    "pbt": "hpobench_rl_cl.optimizers.population:PBT",
    "pb2": "hpobench_rl_cl.optimizers.population:PB2",
})
