"""A fake trainer backend for runner tests: a trial's score is a closed-form function of its
configuration, seed and budget, computed in microseconds, so the runner's logic (budget, reserve and
promotion, incumbent, sealing, resume, batching) is tested without training anything."""

from __future__ import annotations

from typing import Any, Sequence

from hpobench_rl_cl.provenance import machine
from hpobench_rl_cl.trainers.base import TrainerBackend, Trial, TrialResult

PROTOCOL = """\
name: closed-form
env_id: Closed-v0
algorithm: none
policy: none
total_timesteps: 1000
eval_episodes: 1
worst_score: -100.0
backend: closed-form
search_space:
  hyperparameters:
    learning_rate: {type: uniform_float, lower: 0.0, upper: 1.0}
    width: {type: categorical, choices: [16, 32]}
budget_full_runs: 4
tuning_seeds: [0, 1]
test_seeds: [5, 6, 7]
hand_tuned: {source: a closed form, config: {learning_rate: 0.5, width: 16}}
"""


def score(config: dict[str, Any], seed: int, budget: int) -> float:
    """Best at learning_rate 0.3; longer training helps; each seed shifts the score a little."""
    return -100.0 * (config["learning_rate"] - 0.3) ** 2 + budget / 1000 + 0.01 * seed


class ClosedFormBackend(TrainerBackend):
    """Batches of up to 4 trials sharing a ``width`` (a shape-changing hyperparameter)."""

    max_batch = 4
    calls: list[list[Trial]] = []
    results_per_call: int | None = None  # set to break the contract
    crash: bool = False  # set to crash every trial

    def batch_key(self, spec: Any, trial: Trial) -> Any:
        return trial.config["width"]

    def train_batch(self, spec: Any, trials: Sequence[Trial]) -> list[TrialResult]:
        type(self).calls.append(list(trials))
        if self.crash:
            return [TrialResult(-100.0, "crashed", [], 0.0, 0.0, error="ValueError: no such width\nTraceback ...")
                    for _ in trials]
        results = [TrialResult(score(t.config, t.seed, t.budget), "ok", [(t.budget, score(t.config, t.seed, t.budget))],
                               0.0, 0.0, host=machine()) for t in trials]
        return results[: self.results_per_call] if self.results_per_call is not None else results
