"""Parallel efficiency: the same fixed set of trials on 1 worker (in process) and on 2 Dask workers,
side by side.

    python benchmarks/parallel.py [--protocol ppo-cartpole] [--trials 8] [--steps 4000]

The trials are the protocol's hand-tuned configuration on seeds 0..N-1. Each side's cluster is
started first and timed separately: the ratio compares trial throughput, start-up is reported
beside it. Target: 2 workers >= 1.7x one worker on a 2-core machine.
"""

from __future__ import annotations

import argparse
import time

from hpobench_rl_cl.protocol import load_protocol
from hpobench_rl_cl.runner.execution import executor
from hpobench_rl_cl.trainers.base import BACKENDS, Trial
from hpobench_rl_cl.trainers.rl.hand_tuned import hand_tuned_config


def timed_batch(workers: int, spec, trials) -> tuple[float, float]:
    backend = BACKENDS.get("sb3")()
    start = time.perf_counter()
    with executor(workers) as runs:
        if workers > 1:
            runs.client.wait_for_workers(workers)
        ready = time.perf_counter()
        calls = [runs.submit(backend.train_batch, spec, [trial], resources={}) for trial in trials]
        for _ in calls:
            runs.next_done().result()
        done = time.perf_counter()
    return ready - start, done - ready


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--protocol", default="ppo-cartpole")
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument("--steps", type=int, default=4000)
    args = parser.parse_args()
    protocol = load_protocol(args.protocol, "quick")
    spec = protocol.train_specs("cpu")["tuning"]
    config, _ = hand_tuned_config(protocol.algorithm, protocol.env_id, protocol.hand_tuned)
    trials = [Trial(config, seed, args.steps) for seed in range(args.trials)]
    timed_batch(1, spec, trials[:1])  # warm imports and caches for both sides alike
    start_1, run_1 = timed_batch(1, spec, trials)
    start_2, run_2 = timed_batch(2, spec, trials)
    print(f"{args.trials} trials of {args.protocol} ({args.steps} steps each)")
    print(f"1 worker : {run_1:.1f}s (cluster start {start_1:.1f}s)")
    print(f"2 workers: {run_2:.1f}s (cluster start {start_2:.1f}s)")
    print(f"speed-up 2 vs 1 workers: {run_1 / run_2:.2f}x (target >= 1.7); "
          f"including cluster start: {(start_1 + run_1) / (start_2 + run_2):.2f}x")


if __name__ == "__main__":
    main()
