"""Aggregate env steps/s of the jax backend at 1, 8 and 32 trials per call vs the SB3 backend one
trial per core, on the same configurations, side by side in one run.

    python benchmarks/batched_throughput.py [--steps 20000] [--sizes 1 8 32] [--cores 2]

Two settings of PPO on CartPole: ``paper`` (the shape-changing hyperparameters of one draw from the
RL paper's PPO space, every other hyperparameter drawn per trial: what one grouped call of a tuning
batch looks like) and ``zoo`` (rl-zoo3's CartPole setting, one trial per seed). SB3 runs
``--cores`` trials at once, one per core (separate processes); its aggregate is their steps over the
wall time. JAX: the first call of each size compiles (reported apart), the second is timed.
DQN, SAC and TD3 are not on the jax backend yet: the script says so instead of inventing figures.
"""

from __future__ import annotations

import argparse
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context

from hpobench_rl_cl.optimizers.base import config_dict
from hpobench_rl_cl.protocol import load_protocol
from hpobench_rl_cl.runner.study import run_config_for
from hpobench_rl_cl.trainers.base import BACKENDS, Trial

ZOO = {"n_envs": 8, "n_steps": 32, "batch_size": 256, "gae_lambda": 0.8, "gamma": 0.98, "n_epochs": 20,
       "ent_coef": 0.0, "learning_rate": "lin_0.001", "clip_range": "lin_0.2"}
SHAPE_KEYS = ("n_steps", "batch_size", "n_epochs", "n_envs", "clip_range_vf")


def configurations(setting: str, n: int) -> list[dict]:
    if setting == "zoo":
        return [dict(ZOO) for _ in range(n)]
    protocol = load_protocol("ppo-cartpole-jax", "paper")
    draws = [run_config_for(protocol, config_dict(c)) for c in protocol.search_space(seed=0).sample_configuration(n + 1)]
    return [{**draw, **{k: draws[0][k] for k in SHAPE_KEYS if k in draws[0]}} for draw in draws[1:]]


def sb3_trial(args: tuple[dict, int, int]) -> float:
    config, seed, steps = args
    protocol = load_protocol("ppo-cartpole", "paper")
    spec = protocol.train_specs("cpu")["tuning"]
    start = time.perf_counter()
    BACKENDS.get("sb3")().train_batch(spec, [Trial(config, seed, steps)])
    return time.perf_counter() - start


def sb3_aggregate(configs: list[dict], steps: int, cores: int) -> float:
    with ProcessPoolExecutor(cores, mp_context=get_context("spawn")) as pool:  # no fork of a JAX process
        list(pool.map(sb3_trial, [(configs[0], 0, 256)] * cores))  # imports and warm-up in every process
        start = time.perf_counter()
        list(pool.map(sb3_trial, [(c, i, steps) for i, c in enumerate(configs[:cores])]))
        return cores * steps / (time.perf_counter() - start)


def jax_aggregate(configs: list[dict], steps: int) -> tuple[float, float]:
    protocol = load_protocol("ppo-cartpole-jax", "paper")
    spec = protocol.train_specs("cpu")["tuning"]
    backend = BACKENDS.get("jax")()
    trials = [Trial(c, i, steps) for i, c in enumerate(configs)]
    start = time.perf_counter()
    backend.train_batch(spec, trials)
    compile_and_run = time.perf_counter() - start
    start = time.perf_counter()
    results = backend.train_batch(spec, trials)
    run = time.perf_counter() - start
    assert all(r.status == "ok" for r in results), [r.error for r in results if r.status != "ok"][:1]
    return len(trials) * steps / run, compile_and_run - run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20_000)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--cores", type=int, default=2)
    args = parser.parse_args()
    for setting in ("paper", "zoo"):
        configs = configurations(setting, max(args.sizes + [args.cores]))
        sb3 = sb3_aggregate(configs, args.steps, args.cores)
        print(f"PPO CartPole, {setting} setting, {args.steps} steps per trial: SB3 {sb3:,.0f} env steps/s "
              f"({args.cores} trials on {args.cores} cores)")
        for size in args.sizes:
            rate, compile_s = jax_aggregate(configs[:size], args.steps)
            print(f"  jax, {size:>3} trials per call: {rate:>10,.0f} env steps/s = {rate / sb3:6.1f}x SB3 "
                  f"(compile {compile_s:.1f} s, not counted)")
    print("DQN, SAC, TD3: not on the jax backend yet (no figures)")


if __name__ == "__main__":
    main()
