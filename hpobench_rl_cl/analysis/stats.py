"""Robust statistics as small pure functions over arrays (rliable where it provides them).

Score matrices are shaped ``(runs, tasks)``: one row per run (seed), one column per protocol.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
from rliable import library, metrics
from scipy.stats import rankdata


def iqm(scores: np.ndarray) -> float:
    """Interquartile mean over all entries (mean of the middle 50%)."""
    return float(metrics.aggregate_iqm(np.asarray(scores, dtype=float).reshape(-1, 1)))


def normalize(scores: np.ndarray, low: float, high: float) -> np.ndarray:
    """(scores - low) / (high - low); in this suite low = the protocol's worst score or a random
    policy, high = the hand-tuned baseline's test mean."""
    if high == low:
        raise ValueError("normalization needs high != low")
    return (np.asarray(scores, dtype=float) - low) / (high - low)


def aggregates_with_ci(score_dict: Mapping[str, np.ndarray], *, reps: int = 2000, seed: int = 0
                       ) -> dict[str, dict[str, tuple[float, float, float]]]:
    """IQM, mean, median and optimality gap with stratified-bootstrap 95% CIs, per method.

    Returns ``{method: {metric: (estimate, low, high)}}``.
    """
    def aggregate(x: np.ndarray) -> np.ndarray:
        return np.array([metrics.aggregate_iqm(x), metrics.aggregate_mean(x), metrics.aggregate_median(x),
                         metrics.aggregate_optimality_gap(x)])

    np.random.seed(seed)  # rliable draws its bootstrap samples from NumPy's global generator
    points, intervals = library.get_interval_estimates(
        {k: np.asarray(v, dtype=float) for k, v in score_dict.items()}, aggregate, reps=reps)
    names = ("iqm", "mean", "median", "optimality_gap")
    return {method: {name: (float(points[method][i]), float(intervals[method][0][i]), float(intervals[method][1][i]))
                     for i, name in enumerate(names)} for method in points}


def probability_of_improvement(x: np.ndarray, y: np.ndarray) -> float:
    """P(a run of X beats a run of Y), averaged over tasks (Mann-Whitney U statistic / (n m))."""
    return float(metrics.probability_of_improvement(np.asarray(x, dtype=float), np.asarray(y, dtype=float)))


def bootstrap_ci(values_a: np.ndarray, values_b: np.ndarray, statistic, *, reps: int = 2000, seed: int = 0,
                 level: float = 0.95) -> tuple[float, float, float]:
    """Point estimate and percentile-bootstrap CI of ``statistic(a, b)``, resampling a and b apart."""
    rng = np.random.default_rng(seed)
    a, b = np.asarray(values_a, dtype=float), np.asarray(values_b, dtype=float)
    draws = [statistic(rng.choice(a, a.size), rng.choice(b, b.size)) for _ in range(reps)]
    tail = (1 - level) / 2 * 100
    return float(statistic(a, b)), float(np.percentile(draws, tail)), float(np.percentile(draws, 100 - tail))


def ranks(scores: np.ndarray) -> np.ndarray:
    """Rank 1 = best (highest score); ties share their mean rank."""
    return rankdata(-np.asarray(scores, dtype=float))
