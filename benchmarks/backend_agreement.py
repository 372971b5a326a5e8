"""What a jax result says about SB3: the same configurations on both backends at full length.

    python benchmarks/backend_agreement.py [--benchmark ppo-cartpole|dqn-cartpole] [--seeds 10]
        [--configs 16] [--config-seeds 3] [--workers 2]

1. rl-zoo3's hand-tuned configuration of the benchmark on ``--seeds`` seeds on each backend: mean,
   IQM [95% CI].
2. ``--configs`` configurations drawn from the RL paper's space, ``--config-seeds`` seeds each, on
   each backend: Spearman rank correlation of their mean scores, and the configurations on which the
   backends disagree most. (Measured on a 2-core machine: SB3's 16 x 3 full-length PPO trials took
   1.6 core-hours, 47-231 s each as the configuration's shape varies; the jax calls 8 core-minutes.)
3. The jax backend alone vs batched: every (configuration, seed) of 1 and 2 trained once more alone
   (one trial per call): how far its score moves from the batched one (XLA's batched kernels round
   differently, and RL amplifies it), beside the spread of scores across seeds.
Seeds 1000 and up: outside every protocol's tuning and test seeds. SB3 trains one trial per worker
process; jax trains each configuration's seeds in one call. Every finished trial (SB3) or call (jax)
is kept in ``runs/agreement/BENCHMARK.jsonl``, so an interrupted benchmark, rerun, trains only what
is missing. The cheap jax calls run first. Writes ``results/agreement/BENCHMARK.{json,md}`` with the wall time of this invocation,
the summed training time of every trial and the machine.
"""

from __future__ import annotations

import argparse
import json
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

import numpy as np
from scipy.stats import spearmanr

from hpobench_rl_cl import provenance
from hpobench_rl_cl.analysis import stats
from hpobench_rl_cl.optimizers.base import config_dict
from hpobench_rl_cl.protocol import load_protocol
from hpobench_rl_cl.runner.study import run_config_for
from hpobench_rl_cl.trainers.base import BACKENDS, Trial

FIRST_SEED = 1000
BENCHMARKS = ("ppo-cartpole", "dqn-cartpole")


def protocols(benchmark: str) -> dict[str, str]:
    """The benchmark's protocol on each backend."""
    return {"sb3": benchmark, "jax": f"{benchmark}-jax"}


