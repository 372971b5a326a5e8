"""Statistics and the seed-overfitting audit against values computed independently here."""

import itertools
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from hpobench_rl_cl.analysis import stats
from hpobench_rl_cl.analysis.audit import audit, seed_subset_sensitivity, validated
from hpobench_rl_cl.errors import UserError


def test_iqm_is_the_mean_of_the_middle_half():
    assert stats.iqm(np.arange(8.0)) == pytest.approx(np.mean([2, 3, 4, 5]))


def test_probability_of_improvement_counts_pairs():
    x, y = np.array([[1.0], [4.0], [6.0]]), np.array([[2.0], [5.0]])
    wins = sum(a > b for a in x[:, 0] for b in y[:, 0]) + 0.5 * sum(a == b for a in x[:, 0] for b in y[:, 0])
    assert stats.probability_of_improvement(x, y) == pytest.approx(wins / 6)


def test_aggregates_point_estimates_and_intervals():
    rng = np.random.default_rng(1)
    scores = rng.normal(size=(12, 3))
    result = stats.aggregates_with_ci({"m": scores}, reps=500)["m"]
    flat = np.sort(scores.reshape(-1))
    assert result["iqm"][0] == pytest.approx(flat[9:27].mean())
    assert result["mean"][0] == pytest.approx(scores.mean())
    assert result["optimality_gap"][0] == pytest.approx(np.mean(1 - np.minimum(scores, 1)))
    for estimate, low, high in result.values():
        assert low <= estimate <= high


def test_normalization():
    assert stats.normalize(np.array([0.0, 50.0, 100.0]), 0.0, 100.0).tolist() == [0.0, 0.5, 1.0]


def _phase_table():
    # tuning means 4, 3, 2, 1 and test means 1, 2, 3, 4: ranks reversed, incumbent a, gap exactly 3
    rows = []
    for config, tuning, test in zip("abcd", [4, 3, 2, 1], [1, 2, 3, 4]):
        rows += [{"config_id": config, "seed": s, "score": tuning, "phase": "tuning"} for s in range(3)]
        rows += [{"config_id": config, "seed": s, "score": test, "phase": "test"} for s in range(3, 6)]
    return pd.DataFrame(rows)


def test_audit_with_phase_reports_the_known_gap_and_reversed_ranks():
    report = audit(validated(_phase_table(), "t"), reps=200)
    assert report["incumbent"] == "a"
    assert report["incumbent_gap"]["gap"] == pytest.approx(3.0)
    assert report["incumbent_gap"]["ci95"] == pytest.approx([3.0, 3.0])
    assert report["rank_agreement"]["spearman"] == pytest.approx(-1.0)
    assert report["rank_agreement"]["kendall"] == pytest.approx(-1.0)
    assert any("gap 3.00" in flag for flag in report["flags"])


def test_the_audit_incumbent_among_tuning_ties_is_the_tested_configuration():
    rows = [{"config_id": config, "seed": s, "score": 500.0, "phase": "tuning"} for config in "ab" for s in range(3)]
    rows += [{"config_id": "b", "seed": s, "score": 480.0, "phase": "test"} for s in range(3, 6)]
    report = audit(validated(pd.DataFrame(rows), "t"), reps=200)
    assert report["incumbent"] == "b"
    assert report["incumbent_gap"]["gap"] == pytest.approx(20.0)


def test_seed_subset_sensitivity_matches_an_exhaustive_count():
    rng = np.random.default_rng(3)
    matrix = rng.normal(size=(4, 5)) + np.arange(4)[:, None] * 0.3
    rows = seed_subset_sensitivity(matrix)
    for row in rows:
        hits, regrets = [], []
        for subset in itertools.combinations(range(5), row.k):
            rest = [s for s in range(5) if s not in subset]
            chosen = matrix[:, subset].mean(axis=1).argmax()
            held = matrix[:, rest].mean(axis=1)
            hits.append(held[chosen] == held.max())
            regrets.append(held.max() - held[chosen])
        assert row.subsets == len(hits)
        assert row.p_best_on_held_out == pytest.approx(np.mean(hits))
        assert row.expected_regret == pytest.approx(np.mean(regrets))


def test_audit_without_phase_splits_seeds_in_halves():
    table = _phase_table().drop(columns="phase")
    report = audit(validated(table, "t"), reps=100)
    assert sorted(report["split"]["tuning_seeds"] + report["split"]["held_out_seeds"]) == list(range(6))
    assert len(report["split"]["held_out_seeds"]) == 3


