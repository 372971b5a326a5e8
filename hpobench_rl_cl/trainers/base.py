"""What the runner hands a trainer backend, what comes back, and what a backend declares.

A backend trains *batches*: the runner groups trials by the backend's :meth:`~TrainerBackend.batch_key`,
cuts each group to at most :attr:`~TrainerBackend.max_batch` trials and submits each piece as one
call of :meth:`~TrainerBackend.train_batch` on one worker. The SB3 and Avalanche backends take one
trial per call (``max_batch = 1``); a batched backend trains a whole group in one compiled call.

Everything here is light (no torch, SB3 or Avalanche): protocols, the runner and the store import it.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import threading
import time
import traceback
from abc import ABC, abstractmethod
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Hashable, Iterator, Mapping, Sequence

from ..registry import Registry


def data_dir() -> Path:
    """Where trainers cache what they make once per machine (rendered glyphs, compiled JAX code):
    ``$HPOBENCH_DATA_DIR``, default ``~/.cache/hpobench-rl-cl``."""
    return Path(os.environ.get("HPOBENCH_DATA_DIR", Path.home() / ".cache" / "hpobench-rl-cl"))


def config_hash(config: Mapping[str, Any]) -> str:
    """Stable short hash of a configuration: key order does not matter; ``1e-3`` and ``0.001`` are the
    same float, while ``1`` and ``1.0`` (an int and a float) hash differently."""
    canonical = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class Trial:
    """One training: a configuration on one seed for ``budget`` units of the protocol (RL: env
    steps; CL: epochs per experience)."""

    config: dict[str, Any]
    seed: int
    budget: int

    @property
    def config_hash(self) -> str:
        return config_hash(self.config)


@dataclass
class TrialResult:
    """A finished trial. ``status`` is ``ok`` or ``crashed`` (then ``score`` is the protocol's worst).
    ``trained``: what the trial really trained, in the protocol's unit (None: unknown)."""

    score: float
    status: str
    curve: list[tuple[int, float]]
    wall_s: float
    cpu_s: float
    error: str | None = None
    trained: int | None = None
    notes: dict[str, Any] = field(default_factory=dict)
    host: dict[str, Any] = field(default_factory=dict)


def resolve_device(requested: str = "auto", *, prefer_gpu: bool) -> str:
    """``auto``: CUDA when the trainer benefits from it (``prefer_gpu``) and a GPU is present, else
    CPU. MLP policies train faster on one CPU core than on a GPU (measured 3,484 vs 1,628 steps/s
    for PPO CartPole on an H200); CNNs on images belong on the GPU."""
    import torch

    from ..errors import UserError

    if requested not in ("auto", "cpu", "cuda"):
        raise UserError(f"unknown device {requested!r}; choose auto, cpu or cuda")
    if requested == "cuda" and not torch.cuda.is_available():
        raise UserError("--device cuda asked for, but torch sees no CUDA device")
    if requested != "auto":
        return requested
    return "cuda" if prefer_gpu and torch.cuda.is_available() else "cpu"


def host_info() -> dict[str, Any]:
    """Where and with what math a trial trained (called in the training process): the machine,
    torch's version, threads and math backends, and NumPy's BLAS."""
    import sys

    from .. import provenance

    info: dict[str, Any] = provenance.machine()
    torch = sys.modules.get("torch")
    if torch is not None:
        info["torch"] = {"version": torch.__version__, "threads": torch.get_num_threads(),
                         "mkl": torch.backends.mkl.is_available(), "mkldnn": torch.backends.mkldnn.is_available(),
                         "deterministic": torch.are_deterministic_algorithms_enabled(),
                         "cuda": torch.version.cuda if torch.cuda.is_available() else None}
    try:
        from threadpoolctl import threadpool_info

        info["blas"] = [{k: pool.get(k) for k in ("internal_api", "version", "num_threads", "architecture")}
                        for pool in threadpool_info()]
    except ImportError:
        pass
    return info


TrainingBody = Callable[[list[tuple[int, float]], dict[str, Any]], float]


def guarded_trial(worst_score: float, body: TrainingBody) -> TrialResult:
    """Run ``body(curve, notes)`` (it fills both and returns the final score) as one timed trial;
    ``notes["trained"]``, set by the body, is what it really trained.

    Never raises: any failure, or a score that is not finite, becomes a ``crashed`` result carrying
    its error and the protocol's worst score, so one bad configuration cannot stop a study.
    """
    wall_start, cpu_start = time.perf_counter(), time.process_time()
    curve: list[tuple[int, float]] = []
    notes: dict[str, Any] = {}
    try:
        score = body(curve, notes)
        if not math.isfinite(score):
            raise FloatingPointError(f"final score is {score}")
        status, error = "ok", None
    except Exception as exc:  # noqa: BLE001 - any failure inside the training library is a crashed trial
        score, status = worst_score, "crashed"
        error = f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=3)}"
    return TrialResult(
        score=float(score),
        status=status,
        curve=[(int(s), float(v) if math.isfinite(v) else worst_score) for s, v in curve],
        wall_s=time.perf_counter() - wall_start,
        cpu_s=time.process_time() - cpu_start,
        error=error,
        trained=notes.pop("trained", None),
        notes=notes,
        host=host_info(),
    )


