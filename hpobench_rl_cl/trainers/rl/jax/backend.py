"""The ``jax`` backend: a batch of (configuration, seed) trials trained in one jitted, vmapped call.

Each algorithm is a module (:data:`ALGORITHMS`) with ``SUPPORTED`` (the configuration keys it
takes), ``split_config`` (a configuration as its shape, its per-trial values and its checkpoint
steps) and ``make_trainer`` (a :class:`~.common.Trainer` of one shape). Trials share a call when
their shape is equal (the batch key: what changes shapes or loop structure); everything else varies
per trial inside the batch. The loop lengths among it (the run's length and checkpoints, PPO's
epochs: :class:`~.common.RunLength`) reach the compiled code at call time, so every run length of
one shape runs one compiled function. A call is padded to the next of a few fixed sizes (repeating
its first trial), so a shape compiles once per size, and compiled code is kept in JAX's persistent
cache (``$HPOBENCH_DATA_DIR/jax-cache``), so once per machine.

A trial's random streams come from its own seed only (``PRNGKey(seed)`` for training,
``PRNGKey(seed + 1,000,000)`` for evaluation), never from its position in a batch. Its score is
bit-reproducible given its batch layout, recorded in its notes (size, position, key): XLA's batched
kernels round differently from a lone trial's, so the same trial alone and in a batch agree in its
first update (tested within 1e-5) and drift apart as training amplifies rounding.
"""

from __future__ import annotations

import importlib
import os
import time
from collections import OrderedDict
from types import ModuleType
from typing import Any, Callable, Hashable, Mapping, Sequence

from ...base import TrainerBackend, Trial, TrialResult, data_dir, gpu_unit, host_info
from ...schedule import checked_segments, is_schedule, segments_of
from ..spec import RLTrainSpec

#: Padded batch sizes: a call of n trials compiles for the smallest of these that holds them.
PAD_SIZES = (1, 2, 4, 5, 8, 10, 16, 32, 64, 128, 256, 512)  # 5 and 10: the shipped protocols' seeds
#: The most trials the runner puts in one call (larger calls pay on a GPU: the benchmarks make them).
RUNNER_BATCH = 64
#: Algorithm name -> its module in this package.
ALGORITHMS = {"PPO": "ppo", "DQN": "dqn", "SAC": "sac", "TD3": "td3"}


class CompiledCache:
    """Compiled functions by key, the ``limit`` most recently used kept. Each compiled XLA CPU
    executable holds about 1,100 memory mappings (measured: a PPO shape), and Linux allows a process
    65,530 (``vm.max_map_count``): a study that reaches some 56 shapes (DEHB's first bracket asks for
    about 190) died with "LLVM compilation error: Cannot allocate memory". An evicted shape that
    comes back loads from the persistent compilation cache instead of compiling again."""

    def __init__(self, limit: int = 16) -> None:
        self.limit = limit
        self._entries: OrderedDict[Hashable, Any] = OrderedDict()

    def get(self, key: Hashable, build: Callable[[], Any]) -> Any:
        if key in self._entries:
            self._entries.move_to_end(key)
        else:
            self._entries[key] = build()
            while len(self._entries) > self.limit:
                self._entries.popitem(last=False)
        return self._entries[key]

    def __len__(self) -> int:
        return len(self._entries)


_COMPILED = CompiledCache()


def configure_jax() -> None:
    """No preallocation (RL and CL share a GPU), and the persistent compilation cache."""
    os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")
    import jax

    jax.config.update("jax_compilation_cache_dir", str(data_dir() / "jax-cache"))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)


def algorithm_module(algorithm: str) -> ModuleType:
    return importlib.import_module(f"{__package__}.{ALGORITHMS[algorithm]}")


def _shape_of(spec: RLTrainSpec, trial: Trial) -> Any:
    return algorithm_module(spec.algorithm).split_config(trial.config, spec, trial.budget)


