"""Attacks of a researcher who wants a good number, each refused (closed-form backend: no training)."""

from __future__ import annotations

import json
import sqlite3

import pandas as pd
import pytest
from closed_form import PROTOCOL, ClosedFormBackend

from hpobench_rl_cl import api, cli
from hpobench_rl_cl.analysis.results import collect
from hpobench_rl_cl.errors import SealError, StoreError, UserError
from hpobench_rl_cl.protocol import read_protocol
from hpobench_rl_cl.runner.session import Session
from hpobench_rl_cl.trainers.base import BACKENDS

BACKENDS.add("closed-form", ClosedFormBackend)


@pytest.fixture
def study(tmp_path):
    ClosedFormBackend.calls, ClosedFormBackend.results_per_call, ClosedFormBackend.crash = [], None, False
    path = tmp_path / "closed-form.yaml"
    path.write_text(PROTOCOL)
    summary = api.run_study(str(path), scale="paper", workers=1, store=tmp_path / "runs", results=tmp_path / "results",
                            progress=False)
    return str(path), summary


def _tamper(tmp_path, *statements: str) -> None:
    """What a user with the sqlite3 shell can do: drop the store's guards and edit rows."""
    db = sqlite3.connect(tmp_path / "runs" / "hpobench.sqlite")
    for trigger in ("trials_never_change", "trials_are_never_deleted"):
        db.execute(f"DROP TRIGGER IF EXISTS {trigger}")
    for statement in statements:
        db.execute(statement)
    db.commit()
    db.close()


def _rerun(path, tmp_path, **kwargs):
    return api.run_study(path, scale="paper", workers=1, store=tmp_path / "runs", results=tmp_path / "results",
                         progress=False, **kwargs)


def test_a_stored_trial_cannot_be_updated_or_deleted_through_sqlite(study, tmp_path):
    db = sqlite3.connect(tmp_path / "runs" / "hpobench.sqlite")
    with pytest.raises(sqlite3.IntegrityError, match="never changes"):
        db.execute("UPDATE trials SET score = 999")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        db.execute("DELETE FROM study_log")


def test_raising_a_score_deleting_held_out_rows_and_nulling_the_summary_is_refused_on_rerun(study, tmp_path):
    path, summary = study
    _tamper(tmp_path,
            f"UPDATE trials SET score = 999 WHERE phase = 'tuning' AND config_hash != '{summary['incumbent']['config_hash']}'"
            " AND trial_id = (SELECT MIN(trial_id) FROM trials WHERE phase = 'tuning')",
            "DELETE FROM trials WHERE phase = 'test'", "UPDATE studies SET summary_json = NULL")
    with pytest.raises(StoreError, match=rf"study '{summary['study_id']}' .*the store was edited"):
        _rerun(path, tmp_path)


def test_removing_an_audit_mark_is_refused_by_show(study, tmp_path):
    path, _ = study
    mine = api.train_config(path, {"learning_rate": 0.9, "width": 32}, scale="paper", seeds=[5], audit=True,
                            workers=1, store=tmp_path / "runs", results=tmp_path / "results", progress=False)
    _tamper(tmp_path, "UPDATE trials SET audit = 0 WHERE audit = 1")
    with pytest.raises(StoreError, match="differs from what was stored"):
        api.show_study(mine["study_id"], tmp_path / "runs")


def test_a_direct_call_cannot_put_another_configuration_on_held_out_seeds(tmp_path):
    path = tmp_path / "closed-form.yaml"
    path.write_text(PROTOCOL)
    protocol = read_protocol(str(path), "paper")
    with Session(tmp_path / "runs", workers=1, progress=False) as session:
        fresh = session.study(protocol, "fresh", "random", 0, "cpu")
        with pytest.raises(SealError, match="did not select this incumbent configuration"):
            fresh.train_roles({"incumbent": {"learning_rate": 0.3, "width": 16}}, (5, 6))
        with pytest.raises(SealError, match="did not select this hand-tuned configuration"):
            fresh.train_roles({"hand-tuned": {"learning_rate": 0.3, "width": 16}}, (5,))
        with pytest.raises(SealError, match="did not select this published configuration"):
            fresh.train_roles({"published": {"learning_rate": 0.3, "width": 16}}, (5,))


