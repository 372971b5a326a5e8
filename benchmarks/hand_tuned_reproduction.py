"""Does the hand-tuned baseline reproduce rl-zoo3's published score on rl-zoo3's own setting?

    python benchmarks/hand_tuned_reproduction.py ppo-cartpole dqn-cartpole [--seeds 0,1]

Trains rl-zoo3's configuration for its own ``n_timesteps`` on each seed and prints our scores next
to the figure from rl-baselines3-zoo's benchmark.md (recorded in each protocol file). That figure
is one run (a check of maximal performance), so a protocol counts as reproduced when its best
seed reaches it; the mean over seeds is printed too.
"""

import argparse

from hpobench_rl_cl import api


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("protocols", nargs="+")
    parser.add_argument("--seeds", default="0,1")
    args = parser.parse_args()
    seeds = tuple(int(s) for s in args.seeds.split(","))
    for name in args.protocols:
        outcome = api.reproduce_hand_tuned(name, seeds=seeds)
        verdict = "REPRODUCED" if outcome["reproduced"] else "NOT reproduced"
        print(f"{name}: {outcome['source']}, {outcome['timesteps']} steps, seeds {list(seeds)}: "
              f"ours: best {max(outcome['scores']):.1f}, mean {outcome['mean']:.1f} (per seed {[round(s, 1) for s in outcome['scores']]}) vs published "
              f"{outcome['published']['mean']} +- {outcome['published']['std']} -> {verdict} "
              f"(threshold {outcome['threshold']:.1f}; {max(outcome['wall_s']):.0f}s per run)")


if __name__ == "__main__":
    main()
