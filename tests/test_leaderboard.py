"""The static leaderboard: built from real (tiny) runs, checked as files and in a real headless browser."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from hpobench_rl_cl import api, cli
from hpobench_rl_cl.leaderboard import build
from hpobench_rl_cl.leaderboard import plots
from hpobench_rl_cl.analysis.results import collect, export_digest
from hpobench_rl_cl.analysis.tables import protocol_views

from conftest import FIXTURES, TINY

pytestmark = pytest.mark.slow

ROOT = Path(__file__).parents[1]
TINY_CL = str(FIXTURES / "tiny-cl.yaml")
PLUGIN = ROOT / "examples" / "plugin-example"
HOSTILE = "<script>alert(1)</script>"
ARTIFACTS = ROOT / "test-artifacts"


@pytest.fixture(scope="module")
def real_results(tmp_path_factory) -> Path:
    """Results of real studies: PPO CartPole (random search) and the tiny CL protocol at their quick
    scale (the test protocols' full length)."""
    root = tmp_path_factory.mktemp("real")
    for protocol in (TINY, TINY_CL):
        api.run_study(protocol, scale="quick", workers=1, store=root / "runs", results=root / "results",
                      progress=False)
    return root / "results"


def _with_hostile_tool_name(results: Path, target: Path) -> Path:
    """A copy of the results where the RL study's HPO tool is called HOSTILE (its numbers are real)."""
    shutil.copytree(results, target)
    csv = next((target / "rl").glob("*-quick-random-s0.csv"))
    frame = pd.read_csv(csv)
    frame["optimizer"] = HOSTILE
    frame.to_csv(csv, index=False)
    summary_path = csv.with_name(csv.stem + ".summary.json")
    meta = json.loads(summary_path.read_text())
    meta["summary"]["optimizer"] = HOSTILE
    # A study run by a tool of that name would carry a digest over these rows: recompute it as the store would.
    back = pd.read_csv(csv, float_precision="round_trip")
    meta["digest"] = export_digest(meta["summary"]["study_id"], back, meta["summary"], meta["provenance"])
    summary_path.write_text(json.dumps(meta))
    log_path = target / "study_log.csv"
    log = pd.read_csv(log_path, float_precision="round_trip")
    finished = log[(log["study_id"] == meta["summary"]["study_id"]) & (log["event"] == "finished")].iloc[[-1]]
    finished = finished.assign(optimizer=HOSTILE, digest=meta["digest"], at=finished["at"] + 1)
    pd.concat([log, finished]).to_csv(log_path, index=False)
    return target


def _view(views: dict, name: str):
    """The view of a test protocol: not shipped, so labelled as a modified protocol."""
    return next(v for protocol_id, v in views.items() if protocol_id.startswith(f"{name} (modified protocol"))


def _site_files(site: Path) -> list[Path]:
    return [p for p in site.rglob("*") if p.is_file()]


def test_site_is_self_contained_and_shows_every_method(real_results, tmp_path):
    index = build(real_results, tmp_path / "site")
    site = index.parent
    front, page = index.read_text(), (site / "studies.html").read_text()
    for text in ("tiny-cartpole@quick", "tiny-cl-naive@quick", "tiny-cl-replay@quick", "hand-tuned", "random",
                 "Tuning phase vs evaluation phase"):
        assert text in page
    assert "tiny-cartpole@quick" not in front, "a modified protocol is no benchmark of the front page"
    for protocol in ("tiny-cartpole@quick", "tiny-cl-replay@quick"):
        detail = next((site / "protocols").glob(f"{protocol.replace('@', '-')}-modified-protocol-*.html")).read_text()
        assert "Anytime performance" in detail and "Provenance" in detail and "protocol hash" in detail
    assert "stand in for the paper&#39;s &lt;CIFAR-100&gt;</li>" in detail, "its deviations, escaped"
    assert (site / "data" / "rl" / "tiny-cartpole-quick-random-s0.csv").is_file()
    for path in _site_files(site):
        if path.suffix in (".html", ".js", ".css"):
            content = path.read_text()
            for remote in ('src="http', "src='http", 'href="http', "url(http", "//cdn", "import(", "fetch("):
                assert remote not in content, f"{path.name} would load {remote}"


def test_a_figure_depends_on_its_results_alone(real_results, tmp_path):
    """NumPy's global generator is left wherever the last bootstrap of any benchmark put it."""
    view = _view({v.protocol_id: v for v in protocol_views(collect(real_results))}, "tiny-cartpole@quick")
    for plot in (plots.anytime_plot, plots.test_scores_plot):
        drawn = []
        for state in (1, 2):
            np.random.seed(state)
            drawn.append(plot(view, tmp_path / f"{plot.__name__}-{state}.svg").read_bytes())
        assert drawn[0] == drawn[1], plot.__name__


def test_hostile_text_from_results_is_escaped(real_results, tmp_path):
    results = _with_hostile_tool_name(real_results, tmp_path / "results")
    index = build(results, tmp_path / "site")
    for page in [index, index.parent / "studies.html", *index.parent.joinpath("protocols").glob("*.html")]:
        assert "<script>alert" not in page.read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in (index.parent / "studies.html").read_text()


def test_malformed_file_is_one_line_naming_file_and_row_and_keeps_the_old_site(real_results, tmp_path, capsys):
    site = tmp_path / "site"
    index = build(real_results, site)
    before = index.read_text()
    broken = tmp_path / "broken"
    shutil.copytree(real_results, broken)
    csv = broken / "rl" / "tiny-cartpole-quick-random-s0.csv"
    frame = pd.read_csv(csv)
    frame["score"] = frame["score"].astype(object)
    frame.loc[1, "score"] = "abc"
    frame.to_csv(csv, index=False)
    assert cli.main(["leaderboard", "build", "--results", str(broken), "--out", str(site)]) == 2
    error = capsys.readouterr().err.strip()
    assert len(error.splitlines()) == 1
    assert str(csv) in error and "row 3" in error and "score" in error
    assert index.read_text() == before
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".site-")], "no staging folder left behind"


