"""A study: tuning phase -> incumbent -> held-out phase -> summary.

Tuning: the HPO tool asks for configurations; each is trained on every tuning seed (one trial per
seed, run in parallel) and told its mean score. The runner spends the budget in full-run
equivalents (one configuration at full fidelity on all tuning seeds = 1) and never more; the
protocol says how low a multi-fidelity tool may go (RL: env steps, CL: epochs per experience).

Incumbent rule, the same for every tool: the configuration with the best mean score among those
evaluated at full fidelity on all tuning seeds (ties: the earliest). So that one always exists,
one full-run equivalent stays in reserve until some configuration has been asked at full
fidelity; if none has when the tool's proposals reach the reserve, the reserve trains the best
configuration of the highest fidelity reached at full fidelity. Held-out phase: the incumbent and
the protocol's hand-tuned baseline, each trained from scratch at full fidelity on every test seed
(RL), or on every evaluation seed with the evaluation dataset (CL).

Batches: whenever the runner has free capacity (workers x the backend's batch size), the tool is
asked for as many configurations as fill it (``ask_batch``); all their (configuration x tuning
seed) trials go to the runner together, which groups them into backend calls.
"""

from __future__ import annotations

import json
import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from .. import provenance
from ..analysis.stats import iqm
from ..errors import SealError, UserError, first_line
from ..optimizers import OPTIMIZERS, Budget, Optimizer, Proposal
from ..protocol import BenchmarkProtocol
from ..protocol.official import official_entry
from ..protocol.published import PUBLISHED_ROLE, published_config, published_incumbents
from ..store.sqlite_store import ResultStore, TrialKey
from ..trainers.base import Trial, TrialResult, config_hash
from .execution import PendingTrial, TrialRunner


@dataclass
class Candidate:
    """One proposed configuration, scored on every tuning seed."""

    index: int
    proposal: Proposal
    run_config: dict[str, Any]
    budget: int
    charged: float  # full-run equivalents: what its trials will train / what a full run of it trains
    results: dict[int, TrialResult] = field(default_factory=dict)

    @property
    def mean_score(self) -> float:
        return float(np.mean([r.score for r in self.results.values()]))


# Marks the runner's own full-fidelity candidate (the incumbent rule), which no tool asked for.
PROMOTION = object()


def run_config_for(protocol: BenchmarkProtocol, sampled: dict[str, Any]) -> dict[str, Any]:
    """What a tuned configuration trains with: the protocol's fixed base, then the sampled values."""
    return {**protocol.base_config, **sampled}


def fidelity_budget(protocol: BenchmarkProtocol, fidelity: float) -> int:
    """A fidelity in the protocol's unit (env steps, epochs), never below one unit."""
    return max(1, round(protocol.full_fidelity * fidelity))


def protocol_status(protocol: BenchmarkProtocol) -> str:
    """``official`` when (name, scale, hash) is a shipped benchmark, else ``modified``."""
    return "official" if official_entry(protocol.name, protocol.scale, protocol.hash) else "modified"