@contextmanager
def own_python_random(seed: int) -> Iterator[None]:
    """Python's module-level ``random`` functions, called from this thread, draw from a generator of
    the trial's own, seeded with ``seed``; other threads keep the shared one.

    A Dask worker's own threads draw from the shared generator while a trial trains (heartbeat
    jitter), so a library that calls ``random.shuffle`` mid-trial (Avalanche's A-GEM picks its
    memory so) got a result that depended on timing: the same trial scored differently per run."""
    trial_thread, private = threading.get_ident(), random.Random(seed)
    shared = {name: function for name in random.__all__
              if isinstance(getattr(function := getattr(random, name), "__self__", None), random.Random)}

    def routed(name: str) -> Callable[..., Any]:
        own, other = getattr(private, name), shared[name]
        return lambda *args, **kwargs: (own if threading.get_ident() == trial_thread else other)(*args, **kwargs)

    for name in shared:
        setattr(random, name, routed(name))
    try:
        yield
    finally:
        for name, function in shared.items():
            setattr(random, name, function)


def gpu_unit(device: str, workers: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """One ``GPU`` resource unit for a call that may use CUDA (``auto`` or ``cuda``), when the
    cluster's workers declare that resource (``dask worker ... --resources GPU=4``); else none."""
    may_use_gpu = device in ("auto", "cuda")
    return {"GPU": 1} if may_use_gpu and any("GPU" in w.get("resources", {}) for w in workers) else {}


class TrainerBackend(ABC):
    """Trains batches of trials; subclasses register under a name in :data:`BACKENDS`.

    What the runner relies on: :meth:`train_batch` returns exactly one result per trial, in order,
    and never raises for a failing trial (it returns a ``crashed`` result instead).
    """

    #: The most trials one call trains.
    max_batch: int = 1
    #: Trains in segments with each trial's state kept between calls (population-based tools).
    trains_in_segments: bool = False
    #: Hyperparameters that shape a trial's state, which a population-based tool never changes mid-run.
    carry_shaping: frozenset[str] = frozenset()

    def batch_key(self, spec: Any, trial: Trial) -> Hashable:
        """Trials with equal keys may share a call (a batched backend: the shape-changing
        hyperparameters). The default puts every trial in one group, which ``max_batch = 1`` splits."""
        return None

    def resources(self, spec: Any, workers: Sequence[Mapping[str, Any]]) -> dict[str, float]:
        """Dask resources one call needs, given the cluster's workers (default: none, any worker)."""
        return {}

    def check_protocol(self, protocol: Any) -> None:
        """Refuse, with a :class:`~hpobench_rl_cl.errors.ProtocolError`, what this backend cannot train."""

    def check_config(self, protocol: Any, config: Mapping[str, Any], where: str) -> None:
        """Refuse, with a :class:`~hpobench_rl_cl.errors.UserError` naming the key, a configuration
        value no trial could train with (so it fails before training, not in every trial)."""

    def check_ready(self, protocol: Any) -> None:
        """Refuse, before the first trial, a protocol this machine cannot train now (its data is missing)."""

    def trained_units(self, spec: Any, config: Mapping[str, Any], budget: int) -> int:
        """What a trial of ``config`` asked for ``budget`` units really trains (default: exactly that);
        the runner charges a tool for this, before the trial runs."""
        return budget

    def accepted_hyperparameters(self, protocol: Any) -> set[str] | None:
        """The names a configuration of ``protocol`` may set (None: this backend does not say)."""
        return None

    def segmented(self, spec: Any, seeds: Sequence[int], budget: int) -> Any:
        """Slots trained segment by segment (``start``, ``advance``, ``copy_learner``, ``state``,
        ``restore``: see the jax backend's ``SegmentedTraining``); only when ``trains_in_segments``."""
        raise NotImplementedError(f"{type(self).__name__} does not train in segments")

    @abstractmethod
    def train_batch(self, spec: Any, trials: Sequence[Trial]) -> list[TrialResult]:
        """Train ``trials`` (one group, at most ``max_batch``); one result per trial, in order."""


BACKENDS: Registry[type[TrainerBackend]] = Registry("trainer backend", "hpobench_rl_cl.backends", {
    "sb3": "hpobench_rl_cl.trainers.rl.sb3:SB3Backend",
    "jax": "hpobench_rl_cl.trainers.rl.jax.backend:JaxBackend",
    "avalanche": "hpobench_rl_cl.trainers.cl.avalanche:AvalancheBackend",
})
