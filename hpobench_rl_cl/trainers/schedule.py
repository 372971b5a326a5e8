"""Schedules: a configuration that changes at equal fractions of the run (light: no training library).

``{"schedule": [config_0, ..., config_{n-1}]}``: segment k of a ``budget``-unit run trains with
``config_k`` up to :func:`segment_ends` ``[k]``. Population-based tools (PBT, PB2) produce them (a
member's result is the configuration in force in each segment) and the RL paper reports its PB2
incumbents as one; the test phase retrains a schedule from scratch like any configuration.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

SCHEDULE_KEY = "schedule"


def is_schedule(config: Mapping[str, Any]) -> bool:
    return SCHEDULE_KEY in config


def segments_of(config: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """A configuration's per-segment configurations (one, unless it is a schedule)."""
    return config[SCHEDULE_KEY] if is_schedule(config) else [config]


def checked_segments(config: Mapping[str, Any], where: str) -> list[Mapping[str, Any]]:
    """:func:`segments_of`, refusing a schedule that is not a non-empty list of configurations."""
    from ..errors import UserError

    segments = segments_of(config)
    if not isinstance(segments, list) or not segments or not all(isinstance(c, Mapping) for c in segments):
        raise UserError(f"{where}: a schedule is a non-empty list of configurations")
    return segments


def segment_ends(budget: int, segments: int) -> list[int]:
    """Where each of ``segments`` equal parts of a ``budget``-unit run ends."""
    return [round(budget * (k + 1) / segments) for k in range(segments)]


def train_schedules(training: Any, configs: Sequence[Mapping[str, Any]], budget: int
                    ) -> tuple[list[list[tuple[int, float]]], list[int]]:
    """Schedule trials from scratch on a backend's segmented ``training`` (one slot per trial): each
    trial's learning curve (one point per segment end) and the env steps it trained."""
    lengths = {len(c[SCHEDULE_KEY]) for c in configs}
    if len(lengths) != 1:
        raise ValueError(f"schedules of one call need the same number of segments, got {sorted(lengths)}")
    ends = segment_ends(budget, lengths.pop())
    training.start([c[SCHEDULE_KEY][0] for c in configs])
    curves: list[list[tuple[int, float]]] = [[] for _ in configs]
    for k, end in enumerate(ends):
        for curve, score in zip(curves, training.advance([c[SCHEDULE_KEY][k] for c in configs], end)):
            curve.append((end, float(score)))
    return curves, list(training.timesteps)