class JaxBackend(TrainerBackend):
    """PPO, DQN, SAC and TD3 on gymnax environments, a whole group of trials per compiled call."""

    max_batch = RUNNER_BATCH
    trains_in_segments = True
    carry_shaping = frozenset({"n_envs", "buffer_size", "policy_kwargs", "policy"})

    def batch_key(self, spec: RLTrainSpec, trial: Trial) -> Hashable:
        try:
            shapes = tuple(_shape_of(spec, Trial(c, trial.seed, trial.budget))[0] for c in segments_of(trial.config))
        except ValueError as error:  # trained (and reported crashed) on its own
            return ("unsupported", str(error), trial.config_hash)
        return shapes if is_schedule(trial.config) else shapes[0]

    def segmented(self, spec: RLTrainSpec, seeds: Sequence[int], budget: int) -> Any:
        """A :class:`~.segments.SegmentedTraining` of one slot per seed (population-based tools)."""
        from .segments import SegmentedTraining

        return SegmentedTraining(spec, seeds, budget, spec.device)

    def resources(self, spec: RLTrainSpec, workers: Sequence[Mapping[str, Any]]) -> dict[str, float]:
        return gpu_unit(spec.device, workers)

    def check_protocol(self, protocol: Any) -> None:
        from ....errors import ProtocolError
        from .envs import env_ids
        from .minigrid import XMINIGRID_IDS

        if protocol.algorithm not in ALGORITHMS:
            raise ProtocolError(f"{protocol.source_path}: the jax backend trains {', '.join(ALGORITHMS)}, "
                                f"not {protocol.algorithm}")
        if protocol.env_id not in env_ids():
            raise ProtocolError(f"{protocol.source_path}: the jax backend has no {protocol.env_id!r} "
                                f"(it has {', '.join(env_ids())})")
        if protocol.env_id in XMINIGRID_IDS and protocol.algorithm != "DQN":
            raise ProtocolError(f"{protocol.source_path}: the jax backend trains DQN on MiniGrid (the RL paper's "
                                f"MiniGrid algorithm), not {protocol.algorithm}")
        self.check_config(protocol, protocol.hand_tuned_run_config()[0], f"{protocol.source_path}: hand-tuned")
        self.check_config(protocol, protocol.base_config, f"{protocol.source_path}: base_config")

    def check_config(self, protocol: Any, config: Mapping[str, Any], where: str) -> None:
        from ....errors import UserError
        from ..run_config import check_values

        segments = checked_segments(config, where)
        spec = protocol.train_specs("cpu")["tuning"]
        for segment in segments:
            check_values(segment, where)
            try:  # what the trainer itself refuses (unknown keys, gSDE, indivisible batches, ...)
                algorithm_module(protocol.algorithm).split_config(segment, spec, protocol.full_fidelity)
            except ValueError as error:
                raise UserError(f"{where}: {error}") from None

    def accepted_hyperparameters(self, protocol: Any) -> set[str]:
        return set(algorithm_module(protocol.algorithm).SUPPORTED)

    def trained_units(self, spec: RLTrainSpec, config: Mapping[str, Any], budget: int) -> int:
        """Whole rollouts (PPO) or collections (DQN), as SB3 trains them (a schedule: its longest)."""
        try:
            rollout = max(algorithm_module(spec.algorithm).split_config(c, spec, budget)[0].rollout
                          for c in segments_of(config))
        except ValueError:  # trained as crashed: nothing
            return budget
        return -(-budget // rollout) * rollout

    def train_batch(self, spec: RLTrainSpec, trials: Sequence[Trial]) -> list[TrialResult]:
        if is_schedule(trials[0].config):
            return self._train_schedules(spec, trials)
        try:
            shapes = [_shape_of(spec, trial) for trial in trials]
        except ValueError as error:
            return [_crashed(spec, f"ValueError: {error}") for _ in trials]
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        try:
            scores = _train(spec.algorithm, shapes[0][0], [hyper for _, hyper, _ in shapes], [t.seed for t in trials],
                            spec.device)
        except Exception as error:  # noqa: BLE001 - a failing batch is crashed trials, never a dead study
            return [_crashed(spec, f"{type(error).__name__}: {error}") for _ in trials]
        wall, cpu = time.perf_counter() - start_wall, time.process_time() - start_cpu
        padded = next(size for size in PAD_SIZES if size >= len(trials))
        host = host_info()
        results = []
        for position, (shape, _, steps) in enumerate(shapes):
            curve = [(int(step), float(score)) for step, score in zip(steps, scores[position])]
            results.append(_scored(spec, curve, wall / len(trials), cpu / len(trials),
                                   -(-shape.total_timesteps // shape.rollout) * shape.rollout,
                                   {"batch": {"size": padded, "trials": len(trials), "position": position,
                                              "key": repr(shape)}}, host))
        return results


    def _train_schedules(self, spec: RLTrainSpec, trials: Sequence[Trial]) -> list[TrialResult]:
        from ...schedule import train_schedules

        start_wall, start_cpu = time.perf_counter(), time.process_time()
        try:
            training = self.segmented(spec, [t.seed for t in trials], trials[0].budget)
            curves, trained = train_schedules(training, [t.config for t in trials], trials[0].budget)
        except Exception as error:  # noqa: BLE001 - a failing batch is crashed trials, never a dead study
            return [_crashed(spec, f"{type(error).__name__}: {error}") for _ in trials]
        wall, cpu = time.perf_counter() - start_wall, time.process_time() - start_cpu
        host = host_info()
        return [_scored(spec, curve, wall / len(trials), cpu / len(trials), units,
                        {"batch": {"schedule_trials": len(trials), "position": position}}, host)
                for position, (curve, units) in enumerate(zip(curves, trained))]


def _scored(spec: RLTrainSpec, curve: list[tuple[int, float]], wall: float, cpu: float, trained: int,
            notes: dict[str, Any], host: Any) -> TrialResult:
    """A trial's result from its learning curve (a non-finite final score: crashed)."""
    final = curve[-1][1]
    ok = final == final and abs(final) != float("inf")
    return TrialResult(score=final if ok else spec.worst_score, status="ok" if ok else "crashed",
                       curve=curve if ok else [], wall_s=wall, cpu_s=cpu,
                       error=None if ok else f"FloatingPointError: final score is {final}",
                       trained=trained, notes=notes, host=host)


def _crashed(spec: RLTrainSpec, error: str) -> TrialResult:
    return TrialResult(spec.worst_score, "crashed", [], 0.0, 0.0, error=error, host=host_info())


def jax_device(requested: str) -> Any:
    """``auto``: a GPU when JAX sees one (``pip install -e ".[gpu]"``), else the CPU."""
    import jax

    from ....errors import UserError

    gpus = [d for d in jax.devices() if d.platform == "gpu"]
    if requested == "cuda" and not gpus:
        raise UserError("--device cuda asked for, but JAX sees no GPU (install the gpu extra)")
    return gpus[0] if gpus and requested != "cpu" else jax.devices("cpu")[0]


def _train(algorithm: str, shape: Any, hypers: list[Any], seeds: list[int], device: str) -> Any:
    """Scores (trials x checkpoints) of one padded, compiled, vmapped call."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    from .common import EVAL_SEED_OFFSET, compiled_shape, learning_curve, stacked_batch

    configure_jax()
    size = next(s for s in PAD_SIZES if s >= len(seeds))
    pad = size - len(seeds)
    hypers, seeds = hypers + [hypers[0]] * pad, seeds + [seeds[0]] * pad
    key = compiled_shape(shape)
    with jax.default_device(jax_device(device)):
        stacked, axes = stacked_batch(hypers)

        def build() -> Any:
            trainer = algorithm_module(algorithm).make_trainer(key)
            return jax.jit(jax.vmap(learning_curve(trainer, shape.eval_episodes), in_axes=(axes, 0, 0)))

        train = _COMPILED.get((algorithm, key, size), build)
        keys = jnp.stack([jax.random.PRNGKey(s) for s in seeds])
        eval_keys = jnp.stack([jax.random.PRNGKey(s + EVAL_SEED_OFFSET) for s in seeds])
        return np.asarray(train(stacked, keys, eval_keys))[: size - pad]
