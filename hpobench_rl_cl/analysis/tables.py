"""The leaderboard's numbers, computed from validated results with the analysis statistics.

A *method* on a protocol is an HPO tool (its incumbents' test scores, pooled over the tool's
studies) or ``hand-tuned`` (the baseline's test scores, one per test seed: its median over the
studies, which all train it on the same seeds; see :func:`baseline_per_seed`). Normalized scores:
0 = the protocol's worst score (RL: the ``worst_score`` given to crashed trials; CL: 0 %
accuracy), 1 = the hand-tuned baseline's test mean on that protocol.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ..protocol.common import DEFAULT_BACKENDS, HELD_OUT_PHASES
from ..protocol.published import PUBLISHED_ROLE
from ..provenance import hardware
from . import stats
from .results import Results, StudyRecord

HAND_TUNED = "hand-tuned"
HELD_OUT = tuple(HELD_OUT_PHASES.values())


@dataclass
class MethodRow:
    family: str
    protocol_id: str
    env_family: str
    method: str
    scores: np.ndarray
    iqm: tuple[float, float, float]
    mean: float
    std: float
    tuning_score: float | None
    budget_full_runs: float | None
    budget_given: float | None
    budget_units: float | None
    budget_unit: str
    wall_s: float
    studies: int
    rank: float = 0.0
    #: Tools: "complete", "incomplete" (not every HPO seed 0..hpo_runs-1), "modified protocol" or
    #: "other code" (not the suite's: edited, or from outside its history); baselines: "baseline",
    #: "user-declared baseline" or "baseline on other code". Only complete entries and baselines rank.
    standing: str = "baseline"

    @property
    def ranked(self) -> bool:
        return self.standing in ("complete", "baseline")

    @property
    def gap(self) -> float | None:
        return None if self.tuning_score is None else self.tuning_score - self.mean


@dataclass
class BaselineVersion:
    """One set of hand-tuned test scores (seed -> score) and the studies whose runs gave it."""

    mean: float
    studies: list[str]
    commits: list[str]
    machines: list[str]


@dataclass
class ProtocolView:
    """Everything the protocol page shows."""

    family: str
    protocol_id: str
    env_family: str
    rows: list[MethodRow]
    studies: list[StudyRecord]
    worst_score: float
    anytime: pd.DataFrame
    test_points: pd.DataFrame
    incumbents: list[dict[str, Any]] = field(default_factory=list)
    #: The trainer backend (sb3, jax, avalanche): results of two backends are two protocols, never pooled.
    backend: str = ""
    #: The distinct sets of hand-tuned test scores among the studies, most studies first (one when
    #: every study reproduced the baseline; more when code or machine changed what training computes).
    baseline_versions: list[BaselineVersion] = field(default_factory=list)


def env_family(record: StudyRecord) -> str:
    """RL: the registered environment family (classic_control, box2d, mujoco, minigrid, ...);
    CL: the tuning dataset's source."""
    from ..trainers.rl.envs import family_name

    protocol = record.protocol
    if record.family == "cl":
        return str((protocol.get("tuning_data") or {}).get("source", "unknown"))
    return family_name(str(protocol.get("env_id", ""))) or "unknown"


def _held_out(trials: pd.DataFrame, role: str) -> pd.DataFrame:
    return trials[trials["phase"].isin(HELD_OUT) & (trials["role"] == role) & (trials["audit"] == 0)]


def _iqm_ci(scores: np.ndarray) -> tuple[float, float, float]:
    if len(scores) < 2:
        value = float(scores[0])
        return value, value, value
    return stats.aggregates_with_ci({"m": scores.reshape(-1, 1)}, reps=1000)["m"]["iqm"]


def _row(family: str, protocol_id: str, env: str, method: str, scores: np.ndarray, **extra: Any) -> MethodRow:
    return MethodRow(family, protocol_id, env, method, scores, _iqm_ci(scores), float(np.mean(scores)),
                     float(np.std(scores, ddof=1)) if len(scores) > 1 else 0.0, **extra)


def anytime_curve(record: StudyRecord) -> pd.DataFrame:
    """The incumbent's tuning score (best mean over tuning seeds among full-fidelity evaluations so
    far) against full-run equivalents spent, one point per evaluation in the order asked. Spent is
    what the trials trained (``trained``; the nominal ``budget`` where an old export lacks it) over
    the protocol's full length and tuning seeds."""
    tuning = record.trials[record.trials["phase"] == "tuning"]
    if tuning.empty:
        return pd.DataFrame(columns=["budget", "incumbent_score"])
    trained = tuning["trained"].fillna(tuning["budget"])
    full_length = record.protocol.get("total_timesteps") or record.protocol.get("epochs")
    seeds = tuning["seed"].nunique()
    if "population" in json.loads(tuning["notes"].iloc[0] or "{}"):
        return _population_curve(tuning, float(full_length))
    evaluations = tuning.assign(trained=trained).groupby("eval_index").agg(
        fidelity=("fidelity", "first"), score=("score", "mean"), trained=("trained", "sum")).sort_index()
    spent = evaluations["trained"].cumsum() / (float(full_length) * seeds)
    full = evaluations["score"].where(evaluations["fidelity"] >= 1 - 1e-9)
    return pd.DataFrame({"budget": spent.to_numpy(), "incumbent_score": full.cummax().to_numpy()})


