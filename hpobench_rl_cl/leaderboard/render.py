"""HTML of the static site, rendered from Jinja2 templates (``templates/``) with autoescaping on:
every text that comes from a result file is escaped by the engine, never by hand."""

from __future__ import annotations

import datetime
import json
import re
from functools import lru_cache
from typing import Any

import jinja2

from ..analysis.tables import HAND_TUNED, FamilyMatrix, ProtocolView, verdict
from ..provenance import hardware

FAMILY_TITLES = {"rl": "Reinforcement learning", "cl": "Continual learning"}
METHOD_HEADERS = [
    ("method", "text"), ("test IQM [95% CI]", "number"), ("mean ± std", "number"), ("tuning score", "number"),
    ("gap (tuning − test)", "number"), ("budget (full runs used / given)", "number"), ("tuning budget", "number"),
    ("wall-clock per study", "number"), ("rank", "number"),
]


def slug(protocol_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", protocol_id)


def number(value: float | None, digits: int = 2) -> str:
    return "–" if value is None or value != value else f"{value:,.{digits}f}"


def sortkey(value: Any) -> str:
    """A cell's ``data-sort``: numbers as their repr (the script parses them), texts as they are."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return repr(float(value))


def run_length(view: ProtocolView) -> str:
    """What each full run of the benchmark trained."""
    length = view.studies[0].run_length
    return f"{length} epochs" if view.family == "cl" else f"{length:,} env steps"


def verification_text(verification: dict[str, Any] | None) -> str:
    """What ``hpobench-rl-cl verify`` found for a study, if it was run."""
    if not verification:
        return "not verified (hpobench-rl-cl verify retrains a sample of its trials)"
    trials = verification["trials"]
    same = sum(t["identical"] for t in trials)
    where = hardware(verification["machine"])
    return (f"{same} of {len(trials)} retrained trials identical on {where} ({verification['verified_at']}); "
            f"largest difference {verification['largest_difference']:.4g}")


def _hand_tuned_source(hand_tuned: dict[str, Any]) -> str:
    """Where the baseline's configuration comes from, and which study trained its held-out trials
    when this study adopted them."""
    source = hand_tuned.get("source", "–")
    return f"{source} · held-out trials adopted from {hand_tuned['trained_by']}" if "trained_by" in hand_tuned else source


@lru_cache(maxsize=1)
def _environment() -> jinja2.Environment:
    environment = jinja2.Environment(loader=jinja2.PackageLoader(__package__, "templates"), autoescape=True,
                                     undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    environment.globals.update(
        HAND_TUNED=HAND_TUNED, family_titles=FAMILY_TITLES, method_headers=METHOD_HEADERS, slug=slug,
        number=number, sortkey=sortkey, run_length=run_length, verdict=verdict,
        headers=lambda frame: [(str(c), "number" if frame[c].dtype.kind in "fi" else "text") for c in frame.columns])
    return environment


def _render(template: str, *, depth: int = 0, **context: Any) -> str:
    base = {"up": "../" * depth, "built": datetime.date.today().isoformat(), "reproductions": False,
            "smoke_skipped": 0}
    return _environment().get_template(template).render(**{**base, **context})


def overview(matrices: dict[str, FamilyMatrix], site: dict[str, Any]) -> str:
    """The front page: per family, benchmarks x methods with the normalized score, average ranks and
    one verdict per benchmark."""
    families = [f for f in FAMILY_TITLES if f in matrices]
    return _render("index.html", title="hpobench-rl-cl leaderboard", families=families, matrices=matrices, **site)


def studies_page(views: list[ProtocolView], aggregates: dict[str, list[dict[str, Any]]],
                 comparisons: list[dict[str, Any]], site: dict[str, Any]) -> str:
    """Every entry (flat, sortable, filterable), the families' aggregates and the CL phase comparisons."""
    families = [f for f in FAMILY_TITLES if any(v.family == f for v in views)]
    return _render("studies.html", title="All entries", views=views, families=families, aggregates=aggregates,
                   comparisons=comparisons, envs=sorted({v.env_family for v in views}), **site)


def reproductions_page(tables: dict[str, Any], site: dict[str, Any]) -> str:
    """The papers' reproduction tables (results/reproductions/*.csv), each under its preamble."""
    return _render("reproductions.html", title="Reproductions", tables=sorted(tables.items()), **site)


def protocol_page(view: ProtocolView, figures: dict[str, str], csv_links: list[tuple[str, str]],
                  audits: list[tuple[str, dict[str, Any]]], site: dict[str, Any]) -> str:
    provenance = []
    for study in view.studies:
        meta, summary = study.provenance, study.summary or {}
        finished = datetime.datetime.fromtimestamp(float(study.trials["finished_at"].max()), datetime.timezone.utc)
        provenance.append({
            "study_id": study.study_id, "commit": meta.get("suite_commit", "unknown"),
            "code": study.foreign_code or ("the suite's (its fingerprint checked)" if "code_fingerprint" in meta
                                           else "recorded before code fingerprints: accepted as committed "
                                                "(accepted_before_checks.json)" if study.accepted_before_checks
                                           else "recorded before code fingerprints: its commit only"),
            "protocol_hash": study.trials["protocol_hash"].iloc[0],
            "seeds": json.dumps(study.protocol.get("seeds", {})),
            "hardware": f"{hardware(meta)} · {meta.get('platform', '')}",
            "verified": verification_text(study.verification), "finished": finished.strftime("%Y-%m-%d %H:%M UTC"),
            "runs": (f"{len(study.finished_runs)} with different outcomes (study_log.csv); this export is the last"
                     if len(study.finished_runs) > 1 else str(len(study.finished_runs) or "–")),
            "hand_tuned_source": _hand_tuned_source(summary.get("hand_tuned") or {}),
            "packages": ", ".join(f"{k} {v}" for k, v in sorted(meta.get("packages", {}).items()))})
    return _render("protocol.html", depth=1, title=view.protocol_id, view=view, figures=figures, csv_links=csv_links,
                   audits=audits, provenance=provenance, **site)
