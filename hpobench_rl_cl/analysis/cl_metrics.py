"""Continual-learning metrics as pure functions of the accuracy matrix.

``R[i, j]`` is the accuracy on experience ``j``'s test data after training on experiences
``0..i``. ``weights[j]`` (default: equal) is experience ``j``'s share of the test data, so that with
weights = test-set sizes an "accuracy over the seen classes" is the accuracy over their samples,
as class-incremental papers report it (this matters when the first experience is larger).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from scipy.stats import kendalltau

from .stats import ranks


def _checked(matrix: Sequence[Sequence[float]]) -> np.ndarray:
    R = np.asarray(matrix, dtype=float)
    if R.ndim != 2 or R.shape[0] != R.shape[1] or R.shape[0] == 0:
        raise ValueError(f"an accuracy matrix must be square and non-empty, got shape {R.shape}")
    return R


def _weights(weights: Sequence[float] | None, size: int) -> np.ndarray:
    return np.ones(size) if weights is None else np.asarray(weights, dtype=float)


def seen_accuracy(matrix: Sequence[Sequence[float]], weights: Sequence[float] | None = None) -> np.ndarray:
    """Accuracy over the experiences seen so far, after each experience: ``a_i = avg_j<=i R[i, j]``."""
    R = _checked(matrix)
    w = _weights(weights, len(R))
    return np.array([np.average(R[i, : i + 1], weights=w[: i + 1]) for i in range(len(R))])


def final_accuracy(matrix: Sequence[Sequence[float]], weights: Sequence[float] | None = None) -> float:
    """Accuracy over every experience after the last one (A_last)."""
    return float(seen_accuracy(matrix, weights)[-1])


def average_incremental_accuracy(matrix: Sequence[Sequence[float]], weights: Sequence[float] | None = None) -> float:
    """Mean over experiences of the accuracy on the seen experiences after each one (A_avg)."""
    return float(np.mean(seen_accuracy(matrix, weights)))


def forgetting(matrix: Sequence[Sequence[float]]) -> float:
    """Mean over all but the last experience of (best earlier accuracy on it - final accuracy on it)."""
    R = _checked(matrix)
    T = len(R)
    if T == 1:
        return 0.0
    return float(np.mean([R[j : T - 1, j].max() - R[T - 1, j] for j in range(T - 1)]))


def backward_transfer(matrix: Sequence[Sequence[float]]) -> float:
    """Mean over all but the last experience of (final accuracy - accuracy right after learning it)."""
    R = _checked(matrix)
    T = len(R)
    if T == 1:
        return 0.0
    return float(np.mean([R[T - 1, j] - R[j, j] for j in range(T - 1)]))


def all_metrics(matrix: Sequence[Sequence[float]], weights: Sequence[float] | None = None) -> dict[str, float]:
    return {
        "final_accuracy": final_accuracy(matrix, weights),
        "average_incremental_accuracy": average_incremental_accuracy(matrix, weights),
        "forgetting": forgetting(matrix),
        "backward_transfer": backward_transfer(matrix),
    }


def kendall_tau(first: Sequence[float], second: Sequence[float]) -> float:
    """Kendall's tau-b between two scorings of the same methods (1: same order, -1: reversed)."""
    if len(first) < 2:
        return float("nan")
    return float(kendalltau(first, second).statistic)


def compare_strategies(summaries: dict[str, dict]) -> dict:
    """The CL paper's headline on our data: each strategy's incumbent scored in the tuning phase
    (mean over tuning seeds, tuning dataset) and in the evaluation phase (mean over evaluation
    seeds, evaluation dataset), the ranks in each phase, and Kendall's tau between the phases."""
    names = list(summaries)
    tuning = [summaries[n]["incumbent"]["tuning_score"] for n in names]
    evaluation = [summaries[n]["held_out"]["incumbent"]["mean"] for n in names]
    hand_tuned = [summaries[n]["held_out"]["hand-tuned"]["mean"] for n in names]
    tuning_ranks, evaluation_ranks, hand_tuned_ranks = ranks(tuning), ranks(evaluation), ranks(hand_tuned)
    rows = [
        {"strategy": n, "tuning_score": t, "tuning_rank": float(tr), "evaluation_score": e,
         "evaluation_rank": float(er), "rank_shift": float(tr - er), "hand_tuned_evaluation_score": h,
         "hand_tuned_evaluation_rank": float(hr)}
        for n, t, tr, e, er, h, hr in zip(names, tuning, tuning_ranks, evaluation, evaluation_ranks, hand_tuned,
                                          hand_tuned_ranks)
    ]
    return {
        "strategies": rows,
        "kendall_tau_tuning_vs_evaluation": kendall_tau(tuning, evaluation),
        "kendall_tau_tuned_vs_hand_tuned_evaluation": kendall_tau(evaluation, hand_tuned),
    }
