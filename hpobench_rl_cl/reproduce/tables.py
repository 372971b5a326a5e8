"""Paper-shaped tables as files: CSV for analysis, markdown for reading."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..analysis.reproductions import markdown_lines


def write_table(table: pd.DataFrame, stem: Path, title: str, preamble: list[str]) -> list[Path]:
    """``stem.csv`` and ``stem.md`` (``preamble``: what the table is, at what scale and backend, and
    what it can and cannot show; then a markdown table, numbers to 2 decimals)."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(stem.with_suffix(".csv"), index=False)
    lines = [f"# {title}", "", *(f"- {line}" for line in preamble), "", *markdown_lines(table)]
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    return [stem.with_suffix(".csv"), stem.with_suffix(".md")]
