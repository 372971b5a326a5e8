"""HTML of the static site. Every text that comes from a result file goes through :func:`text`."""

from __future__ import annotations

import datetime
import html
import json
import math
import re
from typing import Any, Iterable

from ..analysis.tables import HAND_TUNED, MethodRow, ProtocolView, verdict

FAMILY_TITLES = {"rl": "Reinforcement learning", "cl": "Continual learning"}


def text(value: Any) -> str:
    """Escaped text for element content and quoted attribute values."""
    return html.escape(str(value), quote=True)


def slug(protocol_id: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "-", protocol_id)


def _number(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _sort_key(value: float | None) -> str:
    return "" if value is None else repr(float(value))


def _cell(shown: str, sort: float | str | None = None, css: str = "") -> str:
    key = text(sort if isinstance(sort, str) else _sort_key(sort)) if sort is not None else text(shown)
    cls = f' class="{css}"' if css else ""
    return f'<td data-sort="{key}"{cls}>{shown}</td>'


def hardware(provenance: dict[str, Any]) -> str:
    """CPU model and vector flags, GPU model and driver, from a study's or a trial's provenance."""
    cpu, gpu = provenance.get("cpu"), provenance.get("gpu")
    if isinstance(cpu, dict):
        cpu = f"{cpu.get('model')} ({', '.join(cpu.get('flags', []))}; {cpu.get('cores')} cores)"
    if isinstance(gpu, dict):
        gpu = f"{gpu.get('model')} (driver {gpu.get('driver')})"
    return f"{cpu or 'unknown CPU'} · GPU {gpu or 'none'}"


def verification_text(verification: dict[str, Any] | None) -> str:
    """What ``hpobench-rl-cl verify`` found for a study, if it was run."""
    if not verification:
        return "not verified (hpobench-rl-cl verify retrains a sample of its trials)"
    trials = verification["trials"]
    same = sum(t["identical"] for t in trials)
    where = hardware(verification["machine"])
    return (f"{same} of {len(trials)} retrained trials identical on {where} ({verification['verified_at']}); "
            f"largest difference {verification['largest_difference']:.4g}")


def page(title: str, body: str, *, depth: int = 0) -> str:
    up = "../" * depth
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{text(title)}</title>
<link rel="stylesheet" href="{up}assets/leaderboard.css">
<script src="{up}assets/leaderboard.js" defer></script>
</head>
<body>
<header><a href="{up}index.html">hpobench-rl-cl leaderboard</a></header>
<main>
{body}
</main>
<footer>Built {datetime.date.today().isoformat()} from <code>results/</code> by <code>hpobench-rl-cl leaderboard build</code>.</footer>
</body>
</html>
"""


def _table(table_id: str, headers: Iterable[tuple[str, str]], rows: Iterable[str], caption: str = "") -> str:
    head = "".join(f'<th data-type="{kind}" tabindex="0">{text(name)}</th>' for name, kind in headers)
    cap = f"<caption>{text(caption)}</caption>" if caption else ""
    return (f'<table class="sortable" id="{text(table_id)}">{cap}<thead><tr>{head}</tr></thead>'
            f'<tbody>{"".join(rows)}</tbody></table>')


METHOD_HEADERS = [
    ("method", "text"), ("test IQM [95% CI]", "number"), ("mean ± std", "number"), ("tuning score", "number"),
    ("gap (tuning − test)", "number"), ("budget (full runs used / given)", "number"), ("tuning budget", "number"),
    ("wall-clock per study", "number"), ("rank", "number"),
]


def _method_cells(row: MethodRow) -> str:
    iqm, low, high = row.iqm
    budget = "–" if row.budget_full_runs is None else f"{row.budget_full_runs:.3g} / {row.budget_given:.3g}"
    units = "–" if row.budget_units is None else f"{row.budget_units:,.0f} {text(row.budget_unit.replace('_', ' '))}"
    runs = "" if row.method == HAND_TUNED else f"{row.studies} run{'s' if row.studies != 1 else ''}, "
    method = text(row.method) + f" <small>({runs}{text(row.standing)})</small>"
    return "".join([
        _cell(method, row.method, "method"),
        _cell(f"{_number(iqm)} <small>[{_number(low)}, {_number(high)}]</small>", iqm),
        _cell(f"{_number(row.mean)} ± {_number(row.std)}", row.mean),
        _cell(_number(row.tuning_score), row.tuning_score),
        _cell(_number(row.gap), row.gap),
        _cell(budget, row.budget_full_runs),
        _cell(units, row.budget_units),
        _cell(f"{row.wall_s / 60:,.1f} min", row.wall_s),
        _cell("–" if math.isnan(row.rank) else f"{row.rank:g}", None if math.isnan(row.rank) else row.rank),
    ])


def overview(views: list[ProtocolView], aggregates: dict[str, list[dict[str, Any]]],
             comparisons: list[dict[str, Any]], reproductions: bool = False) -> str:
    envs = sorted({v.env_family for v in views})
    families = [f for f in FAMILY_TITLES if any(v.family == f for v in views)]
    parts = ["<h1>Leaderboard</h1>",
             "<p>Each HPO tool's incumbent and the hand-tuned baseline, trained from scratch on seeds no tool saw "
             "while tuning (RL: sealed test seeds; CL: evaluation seeds on a dataset disjoint from the tuning "
             "one). Click a column to sort; a protocol to see its curves, per-seed scores, audit and provenance.</p>",
             '<form class="filters" id="filters">',
             '<label>family <select id="filter-family"><option value="">all</option>'
             + "".join(f'<option value="{f}">{text(FAMILY_TITLES[f])}</option>' for f in families)
             + "</select></label>",
             '<label>environment / data <select id="filter-env"><option value="">all</option>'
             + "".join(f'<option value="{text(e)}">{text(e)}</option>' for e in envs) + "</select></label>",
             "</form>"]
    if reproductions:
        parts.insert(2, '<p><a href="reproductions.html">The papers\' reproduction tables</a></p>')
    for family in families:
        rows = []
        for view in (v for v in views if v.family == family):
            link = f'<a href="protocols/{text(slug(view.protocol_id))}.html">{text(view.protocol_id)}</a>'
            for row in view.rows:
                rows.append(f'<tr data-family="{family}" data-env="{text(view.env_family)}">'
                            f'{_cell(link, view.protocol_id)}{_cell(text(view.env_family))}'
                            f'{_cell(text(view.backend))}{_method_cells(row)}</tr>')
        headers = [("protocol", "text"), ("environment / data", "text"), ("backend", "text"), *METHOD_HEADERS]
        parts.append(f'<section class="family" data-family="{family}"><h2>{text(FAMILY_TITLES[family])}</h2>')
        parts.append(_table(f"overview-{family}", headers, rows))
        parts.append('<ul class="verdicts">' + "".join(
            f"<li><b>{text(v.protocol_id)}</b> ({text(v.backend)}): {text(verdict(v))}</li>"
            for v in views if v.family == family) + "</ul>")
        parts.append(_aggregate_table(family, aggregates.get(family, [])))
        if family == "cl":
            parts.append(_comparisons(comparisons))
        parts.append("</section>")
    parts.append('<p class="note">Scores: RL = mean return of the deterministic policy; CL = the protocol\'s '
                 "metric in percent. IQM = interquartile mean, CIs by stratified bootstrap (rliable). Normalized "
                 "score: 0 = the protocol's worst score (RL: the score of a crashed trial; CL: 0 %), 1 = the "
                 "hand-tuned baseline's test mean. Rank: by test IQM within a protocol.</p>")
    return page("hpobench-rl-cl leaderboard", "\n".join(parts))


def _aggregate_table(family: str, entries: list[dict[str, Any]]) -> str:
    rows = []
    for entry in entries:
        norm = entry.get("normalized_iqm")
        norm_cell = _cell("–") if norm is None else _cell(
            f"{norm[0]:.2f} <small>[{norm[1]:.2f}, {norm[2]:.2f}]</small>", norm[0])
        p, rank = entry.get("p_improvement_over_hand_tuned"), entry["average_rank"]
        cells = [_cell(text(entry["method"]), entry["method"]), _cell(str(entry["protocols"]), entry["protocols"]),
                 norm_cell, _cell(f"{rank:.2f}", rank), _cell(_number(p), p)]
        rows.append(f'<tr data-family="{family}">{"".join(cells)}</tr>')
    headers = [("method", "text"), ("protocols", "number"), ("normalized IQM [95% CI]", "number"),
               ("average rank", "number"), ("P(improvement over hand-tuned)", "number")]
    return (f"<h3>Across {text(FAMILY_TITLES[family].lower())} protocols</h3>"
            + _table(f"aggregate-{family}", headers, rows))


def _comparisons(comparisons: list[dict[str, Any]]) -> str:
    parts = ["<h3>Tuning phase vs evaluation phase (Cha &amp; Cho's two-phase protocol)</h3>"]
    for comparison in comparisons:
        rows = ["<tr>" + "".join(_comparison_cells(r)) + "</tr>" for r in comparison["strategies"]]
        tau = comparison["kendall_tau_tuning_vs_evaluation"]
        caption = (f"{comparison.get('comparison_id', '')}: Kendall tau between the phases' rankings "
                   f"{'n/a' if tau is None or tau != tau else f'{tau:.2f}'}")
        headers = [("strategy", "text"), ("tuning score", "number"), ("tuning rank", "number"),
                   ("evaluation score", "number"), ("evaluation rank", "number"), ("rank shift", "number"),
                   ("hand-tuned evaluation", "number")]
        parts.append(_table(f"comparison-{slug(str(comparison.get('comparison_id', '')))}", headers, rows, caption))
    return "\n".join(parts)


def reproductions_page(tables: dict[str, Any]) -> str:
    """The papers' reproduction tables (results/reproductions/*.csv), as written by ``reproduce``."""
    parts = ["<h1>Reproductions of the papers' comparisons</h1>",
             "<p>Written by <code>hpobench-rl-cl reproduce rl-paper|cl-paper --scale SCALE</code>; every study "
             "behind a row is also on the overview (protocol variants such as <code>ppo-acrobot+small</code>). "
             "At the quick scale the runs are hundreds of steps long: the grid runs end to end, its scores do "
             "not speak to the papers' claims.</p>"]
    for name, frame in sorted(tables.items()):
        headers = [(str(c), "number" if frame[c].dtype.kind in "fi" else "text") for c in frame.columns]
        rows = []
        for record in frame.itertuples(index=False):
            cells = []
            for value in record:
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    missing = value != value  # NaN: a row without that figure (e.g. no tuning score)
                    shown = "–" if missing else f"{value:,.2f}" if isinstance(value, float) else str(value)
                    cells.append(_cell(shown, None if missing else float(value)))
                else:
                    cells.append(_cell(text(value), str(value)))
            rows.append("<tr>" + "".join(cells) + "</tr>")
        parts.append(f"<h2>{text(name)}</h2>" + _table(f"reproduction-{slug(name)}", headers, rows))
    return page("Reproductions", "\n".join(parts))


def _comparison_cells(row: dict[str, Any]) -> list[str]:
    tuning_rank, evaluation_rank, shift = row["tuning_rank"], row["evaluation_rank"], row["rank_shift"]
    return [_cell(text(row["strategy"]), row["strategy"]),
            _cell(_number(row["tuning_score"]), row["tuning_score"]), _cell(f"{tuning_rank:g}", tuning_rank),
            _cell(_number(row["evaluation_score"]), row["evaluation_score"]),
            _cell(f"{evaluation_rank:g}", evaluation_rank), _cell(f"{shift:+g}", shift),
            _cell(_number(row["hand_tuned_evaluation_score"]), row["hand_tuned_evaluation_score"])]


def protocol_page(view: ProtocolView, figures: dict[str, str], csv_links: list[tuple[str, str]],
                  audits: list[tuple[str, dict[str, Any]]]) -> str:
    parts = [f"<h1>{text(view.protocol_id)}</h1>",
             f"<p>{text(FAMILY_TITLES[view.family])} · {text(view.env_family)} · {text(view.backend)} backend</p>",
             _table("protocol-methods", METHOD_HEADERS, [f"<tr>{_method_cells(r)}</tr>" for r in view.rows])]
    for caption, name in (("Anytime performance", "anytime"), ("Held-out score per seed", "test_scores")):
        if name in figures:
            parts.append(f'<figure><img src="{text(figures[name])}" alt="{text(caption)}"><figcaption>'
                         f"{text(caption)}</figcaption></figure>")
    parts.append("<h2>Audit (seed overfitting)</h2>")
    for study_id, report in audits:
        gap = report.get("incumbent_gap")
        gap_text = "–" if not gap else f"{gap['gap']:.2f} [{gap['ci95'][0]:.2f}, {gap['ci95'][1]:.2f}]"
        agreement = report.get("rank_agreement")
        tau = "–" if not agreement else f"{agreement['kendall']:.2f}"
        flags = "".join(f"<li>{text(f)}</li>" for f in report.get("flags", [])) or "<li>no flags</li>"
        parts.append(f"<h3>{text(study_id)}</h3><p>incumbent gap (tuning − held-out) {text(gap_text)}; "
                     f"Kendall tau of configurations, tuning vs held-out: {text(tau)}</p><ul>{flags}</ul>")
    parts.append("<h2>Incumbent configurations</h2>")
    for incumbent in view.incumbents:
        parts.append(f"<h3>{text(incumbent['study'])}</h3><p>tuning score {incumbent['tuning_score']:.2f}</p>"
                     f"<pre>{text(json.dumps(incumbent['config'], indent=2, sort_keys=True))}</pre>")
    parts.append("<h2>Provenance</h2>")
    for study in view.studies:
        provenance, summary = study.provenance, study.summary or {}
        packages = ", ".join(f"{k} {v}" for k, v in sorted(provenance.get("packages", {}).items()))
        seeds = study.protocol.get("seeds", {})
        finished = study.trials["finished_at"].max()
        date = datetime.datetime.fromtimestamp(float(finished), datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        parts.append(
            f"<h3>{text(study.study_id)}</h3><dl>"
            f"<dt>suite commit</dt><dd><code>{text(provenance.get('suite_commit', 'unknown'))}</code></dd>"
            f"<dt>protocol hash</dt><dd><code>{text(study.trials['protocol_hash'].iloc[0])}</code></dd>"
            f"<dt>seeds</dt><dd>{text(json.dumps(seeds))}</dd>"
            f"<dt>hardware</dt><dd>{text(hardware(provenance))} · {text(provenance.get('platform', ''))}</dd>"
            f"<dt>verified</dt><dd>{text(verification_text(study.verification))}</dd>"
            f"<dt>finished</dt><dd>{text(date)}</dd>"
            f"<dt>hand-tuned source</dt><dd>{text((summary.get('hand_tuned') or {}).get('source', '–'))}</dd>"
            f"<dt>packages</dt><dd>{text(packages)}</dd></dl>")
    parts.append("<h2>Raw data</h2><ul>" + "".join(
        f'<li><a href="{text(href)}">{text(name)}</a></li>' for name, href in csv_links) + "</ul>")
    return page(view.protocol_id, "\n".join(parts), depth=1)
