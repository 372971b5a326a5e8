"""Aggregate env steps/s of the jax backend at 1, 8 and 32 trials per call vs the SB3 backend one
trial per core, on the same configurations, side by side in one run.

    python benchmarks/batched_throughput.py [--algorithms PPO DQN SAC] [--sizes 1 8 32] [--cores 2]
                                            [--steps PPO=20000 DQN=20000 SAC=2000] [--device cpu]

On a GPU machine (``pip install -c constraints.txt -e ".[gpu]"`` first), the issue's check, SB3 on
all 16 cores against 256 trials per call on the GPU, under 5 minutes:

    python benchmarks/batched_throughput.py --algorithms PPO --sizes 1 64 256 --cores 16 --device cuda \
        --steps PPO=20000 --settings paper

Per algorithm (PPO and DQN on CartPole, SAC on Pendulum; ``DQN-MiniGrid``: the CNN DQN on
MiniGrid-Empty-5x5 images, not run by default) two settings: ``paper`` (the
shape-changing hyperparameters of one draw from the RL paper's space, every other hyperparameter
drawn per trial: what one grouped call of a tuning batch looks like) and ``zoo`` (rl-zoo3's setting,
one trial per seed). SB3 runs ``--cores`` trials at once, one per core (separate processes); its
aggregate is their steps over the wall time. JAX on CPU runs ``--cores`` calls at once, one per
process, as the runner's workers do (on a GPU: one call); the first call of each size compiles
(reported apart), the second is timed.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from multiprocessing import get_context
from typing import Any

from hpobench_rl_cl.optimizers.base import config_dict
from hpobench_rl_cl.protocol import load_protocol
from hpobench_rl_cl.runner.study import run_config_for
from hpobench_rl_cl.trainers.base import BACKENDS, Trial

#: algorithm -> (SB3 protocol, jax protocol, the hyperparameters that form the jax batch key)
BENCHMARKS = {
    "PPO": ("ppo-cartpole", "ppo-cartpole-jax", ("n_steps", "batch_size", "n_epochs", "n_envs", "clip_range_vf")),
    "DQN": ("dqn-cartpole", "dqn-cartpole-jax", ("train_freq", "gradient_steps", "batch_size", "buffer_size")),
    "SAC": ("sac-pendulum", "sac-pendulum-jax", ("train_freq", "gradient_steps", "batch_size", "buffer_size")),
    "DQN-MiniGrid": ("dqn-minigrid", "dqn-minigrid-jax", ("train_freq", "gradient_steps", "batch_size", "buffer_size")),
}
STEPS = {"PPO": 20_000, "DQN": 20_000, "SAC": 2_000, "DQN-MiniGrid": 2_000}


def configurations(algorithm: str, setting: str, n: int) -> list[dict]:
    _, jax_protocol, shape_keys = BENCHMARKS[algorithm]
    protocol = load_protocol(jax_protocol, "paper")
    if setting == "zoo":
        return [protocol.hand_tuned_run_config()[0] for _ in range(n)]
    draws = [run_config_for(protocol, config_dict(c)) for c in protocol.search_space(seed=0).sample_configuration(n + 1)]
    return [{**draw, **{k: draws[0][k] for k in shape_keys if k in draws[0]}} for draw in draws[1:]]


def spec_for(algorithm: str, backend: str, device: str = "cpu") -> Any:
    """The backend's training spec, its full length the jax protocol's for both backends (so a
    shortened run scales ``learning_starts`` alike on both)."""
    sb3_name, jax_name, _ = BENCHMARKS[algorithm]
    full = load_protocol(jax_name, "paper").total_timesteps
    spec = load_protocol(sb3_name if backend == "sb3" else jax_name, "paper").train_specs("cpu")["tuning"]
    return replace(spec, full_timesteps=full, device=device if backend == "jax" else "cpu")


def sb3_trial(args: tuple[str, dict, int, int]) -> float:
    algorithm, config, seed, steps = args
    spec = spec_for(algorithm, "sb3")
    start = time.perf_counter()
    BACKENDS.get("sb3")().train_batch(spec, [Trial(config, seed, steps)])
    return time.perf_counter() - start


def sb3_aggregate(algorithm: str, configs: list[dict], steps: int, cores: int) -> float:
    with ProcessPoolExecutor(cores, mp_context=get_context("spawn")) as pool:  # no fork of a JAX process
        list(pool.map(sb3_trial, [(algorithm, configs[0], 0, 256)] * cores))  # imports and warm-up
        start = time.perf_counter()
        list(pool.map(sb3_trial, [(algorithm, c, i, steps) for i, c in enumerate(configs[:cores])]))
        return cores * steps / (time.perf_counter() - start)


def jax_call(args: tuple[str, list[dict], int, str]) -> None:
    algorithm, configs, steps, device = args
    results = BACKENDS.get("jax")().train_batch(spec_for(algorithm, "jax", device),
                                                [Trial(c, i, steps) for i, c in enumerate(configs)])
    assert all(r.status == "ok" for r in results), [r.error for r in results if r.status != "ok"][:1]


def jax_aggregate(algorithm: str, configs: list[dict], steps: int, device: str, processes: int) -> tuple[float, float]:
    """Env steps/s of ``processes`` calls at once, one per process, as the runner's workers train them
    (on CPU one per core; on a GPU one); each process's first call compiles and is timed apart."""
    jobs = [(algorithm, configs, steps, device)] * processes
    with ProcessPoolExecutor(processes, mp_context=get_context("spawn")) as pool:
        start = time.perf_counter()
        list(pool.map(jax_call, jobs))
        compile_and_run = time.perf_counter() - start
        start = time.perf_counter()
        list(pool.map(jax_call, jobs))
        run = time.perf_counter() - start
    return processes * len(configs) * steps / run, compile_and_run - run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--algorithms", nargs="+", default=["PPO", "DQN", "SAC"], choices=list(BENCHMARKS))
    parser.add_argument("--steps", nargs="+", default=[], help="ALGORITHM=STEPS per trial, e.g. SAC=2000")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--cores", type=int, default=2)
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"), help="where the jax backend trains")
    parser.add_argument("--settings", nargs="+", default=["paper", "zoo"], choices=("paper", "zoo"))
    args = parser.parse_args()
    steps_per_trial = {**STEPS, **{k: int(v) for k, v in (item.split("=") for item in args.steps)}}
    for algorithm in args.algorithms:
        steps = steps_per_trial[algorithm]
        for setting in args.settings:
            configs = configurations(algorithm, setting, max(args.sizes + [args.cores]))
            sb3 = sb3_aggregate(algorithm, configs, steps, args.cores)
            print(f"{algorithm} {BENCHMARKS[algorithm][1]}, {setting} setting, {steps} steps per trial, jax on "
                  f"{args.device}: "
                  f"SB3 {sb3:,.0f} env steps/s ({args.cores} trials on {args.cores} cores)", flush=True)
            processes = 1 if args.device == "cuda" else args.cores
            for size in args.sizes:
                rate, compile_s = jax_aggregate(algorithm, configs[:size], steps, args.device, processes)
                print(f"  jax, {size:>3} trials per call x {processes} process(es): {rate:>10,.0f} env steps/s = "
                      f"{rate / sb3:6.1f}x SB3 (compile {compile_s:.1f} s, not counted)", flush=True)


if __name__ == "__main__":
    main()