def test_reusing_a_study_name_with_another_tool_or_hpo_seed_is_refused(study, tmp_path):
    path, summary = study
    for change in ({"optimizer": "tpe"}, {"hpo_seed": 3}):
        with pytest.raises(StoreError, match="belongs to random with HPO seed 0"):
            _rerun(path, tmp_path, study_name=summary["study_id"], **change)


def test_every_study_started_is_in_the_exported_log(study, tmp_path):
    path, _ = study
    _rerun(path, tmp_path, hpo_seed=2)
    log = pd.read_csv(tmp_path / "results" / "study_log.csv")
    started = log[log["event"] == "started"]
    assert sorted(started["hpo_seed"]) == [0, 2]
    assert set(log[log["event"] == "finished"]["digest"].str.len()) == {64}


def test_an_earlier_runs_export_put_back_over_the_last_is_refused(study, tmp_path, monkeypatch):
    # Run a study twice (from an empty store, on a machine where it trains otherwise), keep the
    # better export: the study log says which run finished last.
    import closed_form

    path, summary = study
    exports = tmp_path / "results" / "rl"
    first_run = {f.name: f.read_bytes() for f in exports.glob(f"{summary['study_id']}.*")}
    monkeypatch.setattr(closed_form, "score", lambda config, seed, budget: 0.0)
    api.run_study(path, scale="paper", workers=1, store=tmp_path / "another-store", results=tmp_path / "results",
                  progress=False)
    [record] = collect(tmp_path / "results").studies
    assert len(record.finished_runs) == 2 and record.summary["held_out"]["hand-tuned"]["mean"] == 0.0
    for name, content in first_run.items():
        (exports / name).write_bytes(content)
    with pytest.raises(UserError, match="is not the last finished run that study_log.csv"):
        collect(tmp_path / "results")


