"""A study: tuning phase -> incumbent -> test phase -> summary.

Tuning: the HPO tool asks for configurations; each is trained on every tuning seed (one trial per
seed, run in parallel) and told its mean score. The runner spends the budget in full-run
equivalents (one configuration at full fidelity on all tuning seeds = 1) and never more; the
protocol says how low a multi-fidelity tool may go (RL: env steps, CL: epochs per experience).

Incumbent rule, the same for every tool: the configuration with the best mean score among those
evaluated at full fidelity on all tuning seeds (ties: the earliest). So that one always exists,
one full-run equivalent stays in reserve until some configuration has been asked at full
fidelity; if none has when the tool's proposals reach the reserve, the reserve trains the best
configuration of the highest fidelity reached at full fidelity. Test: the incumbent and the
protocol's hand-tuned baseline, each trained from scratch at full fidelity on every test seed
(RL), or on every evaluation seed with the evaluation dataset (CL: the held-out phase is named
``evaluation`` there).
"""

from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ..analysis.stats import iqm
from ..optimizers import OPTIMIZERS, Budget, Optimizer, TrialInfo
from ..protocol import BenchmarkProtocol
from ..store.sqlite_store import ResultStore, TrialKey
from ..trainers.base import Trial, TrialResult, config_hash
from .execution import PendingTrial, TrialRunner


@dataclass
class Evaluation:
    """One asked configuration, scored on every tuning seed."""

    index: int
    info: TrialInfo
    run_config: dict[str, Any]
    budget_steps: int
    results: dict[int, TrialResult] = field(default_factory=dict)

    @property
    def mean_score(self) -> float:
        return float(np.mean([r.score for r in self.results.values()]))


# Marks the runner's own full-fidelity evaluation (the incumbent rule), which no tool asked for.
PROMOTION = object()


def study_id_for(protocol: BenchmarkProtocol, optimizer: str, hpo_seed: int) -> str:
    return f"{protocol.name}-{protocol.scale}-{optimizer}-s{hpo_seed}"


def run_config_for(protocol: BenchmarkProtocol, sampled: dict[str, Any]) -> dict[str, Any]:
    """What a tuned configuration trains with: the protocol's fixed base, then the sampled values."""
    return {**protocol.base_config, **sampled}


def fidelity_steps(protocol: BenchmarkProtocol, fidelity: float) -> int:
    """A fidelity in the protocol's unit (env steps, epochs), never below one unit."""
    return max(1, round(protocol.full_fidelity * fidelity))


def score_summary(scores: list[float]) -> dict[str, Any]:
    return {
        "scores": scores,
        "mean": float(np.mean(scores)),
        "iqm": iqm(scores),
        "std": float(np.std(scores, ddof=1)) if len(scores) > 1 else 0.0,
    }


