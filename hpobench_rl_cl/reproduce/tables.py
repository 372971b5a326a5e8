"""Paper-shaped tables as files: CSV for analysis, markdown for reading."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def write_table(table: pd.DataFrame, stem: Path, title: str, preamble: list[str]) -> list[Path]:
    """``stem.csv`` and ``stem.md`` (``preamble``: what the table is, at what scale and backend, and
    what it can and cannot show; then a markdown table, numbers to 2 decimals)."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(stem.with_suffix(".csv"), index=False)
    shown = table.copy()
    for column in shown.columns:
        if pd.api.types.is_float_dtype(shown[column]):
            shown[column] = shown[column].map(lambda v: "–" if pd.isna(v) else f"{v:.2f}")
    lines = [f"# {title}", "", *(f"- {line}" for line in preamble), "",
             "| " + " | ".join(shown.columns) + " |", "|" + " --- |" * len(shown.columns)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in shown.itertuples(index=False)]
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    return [stem.with_suffix(".csv"), stem.with_suffix(".md")]
