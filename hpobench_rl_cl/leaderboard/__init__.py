"""The static leaderboard: ``results/`` in, plain files out (open from disk or any static host).

Pages: ``index.html`` (per family, benchmarks x methods: normalized score, average rank, one verdict
per benchmark), ``studies.html`` (every entry, flat), ``protocols/*.html`` (one per benchmark) and
``reproductions.html``. Smoke-scale studies (tests of the pipeline, shortened runs) are never shown.

:func:`build` validates every result file first (one bad file stops the build with one line naming
the file and row), renders the whole site into a temporary folder beside ``out`` and only then
replaces ``out``: a failed build never leaves half a site. The pages load nothing from the
network: styles, script, figures (seaborn SVG) and raw CSVs all live inside ``out``.
"""

from __future__ import annotations

import shutil
import tempfile
from dataclasses import replace
from importlib import resources
from pathlib import Path

from ..store.export import DEFAULT_RESULTS_DIR

DEFAULT_SITE_DIR = Path("leaderboard")


def build(results_dir: str | Path = DEFAULT_RESULTS_DIR, out_dir: str | Path = DEFAULT_SITE_DIR) -> Path:
    """Build the site from ``results_dir`` into ``out_dir``; returns the path of its index page."""
    from ..analysis.audit import audit, validated
    from . import plots, render
    from ..analysis.results import collect
    from ..analysis.tables import aggregate, family_matrix, protocol_views

    results = collect(results_dir)
    shown = [s for s in results.studies if str(s.trials["scale"].iloc[0]) != "smoke"]
    reproductions = {name: table for name, table in results.reproductions.items() if not name.endswith("-smoke")}
    site = {"smoke_skipped": len(results.studies) - len(shown), "reproductions": bool(reproductions)}
    views = protocol_views(replace(results, studies=shown))
    out = Path(out_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=out.parent))
    try:
        for folder in ("assets", "protocols", "figures", "data"):
            (staging / folder).mkdir()
        for asset in ("leaderboard.js", "leaderboard.css"):
            (staging / "assets" / asset).write_bytes(resources.files(__package__).joinpath("assets", asset).read_bytes())
        families = [f for f in ("rl", "cl") if any(v.family == f for v in views)]
        matrices = {family: family_matrix(views, family) for family in families}
        aggregates = {family: aggregate(views, family) for family in ("rl", "cl")}
        (staging / "index.html").write_text(render.overview(matrices, site), encoding="utf-8")
        (staging / "studies.html").write_text(render.studies_page(views, aggregates, results.comparisons, site),
                                              encoding="utf-8")
        if reproductions:
            (staging / "reproductions.html").write_text(render.reproductions_page(reproductions, site),
                                                       encoding="utf-8")
        for view in views:
            name = render.slug(view.protocol_id)
            figures = {}
            for kind, draw in (("anytime", plots.anytime_plot), ("test_scores", plots.test_scores_plot)):
                if draw(view, staging / "figures" / f"{name}-{kind}.svg"):
                    figures[kind] = f"../figures/{name}-{kind}.svg"
            links = []
            for study in view.studies:
                target = staging / "data" / study.family / study.csv_path.name
                target.parent.mkdir(exist_ok=True)
                shutil.copyfile(study.csv_path, target)
                links.append((study.csv_path.name, f"../data/{study.family}/{study.csv_path.name}"))
            audits = [(s.study_id, audit(validated(s.trials, s.study_id), reps=500)) for s in view.studies if s.summary]
            page = render.protocol_page(view, figures, links, audits, site)
            (staging / "protocols" / f"{name}.html").write_text(page, encoding="utf-8")
        if out.exists():
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        if staging.exists():
            shutil.rmtree(staging)
    return out / "index.html"
