"""Schedules: a configuration that changes at equal fractions of the run (light: no training library).

``{"schedule": [config_0, ..., config_{n-1}]}``: segment k of a ``budget``-unit run trains with
``config_k`` up to :func:`segment_ends` ``[k]``. Population-based tools (PBT, PB2) produce them (a
member's result is the configuration in force in each segment) and the RL paper reports its PB2
incumbents as one; the test phase retrains a schedule from scratch like any configuration.
"""

from __future__ import annotations

from typing import Any, Mapping

SCHEDULE_KEY = "schedule"


def is_schedule(config: Mapping[str, Any]) -> bool:
    return SCHEDULE_KEY in config


def segment_ends(budget: int, segments: int) -> list[int]:
    """Where each of ``segments`` equal parts of a ``budget``-unit run ends."""
    return [round(budget * (k + 1) / segments) for k in range(segments)]
