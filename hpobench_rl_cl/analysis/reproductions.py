"""The papers' tables as functions of the checked studies, and the check that a committed table is one.

A reproduction's CSV and markdown are views of studies whose exports carry digests; they carry none
of their own. So a table is never read for its numbers: it names the studies (RL: a ``studies``
column) or comparisons (CL: a ``comparison_id`` column) it was built from, the table is built again
from those, and a file whose numbers differ from the rebuilt ones is refused.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from ..errors import UserError
from .cl_metrics import compare_strategies
from .results import Reproduction, Results, StudyRecord


def setting_label(protocol_id: str) -> str:
    """The RL paper's setting a benchmark stands for, read from its variant name
    (``ppo-acrobot-jax+small@quick``: "small space"; ``ppo-acrobot-jax+1seed@quick``: "full space,
    1 tuning seed")."""
    name = protocol_id.split("@")[0]
    space, seeds = "full", ""
    for part in name.split("+")[1:]:
        if part[0].isdigit():
            count = int(part.rstrip("s").removesuffix("seed"))
            seeds = f", {count} tuning seed{'s' if count > 1 else ''}"
        else:
            space = part
    return f"{space} space{seeds}"


def rl_paper_table(results: Results, study_ids: list[str]) -> pd.DataFrame:
    """Method x setting from the studies ``study_ids``: test IQM [95% CI], test mean, tuning score,
    gap, budget, number of runs; each row names the studies of its benchmark."""
    from .tables import protocol_views  # tables builds on this module's neighbour, results

    by_id = {study.study_id: study for study in results.studies}
    missing = [study_id for study_id in study_ids if study_id not in by_id]
    if missing:
        raise UserError(f"study {missing[0]} is not under results/rl")
    rows = []
    for view in protocol_views(Results([by_id[study_id] for study_id in study_ids], [], {})):
        for row in view.rows:
            rows.append({
                "protocol": view.protocol_id.split("+")[0].split("@")[0], "setting": setting_label(view.protocol_id),
                "backend": view.backend, "env_steps_per_run": view.studies[0].run_length, "method": row.method,
                "test_iqm": row.iqm[0], "test_iqm_low": row.iqm[1], "test_iqm_high": row.iqm[2],
                "test_mean": row.mean, "tuning_score": row.tuning_score, "gap": row.gap,
                "budget_full_runs": row.budget_full_runs, "runs": row.studies or len(row.scores),
                "studies": " ".join(study.study_id for study in view.studies),
            })
    return pd.DataFrame(rows)


def cl_paper_table(results: Results, comparison_ids: list[str]) -> pd.DataFrame:
    """Strategy x suite: tuning and evaluation scores and ranks, Kendall's tau between the phases,
    from the comparisons ``comparison_ids``."""
    by_id = {c["comparison_id"]: c for c in results.comparisons}
    frames = []
    for comparison_id in comparison_ids:
        if comparison_id not in by_id:
            raise UserError(f"comparison {comparison_id} is not under results/cl")
        comparison = by_id[comparison_id]
        frame = pd.DataFrame(comparison["strategies"])
        frame.insert(0, "suite", comparison["protocol"])
        frame["kendall_tau"] = comparison["kendall_tau_tuning_vs_evaluation"]
        frame["comparison_id"] = comparison_id
        frames.append(frame)
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


TABLES: dict[str, tuple[str, Callable[[Results, list[str]], pd.DataFrame]]] = {
    "rl-paper": ("studies", rl_paper_table),
    "cl-paper": ("comparison_id", cl_paper_table),
}


def readable(table: pd.DataFrame) -> pd.DataFrame:
    """The table as the markdown and the leaderboard show it: the study ids behind each row stay in
    the CSV."""
    return table.drop(columns="studies", errors="ignore")


def markdown_lines(table: pd.DataFrame) -> list[str]:
    """A table in markdown, numbers to 2 decimals."""
    shown = readable(table)
    for column in shown.columns:
        if pd.api.types.is_float_dtype(shown[column]):
            shown[column] = shown[column].map(lambda v: "–" if pd.isna(v) else f"{v:.2f}")
    lines = ["| " + " | ".join(shown.columns) + " |", "|" + " --- |" * len(shown.columns)]
    return lines + ["| " + " | ".join(str(v) for v in row) + " |" for row in shown.itertuples(index=False)]


def _same(stored: Any, rebuilt: Any) -> bool:
    if isinstance(rebuilt, (int, float)) and not isinstance(rebuilt, bool):
        try:
            stored = float(stored)
        except (TypeError, ValueError):
            return False
        if math.isnan(rebuilt) or math.isnan(stored):
            return math.isnan(rebuilt) and math.isnan(stored)
        return math.isclose(stored, rebuilt, rel_tol=1e-9, abs_tol=1e-9)
    return str(stored) == str(rebuilt)


def _first_difference(stored: pd.DataFrame, rebuilt: pd.DataFrame) -> str | None:
    if list(stored.columns) != list(rebuilt.columns):
        return f"columns {list(stored.columns)}, rebuilt {list(rebuilt.columns)}"
    if len(stored) != len(rebuilt):
        return f"{len(stored)} rows, rebuilt {len(rebuilt)}"
    for line, (stored_row, rebuilt_row) in enumerate(zip(stored.itertuples(index=False),
                                                          rebuilt.itertuples(index=False)), start=2):
        for column, mine, theirs in zip(rebuilt.columns, stored_row, rebuilt_row):
            if not _same(mine, theirs):
                return f"row {line}, {column}: {mine!r} where its studies give {theirs!r}"
    return None


def checked_reproduction(csv_path: Path, results: Results) -> Reproduction:
    """The reproduction table at ``csv_path``, built again from the studies it names, with its
    preamble (the ``- `` lines of the markdown beside it). Refused: a table without a preamble, of
    an unknown paper, or whose numbers (in the CSV or the markdown) differ from its studies'."""
    def fail(message: str) -> UserError:
        return UserError(f"{csv_path}: {message}")

    try:
        stored = pd.read_csv(csv_path, float_precision="round_trip", keep_default_na=False, na_values=[""])
    except Exception as error:  # noqa: BLE001 - pandas raises many types for a malformed file
        raise fail(f"cannot read as CSV: {error}") from None
    markdown = csv_path.with_suffix(".md")
    lines = markdown.read_text().splitlines() if markdown.is_file() else []
    preamble = [line[2:] for line in lines if line.startswith("- ")]
    if not preamble:
        raise fail(f"no preamble (scale, backend, runs per cell, what it can show) in {markdown.name} beside it")
    paper = next((name for name in TABLES if csv_path.stem.startswith(f"{name}-")), None)
    if paper is None:
        raise fail(f"not a table of {' or '.join(TABLES)}")
    key, build = TABLES[paper]
    if key not in stored.columns:
        raise fail(f"names no {key} column: the studies behind it are unknown")
    rebuilt = build(results, list(dict.fromkeys(" ".join(stored[key].astype(str)).split())))
    difference = _first_difference(stored, rebuilt)
    if difference:
        raise fail(f"differs from the studies behind it ({difference}): the table was edited; "
                   "run the reproduction again to rewrite it")
    if [line for line in lines if line.startswith("|")] != markdown_lines(rebuilt):
        raise fail(f"the table in {markdown.name} differs from the studies behind it: it was edited")
    return Reproduction(readable(rebuilt), preamble)


def check_comparison(path: Path, comparison: dict[str, Any], studies: dict[str, StudyRecord]) -> None:
    """A CL comparison is a function of its strategies' studies: built again from their checked
    summaries, it must equal the file (ranks, Kendall's tau and the summaries it embeds)."""
    summaries = {}
    for embedded in comparison.get("studies", []):
        record = studies.get(str(embedded.get("study_id")))
        if record is None or record.summary is None:
            raise UserError(f"{path}: its study {embedded.get('study_id')!r} is not a finished study under results/cl")
        summaries[str(record.protocol.get("strategy"))] = record.summary
        if embedded != record.summary:
            raise UserError(f"{path}: the summary of {record.study_id} differs from its study's export: it was edited")
    rebuilt = compare_strategies(summaries) if summaries else {}
    for key, value in rebuilt.items():
        if json.dumps(comparison.get(key), sort_keys=True) != json.dumps(value, sort_keys=True):
            raise UserError(f"{path}: {key} differs from the studies behind it: the comparison was edited")
    if not rebuilt:
        raise UserError(f"{path}: names no studies")
