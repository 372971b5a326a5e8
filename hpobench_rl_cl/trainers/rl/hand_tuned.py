"""Hand-tuned baselines: rl-zoo3's own hyperparameter files, read at run time.

A protocol says ``hand_tuned: {source: rl-zoo3}`` (the entry for its env id, or ``key:`` for
another id, e.g. HalfCheetah-v4 for HalfCheetah-v5), or names another source and gives the
``config`` itself. The configuration is kept in rl-zoo3's vocabulary (``lin_`` schedules,
``policy_kwargs`` strings, ``normalize``, ``n_envs`` ...), which ``run_config`` understands.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

import yaml

from ...errors import ProtocolError

# rl-zoo3 keys that describe its own experiment, not the agent.
_ZOO_EXPERIMENT_KEYS = ("n_timesteps",)


def zoo_hyperparams_file(algorithm: str) -> Path:
    """rl-zoo3's file, found without importing rl_zoo3 (whose import loads SB3 and torch)."""
    from importlib.util import find_spec

    spec = find_spec("rl_zoo3")
    if spec is None or not spec.submodule_search_locations:
        raise ProtocolError("rl-zoo3 is not installed: it holds the hand-tuned configurations")
    return Path(list(spec.submodule_search_locations)[0]) / "hyperparams" / f"{algorithm.lower()}.yml"


def zoo_entry(algorithm: str, key: str) -> dict[str, Any]:
    """rl-zoo3's entry for ``key`` in its ``hyperparams/<algorithm>.yml``, as shipped."""
    path = zoo_hyperparams_file(algorithm)
    if not path.is_file():
        raise ProtocolError(f"rl-zoo3 has no hyperparameter file for {algorithm} ({path.name})")
    entries = yaml.safe_load(path.read_text())
    if key not in entries:
        raise ProtocolError(f"rl-zoo3 has no {algorithm} entry for {key!r}: name the hand-tuned source in the protocol")
    return dict(entries[key])


def hand_tuned_config(algorithm: str, env_id: str, hand_tuned: Mapping[str, Any]) -> tuple[dict[str, Any], str]:
    """The hand-tuned configuration and a one-line statement of where it comes from."""
    if hand_tuned["source"] == "rl-zoo3":
        key = hand_tuned.get("key", env_id)
        entry = zoo_entry(algorithm, key)
        config = {k: v for k, v in entry.items() if k not in _ZOO_EXPERIMENT_KEYS}
        return config, f"rl-zoo3 {algorithm.lower()}.yml [{key}] (its own setting: {entry.get('n_timesteps', '?'):g} steps)"
    return dict(hand_tuned["config"]), str(hand_tuned["source"])


def zoo_reference_timesteps(algorithm: str, env_id: str, hand_tuned: Mapping[str, Any]) -> int | None:
    """rl-zoo3's own training length for the entry (its published results use it)."""
    if hand_tuned["source"] != "rl-zoo3":
        return None
    return int(float(zoo_entry(algorithm, hand_tuned.get("key", env_id))["n_timesteps"]))