def _browser() -> str:
    """Debian's chromium (``.ci/run`` installs it); CI sets HPOBENCH_REQUIRE_BROWSER so it never skips."""
    executable = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if executable is None:
        reason = "no chromium on PATH (apt-get install chromium) for the headless-browser test"
        if os.environ.get("HPOBENCH_REQUIRE_BROWSER"):
            pytest.fail(reason)
        pytest.skip(reason)
    return executable


@pytest.mark.browser
def test_site_in_a_real_headless_browser(real_results, tmp_path):
    from playwright.sync_api import sync_playwright

    executable = _browser()
    results = _with_hostile_tool_name(real_results, tmp_path / "results")
    index = build(results, tmp_path / "site")
    views = [v for v in protocol_views(collect(results)) if not v.protocol_id.split(" ")[0].endswith("@smoke")]
    expected_rows = {family: sum(len(v.rows) for v in views if v.family == family) for family in ("rl", "cl")}
    requests, console_errors, dialogs = [], [], []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("request", lambda request: requests.append(request.url))
        page.on("console", lambda message: console_errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: console_errors.append(str(error)))
        page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
        page.goto(index.parent.joinpath("studies.html").as_uri())
        page.wait_for_load_state("load")

        for family, count in expected_rows.items():
            assert page.locator(f"#overview-{family} tbody tr").count() == count
        assert page.get_by_text(HOSTILE).first.is_visible(), "a hostile name shows as plain text"

        def column(table: str, index: int) -> list[float]:
            return [float(v) for v in page.locator(f"#{table} tbody tr td:nth-child({index})").evaluate_all(
                "cells => cells.map(c => c.getAttribute('data-sort'))")]

        header = page.locator("#overview-cl thead th", has_text="test IQM")
        position = 1 + [i for i, t in enumerate(page.locator("#overview-cl thead th").all_inner_texts())
                        if "test IQM" in t][0]
        header.click()
        ascending = column("overview-cl", position)
        assert ascending == sorted(ascending)
        header.click()
        descending = column("overview-cl", position)
        assert descending == sorted(descending, reverse=True) and descending != ascending

        page.select_option("#filter-family", "cl")
        assert page.locator("section.family[data-family='rl']").is_hidden()
        assert page.locator("#overview-cl tbody tr").first.is_visible()
        page.select_option("#filter-family", "")
        page.select_option("#filter-env", "digits")
        assert page.locator("#overview-rl tbody tr:visible").count() == 0
        assert page.locator("#overview-cl tbody tr:visible").count() == expected_rows["cl"]
        page.select_option("#filter-env", "")

        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "leaderboard.png"), full_page=True)
        page.locator("#overview-rl tbody a").first.click()
        page.wait_for_load_state("load")
        assert page.locator("figure img").count() == 2
        assert all(page.locator("figure img").evaluate_all("imgs => imgs.map(i => i.naturalWidth > 0)"))
        browser.close()
    assert not console_errors, console_errors
    assert not dialogs, "a script from a result file ran"
    leaving = [url for url in requests if not url.startswith("file://")]
    assert not leaving, f"requests left the page: {leaving}"


def test_a_plugin_package_adds_rows_without_editing_the_suite(real_results, tmp_path):
    """The README's worked example: install the example package, run its protocols, rebuild."""
    target = tmp_path / "plugin"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--target", str(target), str(PLUGIN)], check=True)
    results = tmp_path / "results"
    shutil.copytree(real_results, results)
    env = {**os.environ, "PYTHONPATH": str(target)}
    for protocol in ("trpo-cartpole.yaml", "digits-online-ewc.yaml"):
        subprocess.run([sys.executable, "-m", "hpobench_rl_cl", "run", str(PLUGIN / "protocols" / protocol),
                        "--optimizer", "sobol", "--scale", "smoke", "--workers", "1", "--store", str(tmp_path / "runs"),
                        "--results", str(results), "--no-progress"], check=True, env=env, capture_output=True)
    index = build(results, tmp_path / "site")
    views = {v.protocol_id: v for v in protocol_views(collect(results))}
    assert {r.method for r in _view(views, "trpo-cartpole@smoke").rows} == {"hand-tuned", "sobol"}
    assert {r.method for r in _view(views, "digits-online-ewc-ewc-online@smoke").rows} == {"hand-tuned", "sobol"}
    smoke = sum(str(s.trials["scale"].iloc[0]) == "smoke" for s in collect(results).studies)
    assert smoke >= 2 and f"{smoke} smoke-scale studies" in index.read_text(), "counted, not shown"
    assert not list(index.parent.rglob("*smoke*")) and "@smoke" not in (index.parent / "studies.html").read_text(), \
        "smoke studies test the pipeline: never on the site"
