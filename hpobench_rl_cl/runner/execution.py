"""Where trials run: a Dask cluster, local or remote; and the cache that makes reruns resume.

Local default: a ``distributed.LocalCluster`` with one single-threaded worker per requested
worker (``--workers``). With one worker the cluster lives in this process (no start-up cost).
A worker that dies mid-trial gets its trial retried once (Dask's ``allowed-failures``); a second
death is stored as a crashed trial.
"""

from __future__ import annotations

import logging
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import dask
from distributed import Client, LocalCluster, as_completed
from distributed.scheduler import KilledWorker

from ..store.sqlite_store import ResultStore, TrialKey
from typing import Any

from ..trainers.base import TrainerBackend, Trial, TrialResult

WORKER_DEATHS_BEFORE_CRASH = 1

# Dask's event loop wakes every 10-20 ms by default (profiler samples, tick watchdog) and takes the
# GIL from the training threads each time; trials are seconds to hours long, so slower
# housekeeping costs nothing and gives the trainings their core back.
QUIET_DASK = {
    "distributed.worker.profile.enabled": False,
    "distributed.admin.tick.interval": "1s",
    "distributed.admin.system-monitor.interval": "2s",
}


@contextmanager
def dask_client(workers: int = 1, scheduler: str | None = None, scheduler_file: str | None = None) -> Iterator[Client]:
    """A client on an existing cluster (``scheduler`` address or file), or on a new local one."""
    if scheduler or scheduler_file:
        with Client(address=scheduler, scheduler_file=scheduler_file) as client:
            yield client
        return
    with dask.config.set({"distributed.scheduler.allowed-failures": WORKER_DEATHS_BEFORE_CRASH, **QUIET_DASK}):
        processes = workers > 1
        with LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=processes, dashboard_address=None,
            silence_logs=logging.ERROR, **({"memory_limit": 0} if processes else {}),
        ) as cluster, Client(cluster) as client:
            yield client


@dataclass
class PendingTrial:
    """A trial on its way: where it belongs, what it trains, and what to do when it is done."""

    key: TrialKey
    trial: Trial
    fidelity: float
    eval_index: int | None
    on_done: Callable[["PendingTrial", TrialResult], None]


class TrialRunner:
    """Submits batches of trials to a backend, skipping those the store already holds.

    ``specs`` maps each phase to the trainer specification its trials get (a CL protocol gives the
    tuning phase a specification that names only the tuning dataset)."""

    def __init__(self, client: Client, backend: TrainerBackend, specs: dict[str, Any], store: ResultStore,
                 on_progress: Callable[[TrialResult, bool], None] | None = None) -> None:
        self.client = client
        self.backend = backend
        self.specs = specs
        self.store = store
        self.on_progress = on_progress
        self._futures = as_completed()
        self._pending: dict[str, PendingTrial] = {}

    @property
    def slots(self) -> int:
        return max(sum(self.client.nthreads().values()), 1)

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def submit(self, batch: Sequence[PendingTrial]) -> None:
        for pending in batch:
            self.store.check_seal(pending.key)
        to_run = []
        for pending in batch:
            stored = self.store.get(pending.key)
            if stored is not None:
                self._finish(pending, stored, from_store=True)
            else:
                to_run.append(pending)
        for phase in dict.fromkeys(p.key.phase for p in to_run):
            in_phase = [p for p in to_run if p.key.phase == phase]
            futures = self.backend.submit(self.client, self.specs[phase], [p.trial for p in in_phase])
            for future, pending in zip(futures, in_phase):
                self._pending[future.key] = pending
                self._futures.add(future)

    def wait_one(self) -> None:
        """Block until one running trial finishes; store it and call its ``on_done``."""
        future = next(self._futures)
        pending = self._pending.pop(future.key)
        try:
            result = future.result()
        except KilledWorker as error:
            result = TrialResult(self.specs[pending.key.phase].worst_score, "crashed", [], 0.0, 0.0,
                                 error=f"worker died twice while training: {error}")
        self.store.put(pending.key, pending.trial.config, pending.fidelity, result, pending.eval_index)
        self._finish(pending, result, from_store=False)

    def drain(self) -> None:
        while self._pending:
            self.wait_one()

    def _finish(self, pending: PendingTrial, result: TrialResult, *, from_store: bool) -> None:
        if self.on_progress:
            self.on_progress(result, from_store)
        pending.on_done(pending, result)
