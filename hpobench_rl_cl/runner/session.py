"""A session: a store, an executor and a progress bar around one or more studies.

What the API, the reproductions and the command line open to run anything: ``Session.study``
opens (or resumes) one study; ``Session.run_studies`` runs and exports the studies of a protocol
(one for RL, one per strategy for CL).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..analysis.cl_metrics import compare_strategies
from ..analysis.results import finished_summary
from ..errors import UserError
from ..protocol import BenchmarkProtocol
from ..store.export import export_comparison, export_study
from ..store.sqlite_store import ResultStore
from ..trainers.base import BACKENDS


def study_id_for(protocol: BenchmarkProtocol, optimizer: str, hpo_seed: int) -> str:
    return f"{protocol.name}-{protocol.scale}-{optimizer}-s{hpo_seed}"


def comparison_id_for(suite: str, scale: str, optimizer: str, hpo_seed: int) -> str:
    return f"{suite}-{scale}-{optimizer}-s{hpo_seed}"


def expected_trials(protocols: list[BenchmarkProtocol]) -> int:
    """Trials of whole studies of ``protocols`` at full fidelity (the progress bar's total)."""
    return sum(round(p.budget_full_runs) * len(p.tuning_seeds) + 2 * len(p.held_out_seeds) for p in protocols)


class Session:
    """Use as a context manager: ``with Session("runs", workers=2, total=40, label="x") as session``."""

    def __init__(self, store_dir: str | Path, *, workers: int | None = None, scheduler: str | None = None,
                 scheduler_file: str | None = None, progress: bool = True, total: int = 0, label: str = "") -> None:
        self.store_dir, self.workers, self.scheduler, self.scheduler_file = store_dir, workers, scheduler, scheduler_file
        self.progress, self.total, self.label = progress, total, label

    def __enter__(self) -> "Session":
        from tqdm import tqdm

        from .execution import executor

        if self.workers is None:
            self.workers = os.cpu_count() or 1
        if self.workers < 1:
            raise UserError(f"--workers must be at least 1, got {self.workers}")
        self.store = ResultStore(self.store_dir)
        self._executor_context = executor(self.workers, self.scheduler, self.scheduler_file)
        self.executor = self._executor_context.__enter__()
        self.bar = tqdm(total=self.total, desc=self.label, unit="trial", disable=not self.progress, dynamic_ncols=True)
        return self

    def __exit__(self, *exc: Any) -> None:
        self.bar.close()
        self._executor_context.__exit__(*exc)
        self.store.close()

    def study(self, protocol: BenchmarkProtocol, study_id: str, optimizer: str, hpo_seed: int, device: str) -> Any:
        """Open (or resume) ``study_id`` in the store and return its :class:`~.study.Study`."""
        from .. import provenance
        from .execution import TrialRunner
        from .study import Study

        self.store.open_study(
            study_id, family=protocol.family, protocol_name=protocol.name, scale=protocol.scale,
            protocol_hash=protocol.hash, protocol_content=protocol.content(), optimizer=optimizer,
            hpo_seed=hpo_seed, provenance=provenance.collect(),
        )

        def on_progress(result: Any, from_store: bool) -> None:
            self.bar.update(1)
            self.bar.set_postfix_str("resumed" if from_store else f"last score {result.score:.1f}")

        runner = TrialRunner(self.executor, BACKENDS.get(protocol.backend)(), protocol.backend,
                             protocol.train_specs(device), self.store, on_progress)
        return Study(protocol, optimizer, hpo_seed, self.store, runner, study_id)

    def run_studies(self, protocols: list[BenchmarkProtocol], optimizer: str, hpo_seed: int, device: str,
                    results: str | Path, study_name: str | None = None, strategy: str | None = None) -> dict[str, Any]:
        """One study per protocol (an RL protocol, or each strategy of a CL protocol; with
        ``strategy``, that strategy's alone), exported; returns the RL study's summary, or the CL
        strategies' comparison.

        The comparison takes the strategies not run here from their finished exports under
        ``results``, so one strategy's study can be added or run again on its own. While a
        strategy's study is missing there, no comparison is written and the study run comes back
        with ``comparison_missing``: the study ids still to run."""
        study_ids = [f"{study_name}-{p.strategy}" if study_name and p.family == "cl" else
                     study_name or study_id_for(p, optimizer, hpo_seed) for p in protocols]
        chosen = [(p, i) for p, i in zip(protocols, study_ids) if strategy is None or p.strategy == strategy]
        self.bar.set_description(chosen[0][1] if len(chosen) == 1 else protocols[0].name)
        # The other strategies' exports are checked before anything trains.
        chosen_ids = {i for _, i in chosen}
        summaries = {i: finished_summary(Path(results) / "cl" / f"{i}.csv", p.hash)
                     for p, i in zip(protocols, study_ids) if i not in chosen_ids}
        for protocol, study_id in chosen:
            summaries[study_id] = self.study(protocol, study_id, optimizer, hpo_seed, device).run()
            export_study(self.store, study_id, results)
        if protocols[0].family == "rl":
            return summaries[study_ids[0]]
        missing = [study_id for study_id in study_ids if summaries[study_id] is None]
        if missing:
            return {**summaries[chosen[0][1]], "comparison_missing": missing}
        scale = protocols[0].scale
        label = study_name or comparison_id_for(protocols[0].suite, scale, optimizer, hpo_seed)
        comparison = {"comparison_id": label, "protocol": protocols[0].suite, "scale": scale, "optimizer": optimizer,
                      "hpo_seed": hpo_seed, "family": "cl", "held_out_phase": protocols[0].held_out_phase,
                      **compare_strategies({p.strategy: summaries[i] for p, i in zip(protocols, study_ids)}),
                      "studies": [summaries[i] for i in study_ids]}
        export_comparison(comparison, results)
        return comparison