def _population_curve(tuning: pd.DataFrame, full_length: float) -> pd.DataFrame:
    """A population-based tool trains its members in lockstep: after each segment it has spent
    population x segment end / full length full runs, and its incumbent is the best member's mean
    over the tuning seeds at that point."""
    curves = np.array([[score for _, score in json.loads(curve)] for curve in tuning["curve"]])
    ends = np.array([step for step, _ in json.loads(tuning["curve"].iloc[0])], dtype=float)
    members = tuning["eval_index"].to_numpy()
    means = np.stack([curves[members == m].mean(axis=0) for m in np.unique(members)])
    return pd.DataFrame({"budget": len(means) * ends / full_length, "incumbent_score": means.max(axis=0)})


def _anytime_frame(studies: list[StudyRecord]) -> pd.DataFrame:
    """Every tool's anytime curves on a common budget grid (step functions), for mean-and-band plots."""
    curves = [(s, anytime_curve(s)) for s in studies if s.summary]
    top = max((c["budget"].max() for _, c in curves if not c.empty), default=0)
    grid = np.linspace(0, top, 41)[1:] if top else np.array([])
    rows = []
    for study, curve in curves:
        if curve.empty:
            continue
        for x in grid:
            seen = curve[curve["budget"] <= x + 1e-9]["incumbent_score"].dropna()
            if len(seen):
                rows.append({"budget": x, "incumbent_score": float(seen.iloc[-1]),
                             "optimizer": study.summary["optimizer"], "study": study.study_id})
    return pd.DataFrame(rows, columns=["budget", "incumbent_score", "optimizer", "study"])


def baseline_per_seed(by_study: list[pd.DataFrame]) -> pd.DataFrame:
    """The hand-tuned baseline's held-out trials, one per test seed: each seed's median score (and
    wall time) over the studies that trained it. Every study trains the same configuration on the
    same seeds, so they agree unless code or machine changed what training computes; the median makes
    the row independent of study order, unchanged by a study that reproduces it, and unmoved by a
    single odd study."""
    pooled = pd.concat(by_study)
    return pooled.groupby("seed", as_index=False).agg(score=("score", "median"), wall_s=("wall_s", "median"))


def baseline_versions(by_study: list[tuple[StudyRecord, pd.DataFrame]]) -> list[BaselineVersion]:
    """The studies grouped by the hand-tuned test trials they got (scores to 1e-6), most studies first."""
    groups: dict[tuple[tuple[int, float], ...], list[StudyRecord]] = defaultdict(list)
    for study, hand in by_study:
        if not hand.empty:
            groups[tuple(sorted(zip(hand["seed"].astype(int), hand["score"].round(6))))].append(study)
    versions = [BaselineVersion(float(np.mean([score for _, score in signature])),
                                sorted(s.study_id for s in members),
                                sorted({str(s.provenance.get("suite_commit", "unknown"))[:7] for s in members}),
                                sorted({hardware(s.provenance) for s in members}))
                for signature, members in groups.items()]
    return sorted(versions, key=lambda v: (-len(v.studies), v.studies))


def _standing(study: StudyRecord, hpo_seeds: list[int]) -> str:
    """A tool's entry is complete when it has every run its official protocol asks for (HPO seeds
    0..hpo_runs-1); its statistics pool every run present, so dropping a bad run leaves it incomplete."""
    official = study.official
    if official is None:
        return "other code" if study.foreign_code else "modified protocol"
    return "complete" if set(range(int(official["hpo_runs"]))) <= set(hpo_seeds) else "incomplete"