def test_an_edited_export_stops_the_leaderboard_build_naming_the_study(study, tmp_path, capsys):
    _, summary = study
    csv = tmp_path / "results" / "rl" / f"{summary['study_id']}.csv"
    frame = pd.read_csv(csv)
    frame.loc[frame["phase"] == "test", "score"] += 50
    frame.to_csv(csv, index=False)
    with pytest.raises(UserError, match=rf"study {summary['study_id']}: its rows, summary or recorded code differ"):
        collect(tmp_path / "results")
    assert cli.main(["leaderboard", "build", "--results", str(tmp_path / "results"), "--out",
                     str(tmp_path / "site")]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_an_edited_protocol_in_an_export_is_refused(study, tmp_path):
    # The protocol an export carries says how long its runs were; lengthening it must not pass.
    _, summary = study
    path = tmp_path / "results" / "rl" / f"{summary['study_id']}.summary.json"
    meta = json.loads(path.read_text())
    meta["protocol"]["total_timesteps"] *= 10
    path.write_text(json.dumps(meta))
    with pytest.raises(UserError, match="its protocol does not hash to its rows' protocol_hash"):
        collect(tmp_path / "results")


def test_a_reproduction_table_is_rebuilt_from_its_studies_and_an_edited_one_refused(study, tmp_path):
    from hpobench_rl_cl.analysis.reproductions import rl_paper_table
    from hpobench_rl_cl.reproduce.tables import write_table

    _, summary = study
    results = tmp_path / "results"
    stem = results / "reproductions" / "rl-paper-quick"
    table = rl_paper_table(collect(results), [summary["study_id"]])
    write_table(table, stem, "RL paper reproduction (quick)", ["Scale `quick`: a test table."])
    shown = collect(results).reproductions["rl-paper-quick"]
    assert shown.table.equals(table.drop(columns="studies")) and set(table["method"]) == {"hand-tuned", "random"}
    # The number a reader sees, raised in the CSV or in the markdown, is refused naming the cell.
    csv, markdown = stem.with_suffix(".csv").read_text(), stem.with_suffix(".md").read_text()
    incumbent = table.index[table["method"] == "random"][0]
    edited = table.copy()
    edited.loc[incumbent, "test_mean"] += 100
    edited.to_csv(stem.with_suffix(".csv"), index=False)
    with pytest.raises(UserError, match=rf"row {incumbent + 2}, test_mean: .* where its studies give"):
        collect(results)
    stem.with_suffix(".csv").write_text(csv)
    mean = f"{table.loc[incumbent, 'test_mean']:.2f}"
    stem.with_suffix(".md").write_text(markdown.replace(mean, f"{float(mean) + 100:.2f}"))
    with pytest.raises(UserError, match="the table in rl-paper-quick.md differs from the studies behind it"):
        collect(results)
    # Pointing the table at studies that are not there is refused too.
    stem.with_suffix(".md").write_text(markdown)
    stem.with_suffix(".csv").write_text(csv.replace(summary["study_id"], "a-better-study"))
    with pytest.raises(UserError, match="study a-better-study is not under results/rl"):
        collect(results)


def test_an_export_keeps_the_digest_the_store_logged(study, tmp_path):
    _, summary = study
    meta = json.loads((tmp_path / "results" / "rl" / f"{summary['study_id']}.summary.json").read_text())
    assert len(meta["digest"]) == 64 and [e["event"] for e in meta["log"]] == ["started", "finished"]
    collect(tmp_path / "results")  # the untouched export verifies


def test_the_recorded_official_hashes_are_the_shipped_protocols():
    from hpobench_rl_cl.protocol.official import recorded, shipped_hashes

    assert recorded() == shipped_hashes(), "a shipped protocol changed: record it with " \
                                           "`python -m hpobench_rl_cl.protocol.official --write`"


@pytest.fixture
def closed_form_is_official(monkeypatch, tmp_path):
    """Record the closed-form protocol as if it shipped (runs 0 and 1 make a complete entry)."""
    from hpobench_rl_cl.protocol import official

    path = tmp_path / "closed-form.yaml"
    path.write_text(PROTOCOL)
    protocol = read_protocol(str(path), "paper")
    table = {protocol.name: {"paper": {"hash": protocol.hash, "hpo_runs": 2, "hand_tuned_source": "a closed form"}}}
    monkeypatch.setattr(official, "recorded", lambda: table)
    return str(path)


def _views(results):
    from hpobench_rl_cl.analysis.tables import protocol_views

    return {view.protocol_id: view for view in protocol_views(collect(results))}


def test_a_copied_protocol_under_a_shipped_name_is_a_separate_labelled_entry(closed_form_is_official, tmp_path):
    official_path = closed_form_is_official
    ClosedFormBackend.calls, ClosedFormBackend.results_per_call, ClosedFormBackend.crash = [], None, False
    kwargs = dict(scale="paper", workers=1, store=tmp_path / "runs", results=tmp_path / "results", progress=False)
    genuine = api.run_study(official_path, **kwargs)
    copy = tmp_path / "copy.yaml"
    copy.write_text(PROTOCOL.replace("hand_tuned: {source: a closed form, config: {learning_rate: 0.5, width: 16}}",
                                     "hand_tuned: {source: Someone et al., config: {learning_rate: 0.3, width: 16}}")
                    .replace("test_seeds: [5, 6, 7]", "test_seeds: [0, 1, 2]").replace("tuning_seeds: [0, 1]",
                                                                                       "tuning_seeds: [5, 6]"))
    forged = api.run_study(str(copy), study_name="closed-form-forged", **kwargs)
    assert genuine["protocol_status"] == "official" and forged["protocol_status"] == "modified"
    assert forged["hand_tuned"]["declared_by"] == "user"
    views = _views(tmp_path / "results")
    official_view = views["closed-form@paper"]
    modified = next(v for pid, v in views.items() if "modified protocol" in pid)
    hand = next(r for r in official_view.rows if r.method == "hand-tuned")
    points = official_view.test_points
    assert sorted(points[points["method"] == "hand-tuned"]["seed"]) == [5, 6, 7]
    assert hand.mean == pytest.approx(genuine["held_out"]["hand-tuned"]["mean"])
    assert {r.standing for r in modified.rows} == {"user-declared baseline", "modified protocol"}
    assert all(not r.ranked for r in modified.rows)


def test_a_tool_entry_is_complete_only_with_every_hpo_run(closed_form_is_official, tmp_path):
    from hpobench_rl_cl.analysis.tables import aggregate

    kwargs = dict(scale="paper", workers=1, store=tmp_path / "runs", results=tmp_path / "results", progress=False)
    api.run_study(closed_form_is_official, hpo_seed=0, **kwargs)
    api.run_study(closed_form_is_official, hpo_seed=2, **kwargs)  # run 1 is missing: shopping leaves a hole
    row = next(r for r in _views(tmp_path / "results")["closed-form@paper"].rows if r.method == "random")
    assert row.standing == "incomplete" and row.studies == 2 and not row.ranked
    assert "random" not in {e["method"] for e in aggregate(list(_views(tmp_path / "results").values()), "rl")}
    api.run_study(closed_form_is_official, hpo_seed=1, **kwargs)
    row = next(r for r in _views(tmp_path / "results")["closed-form@paper"].rows if r.method == "random")
    assert row.standing == "complete" and row.studies == 3 and row.ranked


def test_a_search_space_that_leaves_nothing_to_choose_is_refused(tmp_path):
    from hpobench_rl_cl.errors import ProtocolError

    path = tmp_path / "one-value.yaml"
    path.write_text(PROTOCOL.replace("choices: [16, 32]", "choices: [16]"))
    with pytest.raises(ProtocolError, match="two or more values"):
        read_protocol(str(path), "paper")


def test_verify_retrains_stored_trials_and_reports_identical_or_the_difference(study, tmp_path, capsys):
    from hpobench_rl_cl.runner.verify import verify

    path, summary = study
    report = verify(summary["study_id"], store=tmp_path / "runs", sample=2, protocol_file=path)
    assert report["all_identical"] and {r["phase"] for r in report["trials"]} == {"tuning", "test"}
    assert len(report["trials"]) == 4 and not any(r["hardware_differs"] for r in report["trials"])
    csv = tmp_path / "results" / "rl" / f"{summary['study_id']}.csv"
    frame = pd.read_csv(csv, float_precision="round_trip")
    frame.loc[0, "score"] += 1.5
    frame.to_csv(csv, index=False)
    assert cli.main(["verify", str(csv), "--sample", "100", "--protocol", path]) == 0
    out = capsys.readouterr().out
    assert "differs by -1.5 (same hardware, same data)" in out
    written = json.loads(csv.with_name(f"{summary['study_id']}.verification.json").read_text())
    assert not written["all_identical"] and written["largest_difference"] == pytest.approx(1.5)


def test_verify_reads_a_trials_call_back_from_the_stored_order():
    from hpobench_rl_cl.runner.verify import _call_of

    def stored(phase, position, trials):
        return {"phase": phase, "notes_json": json.dumps({"batch": {"trials": trials, "position": position}})}

    rows = [stored("tuning", 0, 1), stored("tuning", 0, 3), stored("tuning", 1, 3), stored("tuning", 2, 3),
            stored("test", 0, 2), stored("test", 1, 3), stored("test", 2, 3)]
    assert _call_of(rows, 2) == range(1, 4) and _call_of(rows, 0) == range(0, 1)
    assert _call_of(rows, 4) == range(4, 5), "a call's first trial, its mate stored under another layout"
    assert _call_of(rows, 6) == range(6, 7), "a call stored in part (interrupted) is retrained alone"
    assert _call_of([{"phase": "test", "notes_json": "{}"}], 0) == range(0, 1)


def test_verify_refuses_a_protocol_whose_hash_differs(study, tmp_path):
    from hpobench_rl_cl.runner.verify import verify

    _, summary = study
    other = tmp_path / "other.yaml"
    other.write_text(PROTOCOL.replace("budget_full_runs: 4", "budget_full_runs: 5"))
    with pytest.raises(UserError, match="pass the study's own protocol file"):
        verify(summary["study_id"], store=tmp_path / "runs", protocol_file=str(other))


def _git(where, *args):
    import subprocess

    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=where, check=True,
                   capture_output=True)


