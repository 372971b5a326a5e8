"""Trials trained segment by segment, each trial's state (its *carry*) kept between calls.

Two users: a population-based tool's members (PBT, PB2: between segments a member may copy another
member's learner) and schedule trials (:mod:`hpobench_rl_cl.trainers.schedule`). A segment trains whole rollouts (PPO) or collections (DQN) until the
trial has trained at least the segment's end in env steps, as SB3's ``learn(reset_num_timesteps=
False)`` does, then evaluates the deterministic policy. Within a segment, slots whose configurations
share a shape and a number of iterations train in one padded, vmapped call; a slot's random streams
are its own seed's, as in a whole-run call.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from ..spec import RLTrainSpec
from .backend import CompiledCache
from .common import ENVIRONMENT_FIELDS, EVAL_SEED_OFFSET, compiled_shape, evaluate_policy, stacked, stacked_batch

_COMPILED = CompiledCache()


def _unstack(tree: Any, count: int) -> list[Any]:
    return [jax.tree.map(lambda leaf: leaf[i], tree) for i in range(count)]


class SegmentedTraining:
    """Slots (one per (member or trial, seed)) trained segment by segment on the jax backend."""

    def __init__(self, spec: RLTrainSpec, seeds: Sequence[int], budget: int, device: str) -> None:
        from .backend import algorithm_module, configure_jax, jax_device

        configure_jax()
        self.spec, self.seeds, self.budget = spec, list(seeds), budget
        self.module = algorithm_module(spec.algorithm)
        self.device = jax_device(device)
        self.carries: list[Any] = []
        self.timesteps = [0] * len(self.seeds)

    def _split(self, config: Mapping[str, Any]) -> tuple[Any, Any]:
        shape, hyper, _ = self.module.split_config(config, self.spec, self.budget)
        return shape, hyper

    def _function(self, kind: str, shape: Any, size: int, axes: Any) -> Any:
        key = compiled_shape(shape)

        def build() -> Any:
            trainer = self.module.make_trainer(key)
            if kind == "setup":
                return jax.jit(jax.vmap(trainer.setup, in_axes=(axes, 0)))

            def advance(hyper: Any, carry: Any, iterations: jax.Array, eval_key: jax.Array) -> tuple[Any, jax.Array]:
                carry = jax.lax.fori_loop(0, iterations, lambda _, c: trainer.iteration(hyper, c), carry)
                score = evaluate_policy(trainer.env, lambda obs: trainer.act(carry, obs), eval_key, shape.eval_episodes)
                return carry, score

            return jax.jit(jax.vmap(advance, in_axes=(axes, 0, None, 0)))

        return _COMPILED.get((kind, self.spec.algorithm, key, size), build)

    def _groups(self, keys: Sequence[Any]) -> list[list[int]]:
        groups: dict[Any, list[int]] = {}
        for slot, key in enumerate(keys):
            groups.setdefault(key, []).append(slot)
        return list(groups.values())

    @staticmethod
    def _padded(slots: list[int]) -> list[int]:
        from .backend import PAD_SIZES

        size = next((s for s in PAD_SIZES if s >= len(slots)), len(slots))
        return slots + [slots[0]] * (size - len(slots))

    def start(self, configs: Sequence[Mapping[str, Any]]) -> None:
        """Fresh learners for every slot (``configs``: each slot's first-segment configuration)."""
        split = [self._split(c) for c in configs]
        self.carries = [None] * len(configs)
        with jax.default_device(self.device):
            for slots in self._groups([shape for shape, _ in split]):
                padded = self._padded(slots)
                hypers, axes = stacked_batch([split[s][1] for s in padded])
                carries = self._function("setup", split[slots[0]][0], len(padded), axes)(
                    hypers, jnp.stack([jax.random.PRNGKey(self.seeds[s]) for s in padded]))
                for slot, carry in zip(slots, _unstack(carries, len(slots))):
                    self.carries[slot] = carry
        self.timesteps = [0] * len(configs)

    def advance(self, configs: Sequence[Mapping[str, Any]], until: int) -> np.ndarray:
        """Train every slot with its configuration until it has trained ``until`` env steps; the
        slots' scores after it."""
        split = [self._split(c) for c in configs]
        iterations = [max(0, -(-(until - done) // shape.rollout)) for done, (shape, _) in zip(self.timesteps, split)]
        scores = np.zeros(len(configs))
        with jax.default_device(self.device):
            for slots in self._groups([(shape, n) for (shape, _), n in zip(split, iterations)]):
                shape, padded = split[slots[0]][0], self._padded(slots)
                hypers, axes = stacked_batch([split[s][1] for s in padded])
                carries, group_scores = self._function("advance", shape, len(padded), axes)(
                    hypers, stacked([self.carries[s] for s in padded]),
                    jnp.int32(iterations[slots[0]]),
                    jnp.stack([jax.random.PRNGKey(self.seeds[s] + EVAL_SEED_OFFSET) for s in padded]))
                for slot, carry, score in zip(slots, _unstack(carries, len(slots)), np.asarray(group_scores)):
                    self.carries[slot], scores[slot] = carry, float(score)
                    self.timesteps[slot] += iterations[slot] * shape.rollout
        return scores

    def copy_learner(self, target: int, source: int) -> None:
        """PBT's exploit: ``target`` continues from ``source``'s learner (weights, optimizer state,
        replay buffer, step counters), keeping its own environment and random stream."""
        mine, theirs = self.carries[target], self.carries[source]
        self.carries[target] = mine._replace(**{f: getattr(theirs, f) for f in mine._fields if f not in ENVIRONMENT_FIELDS})
        self.timesteps[target] = self.timesteps[source]

    def state(self) -> dict[str, Any]:
        """Everything needed to continue after a restart, as plain host arrays (no classes, so a
        checkpoint survives a change of the carry's Python types, not of its contents)."""
        return {"leaves": [[np.asarray(leaf) for leaf in jax.tree.leaves(c)] for c in self.carries],
                "timesteps": list(self.timesteps)}

    def restore(self, configs: Sequence[Mapping[str, Any]], state: Mapping[str, Any]) -> None:
        """Continue from :meth:`state`; ``configs``: each slot's configuration of the next segment
        (it gives the carry's structure)."""
        from ....errors import UserError

        self.start(configs)
        for slot, (template, leaves) in enumerate(zip(self.carries, state["leaves"])):
            structure = jax.tree.structure(template)
            if structure.num_leaves != len(leaves) or any(
                    np.shape(a) != np.shape(b) for a, b in zip(jax.tree.leaves(template), leaves)):
                raise UserError("the population checkpoint does not fit this version of the trainer: delete it "
                                "to restart the population from scratch")
            with jax.default_device(self.device):
                self.carries[slot] = jax.tree.unflatten(structure, [jnp.asarray(leaf) for leaf in leaves])
        self.timesteps = list(state["timesteps"])
