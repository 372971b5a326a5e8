"""Runner overhead: a whole study through the suite vs the same trainings as bare SB3 calls.

Runs one study (one worker, so both sides use one core), reads back every trial it trained
(configuration, seed, budget), and repeats exactly those trainings and evaluations as plain
``make_vec_env`` / ``learn()`` / ``evaluate_policy`` calls in a loop (as many evaluations as the
suite's learning-curve checkpoints, run after training). Both sides are timed in this
one process, alternating (bare, suite, bare, suite), and the best of each is compared.

    python benchmarks/overhead.py [--protocol ppo-cartpole] [--scale smoke] [--repeats 2]

Target: suite / bare <= 1.05.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

import torch
from stable_baselines3.common.env_util import make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy

from hpobench_rl_cl import api
from hpobench_rl_cl.protocol.rl import load_protocol
from hpobench_rl_cl.trainers.rl.algorithms import ALGORITHMS
from hpobench_rl_cl.trainers.rl.run_config import build_run_config
from hpobench_rl_cl.trainers.rl.sb3 import EVAL_SEED_OFFSET, checkpoints


def run_suite(protocol: str, scale: str) -> tuple[float, list[dict]]:
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        summary = api.run_study(protocol, scale=scale, workers=1, store=f"{folder}/runs", results=f"{folder}/results",
                                progress=False)
        elapsed = time.perf_counter() - start
        trials = api.show_study(summary["study_id"], f"{folder}/runs")["trials"]
    return elapsed, trials


def run_bare(protocol_name: str, scale: str, trials: list[dict]) -> float:
    protocol = load_protocol(protocol_name, scale)
    algorithm = ALGORITHMS.get(protocol.algorithm)
    torch.set_num_threads(1)
    start = time.perf_counter()
    for trial in trials:
        config, seed, steps = json.loads(trial["config_json"]), trial["seed"], trial["budget"]
        run = build_run_config(config, default_policy=protocol.policy, total_timesteps=steps)
        if run.normalize is not None or run.wrapper_class or run.frame_stack or run.action_noise:
            raise SystemExit("overhead.py replays plain environments; pick a protocol without env wrappers")
        env = make_vec_env(protocol.env_id, n_envs=run.n_envs, seed=seed)
        eval_env = make_vec_env(protocol.env_id, n_envs=1, seed=seed + EVAL_SEED_OFFSET)
        model = algorithm(run.policy, env, seed=seed, device="cpu", verbose=0, **run.algorithm_kwargs)
        model.learn(total_timesteps=steps)
        for _ in checkpoints(steps, protocol.curve_points):  # the same evaluation work as the suite's curve
            eval_env.seed(seed + EVAL_SEED_OFFSET)
            evaluate_policy(model, eval_env, n_eval_episodes=protocol.eval_episodes, deterministic=True, warn=False)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--protocol", default="ppo-cartpole")
    parser.add_argument("--scale", default="smoke")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    protocol = load_protocol(args.protocol, args.scale)
    suite_times, bare_times, trials = [], [], []
    for _ in range(args.repeats):
        _, trials = run_suite(args.protocol, args.scale) if not trials else (None, trials)
        bare_times.append(run_bare(args.protocol, args.scale, trials))
        suite_times.append(run_suite(args.protocol, args.scale)[0])
    print(f"protocol {protocol.protocol_id}: {len(trials)} trials")
    print(f"bare SB3 loop : {', '.join(f'{t:.1f}s' for t in bare_times)}  (best {min(bare_times):.1f}s)")
    print(f"suite (study) : {', '.join(f'{t:.1f}s' for t in suite_times)}  (best {min(suite_times):.1f}s)")
    print(f"overhead ratio suite/bare: {min(suite_times) / min(bare_times):.3f}  (target <= 1.05)")


if __name__ == "__main__":
    main()