def _copy_of_the_suite(destination, checkout=True):
    """A copy of the suite's code as it is on disk: a throw-away checkout with its own one-commit
    history, or (``checkout=False``) plain files, as an installed copy is."""
    import shutil
    import subprocess

    from hpobench_rl_cl.provenance import CODE_PATHS, SUITE_ROOT

    listing = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *CODE_PATHS],
                             cwd=SUITE_ROOT, capture_output=True, text=True, check=True).stdout
    for name in filter(None, listing.split("\0")):
        if (SUITE_ROOT / name).is_file():
            (destination / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(SUITE_ROOT / name, destination / name)
    for args in (["init", "-q"], ["add", "."], ["commit", "-q", "-m", "a fork"]) if checkout else ():
        _git(destination, *args)
    return destination


_CLI_WITH_CLOSED_FORM = """
import sys
from pathlib import Path

import closed_form
from hpobench_rl_cl import cli
from hpobench_rl_cl.trainers.base import BACKENDS


class EditingBackend(closed_form.ClosedFormBackend):
    \"\"\"Edits the checkout's code while the study trains.\"\"\"

    def train_batch(self, spec, trials):
        module = Path("hpobench_rl_cl/runner/study.py")
        if "# edited while it ran" not in module.read_text():
            module.write_text(module.read_text() + "\\n# edited while it ran\\n")
        return super().train_batch(spec, trials)


BACKENDS.add("closed-form", EditingBackend if sys.argv[1] == "edit-while-running" else closed_form.ClosedFormBackend)
sys.exit(cli.main(sys.argv[2:]))
"""


def _run_in(checkout, protocol, store, results, edit_while_running=False):
    """``hpobench-rl-cl run`` of the closed-form protocol with the code of ``checkout``."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    mode = "edit-while-running" if edit_while_running else "plain"
    return subprocess.run(
        [sys.executable, "-c", _CLI_WITH_CLOSED_FORM, mode, "run", protocol, "--scale", "paper", "--workers", "1",
         "--store", str(store), "--results", str(results), "--no-progress"],
        cwd=checkout, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(checkout), str(Path(__file__).parent)])})


def test_a_study_run_on_edited_code_is_kept_out_of_the_official_entry(closed_form_is_official, tmp_path):
    """Edit the code, run a study without committing, put its export in place of the genuine run's:
    it becomes its own unranked entry, and the official one is left incomplete."""
    kwargs = dict(scale="paper", workers=1, store=tmp_path / "runs", results=tmp_path / "results", progress=False)
    for hpo_seed in (0, 1):
        api.run_study(closed_form_is_official, hpo_seed=hpo_seed, **kwargs)
    assert next(r for r in _views(tmp_path / "results")["closed-form@paper"].rows if r.method == "random").ranked
    fork = _copy_of_the_suite(tmp_path / "fork")
    edited = fork / "hpobench_rl_cl" / "runner" / "study.py"
    edited.write_text(edited.read_text() + "\n# a change that helps the incumbent\n")
    done = _run_in(fork, closed_form_is_official, tmp_path / "fork-runs", tmp_path / "results")
    assert done.returncode == 0, done.stderr
    [record] = [s for s in collect(tmp_path / "results").studies if s.study_id.endswith("random-s0")]
    assert record.provenance["suite_commit"].endswith("+dirty")
    assert record.foreign_code.startswith("edited code at ")
    views = _views(tmp_path / "results")
    official_row = next(r for r in views["closed-form@paper"].rows if r.method == "random")
    assert official_row.studies == 1 and official_row.standing == "incomplete" and not official_row.ranked
    [edited_view] = [v for pid, v in views.items() if "edited code at" in pid]
    assert {r.standing for r in edited_view.rows} == {"baseline on other code", "other code"}
    assert all(not r.ranked for r in edited_view.rows)


def test_recorded_code_is_the_suites_only_from_its_history_or_its_checkout(tmp_path):
    """A throw-away suite with two commits, a fork of it, and a shallow clone of it."""
    from hpobench_rl_cl.provenance import SuiteCode, code_fingerprint, git_commit

    def edit(where, line):
        module = where / "hpobench_rl_cl" / "runner" / "study.py"
        module.write_text(module.read_text() + f"\n# {line}\n")

    repo = _copy_of_the_suite(tmp_path / "suite")
    first = {"suite_commit": git_commit(repo), "code_fingerprint": code_fingerprint(repo)}
    edit(repo, "a second commit")
    _git(repo, "commit", "-qam", "second")
    head = git_commit(repo)
    suite = SuiteCode(repo)
    assert suite.complete_history
    assert suite.foreign(first) is None, "an earlier commit's code, unedited"
    assert suite.foreign({"suite_commit": head, "code_fingerprint": code_fingerprint(repo)}) is None
    assert suite.foreign({"suite_commit": head}) is None, "recorded before fingerprints: its commit is all there is"
    assert suite.foreign({"suite_commit": head + "+dirty"}) == f"edited code at {head[:7]}"
    assert suite.foreign({"suite_commit": head + "+dirty"}, accepted_before_checks=True) is None
    edit(repo, "not committed")
    edited = {"suite_commit": git_commit(repo), "code_fingerprint": code_fingerprint(repo)}
    assert edited["suite_commit"] == head + "+dirty" and suite.foreign(edited) == f"edited code at {head[:7]}"
    added = {"suite_commit": first["suite_commit"], "code_fingerprint": code_fingerprint(repo)}  # e.g. an untracked module
    assert suite.foreign(added) == f"edited code at {first['suite_commit'][:7]}"
    fork = _copy_of_the_suite(tmp_path / "fork")
    edit(fork, "committed in a fork")
    _git(fork, "commit", "-qam", "edit")
    forked = {"suite_commit": git_commit(fork), "code_fingerprint": code_fingerprint(fork)}
    assert suite.foreign(forked).startswith("code from outside this repository's history")
    assert suite.foreign({"suite_commit": forked["suite_commit"]}).startswith("code from outside")
    assert suite.foreign({"suite_commit": "unknown", "code_fingerprint": None}).startswith("code unchecked")
    installed = _copy_of_the_suite(tmp_path / "project" / "venv" / "site-packages", checkout=False)
    (tmp_path / "project" / ".gitignore").write_text("venv/\n")
    _git(tmp_path / "project", "init", "-q")
    _git(tmp_path / "project", "add", ".gitignore")
    _git(tmp_path / "project", "commit", "-qm", "a project that installed the suite in its virtual environment")
    assert git_commit(installed) == "unknown" and code_fingerprint(installed) is None
    _git(tmp_path, "clone", "-q", "--depth", "1", f"file://{repo}", str(tmp_path / "shallow"))
    shallow = SuiteCode(tmp_path / "shallow")
    assert not shallow.complete_history
    assert shallow.foreign({"suite_commit": first["suite_commit"]}) is None
    assert shallow.foreign(first) == f"code unchecked: commit {first['suite_commit'][:7]} is not in this shallow clone"


def test_removing_the_dirty_mark_or_the_fingerprint_from_an_export_is_refused(study, tmp_path):
    _, summary = study
    path = tmp_path / "results" / "rl" / f"{summary['study_id']}.summary.json"
    original = path.read_text()
    for edit in (lambda p: p.update(suite_commit=p["suite_commit"].removesuffix("+dirty") + "0"),
                 lambda p: p.pop("code_fingerprint")):
        meta = json.loads(original)
        edit(meta["provenance"])
        path.write_text(json.dumps(meta))
        with pytest.raises(UserError, match="its rows, summary or recorded code differ"):
            collect(tmp_path / "results")


def test_resuming_a_study_on_other_code_is_refused_until_it_finished(tmp_path):
    """Start on committed code, stop, edit, resume: the trials would mix both codes under one commit.
    A commit of results alone (same code) resumes."""
    from hpobench_rl_cl.store.sqlite_store import ResultStore

    started = {"suite_commit": "a" * 40, "code_fingerprint": "1" * 64}
    identity = dict(family="rl", protocol_name="closed-form", scale="paper", protocol_hash="h", protocol_content={},
                    optimizer="random", hpo_seed=0)
    store = ResultStore(tmp_path / "runs")
    assert store.open_study("s", **identity, provenance=started) is False
    with pytest.raises(StoreError, match="resuming it would mix trials of both"):
        store.open_study("s", **identity, provenance={"suite_commit": "a" * 40 + "+dirty", "code_fingerprint": "2" * 64})
    assert store.open_study("s", **identity, provenance={"suite_commit": "b" * 40, "code_fingerprint": "1" * 64})
    with pytest.raises(StoreError, match="finishing it would mix trials of both"):
        store.save_summary("s", {"done": True}, {"suite_commit": "a" * 40, "code_fingerprint": "2" * 64})
    store.save_summary("s", {"done": True}, dict(started))
    assert store.open_study("s", **identity, provenance={"suite_commit": "c" * 40, "code_fingerprint": "3" * 64})


def test_a_study_whose_code_is_edited_while_it_runs_does_not_finish(closed_form_is_official, tmp_path):
    """The code is edited between the study's start and its end (workers import modules as they go):
    it ends with one line and no export, keeps every trial, and finishes once that code is back."""
    fork = _copy_of_the_suite(tmp_path / "fork")
    module = fork / "hpobench_rl_cl" / "runner" / "study.py"
    original = module.read_text()
    done = _run_in(fork, closed_form_is_official, tmp_path / "runs", tmp_path / "results", edit_while_running=True)
    assert done.returncode == 2 and "finishing it would mix trials of both" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert not list((tmp_path / "results").glob("rl/*.csv"))
    with sqlite3.connect(tmp_path / "runs" / "hpobench.sqlite") as db:
        stored = db.execute("SELECT COUNT(*) FROM trials").fetchone()[0]
    assert stored > 0
    module.write_text(original)
    done = _run_in(fork, closed_form_is_official, tmp_path / "runs", tmp_path / "results")
    assert done.returncode == 0, done.stderr
    [record] = collect(tmp_path / "results").studies
    assert record.foreign_code is None, "the code it started on is this checkout's"


def test_an_edited_user_run_export_is_refused(study, tmp_path):
    """Exports without a summary (user runs, published incumbents) carry the digest logged at export."""
    path, _ = study
    api.train_config(path, {"learning_rate": 0.9, "width": 32}, scale="paper", seeds=[0], workers=1,
                     store=tmp_path / "runs", results=tmp_path / "results", progress=False)
    collect(tmp_path / "results")
    csv = tmp_path / "results" / "rl" / "closed-form-paper-user.csv"
    frame = pd.read_csv(csv)
    frame["score"] += 50
    frame.to_csv(csv, index=False)
    with pytest.raises(UserError, match="study closed-form-paper-user: its rows, summary or recorded code differ"):
        collect(tmp_path / "results")
