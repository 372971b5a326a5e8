"""Tuning with a population-based tool (PBT, PB2).

The population times the tuning seeds trains in lockstep, one segment at a time, on a backend that
keeps each trial's state between calls (``trains_in_segments``: the jax backend, where a segment of
the whole population is one batched call per shape). After each segment the tool sees each member's
mean score over the tuning seeds and answers, per member, whose learner it continues from and its
next configuration; a member that exploits another takes that member's learner on every tuning
seed (seed k from seed k) and its schedule so far.

The state after each segment (learners, schedules, the tool) is checkpointed beside the store, so a
killed study resumes at the last segment boundary. At the end each member's schedule is stored as
one full-fidelity candidate scored on each tuning seed (its learning curve: one point per segment),
so the incumbent rule, the seal and the test phase (the schedule retrained from scratch on every test
seed) treat it like any configuration. Budget: the population is the protocol's budget in full runs
and each member trains one full run on every tuning seed, so a population-based tool spends what
every other tool spends, counted in trained steps.
"""

from __future__ import annotations

import os
import pickle
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import UserError
from ..optimizers import OPTIMIZERS, Proposal
from ..store.sqlite_store import TrialKey
from ..trainers.base import TrialResult, config_hash, host_info
from ..trainers.schedule import SCHEDULE_KEY, segment_ends

if TYPE_CHECKING:
    from .study import Candidate, Study


class PopulationTuner:
    """The tuning phase of ``study`` with its population-based tool."""

    def __init__(self, study: "Study") -> None:
        self.study = study
        self.protocol = study.protocol
        self.backend = study.runner.backend
        self.population = int(self.protocol.budget_full_runs)
        if self.population < 2:
            raise UserError(f"{study.optimizer_name} needs a population of at least 2 (the budget in full runs), "
                            f"{self.protocol.protocol_id} gives {self.protocol.budget_full_runs}")
        self.checkpoint = Path(study.store.directory) / "populations" / f"{study.study_id}.pkl"

    def tune(self) -> list["Candidate"]:
        protocol, seeds = self.protocol, list(self.protocol.tuning_seeds)
        protocol.seeds.require_tuning(seeds)
        training = self.backend.segmented(self.study.runner.specs["tuning"],
                                          [seed for _ in range(self.population) for seed in seeds],
                                          protocol.full_fidelity)
        segments = protocol.population_segments
        ends = segment_ends(protocol.full_fidelity, segments)
        state = self._load()
        if state is None:
            tool = OPTIMIZERS.get(self.study.optimizer_name)(
                protocol.search_space(seed=self.study.hpo_seed), seed=self.study.hpo_seed,
                population_size=self.population, frozen=self.backend.carry_shaping)
            sampled = [[config] for config in tool.initial()]
            state = {"segment": 0, "tool": tool, "sampled": sampled, "scores": [], "exploits": [[] for _ in sampled],
                     "wall_s": 0.0, "cpu_s": 0.0}
            training.start(self._slot_configs(sampled, 0, len(seeds)))
        else:
            # Any of a member's configurations gives its carry's structure (shaping values never change).
            training.restore(self._slot_configs(state["sampled"], -1, len(seeds)), state["training"])
        for k in range(state["segment"], segments):
            wall, cpu = time.perf_counter(), time.process_time()
            scores = training.advance(self._slot_configs(state["sampled"], k, len(seeds)), ends[k])
            by_member = scores.reshape(self.population, len(seeds))
            state["scores"].append(by_member.tolist())
            if k + 1 < segments:
                self._exploit_and_explore(state, training, k, by_member.mean(axis=1), len(seeds))
            state["wall_s"] += time.perf_counter() - wall
            state["cpu_s"] += time.process_time() - cpu
            state["segment"] = k + 1
            self._save(state, training)
        return self._candidates(state, training, ends, seeds)

    def _slot_configs(self, sampled: list[list[dict[str, Any]]], segment: int, n_seeds: int) -> list[dict[str, Any]]:
        from .study import run_config_for

        return [run_config_for(self.protocol, member[segment]) for member in sampled for _ in range(n_seeds)]

    @staticmethod
    def _exploit_and_explore(state: dict[str, Any], training: Any, segment: int, means: np.ndarray,
                             n_seeds: int) -> None:
        sampled = state["sampled"]
        choices = state["tool"].next_configs([member[segment] for member in sampled], means.tolist())
        for member, (source, _) in enumerate(choices):
            if source != member:  # sources are top members, never exploiting in the same round
                for i in range(n_seeds):
                    training.copy_learner(member * n_seeds + i, source * n_seeds + i)
                state["exploits"][member] = state["exploits"][source] + [(segment, source)]
        state["sampled"] = [sampled[source][: segment + 1] + [config] for source, config in choices]

    def _candidates(self, state: dict[str, Any], training: Any, ends: list[int], seeds: list[int]) -> list["Candidate"]:
        from .study import Candidate, run_config_for

        protocol, study = self.protocol, self.study
        host = host_info()
        full = self.backend.trained_units(study.runner.specs["tuning"], protocol.base_config, protocol.full_fidelity)
        scores = np.asarray(state["scores"])  # segments x members x seeds
        candidates = []
        for member, schedule in enumerate(state["sampled"]):
            config = {SCHEDULE_KEY: [run_config_for(protocol, c) for c in schedule]}
            slots = [member * len(seeds) + i for i in range(len(seeds))]
            charged = min(max(training.timesteps[s] for s in slots) / full, 1.0)
            candidate = Candidate(member, Proposal({SCHEDULE_KEY: schedule}, 1.0), config, protocol.full_fidelity, charged)
            for i, (seed, slot) in enumerate(zip(seeds, slots)):
                curve = [(end, float(scores[k, member, i])) for k, end in enumerate(ends)]
                final = curve[-1][1]
                ok = bool(np.isfinite(final))
                result = TrialResult(
                    final if ok else protocol.worst_score, "ok" if ok else "crashed", curve if ok else [],
                    state["wall_s"] / len(training.timesteps), state["cpu_s"] / len(training.timesteps),
                    error=None if ok else f"FloatingPointError: final score is {final}",
                    trained=training.timesteps[slot],
                    notes={"population": {"member": member, "size": self.population, "segments": len(ends),
                                          "exploited": state["exploits"][member]}},
                    host=host)
                key = TrialKey(study.study_id, "tuning", "tuning", config_hash(config), seed, protocol.full_fidelity)
                study.store.put(key, config, 1.0, result, member)
                candidate.results[seed] = result
            candidates.append(candidate)
        return candidates

    def _load(self) -> dict[str, Any] | None:
        if not self.checkpoint.is_file():
            return None
        with self.checkpoint.open("rb") as file:
            return pickle.load(file)

    def _save(self, state: dict[str, Any], training: Any) -> None:
        """Atomically: a kill mid-write leaves the previous segment's checkpoint."""
        self.checkpoint.parent.mkdir(parents=True, exist_ok=True)
        partial = self.checkpoint.with_suffix(".partial")
        with partial.open("wb") as file:
            pickle.dump({**state, "training": training.state()}, file)
        os.replace(partial, self.checkpoint)