class FinishedCalls:
    """Scores of finished training calls, one JSON line each, keyed by (protocol, configuration,
    seeds): a rerun with the same arguments trains only the calls not yet in the file."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries: dict[str, dict] = {}
        self.reported: set[str] = set()
        text = path.read_text() if path.exists() else ""
        for line in text.splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:  # a line cut short by a kill: that call is trained again
                continue
            self.entries[entry["key"]] = entry
        if text and not text.endswith("\n"):
            path.write_text("".join(json.dumps(entry) + "\n" for entry in self.entries.values()))

    @staticmethod
    def key(name: str, config: dict, seeds: list[int]) -> str:
        return json.dumps([name, config, seeds], sort_keys=True)

    def scores(self, name: str, config: dict, seeds: list[int]) -> list[float] | None:
        key = self.key(name, config, seeds)
        if key not in self.entries:
            return None
        self.reported.add(key)
        return self.entries[key]["scores"]

    def add(self, name: str, config: dict, seeds: list[int], scores: list[float], wall_s: float) -> None:
        entry = {"key": self.key(name, config, seeds), "scores": scores, "wall_s": wall_s}
        self.entries[entry["key"]] = entry
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a") as file:
            file.write(json.dumps(entry) + "\n")

    def training_s(self) -> float:
        """Summed wall time of the calls this report uses, whichever invocation trained them."""
        return sum(self.entries[key]["wall_s"] for key in self.reported)


def _sb3_trial(args: tuple[str, dict, int]) -> tuple[float, float]:
    name, config, seed = args
    protocol = load_protocol(name, "paper")
    start = time.perf_counter()
    result = BACKENDS.get("sb3")().train_batch(protocol.train_specs("cpu")["tuning"],
                                               [Trial(config, seed, protocol.total_timesteps)])[0]
    return result.score, time.perf_counter() - start


def sb3_scores(name: str, configs: list[dict], seeds: list[int], workers: int, finished: FinishedCalls) -> np.ndarray:
    """(configurations, seeds) scores, one trial per worker process."""
    jobs = [(name, config, seed) for config in configs for seed in seeds]
    missing = [job for job in jobs if finished.scores(job[0], job[1], [job[2]]) is None]
    if missing:
        with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
            futures = {pool.submit(_sb3_trial, job): job for job in missing}
            for future in as_completed(futures):
                (job_name, config, seed), (score, wall) = futures[future], future.result()
                finished.add(job_name, config, [seed], [score], wall)
    return np.array([finished.scores(n, c, [s]) for n, c, s in jobs]).reshape(len(configs), len(seeds))


def jax_scores(name: str, configs: list[dict], seeds: list[int], finished: FinishedCalls,
               alone: bool = False) -> np.ndarray:
    """(configurations, seeds) scores, each configuration's seeds in one call, or each trial ``alone``."""
    protocol = load_protocol(name, "paper")
    spec, backend = protocol.train_specs("cpu")["tuning"], BACKENDS.get("jax")()
    calls = [[seed] for seed in seeds] if alone else [seeds]
    for config in configs:
        for call in calls:
            if finished.scores(name, config, call) is None:
                start = time.perf_counter()
                results = backend.train_batch(spec, [Trial(config, seed, protocol.total_timesteps) for seed in call])
                finished.add(name, config, call, [r.score for r in results], time.perf_counter() - start)
    return np.array([sum((finished.scores(name, config, call) for call in calls), []) for config in configs])


def alone_vs_batched(alone: np.ndarray, batched: np.ndarray) -> dict:
    """How far (configurations, seeds) scores move between a lone and a batched call, beside the
    mean standard deviation across one configuration's seeds."""
    difference = np.abs(alone - batched)
    return {"mean_abs_difference": float(difference.mean()), "max_abs_difference": float(difference.max()),
            "identical": int((difference == 0).sum()), "trials": int(difference.size),
            "seed_spread": float(batched.std(axis=1).mean())}


def alone_vs_batched_line(label: str, row: dict) -> str:
    return (f"| {label} | {row['mean_abs_difference']:.2f} | {row['max_abs_difference']:.2f} | "
            f"{row['identical']} of {row['trials']} | {row['seed_spread']:.2f} |")


