"""The CL paper's comparison (Cha & Cho, TMLR 2025) at a chosen scale, as ordinary studies: every
strategy of the offline default (and of the CIFAR-100 halves where the data is on disk), tuned on
one dataset and evaluated on the other; strategies ranked in each phase, Kendall's tau between the
rankings. Writes ``results/reproductions/cl-paper-SCALE.{csv,md}``."""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import pandas as pd

from ..analysis.reproductions import cl_paper_table
from ..analysis.results import collect
from .tables import write_table

CL_PAPER_SUITES = ("glyphs-halves", "cifar100-b0-10", "cifar100-half")


def reproduce_cl_paper(scale: str = "quick", *, suites: Sequence[str] = CL_PAPER_SUITES, optimizer: str = "random",
                       workers: int | None = None, store: str | Path = "runs", results: str | Path = "results",
                       progress: bool = True, train: bool = True) -> tuple[pd.DataFrame, list[str]]:
    """Every strategy of each CL protocol in ``suites`` (default: the offline glyphs and the
    CIFAR-100 halves) tuned on one dataset and evaluated on the other, for the suites whose data is
    here; returns the ranking table and the suites skipped (with why). ``train=False`` trains
    nothing: the table is written again from the comparisons already under ``results``."""
    from ..api import run_study
    from ..protocol import load_cl_suite
    from ..runner.session import comparison_id_for
    from ..trainers.cl.data import missing_data

    comparison_ids, skipped = [], []
    for suite_name in suites:
        suite = load_cl_suite(suite_name, scale)
        first = next(iter(suite.strategies.values()))
        missing = missing_data(first.tuning_data) or missing_data(first.evaluation_data)
        if missing:
            skipped.append(f"{suite_name}: {missing}")
            continue
        if train:
            run_study(suite_name, scale=scale, optimizer=optimizer, workers=workers, store=store, results=results,
                      progress=progress)
        comparison_ids.append(comparison_id_for(suite.name, scale, optimizer, 0))
    # The table about to be rewritten is not checked: a study behind it may have been run again.
    table = cl_paper_table(collect(results, reproductions=False), comparison_ids) if comparison_ids else pd.DataFrame()
    preamble = [f"Scale `{scale}`, backend avalanche, tool {optimizer}, one run per strategy; suites: "
                + ", ".join(f"{load_cl_suite(name, scale).name} ({next(iter(load_cl_suite(name, scale).strategies.values())).epochs}"
                            " epochs per experience)" for name in suites if not any(s.startswith(f"{name}:") for s in skipped)),
                *(f"Skipped: {reason}" for reason in skipped),
                "It can show: whether the tuning-phase ranking of strategies holds on unseen data (Kendall's tau). "
                "It cannot show: differences between strategies smaller than the seed-to-seed spread of one run."]
    write_table(table, Path(results) / "reproductions" / f"cl-paper-{scale}", f"CL paper reproduction ({scale})",
                preamble)
    return table, skipped