def protocol_views(results: Results) -> list[ProtocolView]:
    by_protocol: dict[str, list[StudyRecord]] = defaultdict(list)
    for study in results.studies:
        by_protocol[study.protocol_id].append(study)
    views = []
    for protocol_id, studies in sorted(by_protocol.items()):
        family, env = studies[0].family, env_family(studies[0])
        official = studies[0].official
        tuned = [s for s in studies if s.summary]
        rows, points, incumbents = [], [], []
        hand_by_study = [(s, _held_out(s.trials, HAND_TUNED)) for s in studies]
        versions = baseline_versions(hand_by_study)
        if versions:
            hand = baseline_per_seed([trials for _, trials in hand_by_study])
            hand_tuning = pd.concat([s.trials[(s.trials["phase"] == "user") & (s.trials["role"] == HAND_TUNED)]
                                     for s in studies])
            declared = ("baseline" if official else "baseline on other code" if studies[0].foreign_code
                        else "user-declared baseline")
            rows.append(_row(family, protocol_id, env, HAND_TUNED, hand["score"].to_numpy(),
                             tuning_score=float(hand_tuning["score"].mean()) if len(hand_tuning) else None,
                             budget_full_runs=None, budget_given=None, budget_units=None, budget_unit="",
                             wall_s=float(hand["wall_s"].sum()), studies=0, standing=declared))
            points += [{"method": HAND_TUNED, "seed": int(r.seed), "score": r.score} for r in hand.itertuples()]
        published: dict[str, list[StudyRecord]] = defaultdict(list)
        for study in studies:
            if not study.summary and (study.trials["role"] == PUBLISHED_ROLE).any():
                published[str(study.trials["optimizer"].iloc[0])].append(study)
        for source, source_studies in sorted(published.items()):
            test = pd.concat([_held_out(s.trials, PUBLISHED_ROLE) for s in source_studies])
            rows.append(_row(family, protocol_id, env, f"{source} (published incumbents)", test["score"].to_numpy(),
                             tuning_score=None, budget_full_runs=None, budget_given=None, budget_units=None,
                             budget_unit="", wall_s=float(test["wall_s"].sum() / len(source_studies)),
                             studies=len(source_studies)))
            points += [{"method": f"{source} (published)", "seed": int(r.seed), "score": r.score}
                       for r in test.itertuples()]
        by_tool: dict[str, list[StudyRecord]] = defaultdict(list)
        for study in tuned:
            by_tool[study.summary["optimizer"]].append(study)
        for tool, tool_studies in sorted(by_tool.items()):
            test = pd.concat([_held_out(s.trials, "incumbent") for s in tool_studies])
            if test.empty:
                continue
            summaries = [s.summary for s in tool_studies]
            budgets = [s["budget"] for s in summaries]
            rows.append(_row(
                family, protocol_id, env, tool, test["score"].to_numpy(),
                tuning_score=float(np.mean([s["incumbent"]["tuning_score"] for s in summaries])),
                budget_full_runs=float(np.mean([b["used_full_runs"] for b in budgets])),
                budget_given=float(np.mean([b["given_full_runs"] for b in budgets])),
                budget_units=float(np.mean([b.get("tuning_units", 0) for b in budgets])),
                budget_unit=str(budgets[0].get("unit", "")),
                wall_s=float(np.mean([s["time"]["tuning_wall_s"] + s["time"]["held_out_wall_s"] for s in summaries])),
                studies=len(tool_studies), standing=_standing(studies[0], [s["hpo_seed"] for s in summaries])))
            points += [{"method": tool, "seed": int(r.seed), "score": r.score} for r in test.itertuples()]
            incumbents += [{"study": s.study_id, "optimizer": tool, "hpo_seed": s.summary["hpo_seed"],
                            **s.summary["incumbent"]} for s in tool_studies]
        if not rows:
            continue
        order = np.argsort([-r.iqm[0] for r in rows], kind="stable")
        ranked = [r for r in rows if r.ranked]
        for row in rows:
            row.rank = float("nan")
        for row, rank in zip(ranked, stats.ranks([r.iqm[0] for r in ranked])):
            row.rank = float(rank)
        views.append(ProtocolView(
            family, protocol_id, env, [rows[i] for i in order], studies,
            float(studies[0].protocol.get("worst_score", 0.0)), _anytime_frame(tuned),
            pd.DataFrame(points, columns=["method", "seed", "score"]), incumbents,
            str(studies[0].protocol.get("backend") or DEFAULT_BACKENDS[family]), versions,
        ))
    return views


def verdict(view: ProtocolView) -> str:
    """One line: does tuning beat the hand-tuned baseline on this benchmark, by how much (test IQM
    and its 95% CI), at what budget. Only ranked rows speak: complete tool entries of an official
    protocol at its full length."""
    hand = next((r for r in view.rows if r.method == HAND_TUNED and r.ranked), None)
    tools = [r for r in view.rows if r.ranked and r.method != HAND_TUNED]
    if hand is None or not tools:
        return "no verdict: no complete tool entry and hand-tuned baseline yet"
    best = max(tools, key=lambda r: r.iqm[0])
    difference = best.iqm[0] - hand.iqm[0]
    if best.iqm[1] > hand.iqm[2]:
        answer = "yes"
    elif best.iqm[2] < hand.iqm[1]:
        answer = "no, hand-tuned is better"
    else:
        answer = "not distinguishable (95% CIs overlap)"
    budget = "" if best.budget_full_runs is None else f", {best.budget_full_runs:.3g} full runs per tuning run"
    disagreement = (f"; the studies' hand-tuned runs disagree ({len(view.baseline_versions)} versions), "
                    f"its row takes each seed's median" if len(view.baseline_versions) > 1 else "")
    return (f"tuning beats hand-tuned? {answer}: best tool {best.method} IQM {best.iqm[0]:.4g} vs "
            f"{hand.iqm[0]:.4g} ({difference:+.4g}){budget}{disagreement}")


