"""Optimizer overhead: time spent inside ask/tell per configuration vs the training it steers.

    python benchmarks/optimizer_overhead.py [--protocol ppo-cartpole] [--configs 20]

Each tool proposes --configs configurations, told synthetic scores (no training), and the mean
ask+tell time is measured. One configuration at the quick scale is trained on every tuning seed
to get the training time per configuration. Target: ask+tell < 5% of it.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from hpobench_rl_cl.optimizers import OPTIMIZERS, Budget
from hpobench_rl_cl.protocol.rl import load_protocol
from hpobench_rl_cl.runner.study import run_config_for
from hpobench_rl_cl.trainers import Trial
from hpobench_rl_cl.trainers.rl.sb3 import train_trial

TOOLS = ("random", "smac", "smac-mf", "dehb", "tpe")


def ask_tell_seconds(tool: str, protocol, configs: int) -> float:
    optimizer = OPTIMIZERS.get(tool)(protocol.search_space(seed=0), seed=0, budget=Budget(configs, 1 / 9))
    rng = np.random.default_rng(0)
    spent = 0.0
    for _ in range(configs):
        start = time.perf_counter()
        info = optimizer.ask()
        optimizer.tell(info, float(rng.normal()))
        spent += time.perf_counter() - start
    optimizer.close()
    return spent / configs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--protocol", default="ppo-cartpole")
    parser.add_argument("--configs", type=int, default=20)
    args = parser.parse_args()
    protocol = load_protocol(args.protocol, "quick")
    spec = protocol.train_specs("cpu")["tuning"]
    sampled = dict(protocol.search_space(seed=1).sample_configuration())
    config = run_config_for(protocol, {k: v.item() if hasattr(v, "item") else v for k, v in sampled.items()})
    start = time.perf_counter()
    for seed in protocol.tuning_seeds:
        train_trial(spec, Trial(config, seed, protocol.total_timesteps))
    training = time.perf_counter() - start
    print(f"training one configuration of {protocol.protocol_id} on {len(protocol.tuning_seeds)} tuning seeds: {training:.1f}s")
    for tool in TOOLS:
        per_config = ask_tell_seconds(tool, protocol, args.configs)
        print(f"{tool:<8} ask+tell {per_config * 1000:8.1f} ms per configuration = "
              f"{100 * per_config / training:.3f}% of its training (target < 5%)")


if __name__ == "__main__":
    main()
