"""Reproductions of the two papers' comparisons, at a chosen scale, as ordinary studies.

``rl-paper`` (Eimer, Lindauer, Raileanu, ICML 2023; its SB3 part): PPO-Acrobot, DQN-MiniGrid and
SAC-Pendulum; HPO tools random search, DEHB and SMAC; search spaces ``lr`` / ``small`` / ``full``
(tuned on the protocol's tuning seeds) and the full space tuned on 1, 3 and 5 tuning seeds; several
optimizer runs; each incumbent retrained on the test seeds. Beside them: the paper's own published
incumbents (``protocols/reference/how-to-autorl-incumbents.yaml``) and the rl-zoo3 hand-tuned
configuration, trained on the same test seeds.

``cl-paper`` (Cha & Cho, TMLR 2025): every strategy of the offline default (and of the CIFAR-100
halves where the data is on disk), tuned on one dataset and evaluated on the other; strategies
ranked in each phase, Kendall's tau between the rankings.

Each reproduction writes a paper-shaped table to ``results/reproductions/`` (CSV and markdown);
every study behind it is exported under ``results/rl`` or ``results/cl`` like any other, so the
leaderboard shows them. Rerunning a reproduction resumes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import pandas as pd
import yaml

from .errors import UserError
from .protocol.paths import PROTOCOL_ROOT

INCUMBENTS_FILE = PROTOCOL_ROOT / "reference" / "how-to-autorl-incumbents.yaml"
RL_PAPER_PROTOCOLS = {"ppo-acrobot": "ppo_acrobot", "dqn-minigrid": "dqn_minigrid", "sac-pendulum": "sac_pendulum"}
PUBLISHED_ROLE = "published"


@dataclass(frozen=True)
class RLPaperPlan:
    """How much of the RL paper's grid one scale runs."""

    protocol_scale: str
    protocols: tuple[str, ...]
    optimizers: tuple[str, ...]
    spaces: tuple[str, ...]
    tuning_seed_counts: tuple[int, ...]
    hpo_runs: int
    published_variants: tuple[str, ...]
    published_runs: int


RL_PAPER_PLANS = {
    # The paper's grid: 3 x 3 tools x (3 spaces + 3 seed counts) x 5 runs, at 1e6 steps per run.
    "paper": RLPaperPlan("paper", tuple(RL_PAPER_PROTOCOLS), ("random", "dehb", "smac"), ("lr", "small", "full"),
                         (1, 3, 5), 5, ("lr", "small", "full", "3_seeds", "5_seeds"), 5),
    # The grid's shape on the protocols' smoke scale (hundreds of steps per run), two tools, two
    # runs: every setting in under an hour on 2 cores; its scores say nothing about 1e6-step runs.
    "quick": RLPaperPlan("smoke", tuple(RL_PAPER_PROTOCOLS), ("random", "dehb"), ("lr", "small", "full"),
                         (1, 5), 2, ("full",), 2),
    "smoke": RLPaperPlan("smoke", ("dqn-minigrid",), ("random",), ("lr",), (1,), 1, ("full",), 1),
}


def published_incumbents(protocol: str, variants: tuple[str, ...], runs: int) -> dict[str, dict[str, Any]]:
    """The paper's incumbents for ``protocol`` (``rs``/``dehb``, chosen variants, first ``runs``)."""
    data = yaml.safe_load(INCUMBENTS_FILE.read_text())[RL_PAPER_PROTOCOLS[protocol]]
    return {name: entry for name, entry in sorted(data.items())
            if entry["variant"] in variants and entry["hpo_run"] < runs}


def _settings(plan: RLPaperPlan, protocol: Any) -> list[tuple[str, Any]]:
    from .protocol.spec import protocol_variant

    settings = [(f"{space} space", protocol_variant(protocol, space=space)) for space in plan.spaces]
    settings += [(f"full space, {k} tuning seed{'s' if k > 1 else ''}", protocol_variant(protocol, tuning_seeds=k))
                 for k in plan.tuning_seed_counts]
    return settings


def _evaluate_published(session: Any, protocol: Any, name: str, entry: dict[str, Any], results: str | Path) -> None:
    """Train one published incumbent on the protocol's test seeds (its own study, role ``published``)."""
    from .store.export import export_study

    # Each incumbent trains with the policy its file names (the paper's random-search DQN-MiniGrid
    # incumbents name MlpPolicy: SB3 then flattens the image observation).
    config = {**protocol.base_config, **entry["model_kwargs"], "policy": entry["policy"]}
    study_id = f"{protocol.name}-{protocol.scale}-paper-{name}"
    study = session.study(protocol, study_id, f"how-to-autorl {entry['tool']}", entry["hpo_run"], "auto")
    study.test({PUBLISHED_ROLE: config}, protocol.seeds.test)
    export_study(session.store, study_id, results)


