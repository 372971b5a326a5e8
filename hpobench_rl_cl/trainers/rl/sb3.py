"""The SB3 backend: one trial = one ``learn()`` on one worker, then a deterministic evaluation.

Seeds, all derived from the trial seed ``s`` (re-running a trial on the same machine gives the same
score): SB3's ``set_random_seed(s)`` (Python, NumPy, torch, action spaces) through ``seed=s``; the
training envs are seeded ``s, s+1, ...`` (one per parallel env); the separate evaluation env is
seeded ``s + EVAL_SEED_OFFSET`` and re-seeded before every evaluation, so each learning-curve
point and the final score are measured on the same episodes.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
from stable_baselines3.common.callbacks import BaseCallback

from ..base import TrainerBackend, Trial, TrialResult, guarded_trial, resolve_device
from ..schedule import checked_segments, is_schedule, segments_of
from .spec import RLTrainSpec

EVAL_SEED_OFFSET = 1_000_000


def _make_envs(spec: RLTrainSpec, run_config: Any, seed: int):
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import VecFrameStack, VecNormalize

    from .envs import make_registered, wrapper_for

    make_registered(spec.env_id)
    wrapper = wrapper_for(spec.env_id, run_config.wrapper_class)

    def make(n_envs: int, env_seed: int):
        env = make_vec_env(spec.env_id, n_envs=n_envs, seed=env_seed, wrapper_class=wrapper, env_kwargs=spec.env_kwargs)
        return VecFrameStack(env, run_config.frame_stack) if run_config.frame_stack else env

    train_env = make(run_config.n_envs, seed)
    eval_env = make(1, seed + EVAL_SEED_OFFSET)
    if run_config.normalize is not None:
        train_env = VecNormalize(train_env, **run_config.normalize)
        # Evaluation uses the training statistics, frozen, and reports unnormalized returns.
        eval_env = VecNormalize(eval_env, training=False, norm_reward=False, **{
            k: v for k, v in run_config.normalize.items() if k not in ("training", "norm_reward")
        })
    return train_env, eval_env


def evaluator(model: Any, train_env: Any, eval_env: Any, episodes: int, eval_seed: int):
    from stable_baselines3.common.evaluation import evaluate_policy
    from stable_baselines3.common.vec_env import VecNormalize, sync_envs_normalization

    def evaluate() -> float:
        if isinstance(eval_env, VecNormalize):
            sync_envs_normalization(train_env, eval_env)
        eval_env.seed(eval_seed)
        mean_return, _ = evaluate_policy(model, eval_env, n_eval_episodes=episodes, deterministic=True, warn=False)
        return float(mean_return)

    return evaluate


class CurveCallback(BaseCallback):
    """Evaluates the policy each time training passes the next learning-curve checkpoint."""

    def __init__(self, steps: list[int], evaluate: Callable[[], float], curve: list[tuple[int, float]]) -> None:
        super().__init__()
        self.steps, self.evaluate, self.curve = list(steps), evaluate, curve

    def _on_step(self) -> bool:
        while self.steps and self.num_timesteps >= self.steps[0]:
            self.curve.append((self.steps.pop(0), self.evaluate()))
        return True


def checkpoints(budget: int, curve_points: int) -> list[int]:
    """Env steps at which the learning curve is measured (the last one is the final score)."""
    points = max(curve_points, 1)
    return sorted({max(1, round(budget * (i + 1) / points)) for i in range(points)})


def build_model(spec: RLTrainSpec, config: Any, seed: int, budget: int, env_seed: int | None = None) -> tuple:
    """(model, training env, evaluation env, run config) of a configuration, seeded from ``seed``
    (training envs from ``env_seed``, default the same)."""
    import torch

    from .algorithms import ALGORITHMS
    from .run_config import build_run_config, make_action_noise

    torch.set_num_threads(1)  # measured faster than more threads for these small networks
    run_config = build_run_config(config, default_policy=spec.policy, total_timesteps=budget,
                                  full_timesteps=spec.full_timesteps)
    train_env, eval_env = _make_envs(spec, run_config, seed if env_seed is None else env_seed)
    if run_config.action_noise:
        n_actions = int(np.prod(train_env.action_space.shape))
        run_config.algorithm_kwargs["action_noise"] = make_action_noise(run_config.action_noise, n_actions)
    device = resolve_device(spec.device, prefer_gpu="Cnn" in run_config.policy)
    model = ALGORITHMS.get(spec.algorithm)(
        run_config.policy, train_env, seed=seed, device=device, verbose=0, **run_config.algorithm_kwargs)
    return model, train_env, eval_env, run_config


def train_trial(spec: RLTrainSpec, trial: Trial) -> TrialResult:
    """Train and evaluate one trial. Never raises: a failure is a ``crashed`` result with its error."""

    def body(curve: list[tuple[int, float]], notes: dict[str, Any]) -> float:
        model, train_env, eval_env, run_config = build_model(spec, trial.config, trial.seed, trial.budget)
        notes.update(run_config.notes)
        evaluate = evaluator(model, train_env, eval_env, spec.eval_episodes, trial.seed + EVAL_SEED_OFFSET)
        # One learn() call: splitting it at the checkpoints would restart SB3's progress-based
        # schedules (lin_ learning rates, DQN's exploration) at every checkpoint.
        *early, final = checkpoints(trial.budget, spec.curve_points)
        model.learn(total_timesteps=trial.budget, callback=CurveCallback(early, evaluate, curve))
        curve.append((final, evaluate()))
        # Rollout-based algorithms round the budget up to whole rollouts (n_steps * n_envs).
        notes["trained"] = int(model.num_timesteps)
        train_env.close()
        eval_env.close()
        return curve[-1][1]

    return guarded_trial(spec.worst_score, body)


def train_schedule_trial(spec: RLTrainSpec, trial: Trial) -> TrialResult:
    """A schedule trial (``trainers/schedule.py``) from scratch, segment by segment through checkpoints."""
    from ..schedule import train_schedules
    from .sb3_segments import SB3SegmentedTraining

    def body(curve: list[tuple[int, float]], notes: dict[str, Any]) -> float:
        curves, trained = train_schedules(SB3SegmentedTraining(spec, [trial.seed], trial.budget), [trial.config],
                                          trial.budget)
        curve.extend(curves[0])
        notes["trained"] = trained[0]
        return curve[-1][1]

    return guarded_trial(spec.worst_score, body)


class SB3Backend(TrainerBackend):
    """One trial per call, on one single-threaded worker; population tools and schedules through
    checkpoints (``sb3_segments.py``)."""

    trains_in_segments = True
    carry_shaping = frozenset({"n_envs", "buffer_size", "policy", "policy_kwargs", "normalize", "frame_stack",
                               "env_wrapper"})

    def segmented(self, spec: RLTrainSpec, seeds: Sequence[int], budget: int) -> Any:
        from .sb3_segments import SB3SegmentedTraining

        return SB3SegmentedTraining(spec, seeds, budget)

    def check_protocol(self, protocol: Any) -> None:
        from .algorithms import check_sb3_protocol

        check_sb3_protocol(protocol)

    def check_config(self, protocol: Any, config: Any, where: str) -> None:
        from .run_config import check_values

        for segment in checked_segments(config, where):
            check_values(segment, where)

    def trained_units(self, spec: RLTrainSpec, config: Any, budget: int) -> int:
        """SB3 collects whole rollouts: ``n_steps * n_envs`` steps for on-policy algorithms (a budget
        below one rollout trains one rollout), ``n_envs`` steps per step for off-policy ones."""
        from .algorithms import rollout_steps

        rollout = max(rollout_steps(spec.algorithm, c) for c in segments_of(config))
        return -(-budget // rollout) * rollout

    def accepted_hyperparameters(self, protocol: Any) -> set[str] | None:
        from .algorithms import accepted_hyperparameters

        return set(accepted_hyperparameters(protocol.algorithm))

    def train_batch(self, spec: RLTrainSpec, trials: Sequence[Trial]) -> list[TrialResult]:
        return [train_schedule_trial(spec, t) if is_schedule(t.config) else train_trial(spec, t) for t in trials]