def aggregate(views: list[ProtocolView], family: str) -> list[dict[str, Any]]:
    """Per method over a family's protocols: normalized-score IQM [95% CI], average rank, and the
    probability of improvement over hand-tuned (protocols where the method and hand-tuned both ran).
    Only complete entries of official protocols count."""
    normalized: dict[str, dict[str, np.ndarray]] = defaultdict(dict)
    ranks: dict[str, list[float]] = defaultdict(list)
    for view in views:
        if view.family != family:
            continue
        hand = next((r for r in view.rows if r.method == HAND_TUNED and r.ranked), None)
        for row in view.rows:
            if not row.ranked:
                continue
            ranks[row.method].append(row.rank)
            if hand is not None and hand.mean != view.worst_score:
                normalized[row.method][view.protocol_id] = stats.normalize(row.scores, view.worst_score, hand.mean)
    table = []
    for method in sorted(ranks):
        entry: dict[str, Any] = {"method": method, "protocols": len(ranks[method]),
                                 "average_rank": float(np.mean(ranks[method]))}
        runs = normalized.get(method, {})
        if runs:
            entry["normalized_iqm"] = stats.aggregates_with_ci({"m": _matrix(runs, list(runs))}, reps=1000)["m"]["iqm"]
        hand_runs = normalized.get(HAND_TUNED, {})
        shared = [p for p in runs if p in hand_runs]
        if method != HAND_TUNED and shared:
            entry["p_improvement_over_hand_tuned"] = stats.probability_of_improvement(
                _matrix(runs, shared), _matrix(hand_runs, shared))
        table.append(entry)
    return sorted(table, key=lambda e: e["average_rank"])


def _matrix(runs: dict[str, np.ndarray], protocols: list[str]) -> np.ndarray:
    """(runs, protocols), keeping the run count every protocol has (rliable needs a rectangle)."""
    n = min(len(runs[p]) for p in protocols)
    return np.column_stack([runs[p][:n] for p in protocols])


#: The column order of a family's matrix: the baseline, the tools as the paper lists them, the rest by name.
METHOD_ORDER = (HAND_TUNED, "random", "dehb", "smac", "smac-mf", "tpe", "pbt", "pb2")


@dataclass
class MatrixCell:
    """One method on one benchmark: normalized test IQM [95% CI] and whether it ranks."""

    normalized: tuple[float, float, float] | None
    row: MethodRow


@dataclass
class FamilyMatrix:
    """A family's benchmarks x methods, the front page's table."""

    methods: list[str]
    benchmarks: list[tuple[ProtocolView, dict[str, MatrixCell]]]
    average_rank: dict[str, float]


def normalized_iqm(view: ProtocolView, row: MethodRow) -> tuple[float, float, float] | None:
    """``row``'s test IQM [95% CI] on the normalized scale (0 = the protocol's worst score, 1 = the
    hand-tuned baseline's test mean); None without a baseline to normalize by."""
    hand = next((r for r in view.rows if r.method == HAND_TUNED), None)
    if hand is None or hand.mean == view.worst_score:
        return None
    return _iqm_ci(stats.normalize(row.scores, view.worst_score, hand.mean))


def family_matrix(views: list[ProtocolView], family: str) -> FamilyMatrix:
    """Every official benchmark of ``family`` (no modified protocol, no study on other code) against
    every method that ran on one; the average rank counts ranked entries only."""
    shown = [v for v in views if v.family == family and v.studies[0].official is not None]
    found = {r.method for v in shown for r in v.rows}
    methods = [m for m in METHOD_ORDER if m in found] + sorted(found - set(METHOD_ORDER))
    ranks: dict[str, list[float]] = defaultdict(list)
    for view in shown:
        for row in view.rows:
            if row.ranked:
                ranks[row.method].append(row.rank)
    return FamilyMatrix(methods,
                        [(v, {r.method: MatrixCell(normalized_iqm(v, r), r) for r in v.rows}) for v in shown],
                        {m: float(np.mean(r)) for m, r in ranks.items()})
