"""The RL paper's comparison at a chosen scale, as ordinary studies.

``rl-paper`` (Eimer, Lindauer, Raileanu, ICML 2023; its SB3 part): PPO-Acrobot, DQN-MiniGrid and
SAC-Pendulum; HPO tools random search, DEHB, PBT and PB2 (and SMAC beside them); search spaces
``lr`` / ``small`` / ``full`` (tuned on the protocol's tuning seeds) and the full space tuned on 1, 3
and 5 tuning seeds; several optimizer runs; each incumbent retrained on the test seeds. Beside them:
the paper's own published incumbents (``protocols/reference/how-to-autorl-incumbents.yaml``) and the
rl-zoo3 hand-tuned configuration, trained on the same test seeds. Each scale
(:data:`RL_PAPER_PLANS`) runs a part of that grid, every one but ``smoke`` at the paper's 1e6 steps.

It writes a paper-shaped table to ``results/reproductions/`` (CSV and markdown);
every study behind it is exported under ``results/rl`` or ``results/cl`` like any other, so the
leaderboard shows them. Rerunning a reproduction resumes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..analysis.reproductions import rl_paper_table
from ..analysis.results import collect
from ..errors import UserError
from ..protocol.published import PUBLISHED_ROLE, published_config, published_incumbents
from ..runner.session import Session, expected_trials, study_id_for
from ..store.export import export_study
from .tables import write_table



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
    # The paper's grid: its 3 benchmarks x its tools x (3 spaces + 3 seed counts) x 5 runs, at 1e6
    # steps per run (SB3, as the paper; a cluster's or a GPU box's work).
    "paper": RLPaperPlan("paper", ("ppo-acrobot", "dqn-minigrid", "sac-pendulum"),
                         ("random", "dehb", "pbt", "pb2", "smac"), ("lr", "small", "full"),
                         (1, 3, 5), 5, ("lr", "small", "full", "3_seeds", "5_seeds"), 5),
    # What 2 cores finish in about 2 hours at the paper's full length: PPO-Acrobot on the jax backend
    # (1e6 steps per run), random search tuned on 5 and on 1 seed (the paper's overfitting contrast),
    # one run each, and the first published random-search, DEHB and PB2 incumbents of the full space.
    "quick": RLPaperPlan("quick", ("ppo-acrobot-jax",), ("random",), ("full",), (1,), 1, ("full",), 1),
    # A check that the grid runs (256-step runs): a test, never a result.
    "smoke": RLPaperPlan("smoke", ("dqn-minigrid",), ("random",), ("lr",), (1,), 1, ("full",), 1),
}


def _variants(plan: RLPaperPlan, protocol: Any) -> list[Any]:
    """The protocol's variants the plan tunes on: each search space, then the full space on fewer
    tuning seeds (each labelled by :func:`~hpobench_rl_cl.analysis.reproductions.setting_label`)."""
    from ..protocol.rl import protocol_variant

    return ([protocol_variant(protocol, space=space) for space in plan.spaces]
            + [protocol_variant(protocol, tuning_seeds=k) for k in plan.tuning_seed_counts])


def _published_study_id(protocol: Any, name: str) -> str:
    return f"{protocol.name}-{protocol.scale}-paper-{name}"


def _train_published(session: Session, protocol: Any, name: str, entry: dict[str, Any], results: str | Path) -> None:
    """Train one published incumbent on the protocol's test seeds (its own study, role ``published``)."""
    config = published_config(protocol, entry)
    study_id = _published_study_id(protocol, name)
    study = session.study(protocol, study_id, f"how-to-autorl {entry['tool']}", entry["hpo_run"], "auto")
    study.train_roles({PUBLISHED_ROLE: config}, protocol.held_out_seeds)
    export_study(session.store, study_id, results)


def reproduce_rl_paper(scale: str = "quick", *, workers: int | None = None, store: str | Path = "runs",
                       results: str | Path = "results", progress: bool = True, train: bool = True) -> pd.DataFrame:
    """Run the RL paper's grid at ``scale`` on one Dask cluster; returns (and writes) the
    paper-shaped table. ``train=False`` trains nothing: the table is written again from the grid's
    studies already under ``results``."""
    from ..protocol import load_protocol

    if scale not in RL_PAPER_PLANS:
        raise UserError(f"unknown reproduction scale {scale!r}; choose one of {', '.join(RL_PAPER_PLANS)}")
    plan = RL_PAPER_PLANS[scale]
    protocols = {name: load_protocol(name, plan.protocol_scale) for name in plan.protocols}
    grid = [variant for protocol in protocols.values() for variant in _variants(plan, protocol)]
    published = {name: published_incumbents(name, plan.published_variants, plan.published_runs) for name in protocols}
    total = (expected_trials(grid) * len(plan.optimizers) * plan.hpo_runs
             + sum(len(published[name]) * len(p.held_out_seeds) for name, p in protocols.items()))
    tuned = [(variant, optimizer, run) for variant in grid for optimizer in plan.optimizers for run in range(plan.hpo_runs)]
    study_ids = ([study_id_for(*study) for study in tuned]
                 + [_published_study_id(protocol, incumbent) for name, protocol in protocols.items()
                    for incumbent in published[name]])
    if train:
        with Session(store, workers=workers, progress=progress, total=total, label=f"rl-paper {scale}") as session:
            for variant, optimizer, run in tuned:
                session.run_studies([variant], optimizer, run, "auto", results)
            for name, protocol in protocols.items():
                # Beside the tools' full-space studies (the same protocol): the paper's own incumbents.
                for incumbent, entry in published[name].items():
                    _train_published(session, protocol, incumbent, entry, results)
    # The table about to be rewritten is not checked: a study behind it may have been run again.
    table = rl_paper_table(collect(results, reproductions=False), study_ids)
    lengths = ", ".join(f"{p.name} {p.total_timesteps:,}" for p in protocols.values())
    shortened = plan.protocol_scale == "smoke"
    preamble = [
        f"Scale `{scale}`: the protocols at their `{plan.protocol_scale}` scale, backend "
        f"{', '.join(sorted({p.backend for p in protocols.values()}))}; env steps per run: {lengths}"
        + (" (shortened: a check that the grid runs, not a result)." if shortened else " (their full length)."),
        f"Per cell: {plan.hpo_runs} run(s) of each HPO tool ({', '.join(plan.optimizers)}; the paper: 5 of "
        f"random, DEHB, PBT, PB2 and BGT) and the first {plan.published_runs} of the paper's published "
        f"incumbents per tool ({', '.join(plan.published_variants)}), each incumbent and the baseline on every "
        "test seed; the `runs` column counts them.",
        "It can show: which method's test IQM CI lies above another's on this grid. It cannot show: "
        + ("anything about the paper's claims (runs far shorter than the paper's)." if shortened
           else "differences within the CIs, or tools and settings the grid leaves out."),
    ]
    write_table(table, Path(results) / "reproductions" / f"rl-paper-{scale}", f"RL paper reproduction ({scale})",
                preamble)
    return table
