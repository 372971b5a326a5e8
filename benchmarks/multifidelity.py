"""Multi-fidelity payoff: env steps each tool spends before it first evaluates a configuration
whose mean tuning score reaches the hand-tuned baseline's tuning score, vs random search.

    python benchmarks/multifidelity.py [--protocols ppo-cartpole dqn-cartpole] [--scale quick]

Studies go to benchmarks/runs (rerunning resumes them). The hand-tuned tuning score is its mean
over the tuning seeds at full fidelity (``train --config hand-tuned``).
"""

from __future__ import annotations

import argparse
from collections import defaultdict

from hpobench_rl_cl import api

TOOLS = ("random", "smac", "smac-mf", "dehb", "tpe")
STORE, RESULTS = "benchmarks/runs", "benchmarks/runs/results"


def steps_to_reach(trials: list[dict], target: float) -> tuple[int | None, int]:
    """(env steps trained when the target is first reached or None, env steps trained in all)."""
    by_evaluation: dict[int, list[dict]] = defaultdict(list)
    for trial in trials:
        if trial["phase"] == "tuning":
            by_evaluation[trial["eval_index"]].append(trial)
    spent, reached = 0, None
    for index in sorted(by_evaluation):
        group = by_evaluation[index]
        spent += sum(t["trained"] if t["trained"] is not None else t["budget"] for t in group)
        if reached is None and sum(t["score"] for t in group) / len(group) >= target:
            reached = spent
    return reached, spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--protocols", nargs="+", default=["ppo-cartpole", "dqn-cartpole"])
    parser.add_argument("--scale", default="quick")
    args = parser.parse_args()
    for protocol in args.protocols:
        target = api.train_config(protocol, "hand-tuned", scale=args.scale, store=STORE, results=RESULTS,
                                  progress=False)["mean"]
        print(f"{protocol}@{args.scale}: hand-tuned tuning score {target:.1f}")
        reference = None
        for tool in TOOLS:
            summary = api.run_study(protocol, scale=args.scale, optimizer=tool, store=STORE, results=RESULTS,
                                    progress=False)
            reached, spent = steps_to_reach(api.show_study(summary["study_id"], STORE)["trials"], target)
            if tool == "random":
                reference = reached
            ratio = f"{reached / reference:.2f}x random's" if reached and reference else "-"
            shown = f"{reached:,} env steps ({ratio})" if reached else f"not reached in {spent:,} env steps"
            print(f"  {tool:<8} {shown}; incumbent tuning score {summary['incumbent']['tuning_score']:.1f}")


if __name__ == "__main__":
    main()
