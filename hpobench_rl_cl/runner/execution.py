"""Where trials run, and the cache that makes reruns resume.

An :class:`Executor` runs calls: :class:`InlineExecutor` in this process, one call at a time
(``--workers 1``: no cluster, no port opened), or :class:`DaskExecutor` on a Dask cluster, local
(one single-threaded worker process per ``--workers``) or remote. On Dask, a worker that dies
mid-call gets its call retried once (Dask's ``allowed-failures``); a second death stores the
call's trials as crashed.

:class:`TrialRunner` turns trials into backend calls: it skips trials the store already holds,
groups the rest by the backend's :meth:`~hpobench_rl_cl.trainers.base.TrainerBackend.batch_key`,
cuts the groups to the backend's ``max_batch`` and submits each piece as one call.
"""

from __future__ import annotations

import logging
from collections import deque
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Sequence

from ..errors import BackendError
from ..store.sqlite_store import ResultStore, TrialKey
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


class WorkerLost(Exception):
    """The worker training a call died more often than Dask retries it."""


class Call:
    """One submitted backend call; ``result()`` returns its list of trial results."""

    def __init__(self, run: Callable[[], list[TrialResult]]) -> None:
        self._run = run

    def result(self) -> list[TrialResult]:
        return self._run()


class InlineExecutor:
    """Runs each call in this process when the runner waits for it, in submission order."""

    workers = 1

    def __init__(self) -> None:
        self._queue: deque[Call] = deque()

    def worker_info(self) -> list[dict[str, Any]]:
        return []

    def submit(self, function: Callable[..., list[TrialResult]], *args: Any, resources: dict[str, float]) -> Call:
        call = Call(lambda: function(*args))
        self._queue.append(call)
        return call

    def next_done(self) -> Call:
        return self._queue.popleft()


class DaskExecutor:
    """Calls as Dask tasks on ``client``'s cluster, collected as they finish."""

    def __init__(self, client: Any) -> None:
        from distributed import as_completed

        self.client = client
        self._done = as_completed()
        self._calls: dict[str, Call] = {}

    @property
    def workers(self) -> int:
        return max(sum(self.client.nthreads().values()), 1)

    def worker_info(self) -> list[dict[str, Any]]:
        return list(self.client.scheduler_info().get("workers", {}).values())

    def submit(self, function: Callable[..., list[TrialResult]], *args: Any, resources: dict[str, float]) -> Call:
        future = self.client.submit(function, *args, pure=False, **({"resources": resources} if resources else {}))
        self._done.add(future)

        def result() -> list[TrialResult]:
            from distributed.scheduler import KilledWorker

            try:
                return future.result()
            except KilledWorker as error:
                raise WorkerLost(str(error)) from None

        call = Call(result)
        self._calls[future.key] = call
        return call

    def next_done(self) -> Call:
        return self._calls.pop(next(self._done).key)


@contextmanager
def executor(workers: int = 1, scheduler: str | None = None, scheduler_file: str | None = None) -> Iterator[Any]:
    """An executor on an existing cluster (``scheduler`` address or file), on a new local cluster of
    ``workers`` processes, or in this process (one worker)."""
    if workers == 1 and not (scheduler or scheduler_file):
        yield InlineExecutor()
        return
    import dask
    from distributed import Client, LocalCluster

    if scheduler or scheduler_file:
        with Client(address=scheduler, scheduler_file=scheduler_file) as client:
            yield DaskExecutor(client)
        return
    with dask.config.set({"distributed.scheduler.allowed-failures": WORKER_DEATHS_BEFORE_CRASH, **QUIET_DASK}):
        with LocalCluster(
            n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1", dashboard_address=None,
            silence_logs=logging.ERROR, memory_limit=0,
        ) as cluster, Client(cluster) as client:
            yield DaskExecutor(client)


@dataclass
class PendingTrial:
    """A trial on its way: where it belongs, what it trains, and what to do when it is done."""

    key: TrialKey
    trial: Trial
    fidelity: float
    eval_index: int | None
    on_done: Callable[["PendingTrial", TrialResult], None]


class TrialRunner:
    """Submits trials to a backend in batches, skipping those the store already holds.

    ``specs`` maps each phase to the trainer specification its trials get (a CL protocol gives the
    tuning phase a specification that names only the tuning dataset)."""

    def __init__(self, executor: Any, backend: TrainerBackend, backend_name: str, specs: dict[str, Any],
                 store: ResultStore, on_progress: Callable[[TrialResult, bool], None] | None = None) -> None:
        self.executor = executor
        self.backend = backend
        self.backend_name = backend_name
        self.specs = specs
        self.store = store
        self.on_progress = on_progress
        self._calls: dict[int, list[PendingTrial]] = {}

    @property
    def capacity(self) -> int:
        """Trials that can train at once: every worker busy with a full batch."""
        return self.executor.workers * self.backend.max_batch

    @property
    def in_flight(self) -> int:
        return sum(len(pendings) for pendings in self._calls.values())

    @property
    def free(self) -> int:
        return max(self.capacity - self.in_flight, 0)

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
        for call_trials in self._group(to_run):
            spec = self.specs[call_trials[0].key.phase]
            resources = self.backend.resources(spec, self.executor.worker_info())
            call = self.executor.submit(self.backend.train_batch, spec, [p.trial for p in call_trials],
                                        resources=resources)
            self._calls[id(call)] = call_trials

    def _group(self, pendings: list[PendingTrial]) -> list[list[PendingTrial]]:
        """Pieces of at most ``max_batch`` trials sharing a phase and a batch key, in first-seen order."""
        groups: dict[Any, list[PendingTrial]] = {}
        for pending in pendings:
            key = (pending.key.phase, self.backend.batch_key(self.specs[pending.key.phase], pending.trial))
            groups.setdefault(key, []).append(pending)
        size = self.backend.max_batch
        return [group[i:i + size] for group in groups.values() for i in range(0, len(group), size)]

    def wait_one(self) -> None:
        """Block until one call finishes; store its trials and call their ``on_done``."""
        call = self.executor.next_done()
        pendings = self._calls.pop(id(call))
        try:
            results = call.result()
        except WorkerLost as error:
            worst = self.specs[pendings[0].key.phase].worst_score
            results = [TrialResult(worst, "crashed", [], 0.0, 0.0, error=f"worker died twice while training: {error}")
                       for _ in pendings]
        if not isinstance(results, list) or len(results) != len(pendings):
            count = len(results) if isinstance(results, list) else type(results).__name__
            raise BackendError(f"backend {self.backend_name!r} returned {count} results for a batch of "
                               f"{len(pendings)} trials")
        for pending, result in zip(pendings, results):
            self.store.put(pending.key, pending.trial.config, pending.fidelity, result, pending.eval_index)
            self._finish(pending, result, from_store=False)

    def drain(self) -> None:
        while self._calls:
            self.wait_one()

    def _finish(self, pending: PendingTrial, result: TrialResult, *, from_store: bool) -> None:
        if self.on_progress:
            self.on_progress(result, from_store)
        pending.on_done(pending, result)
