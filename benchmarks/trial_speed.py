"""Throughput of one single-threaded trial per algorithm (env steps/s, evaluation included) and of
one small-CNN CL trial (training images/s), written into the speeds ``hpobench-rl-cl list`` uses.

    python benchmarks/trial_speed.py [--steps-scale 1.0] [--dry-run]

Each RL entry trains two configurations drawn from a shipped protocol's search space (seed 0: what
a study trains) for a few thousand steps each (SAC and TD3: a few hundred) with the SB3 backend;
the CL entry trains naive on the glyph default
for one epoch per experience. Prints the measured and the stored figure side by side, then (unless
``--dry-run``) writes ``hpobench_rl_cl/runner/measured_speeds.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from datetime import date
from importlib.resources import files
from pathlib import Path

from hpobench_rl_cl.protocol import load_cl_suite, load_protocol
from hpobench_rl_cl.trainers.base import BACKENDS, Trial

RL_CASES = {"PPO": ("ppo-cartpole", 4096), "DQN": ("dqn-cartpole", 4096), "SAC": ("sac-pendulum", 400),
            "TD3": ("td3-pendulum", 400)}


def rl_speed(protocol_name: str, steps: int) -> float:
    from hpobench_rl_cl.optimizers.base import config_dict
    from hpobench_rl_cl.runner.study import run_config_for

    protocol = load_protocol(protocol_name, "paper")
    spec = protocol.train_specs("cpu")["tuning"]
    configs = [run_config_for(protocol, config_dict(c)) for c in protocol.search_space(seed=0).sample_configuration(2)]
    start = time.perf_counter()
    results = BACKENDS.get(protocol.backend)().train_batch(spec, [Trial(config, 0, steps) for config in configs])
    elapsed = time.perf_counter() - start
    crashed = [r.error for r in results if r.status != "ok"]
    if crashed:
        raise RuntimeError(f"{protocol_name}: {crashed[0]}")
    return len(configs) * steps / elapsed


def cl_speed() -> float:
    protocol = load_cl_suite("glyphs-halves", "quick").strategies["naive"]
    spec = protocol.train_specs("cpu")["tuning"]
    start = time.perf_counter()
    result = BACKENDS.get("avalanche")().train_batch(spec, [Trial(protocol.hand_tuned["config"], 0, 1)])[0]
    if result.status != "ok":
        raise RuntimeError(result.error)
    return protocol.tuning_data.info().train_images / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps-scale", type=float, default=1.0, help="multiply every run's length")
    parser.add_argument("--dry-run", action="store_true", help="print only")
    args = parser.parse_args()
    path = Path(str(files("hpobench_rl_cl.runner") / "measured_speeds.json"))
    speeds = json.loads(path.read_text())
    where = f"benchmarks/trial_speed.py, {date.today()}, {platform.node()} ({platform.processor() or platform.machine()})"
    for algorithm, (protocol, steps) in RL_CASES.items():
        measured = rl_speed(protocol, max(int(steps * args.steps_scale), 64))
        stored = speeds["rl_env_steps_per_s"][algorithm]["value"]
        print(f"{algorithm:<5} measured {measured:8.0f} env steps/s   stored {stored:8.0f}   ratio {measured / stored:.2f}")
        speeds["rl_env_steps_per_s"][algorithm] = {"value": round(measured, 1),
                                                   "source": f"2 configurations of {protocol}'s space, {where}"}
    measured = cl_speed()
    stored = speeds["cl_images_per_s"]["small-cnn"]["value"]
    print(f"small-cnn measured {measured:8.0f} images/s   stored {stored:8.0f}   ratio {measured / stored:.2f}")
    speeds["cl_images_per_s"]["small-cnn"] = {"value": round(measured, 1), "source": f"naive on glyphs, {where}"}
    if not args.dry_run:
        path.write_text(json.dumps(speeds, indent=2) + "\n")
        print(f"written: {path}")


if __name__ == "__main__":
    main()
