"""Segment-by-segment training on the SB3 backend, through checkpoints: PBT/PB2 members and schedule
trials, the slower path beside the jax backend's carries (``trainers/rl/jax/segments.py``).

Each slot (a member's or a trial's seed) lives in files: SB3's saved model (weights and optimizer
state), its replay buffer (off-policy) and its VecNormalize statistics. A segment builds a fresh
model with the segment's configuration (so every hyperparameter, buffer sizes included, means what
it means in SB3), loads the slot's parameters, optimizer state, step count, replay buffer and
statistics into it, trains until the slot has ``until`` env steps (``learn(reset_num_timesteps=
False)``: whole rollouts, as SB3 does), evaluates the deterministic policy and saves. This is how
checkpoint-based PBT runs SB3 (the RL paper's hypersweeper included), with the same deviations from
one uninterrupted run: the training envs restart at each segment (seeded from the slot's seed and
the segment), and progress-based schedules (``lin_`` rates, DQN's exploration) run over each
segment's ``learn()`` call.
"""

from __future__ import annotations

import pickle
import shutil
import tempfile
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .sb3 import EVAL_SEED_OFFSET, build_model, evaluator
from .spec import RLTrainSpec

#: Training envs of segment k are seeded ``seed + k * SEGMENT_SEED_STRIDE`` (new episodes each segment).
SEGMENT_SEED_STRIDE = 10_000
_KINDS = ("model.zip", "replay.pkl", "vecnormalize.pkl")


class SB3SegmentedTraining:
    """Slots trained segment by segment through SB3 checkpoints (the interface of the jax backend's
    ``SegmentedTraining``: ``start``, ``advance``, ``copy_learner``, ``state``, ``restore``)."""

    def __init__(self, spec: RLTrainSpec, seeds: Sequence[int], budget: int) -> None:
        self.spec, self.seeds, self.budget = spec, list(seeds), budget
        self._files_dir = tempfile.TemporaryDirectory(prefix="hpobench-sb3-segments-")  # removed with the object
        self.directory = Path(self._files_dir.name)
        self.timesteps = [0] * len(self.seeds)
        self.segment = 0

    def _file(self, slot: int, kind: str) -> Path:
        return self.directory / f"{slot}.{kind}"

    def _save(self, slot: int, model: Any, train_env: Any) -> None:
        from stable_baselines3.common.vec_env import VecNormalize

        model.save(self._file(slot, "model.zip"))
        if getattr(model, "replay_buffer", None) is not None:
            model.save_replay_buffer(self._file(slot, "replay.pkl"))
        if isinstance(train_env, VecNormalize):
            with self._file(slot, "vecnormalize.pkl").open("wb") as file:
                pickle.dump((train_env.obs_rms, train_env.ret_rms), file)

    def start(self, configs: Sequence[Mapping[str, Any]]) -> None:
        for slot, config in enumerate(configs):
            model, train_env, eval_env, _ = build_model(self.spec, config, self.seeds[slot], self.budget)
            self._save(slot, model, train_env)
            train_env.close()
            eval_env.close()
        self.timesteps, self.segment = [0] * len(configs), 0

    def advance(self, configs: Sequence[Mapping[str, Any]], until: int) -> np.ndarray:
        scores = np.zeros(len(configs))
        for slot, config in enumerate(configs):
            seed = self.seeds[slot]
            model, train_env, eval_env, _ = build_model(self.spec, config, seed, self.budget,
                                                        env_seed=seed + SEGMENT_SEED_STRIDE * (self.segment + 1))
            model.set_parameters(str(self._file(slot, "model.zip")), exact_match=True)
            model.num_timesteps = self.timesteps[slot]
            if self._file(slot, "replay.pkl").is_file():
                model.load_replay_buffer(self._file(slot, "replay.pkl"))
            if self._file(slot, "vecnormalize.pkl").is_file():
                with self._file(slot, "vecnormalize.pkl").open("rb") as file:
                    train_env.obs_rms, train_env.ret_rms = pickle.load(file)
            if until > model.num_timesteps:
                model.learn(total_timesteps=until - model.num_timesteps, reset_num_timesteps=False)
            scores[slot] = evaluator(model, train_env, eval_env, self.spec.eval_episodes, seed + EVAL_SEED_OFFSET)()
            self.timesteps[slot] = int(model.num_timesteps)
            self._save(slot, model, train_env)
            train_env.close()
            eval_env.close()
        self.segment += 1
        return scores

    def copy_learner(self, target: int, source: int) -> None:
        """PBT's exploit: ``target`` continues from ``source``'s saved model, optimizer state, replay
        buffer and normalisation statistics (its environments are rebuilt each segment anyway)."""
        for kind in _KINDS:
            self._file(target, kind).unlink(missing_ok=True)
            if self._file(source, kind).is_file():
                shutil.copyfile(self._file(source, kind), self._file(target, kind))
        self.timesteps[target] = self.timesteps[source]

    def state(self) -> dict[str, Any]:
        files = [{kind: self._file(slot, kind).read_bytes() for kind in _KINDS if self._file(slot, kind).is_file()}
                 for slot in range(len(self.seeds))]
        return {"files": files, "timesteps": list(self.timesteps), "segment": self.segment}

    def restore(self, configs: Sequence[Mapping[str, Any]], state: Mapping[str, Any]) -> None:
        for slot, files in enumerate(state["files"]):
            for kind, data in files.items():
                self._file(slot, kind).write_bytes(data)
        self.timesteps, self.segment = list(state["timesteps"]), int(state["segment"])