def reproduce_rl_paper(scale: str = "quick", *, workers: int | None = None, store: str | Path = "runs",
                       results: str | Path = "results", progress: bool = True) -> pd.DataFrame:
    """Run the RL paper's grid at ``scale`` on one Dask cluster; returns (and writes) the
    paper-shaped table."""
    from . import optimizers  # noqa: F401  (registers built-in tools)
    from .api import _Session, expected_trials
    from .protocol.spec import load_protocol

    if scale not in RL_PAPER_PLANS:
        raise UserError(f"unknown reproduction scale {scale!r}; choose one of {', '.join(RL_PAPER_PLANS)}")
    plan = RL_PAPER_PLANS[scale]
    protocols = {name: load_protocol(name, plan.protocol_scale) for name in plan.protocols}
    grid = [(setting, variant) for protocol in protocols.values() for setting, variant in _settings(plan, protocol)]
    total = expected_trials([v for _, v in grid]) * len(plan.optimizers) * plan.hpo_runs
    protocol_ids: dict[str, str] = {}
    with _Session(store, workers, None, None, progress, total, f"rl-paper {scale}") as session:
        for setting, variant in grid:
            protocol_ids[f"{variant.name}@{variant.scale}"] = setting
            for optimizer in plan.optimizers:
                for run in range(plan.hpo_runs):
                    session.run_studies([variant], optimizer, run, "auto", results)
        for name, protocol in protocols.items():
            # Beside the tools' full-space studies (the same protocol): the paper's own incumbents.
            protocol_ids.setdefault(f"{protocol.name}@{protocol.scale}", "full space")
            for incumbent, entry in published_incumbents(name, plan.published_variants, plan.published_runs).items():
                _evaluate_published(session, protocol, incumbent, entry, results)
    table = rl_paper_table(results, protocol_ids)
    write_table(table, Path(results) / "reproductions" / f"rl-paper-{scale}", f"RL paper reproduction ({scale})")
    return table


def rl_paper_table(results: str | Path, settings: dict[str, str]) -> pd.DataFrame:
    """Method x setting: test IQM [95% CI], test mean, tuning score, gap, budget, number of runs."""
    from .leaderboard.collect import collect
    from .leaderboard.tables import protocol_views

    rows = []
    for view in protocol_views(collect(results)):
        if view.protocol_id not in settings:
            continue
        for row in view.rows:
            rows.append({
                "protocol": view.protocol_id.split("+")[0].split("@")[0], "setting": settings[view.protocol_id],
                "method": row.method, "test_iqm": row.iqm[0], "test_iqm_low": row.iqm[1], "test_iqm_high": row.iqm[2],
                "test_mean": row.mean, "tuning_score": row.tuning_score, "gap": row.gap,
                "budget_full_runs": row.budget_full_runs, "runs": row.studies or len(row.scores),
            })
    return pd.DataFrame(rows)


def write_table(table: pd.DataFrame, stem: Path, title: str) -> list[Path]:
    """``stem.csv`` and ``stem.md`` (a markdown table, numbers to 2 decimals)."""
    stem.parent.mkdir(parents=True, exist_ok=True)
    table.to_csv(stem.with_suffix(".csv"), index=False)
    shown = table.copy()
    for column in shown.columns:
        if pd.api.types.is_float_dtype(shown[column]):
            shown[column] = shown[column].map(lambda v: "–" if pd.isna(v) else f"{v:.2f}")
    lines = [f"# {title}", "", "| " + " | ".join(shown.columns) + " |", "|" + " --- |" * len(shown.columns)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in shown.itertuples(index=False)]
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    return [stem.with_suffix(".csv"), stem.with_suffix(".md")]


CL_PAPER_SUITES = ("glyphs-halves", "cifar100-b0-10", "cifar100-half")


def reproduce_cl_paper(scale: str = "quick", *, suites: Sequence[str] = CL_PAPER_SUITES, optimizer: str = "random",
                       workers: int | None = None, store: str | Path = "runs", results: str | Path = "results",
                       progress: bool = True) -> tuple[pd.DataFrame, list[str]]:
    """Every strategy of each CL protocol in ``suites`` (default: the offline glyphs and the
    CIFAR-100 halves) tuned on one dataset and evaluated on the other, for the suites whose data is
    here; returns the ranking table and the suites skipped (with why)."""
    from .api import run_study
    from .protocol.cl_spec import load_cl_suite
    from .trainers.cl_data import missing_data

    tables, skipped = [], []
    for suite_name in suites:
        suite = load_cl_suite(suite_name, scale)
        first = next(iter(suite.strategies.values()))
        missing = missing_data(first.tuning_data) or missing_data(first.evaluation_data)
        if missing:
            skipped.append(f"{suite_name}: {missing}")
            continue
        comparison = run_study(suite_name, scale=scale, optimizer=optimizer, workers=workers, store=store,
                               results=results, progress=progress)
        frame = pd.DataFrame(comparison["strategies"])
        frame.insert(0, "suite", suite.name)
        frame["kendall_tau"] = comparison["kendall_tau_tuning_vs_evaluation"]
        tables.append(frame)
    table = pd.concat(tables, ignore_index=True) if tables else pd.DataFrame()
    write_table(table, Path(results) / "reproductions" / f"cl-paper-{scale}", f"CL paper reproduction ({scale})")
    return table, skipped