class Study:
    """Runs one (protocol, HPO tool, HPO seed) study against a store; rerunning resumes it."""

    def __init__(self, protocol: BenchmarkProtocol, optimizer_name: str, hpo_seed: int, store: ResultStore,
                 runner: TrialRunner, study_id: str) -> None:
        self.protocol = protocol
        self.optimizer_name = optimizer_name
        self.hpo_seed = hpo_seed
        self.store = store
        self.study_id = study_id
        self.runner = runner

    def make_optimizer(self) -> Optimizer:
        cls = OPTIMIZERS.get(self.optimizer_name)
        budget = Budget(full_runs=self.protocol.budget_full_runs, min_fidelity=self.protocol.min_fidelity)
        return cls(self.protocol.search_space(seed=self.hpo_seed), seed=self.hpo_seed, budget=budget)

    # tuning ------------------------------------------------------------------------------------
    def tune(self) -> list[Evaluation]:
        """Ask, train on the tuning seeds, tell, until the budget is spent or the tool stops."""
        protocol = self.protocol
        optimizer = self.make_optimizer()
        evaluations: list[Evaluation] = []
        finished: deque[Evaluation] = deque()
        spent = 0.0
        exhausted = False
        asked_full_fidelity = False

        def on_done(pending: PendingTrial, result: TrialResult) -> None:
            evaluation = evaluations[pending.eval_index]
            evaluation.results[pending.trial.seed] = result
            if len(evaluation.results) == len(protocol.tuning_seeds):
                finished.append(evaluation)

        try:
            while True:
                while not exhausted and self.runner.in_flight < self.runner.slots and not finished:
                    info = optimizer.ask()
                    if info is None:
                        break
                    reserve = 0.0 if asked_full_fidelity or info.fidelity >= 1.0 else 1.0
                    if spent + info.fidelity + reserve > protocol.budget_full_runs + 1e-9:
                        exhausted = True
                        break
                    spent += info.fidelity
                    asked_full_fidelity |= info.fidelity >= 1.0
                    self._launch(evaluations, info, on_done)
                if finished:
                    evaluation = finished.popleft()
                    if evaluation.info.token is not PROMOTION:
                        optimizer.tell(evaluation.info, evaluation.mean_score)
                    continue
                if self.runner.in_flight == 0:
                    if asked_full_fidelity or not evaluations:
                        break
                    self._launch(evaluations, TrialInfo(self._best_at_top_fidelity(evaluations).info.config, 1.0,
                                                        PROMOTION), on_done)
                    asked_full_fidelity = True
                    continue
                self.runner.wait_one()
        finally:
            optimizer.close()
        return evaluations

    def _launch(self, evaluations: list[Evaluation], info: TrialInfo, on_done: Callable) -> None:
        evaluation = Evaluation(len(evaluations), info, run_config_for(self.protocol, info.config),
                                fidelity_steps(self.protocol, info.fidelity))
        evaluations.append(evaluation)
        self.runner.submit([self._tuning_trial(evaluation, seed, on_done) for seed in self.protocol.tuning_seeds])

    @staticmethod
    def _best_at_top_fidelity(evaluations: list[Evaluation]) -> Evaluation:
        top = max(e.info.fidelity for e in evaluations)
        return max((e for e in evaluations if e.info.fidelity == top), key=lambda e: (e.mean_score, -e.index))

    def _tuning_trial(self, evaluation: Evaluation, seed: int, on_done: Callable) -> PendingTrial:
        self.protocol.seeds.require_tuning([seed])
        trial = Trial(evaluation.run_config, seed, evaluation.budget_steps)
        key = TrialKey(self.study_id, "tuning", "tuning", trial.config_hash, seed, trial.budget_steps)
        return PendingTrial(key, trial, evaluation.info.fidelity, evaluation.index, on_done)

    @staticmethod
    def select_incumbent(evaluations: list[Evaluation]) -> Evaluation:
        full = [e for e in evaluations if e.info.fidelity >= 1.0]
        return max(full, key=lambda e: (e.mean_score, -e.index))

    # test --------------------------------------------------------------------------------------
    def test(self, configs: dict[str, dict[str, Any]], seeds: tuple[int, ...], *, phase: str | None = None,
             audit: bool = False) -> dict[str, dict[int, TrialResult]]:
        """Train each role's configuration at full fidelity on each seed, as one batch (default
        phase: the protocol's held-out phase, ``test`` or ``evaluation``)."""
        phase = phase or self.protocol.held_out_phase
        results: dict[str, dict[int, TrialResult]] = {role: {} for role in configs}

        def on_done(pending: PendingTrial, result: TrialResult) -> None:
            results[pending.key.role][pending.trial.seed] = result

        batch = []
        for role, config in configs.items():
            for seed in seeds:
                trial = Trial(config, seed, self.protocol.full_fidelity)
                key = TrialKey(self.study_id, phase, role, trial.config_hash, seed, trial.budget_steps, audit)
                batch.append(PendingTrial(key, trial, 1.0, None, on_done))
        self.runner.submit(batch)
        self.runner.drain()
        return results

    def run(self) -> dict[str, Any]:
        """Tune, select, test; a finished study returns its stored summary. Replaying a finished
        study could take another path (with several workers a tool is told results in another
        order) and reach another incumbent, which the sealed test seeds would then refuse."""
        finished = self.store.study(self.study_id)["summary_json"]
        if finished:
            return json.loads(finished)
        protocol = self.protocol
        evaluations = self.tune()
        if not evaluations:
            raise RuntimeError("the HPO tool proposed no configuration")
        incumbent = self.select_incumbent(evaluations)
        hand_tuned, hand_tuned_source = protocol.hand_tuned_run_config()
        test = self.test({"incumbent": incumbent.run_config, "hand-tuned": hand_tuned}, protocol.seeds.test)
        tuning_results = [r for e in evaluations for r in e.results.values()]
        test_results = [r for role in test.values() for r in role.values()]
        summary = {
            "study_id": self.study_id,
            "family": protocol.family,
            "protocol": protocol.name,
            "held_out_phase": protocol.held_out_phase,
            "scale": protocol.scale,
            "protocol_hash": protocol.hash,
            "optimizer": self.optimizer_name,
            "hpo_seed": self.hpo_seed,
            "incumbent": {
                "config": incumbent.run_config,
                "config_hash": config_hash(incumbent.run_config),
                "tuning_score": incumbent.mean_score,
                "evaluation_index": incumbent.index,
            },
            "hand_tuned": {"config": hand_tuned, "source": hand_tuned_source},
            "test": {role: score_summary([by_seed[s].score for s in protocol.seeds.test]) for role, by_seed in test.items()},
            "budget": {
                "given_full_runs": protocol.budget_full_runs,
                "used_full_runs": float(sum(e.info.fidelity for e in evaluations)),
                "unit": protocol.budget_unit,
                "tuning_units": int(sum(e.budget_steps * len(e.results) for e in evaluations)),
                "configurations": len(evaluations),
                "crashed_trials": sum(r.status == "crashed" for r in tuning_results + test_results),
            },
            "time": {
                "tuning_wall_s": float(sum(r.wall_s for r in tuning_results)),
                "test_wall_s": float(sum(r.wall_s for r in test_results)),
                "cpu_s": float(sum(r.cpu_s for r in tuning_results + test_results)),
            },
        }
        self.store.save_summary(self.study_id, summary)
        return summary