def hand_tuned_declared_by(protocol: BenchmarkProtocol) -> str:
    """``rl-zoo3`` (its files), ``shipped protocol`` (the reference an official protocol cites) or
    ``user`` (a configuration a modified protocol declares: shown as user-declared everywhere)."""
    if protocol.hand_tuned["source"] == "rl-zoo3":
        return "rl-zoo3"
    return "shipped protocol" if protocol_status(protocol) == "official" else "user"


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
    def tune(self) -> list[Candidate]:
        """Ask, train on the tuning seeds, tell, until the budget is spent or the tool stops (a
        population-based tool: :mod:`.population`)."""
        if getattr(OPTIMIZERS.get(self.optimizer_name), "population_based", False):
            from .population import PopulationTuner

            return PopulationTuner(self).tune()
        protocol = self.protocol
        optimizer = self.make_optimizer()
        candidates: list[Candidate] = []
        finished: deque[Candidate] = deque()
        spent = 0.0
        exhausted = False
        asked_full_fidelity = False

        def on_done(pending: PendingTrial, result: TrialResult) -> None:
            candidate = candidates[pending.eval_index]
            candidate.results[pending.trial.seed] = result
            if len(candidate.results) == len(protocol.tuning_seeds):
                finished.append(candidate)

        try:
            while True:
                if not exhausted and not finished and self.runner.free:
                    launched: list[Candidate] = []
                    for proposal in optimizer.ask_batch(math.ceil(self.runner.free / len(protocol.tuning_seeds))):
                        candidate = self._candidate(candidates, proposal)
                        reserve = 0.0 if asked_full_fidelity or proposal.fidelity >= 1.0 else 1.0
                        if spent + candidate.charged + reserve > protocol.budget_full_runs + 1e-9:
                            candidates.pop()
                            exhausted = True
                            break
                        spent += candidate.charged
                        asked_full_fidelity |= proposal.fidelity >= 1.0
                        launched.append(candidate)
                    self._launch(launched, on_done)
                if finished:
                    candidate = finished.popleft()
                    if candidate.proposal.token is not PROMOTION:
                        optimizer.tell(candidate.proposal, candidate.mean_score)
                    continue
                if self.runner.in_flight == 0:
                    if asked_full_fidelity or not candidates:
                        break
                    best = self._best_at_top_fidelity(candidates)
                    self._launch([self._candidate(candidates, Proposal(best.proposal.config, 1.0, PROMOTION))], on_done)
                    asked_full_fidelity = True
                    continue
                self.runner.wait_one()
        finally:
            optimizer.close()
        return candidates

    def _candidate(self, candidates: list[Candidate], proposal: Proposal) -> Candidate:
        """The proposal as the runner will train it, charged what its trials will really train
        (a rollout-based algorithm trains whole rollouts: a low fidelity may cost a full run)."""
        run_config = run_config_for(self.protocol, proposal.config)
        budget = fidelity_budget(self.protocol, proposal.fidelity)
        backend, spec = self.runner.backend, self.runner.specs["tuning"]
        full = backend.trained_units(spec, run_config, self.protocol.full_fidelity)
        charged = min(backend.trained_units(spec, run_config, budget) / full, 1.0)
        candidate = Candidate(len(candidates), proposal, run_config, budget, charged)
        candidates.append(candidate)
        return candidate

    def _launch(self, launched: list[Candidate], on_done: Callable) -> None:
        self.runner.submit([self._tuning_trial(c, seed, on_done) for c in launched for seed in self.protocol.tuning_seeds])

    @staticmethod
    def _best_at_top_fidelity(candidates: list[Candidate]) -> Candidate:
        top = max(c.proposal.fidelity for c in candidates)
        return max((c for c in candidates if c.proposal.fidelity == top), key=lambda c: (c.mean_score, -c.index))

    def _tuning_trial(self, candidate: Candidate, seed: int, on_done: Callable) -> PendingTrial:
        self.protocol.seeds.require_tuning([seed])
        trial = Trial(candidate.run_config, seed, candidate.budget)
        key = TrialKey(self.study_id, "tuning", "tuning", trial.config_hash, seed, trial.budget)
        return PendingTrial(key, trial, candidate.proposal.fidelity, candidate.index, on_done)

    @staticmethod
    def select_incumbent(candidates: list[Candidate]) -> Candidate:
        full = [c for c in candidates if c.proposal.fidelity >= 1.0]
        return max(full, key=lambda c: (c.mean_score, -c.index))

    # held-out phase ----------------------------------------------------------------------------
    def train_roles(self, configs: dict[str, dict[str, Any]], seeds: tuple[int, ...], *, phase: str | None = None,
                    audit: bool = False) -> dict[str, dict[int, TrialResult]]:
        """Train each role's configuration at full fidelity on each seed, as one batch (default
        phase: the protocol's held-out phase, ``test`` or ``evaluation``).

        On held-out seeds, outside an audit, a role may only train what this study selected for it:
        ``incumbent`` the incumbent of its own stored tuning trials, ``hand-tuned`` the protocol's
        baseline, ``published`` one of the paper's published incumbents. Anything else is refused."""
        phase = phase or self.protocol.held_out_phase
        if phase == self.protocol.held_out_phase and not audit:
            for role, config in configs.items():
                if config_hash(config) not in self._held_out_allowed(role):
                    raise SealError(
                        f"study {self.study_id!r} did not select this {role} configuration ({config_hash(config)}): "
                        f"training it on the {phase} seeds would be selecting on the test set (record it as an "
                        "audit run instead)")
        results: dict[str, dict[int, TrialResult]] = {role: {} for role in configs}

        def on_done(pending: PendingTrial, result: TrialResult) -> None:
            results[pending.key.role][pending.trial.seed] = result

        batch = []
        for role, config in configs.items():
            for seed in seeds:
                trial = Trial(config, seed, self.protocol.full_fidelity)
                key = TrialKey(self.study_id, phase, role, trial.config_hash, seed, trial.budget, audit)
                batch.append(PendingTrial(key, trial, 1.0, None, on_done))
        self.runner.submit(batch)
        self.runner.drain()
        return results

    def _held_out_allowed(self, role: str) -> set[str]:
        """The configuration hashes this study may train on its held-out seeds in ``role``."""
        if role == "hand-tuned":
            return {config_hash(self.protocol.hand_tuned_run_config()[0])}
        if role == "incumbent":
            return {self._stored_incumbent()} - {None}
        if role == PUBLISHED_ROLE:
            base = self.protocol.name.split("+")[0]
            return {config_hash(published_config(self.protocol, e)) for e in published_incumbents(base).values()}
        return set()

    def _stored_incumbent(self) -> str | None:
        """The incumbent rule applied to this study's stored tuning trials (None: none at full fidelity)."""
        by_candidate: dict[int, list[dict[str, Any]]] = {}
        for trial in self.store.trials(self.study_id):
            if trial["phase"] == "tuning" and trial["fidelity"] >= 1.0:
                by_candidate.setdefault(trial["eval_index"], []).append(trial)
        complete = {i: ts for i, ts in by_candidate.items() if len(ts) == len(self.protocol.tuning_seeds)}
        if not complete:
            return None
        best = max(complete, key=lambda i: (float(np.mean([t["score"] for t in complete[i]])), -i))
        return complete[best][0]["config_hash"]

    def run(self) -> dict[str, Any]:
        """Tune, select, test; a finished study returns its stored summary. Replaying a finished
        study could take another path (with several workers a tool is told results in another
        order) and reach another incumbent, which the sealed test seeds would then refuse."""
        finished = self.store.study(self.study_id)["summary_json"]
        if finished:
            return json.loads(finished)
        protocol = self.protocol
        candidates = self.tune()
        if not candidates:
            raise RuntimeError("the HPO tool proposed no configuration")
        tuning_crashes = [r for c in candidates for r in c.results.values() if r.status == "crashed"]
        if len(tuning_crashes) == sum(len(c.results) for c in candidates):
            raise UserError(f"study {self.study_id}: every tuning trial crashed, so there is no incumbent; the first: "
                            f"{first_line(tuning_crashes[0].error)}")
        incumbent = self.select_incumbent(candidates)
        hand_tuned, hand_tuned_source = protocol.hand_tuned_run_config()
        adopted_from = self.store.adopt_held_out(self.study_id, "hand-tuned", config_hash(hand_tuned),
                                                 protocol.held_out_seeds, protocol.full_fidelity)
        held_out = self.train_roles({"incumbent": incumbent.run_config, "hand-tuned": hand_tuned},
                                    protocol.held_out_seeds)
        tuning_results = [r for c in candidates for r in c.results.values()]
        held_out_results = [r for role in held_out.values() for r in role.values() if "adopted_from" not in r.notes]
        summary = {
            "study_id": self.study_id,
            "family": protocol.family,
            "protocol": protocol.name,
            "held_out_phase": protocol.held_out_phase,
            "scale": protocol.scale,
            "protocol_hash": protocol.hash,
            "protocol_status": protocol_status(protocol),
            "optimizer": self.optimizer_name,
            "hpo_seed": self.hpo_seed,
            "incumbent": {
                "config": incumbent.run_config,
                "config_hash": config_hash(incumbent.run_config),
                "tuning_score": incumbent.mean_score,
                "candidate_index": incumbent.index,
            },
            "hand_tuned": {"config": hand_tuned, "source": hand_tuned_source,
                           "declared_by": hand_tuned_declared_by(protocol),
                           **({"trained_by": adopted_from} if adopted_from else {})},
            "held_out": {role: score_summary([by_seed[s].score for s in protocol.held_out_seeds])
                         for role, by_seed in held_out.items()},
            "budget": {
                "given_full_runs": protocol.budget_full_runs,
                "used_full_runs": float(sum(c.charged for c in candidates)),
                "unit": protocol.budget_unit,
                "tuning_units": int(sum(r.trained if r.trained is not None else c.budget
                                        for c in candidates for r in c.results.values())),
                "configurations": len(candidates),
                "crashed_trials": sum(r.status == "crashed" for r in tuning_results + held_out_results),
            },
            "time": {
                "tuning_wall_s": float(sum(r.wall_s for r in tuning_results)),
                "held_out_wall_s": float(sum(r.wall_s for r in held_out_results)),
                "cpu_s": float(sum(r.cpu_s for r in tuning_results + held_out_results)),
            },
        }
        self.store.save_summary(self.study_id, summary, provenance.code())
        return summary
