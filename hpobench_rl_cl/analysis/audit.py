"""The seed-overfitting audit: does a configuration chosen on the tuning seeds hold up on others?

Input: a table with ``config_id``, ``seed``, ``score`` and optionally ``phase`` (tuning/test),
``budget`` and ``method``. With ``phase``, held-out scores are the test rows; without it, the seeds
are split at random into tuning and held-out halves, many times. Only each configuration's largest
budget counts (lower-fidelity rows describe a different training).
"""

from __future__ import annotations

import itertools
from math import comb
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import kendalltau, spearmanr

from ..errors import UserError
from .stats import bootstrap_ci

REQUIRED = ("config_id", "seed", "score")
MAX_EXACT_SUBSETS = 2000


def read_table(path: str | Path) -> pd.DataFrame:
    """A CSV or Parquet table of scores, checked: one line names the column or row at fault."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"audit input not found: {path}")
    try:
        frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
    except Exception as error:  # noqa: BLE001 - pandas/pyarrow raise many types for a bad file
        raise UserError(f"{path}: cannot read as {'Parquet' if path.suffix == '.parquet' else 'CSV'}: {error}") from None
    return validated(frame, str(path))


def validated(frame: pd.DataFrame, origin: str) -> pd.DataFrame:
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise UserError(f"{origin}: missing column(s) {missing} (needs config_id, seed, score)")
    frame = frame.copy()
    for column in ("seed", "score"):
        numbers = pd.to_numeric(frame[column], errors="coerce")
        bad = frame.index[numbers.isna()]
        if len(bad):
            row = int(bad[0])
            raise UserError(f"{origin}: row {row + 2} has a non-numeric {column} {frame.at[row, column]!r}")
        frame[column] = numbers
    if "phase" in frame.columns:
        # Our exports call a user's configuration on tuning seeds "user" (tuning-seed data) and a
        # CL study's held-out phase "evaluation" (held-out seeds on the evaluation dataset).
        frame["phase"] = frame["phase"].astype(str).replace({"user": "tuning", "evaluation": "test"})
        unknown = sorted(set(frame["phase"]) - {"tuning", "test"})
        if unknown:
            raise UserError(f"{origin}: column phase has value(s) {unknown}; expected tuning or test")
    if "audit" in frame.columns:
        frame = frame[frame["audit"] == 0]  # audit runs are not test results
    if "budget" in frame.columns:
        frame = frame[frame["budget"] == frame.groupby("config_id")["budget"].transform("max")]
    frame["config_id"] = frame["config_id"].astype(str)
    return frame.reset_index(drop=True)


def score_matrix(frame: pd.DataFrame) -> pd.DataFrame:
    """configs x seeds, mean score per cell: the seeds that the most configurations share, and the
    configurations that have all of them (in a study: every tuned configuration, tuning seeds)."""
    matrix = frame.pivot_table(index="config_id", columns="seed", values="score", aggfunc="mean")
    coverage = matrix.notna().sum(axis=0)
    shared = matrix.loc[:, coverage == coverage.max()]
    return shared.dropna(axis=0, how="any")


@dataclass
class SensitivityRow:
    k: int
    subsets: int
    p_best_on_held_out: float
    expected_regret: float


def seed_subset_sensitivity(matrix: np.ndarray, *, repeats: int = 500, seed: int = 0) -> list[SensitivityRow]:
    """For k = 1..S-1 tuning seeds drawn from the S seeds of ``matrix`` (configs x seeds), the rest
    held out: how often the config best on the k seeds is best on the held-out seeds, and the
    expected regret there (best held-out mean minus the chosen config's). Every subset is used when
    there are at most MAX_EXACT_SUBSETS, else ``repeats`` random ones."""
    n_configs, n_seeds = matrix.shape
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(1, n_seeds):
        all_subsets = list(itertools.combinations(range(n_seeds), k)) if comb(n_seeds, k) <= MAX_EXACT_SUBSETS else None
        subsets = all_subsets or [tuple(sorted(rng.choice(n_seeds, k, replace=False))) for _ in range(repeats)]
        hits, regrets = [], []
        for subset in subsets:
            held = [s for s in range(n_seeds) if s not in subset]
            chosen = int(np.argmax(matrix[:, list(subset)].mean(axis=1)))
            held_means = matrix[:, held].mean(axis=1)
            hits.append(held_means[chosen] >= held_means.max())
            regrets.append(held_means.max() - held_means[chosen])
        rows.append(SensitivityRow(k, len(subsets), float(np.mean(hits)), float(np.mean(regrets))))
    return rows


def resampled_split(frame: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, dict[str, list[int]]]:
    """Without a phase column: half the seeds shared by every configuration, drawn at random, are
    held out (labelled ``test``), the others are tuning seeds."""
    matrix = score_matrix(frame)
    if matrix.shape[1] < 2:
        raise UserError("audit without a phase column needs at least 2 seeds shared by all configurations")
    order = [int(s) for s in np.random.default_rng(seed).permutation(matrix.columns)]
    held = order[: matrix.shape[1] // 2]
    split = frame[frame["seed"].isin(order)].copy()
    split["phase"] = np.where(split["seed"].isin(held), "test", "tuning")
    return split, {"tuning_seeds": sorted(set(order) - set(held)), "held_out_seeds": sorted(held)}


def audit(frame: pd.DataFrame, *, reps: int = 2000, seed: int = 0) -> dict[str, Any]:
    """The audit as a JSON-able dict (see module docstring)."""
    report: dict[str, Any] = {}
    if "phase" in frame.columns and (frame["phase"] == "test").any():
        report["mode"] = "phase column"
    else:
        frame, report["split"] = resampled_split(frame, seed)
        report["mode"] = "resampled held-out seeds"
    tuning, test = frame[frame["phase"] == "tuning"], frame[frame["phase"] == "test"]
    per_config = tuning.groupby("config_id")["score"].agg(tuning_mean="mean", tuning_std="std", tuning_seeds="count")
    per_config = per_config.join(test.groupby("config_id")["score"].agg(
        held_out_mean="mean", held_out_std="std", held_out_seeds="count"), how="left")
    # Among configurations tied on the tuning seeds the study tested one: that one is the incumbent.
    # A stable sort keeps the choice independent of numpy's CPU-specific (SIMD) quicksort.
    per_config = (per_config.assign(tested=per_config["held_out_mean"].notna())
                  .sort_values(["tuning_mean", "tested"], ascending=False, kind="stable").drop(columns="tested"))
    incumbent = str(per_config.index[0])
    report.update(incumbent=incumbent, configs=int(len(per_config)))

    tuning_scores = tuning.loc[tuning["config_id"] == incumbent, "score"].to_numpy()
    test_scores = test.loc[test["config_id"] == incumbent, "score"].to_numpy()
    if len(test_scores):
        gap, low, high = bootstrap_ci(tuning_scores, test_scores, lambda a, b: a.mean() - b.mean(), reps=reps, seed=seed)
        report["incumbent_gap"] = {"gap": gap, "ci95": [low, high], "tuning_seeds": int(len(tuning_scores)),
                                   "held_out_seeds": int(len(test_scores))}
    both = per_config.dropna(subset=["held_out_mean"])
    if len(both) >= 3:
        report["rank_agreement"] = {
            "configs": int(len(both)),
            "spearman": float(spearmanr(both["tuning_mean"], both["held_out_mean"]).statistic),
            "kendall": float(kendalltau(both["tuning_mean"], both["held_out_mean"]).statistic),
        }
    matrix = score_matrix(frame)
    if matrix.shape[0] >= 2 and matrix.shape[1] >= 2:
        report["seed_subset_sensitivity"] = [vars(r) for r in seed_subset_sensitivity(matrix.to_numpy(), seed=seed)]
        report["sensitivity_seeds"] = int(matrix.shape[1])
    counts = ["tuning_seeds", "held_out_seeds"]
    per_config[counts] = per_config[counts].astype("Int64")
    table = per_config.reset_index().astype(object)
    report["per_config"] = table.where(table.notna(), None).to_dict(orient="records")
    report["flags"] = flags(report)
    return report


def flags(report: dict[str, Any]) -> list[str]:
    """Plain-language warnings."""
    found = []
    gap = report.get("incumbent_gap")
    if gap:
        low, high = gap["ci95"]
        where = "above zero: the tuning score overstates" if low > 0 else "includes zero"
        found.append(f"incumbent chosen on {gap['tuning_seeds']} seed(s): generalization gap {gap['gap']:.2f} "
                     f"[{low:.2f}, {high:.2f}], CI {where}")
    agreement = report.get("rank_agreement")
    if agreement and agreement["kendall"] < 0.5:
        found.append(f"configuration ranks agree only weakly between tuning and held-out seeds "
                     f"(Kendall tau {agreement['kendall']:.2f})")
    for row in report.get("seed_subset_sensitivity", []):
        if row["k"] == 1 and row["p_best_on_held_out"] < 0.5:
            found.append(f"tuning on 1 seed picks the held-out best only {100 * row['p_best_on_held_out']:.0f}% of "
                         f"the time (expected regret {row['expected_regret']:.2f})")
    return found