@pytest.mark.parametrize("csv,message", [
    ("config,seed,score\na,1,2\n", "missing column(s) ['config_id']"),
    ("config_id,seed,score\na,1,2\nb,one,3\n", "row 3 has a non-numeric seed 'one'"),
    ("config_id,seed,score,phase\na,1,2,train\n", "phase has value(s) ['train']"),
])
def test_malformed_tables_name_the_column_or_row(tmp_path, csv, message):
    from hpobench_rl_cl.analysis.audit import read_table

    path = tmp_path / "scores.csv"
    path.write_text(csv)
    with pytest.raises(UserError) as caught:
        read_table(path)
    assert message in str(caught.value)


def test_cli_audit_writes_markdown_json_and_plots(tmp_path):
    path = tmp_path / "scores.csv"
    _phase_table().to_csv(path, index=False)
    done = subprocess.run([sys.executable, "-m", "hpobench_rl_cl", "audit", str(path)], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "generalization gap" in done.stdout
    out = tmp_path / "scores.audit"
    assert {p.name for p in out.iterdir()} >= {"audit.md", "audit.json", "seed_sensitivity.png", "seed_sensitivity.svg",
                                               "tuning_vs_held_out.png", "tuning_vs_held_out.svg"}


@pytest.fixture(scope="module")
def committed():
    """The committed results and their protocol views, computed once (the bootstrap CIs take a while)."""
    from hpobench_rl_cl.analysis.results import collect
    from hpobench_rl_cl.analysis.tables import protocol_views

    results = collect("results")
    return results, protocol_views(results)


@pytest.mark.slow
def test_the_front_page_matrix_of_the_committed_results(committed):
    """The committed full-length studies: one row per benchmark, the baseline first, each cell the
    normalized test IQM; on ppo-cartpole-jax all seven tools have both HPO runs of the quick scale (all
    rank), on dqn-cartpole-jax and on SB3's dqn-cartpole every tool's two each (all below hand-tuned,
    on both backends); on
    ppo-acrobot-jax (the rl-paper quick reproduction) random search's, SMAC's, TPE's, DEHB's, SMAC-MF's,
    PBT's and PB2's two runs each rank beside the paper's published incumbents, all below hand-tuned,
    and the single-seed-tuned variant's one run stays unranked."""
    from hpobench_rl_cl.analysis.tables import family_matrix, verdict

    matrix = family_matrix(committed[1], "rl")
    benchmarks = {view.protocol_id: cells for view, cells in matrix.benchmarks}
    assert {"ppo-cartpole-jax@quick", "dqn-cartpole-jax@quick"} <= set(benchmarks)
    assert matrix.methods[:2] == ["hand-tuned", "random"]
    ppo = benchmarks["ppo-cartpole-jax@quick"]
    assert ppo["hand-tuned"].normalized == (1.0, 1.0, 1.0), "500 on every test seed: its own mean"
    tools = ("random", "smac", "smac-mf", "tpe", "dehb", "pbt", "pb2")
    assert all(ppo[tool].row.standing == "complete" and ppo[tool].row.ranked for tool in tools)
    assert 0.8 < ppo["random"].normalized[0] <= 1.0
    dqn = benchmarks["dqn-cartpole-jax@quick"]
    dqn_tools = ("random", "smac", "smac-mf", "tpe", "dehb", "pbt", "pb2")
    assert all(dqn[tool].row.standing == "complete" and dqn[tool].row.ranked for tool in dqn_tools)
    assert all(dqn[tool].normalized[2] < dqn["hand-tuned"].normalized[1] for tool in dqn_tools), \
        "no incumbent from the paper's DQN space comes near rl-zoo3's DQN in 5e4 steps"
    sb3_dqn = benchmarks["dqn-cartpole@quick"]
    assert all(sb3_dqn[tool].row.standing == "complete" and sb3_dqn[tool].row.ranked for tool in dqn_tools)
    assert all(sb3_dqn[tool].normalized[2] < sb3_dqn["hand-tuned"].normalized[1] for tool in dqn_tools), \
        "the same on SB3's DQN"
    acrobot = benchmarks["ppo-acrobot-jax@quick"]
    acrobot_tools = ("random", "smac", "tpe", "dehb", "smac-mf", "pbt", "pb2")
    assert all(acrobot[tool].row.standing == "complete" and acrobot[tool].row.ranked for tool in acrobot_tools)
    assert all(acrobot[tool].normalized[2] < acrobot["hand-tuned"].normalized[1] for tool in acrobot_tools), \
        "every tuned entry below hand-tuned, CIs apart"
    assert acrobot["dehb"].normalized[0] == 0.0, "DEHB's incumbents collapse to -500 at full length"
    one_seed = benchmarks["ppo-acrobot-jax+1seed@quick"]
    assert one_seed["random"].row.standing == "incomplete" and not one_seed["random"].row.ranked
    published = {m for m in acrobot if m.startswith("how-to-autorl")}
    assert len(published) == 3 and all(acrobot[m].row.ranked for m in published)
    assert set(matrix.average_rank) == {"hand-tuned", *tools, *published}, "only ranked entries enter the average rank"
    views = {view.protocol_id: view for view, _ in matrix.benchmarks}
    assert verdict(views["ppo-cartpole-jax@quick"]).startswith("tuning beats hand-tuned? not distinguishable")
    assert verdict(views["dqn-cartpole-jax@quick"]).startswith("tuning beats hand-tuned? no, hand-tuned is better")
    assert verdict(views["ppo-acrobot-jax@quick"]).startswith("tuning beats hand-tuned? no, hand-tuned is better: best tool smac")


@pytest.mark.slow
def test_every_committed_study_ran_the_suites_code_and_the_exceptions_are_current(committed):
    """No committed study is on edited code or a commit outside the history, and every export accepted
    as it was before the checks existed is still there with the digest it was accepted with."""
    from hpobench_rl_cl.analysis.results import ACCEPTED_BEFORE_CHECKS

    results, _ = committed
    assert [s.study_id for s in results.studies if s.foreign_code] == []
    accepted = {s.study_id for s in results.studies if s.accepted_before_checks}
    assert accepted == set(ACCEPTED_BEFORE_CHECKS), "drop entries whose export was replaced or removed"


@pytest.mark.slow
def test_the_committed_cl_comparison_covers_every_glyph_strategy_at_full_epochs(committed):
    """The committed glyphs-halves quick runs (both HPO runs of random search): every one of the 14
    strategies is a CL benchmark where the hand-tuned baseline and random search's complete entry
    rank; tuning beats the hand-tuned setting clearly where replay is tuned (replay, DER++) and is
    never worse; the hand-tuned trials the two runs share score the same; the reproduction table
    (run 0) ranks all 14 in both phases, joint training first."""
    from hpobench_rl_cl.analysis.tables import family_matrix, verdict
    from hpobench_rl_cl.protocol import load_cl_suite

    results, views = committed
    suite = load_cl_suite("glyphs-halves", "quick")
    matrix = family_matrix(views, "cl")
    benchmarks = {view.protocol_id: (view, cells) for view, cells in matrix.benchmarks}
    assert set(benchmarks) == {f"glyphs-halves-{strategy}@quick" for strategy in suite.strategies}
    assert len(benchmarks) == 14
    for view, cells in benchmarks.values():
        assert view.backend == "avalanche"
        assert all(study.run_length == 5 for study in view.studies), "every run at the protocol's full epochs"
        assert cells["hand-tuned"].row.ranked
        assert cells["random"].row.standing == "complete" and cells["random"].row.ranked
        assert {study.summary["hpo_seed"] for study in view.studies if study.summary["optimizer"] == "random"} == {0, 1}
        assert not verdict(view).startswith(("no verdict", "tuning beats hand-tuned? no,"))
        # Both runs trained the same hand-tuned evaluation trials on one machine kind: the same scores
        # (A-GEM's did not while its memory selection drew from Python's shared random generator).
        hand_tuned = [study.trials[study.trials["role"] == "hand-tuned"].set_index(["config_id", "seed"])["score"]
                      .sort_index() for study in view.studies]
        assert len(hand_tuned) == 2 and hand_tuned[0].equals(hand_tuned[1]), view.protocol_id
    for strategy in ("replay", "derpp"):
        assert verdict(benchmarks[f"glyphs-halves-{strategy}@quick"][0]).startswith("tuning beats hand-tuned? yes")
    assert set(matrix.average_rank) == {"hand-tuned", "random"}
    table = results.reproductions["cl-paper-quick"].table
    assert sorted(table["strategy"]) == sorted(suite.strategies)
    assert sorted(table["evaluation_rank"]) == list(range(1, 15))
    assert table["tuning_rank"].sum() == sum(range(1, 15)), "ties share the mean of their ranks"
    best = table.set_index("strategy").loc["cumulative"]
    assert best["tuning_rank"] == best["evaluation_rank"] == 1
    assert -1 <= table["kendall_tau"].iloc[0] <= 1


def test_the_verdict_line_says_whether_tuning_beats_hand_tuned_and_by_how_much():
    from hpobench_rl_cl.analysis.tables import MethodRow, ProtocolView, verdict

    def row(method, iqm, standing, budget=None):
        return MethodRow("rl", "p@quick", "classic_control", method, np.array([iqm[0]]), iqm, iqm[0], 0.0, None,
                         budget, 10.0, None, "env_steps", 0.0, 2, standing=standing)

    def view(*rows):
        return ProtocolView("rl", "p@quick", "classic_control", list(rows), [], 0.0, None, None)

    hand = row("hand-tuned", (100.0, 90.0, 110.0), "baseline")
    assert verdict(view(hand, row("dehb", (150.0, 120.0, 170.0), "complete", 10.0))) == \
        "tuning beats hand-tuned? yes: best tool dehb IQM 150 vs 100 (+50), 10 full runs per tuning run"
    assert verdict(view(hand, row("random", (105.0, 95.0, 115.0), "complete", 9.5))).startswith(
        "tuning beats hand-tuned? not distinguishable (95% CIs overlap): best tool random IQM 105 vs 100 (+5)")
    assert verdict(view(hand, row("smac", (50.0, 40.0, 60.0), "complete", 10.0))).startswith(
        "tuning beats hand-tuned? no, hand-tuned is better")
    assert verdict(view(hand, row("smac", (500.0, 400.0, 600.0), "incomplete", 10.0))).startswith("no verdict")


def test_the_baseline_is_each_seeds_median_over_studies_in_any_order():
    from hpobench_rl_cl.analysis.tables import baseline_per_seed

    def study(*scores):
        return pd.DataFrame({"seed": [10, 11], "score": scores, "wall_s": [1.0, 1.0]})

    reproduced, odd = study(80.0, 90.0), study(500.0, 10.0)
    studies = [odd, reproduced, reproduced]
    rows = [baseline_per_seed(order)["score"].tolist() for order in itertools.permutations(studies)]
    assert rows == [[80.0, 90.0]] * 6, "one odd study (older code, another CPU) moves no seed"
    assert baseline_per_seed([reproduced, reproduced, reproduced])["score"].tolist() == [80.0, 90.0]
    assert baseline_per_seed([reproduced, study(100.0, 100.0)])["score"].tolist() == [90.0, 95.0]


@pytest.mark.slow
def test_the_committed_hand_tuned_row_takes_no_side_when_studies_disagree(committed):
    """The hand-tuned row of a benchmark does not depend on which study came first: ppo-acrobot-jax's
    studies ran on machines with and without AVX-512 (XLA compiles for the CPU it runs on, and 1e6
    steps of RL amplify the rounding). The page lists every version; neither an odd study nor the
    study order moves the row. dqn-cartpole-jax's studies, all at the same DQN code on one CPU kind,
    agree to the digit."""
    from hpobench_rl_cl.analysis.results import Results
    from hpobench_rl_cl.analysis.tables import HAND_TUNED, protocol_views, verdict
    from hpobench_rl_cl.leaderboard.render import protocol_page

    results, views = committed

    def hand_row(studies, protocol_id):
        view = next(v for v in protocol_views(Results(studies, [], {})) if v.protocol_id == protocol_id)
        return next(r for r in view.rows if r.method == HAND_TUNED), view

    studies = [s for s in results.studies if s.protocol_id == "ppo-acrobot-jax@quick"]
    row, view = hand_row(studies, "ppo-acrobot-jax@quick")
    reversed_row, _ = hand_row(studies[::-1], "ppo-acrobot-jax@quick")
    assert np.array_equal(row.scores, reversed_row.scores) and row.iqm == reversed_row.iqm
    assert len(view.baseline_versions) > 1
    assert "the studies' hand-tuned runs disagree" in verdict(view)
    without_odd = [s for s in studies if s.study_id not in view.baseline_versions[-1].studies]
    assert np.array_equal(hand_row(without_odd, "ppo-acrobot-jax@quick")[0].scores, row.scores)
    dqn = next(v for v in views if v.protocol_id == "dqn-cartpole-jax@quick")
    assert [round(v.mean, 2) for v in dqn.baseline_versions] == [346.43]
    assert "disagree" not in verdict(dqn)
    acrobot = next(v for v in views if v.protocol_id == "ppo-acrobot-jax@quick")
    assert all("avx512f" in machine for machine in acrobot.baseline_versions[0].machines)
    assert not any("avx512f" in machine for machine in acrobot.baseline_versions[1].machines)
    page = protocol_page(acrobot, {}, [], [], {})
    assert "Hand-tuned runs that disagree" in page
    assert all(study in page for version in acrobot.baseline_versions for study in version.studies)