def summary(scores: np.ndarray) -> dict:
    iqm = stats.aggregates_with_ci({"m": scores.reshape(-1, 1)}, reps=2000)["m"]["iqm"]
    return {"scores": scores.tolist(), "mean": float(scores.mean()), "iqm": iqm[0], "iqm_ci95": [iqm[1], iqm[2]]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--benchmark", choices=BENCHMARKS, default="ppo-cartpole")
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--configs", type=int, default=16)
    parser.add_argument("--config-seeds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    start = time.perf_counter()
    names = protocols(args.benchmark)
    finished = FinishedCalls(Path("runs/agreement") / f"{args.benchmark}.jsonl")
    protocol = load_protocol(names["sb3"], "paper")
    hand_tuned = protocol.hand_tuned_run_config()[0]
    seeds = list(range(FIRST_SEED, FIRST_SEED + args.seeds))
    drawn = [run_config_for(protocol, config_dict(c))
             for c in protocol.search_space(seed=0).sample_configuration(args.configs)] if args.configs else []
    config_seeds = list(range(FIRST_SEED, FIRST_SEED + args.config_seeds))
    jax_hand_tuned = jax_scores(names["jax"], [hand_tuned], seeds, finished)
    report: dict = {"protocols": names, "total_timesteps": protocol.total_timesteps,
                    "alone_vs_batched": {"hand_tuned": alone_vs_batched(
                        jax_scores(names["jax"], [hand_tuned], seeds, finished, alone=True), jax_hand_tuned)}}
    if drawn:
        jax = jax_scores(names["jax"], drawn, config_seeds, finished)
        report["alone_vs_batched"]["random_configurations"] = alone_vs_batched(
            jax_scores(names["jax"], drawn, config_seeds, finished, alone=True), jax)
    report["hand_tuned"] = {"config": hand_tuned, "seeds": seeds, "jax": summary(jax_hand_tuned[0]),
                            "sb3": summary(sb3_scores(names["sb3"], [hand_tuned], seeds, args.workers, finished)[0])}
    if drawn:
        sb3 = sb3_scores(names["sb3"], drawn, config_seeds, args.workers, finished)
        sb3_means, jax_means = sb3.mean(axis=1), jax.mean(axis=1)
        order = np.argsort(-np.abs(sb3_means - jax_means))
        report["random_configurations"] = {
            "seeds": config_seeds, "spearman": float(spearmanr(sb3_means, jax_means).statistic),
            "seed_spread": {"sb3": float(sb3.std(axis=1).mean()), "jax": float(jax.std(axis=1).mean())},
            "per_configuration": [{"config": drawn[i], "sb3_mean": float(sb3_means[i]), "jax_mean": float(jax_means[i])}
                                  for i in order]}
    report["wall_s"] = time.perf_counter() - start
    report["training_s"] = finished.training_s()
    report["machine"] = provenance.machine()
    out = Path("results/agreement") / args.benchmark
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(report, indent=2, sort_keys=True))
    ht = report["hand_tuned"]
    lines = [f"# Backend agreement: {names['sb3']} (SB3) vs {names['jax']} (jax), full length "
             f"({protocol.total_timesteps:,} env steps per run)", "",
             f"Hand-tuned (rl-zoo3) on seeds {seeds[0]}-{seeds[-1]}:", "",
             "| backend | mean | IQM [95% CI] |", "| --- | --- | --- |"]
    lines += [f"| {b} | {ht[b]['mean']:.2f} | {ht[b]['iqm']:.2f} [{ht[b]['iqm_ci95'][0]:.2f}, {ht[b]['iqm_ci95'][1]:.2f}] |"
              for b in ("sb3", "jax")]
    if "random_configurations" in report:
        rc = report["random_configurations"]
        lines += ["", f"{args.configs} configurations of the paper's space x {args.config_seeds} seeds: Spearman "
                      f"{rc['spearman']:.3f} between the backends' mean scores; mean standard deviation across "
                      f"seeds of one configuration: SB3 {rc['seed_spread']['sb3']:.1f}, jax {rc['seed_spread']['jax']:.1f}.",
                  "", "Where they disagree most:", "", "| configuration | SB3 mean | jax mean |", "| --- | --- | --- |"]
        lines += [f"| `{json.dumps(row['config'], sort_keys=True)}` | {row['sb3_mean']:.2f} | {row['jax_mean']:.2f} |"
                  for row in rc["per_configuration"][:5]]
    else:
        lines += ["", "Random configurations: not run (`--configs 0`)."]
    lines += ["", "The jax backend, each trial trained once more alone (one trial per call) against its score in "
                  "the batched call above (a configuration's seeds in one call):", "",
              "| configurations | mean abs. difference | max abs. difference | identical | std across seeds |",
              "| --- | --- | --- | --- | --- |"]
    lines += [alone_vs_batched_line(label, report["alone_vs_batched"][key])
              for key, label in (("hand_tuned", "hand-tuned"), ("random_configurations", "random"))
              if key in report["alone_vs_batched"]]
    lines += ["", f"Wall time {report['wall_s'] / 60:.1f} min (this invocation; trials kept from an interrupted "
                  f"one are not retrained), training time of all calls {report['training_s'] / 60:.1f} min, "
                  f"on {report['machine']['cpu']['model']} ({report['machine']['cpu']['cores']} cores)."]
    out.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
