"""What a whole study costs: work units (env steps, training images) and single-core hours, from the
speeds measured on the development machines (``measured_speeds.json``, written by
``benchmarks/trial_speed.py``)."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib.resources import files
from typing import Any


@lru_cache(maxsize=1)
def measured_speeds() -> dict[str, Any]:
    return json.loads((files("hpobench_rl_cl.runner") / "measured_speeds.json").read_text())


def _speed(table: str, key: str) -> float:
    speeds = measured_speeds()
    return float(speeds.get(table, {}).get(key, speeds["default"])["value"])


def estimated_cost(protocol: Any) -> dict[str, float]:
    """Work units and single-core hours of a whole study at the protocol's scale: the tuning budget
    plus both roles on every held-out seed (a rough estimate)."""
    runs = protocol.budget_full_runs * len(protocol.tuning_seeds) + 2 * len(protocol.held_out_seeds)
    if protocol.family == "cl":
        units = runs * protocol.epochs * protocol.tuning_data.info().train_images
        speed = _speed("cl_images_per_s", protocol.model)
    else:
        units = runs * protocol.total_timesteps
        suffix = "" if protocol.backend == "sb3" else f"_{protocol.backend}"
        speed = _speed("rl_env_steps_per_s" + suffix, protocol.algorithm)
        if "Cnn" in protocol.policy:
            speeds = measured_speeds()
            speed /= speeds.get("rl_cnn_slowdown" + suffix, speeds["rl_cnn_slowdown"])["value"]
    return {"units": units, "core_hours": units / speed / 3600}
