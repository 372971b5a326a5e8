"""The papers' reproductions: protocol variants, the published incumbents, both commands at smoke scale."""

from __future__ import annotations

import pandas as pd
import pytest
import yaml

from hpobench_rl_cl import cli
from hpobench_rl_cl.errors import ProtocolError
from hpobench_rl_cl.trainers.base import BACKENDS
from hpobench_rl_cl.leaderboard import build
from hpobench_rl_cl.protocol.rl import load_protocol, protocol_variant
from hpobench_rl_cl.protocol.published import INCUMBENTS_FILE, RL_PAPER_PROTOCOLS, published_config
from hpobench_rl_cl.reproduce import RL_PAPER_PLANS, reproduce_cl_paper

from conftest import FIXTURES


def test_protocol_variants_are_other_benchmarks():
    protocol = load_protocol("sac-pendulum", "quick")
    small = protocol_variant(protocol, space="small")
    assert small.name == "sac-pendulum+small" and small.search_space_name == "sac_small"
    assert len(small.search_space().keys()) == 3
    five = protocol_variant(protocol, tuning_seeds=5)
    assert five.name == "sac-pendulum+5seeds" and five.tuning_seeds == (0, 1, 2, 3, 4)
    assert five.seeds.held_out == protocol.seeds.held_out
    assert len({protocol.hash, small.hash, five.hash}) == 3
    with pytest.raises(ProtocolError, match="tuning_seeds must be 1..5"):
        protocol_variant(protocol, tuning_seeds=6)
    with pytest.raises(ProtocolError, match="unknown search-space variant 'tiny'"):
        protocol_variant(protocol, space="tiny")


def test_every_published_incumbent_is_a_valid_configuration_of_its_protocol():
    data = yaml.safe_load(INCUMBENTS_FILE.read_text())
    for name, key in RL_PAPER_PROTOCOLS.items():
        protocol = load_protocol(name, "paper")
        accepted = BACKENDS.get(protocol.backend)().accepted_hyperparameters(protocol)
        assert len(data[key]) == 75  # rs, dehb and pb2 x lr, small, full, 3 and 5 seeds x 5 runs
        backend = BACKENDS.get(protocol.backend)()
        for name_, entry in data[key].items():
            assert entry["policy"] in ("MlpPolicy", protocol.policy)
            assert entry["total_timesteps"] == protocol.total_timesteps
            assert set(entry["model_kwargs"]) <= accepted
            backend.check_config(protocol, published_config(protocol, entry), name_)



def test_every_rl_paper_plan_but_smoke_trains_at_the_papers_length_with_its_incumbents():
    for scale, plan in RL_PAPER_PLANS.items():
        for name in plan.protocols:
            assert name in RL_PAPER_PROTOCOLS  # the published incumbents were tuned at this length
            length = load_protocol(name, plan.protocol_scale).total_timesteps
            assert (length == load_protocol(name, "paper").total_timesteps == 1_000_000) == (scale != "smoke")


def test_a_published_pb2_incumbent_is_a_schedule_of_its_values_in_order():
    from hpobench_rl_cl.trainers.base import BACKENDS as backends

    entry = yaml.safe_load(INCUMBENTS_FILE.read_text())["ppo_acrobot"]["ppo_acrobot_pb2_full_s0"]
    for name in ("ppo-acrobot", "ppo-acrobot-jax"):
        protocol = load_protocol(name, "paper")
        schedule = published_config(protocol, entry)["schedule"]
        assert len(schedule) == entry["segments"] == 21 and entry["truncated"] == ["vf_coef"]
        assert [c["learning_rate"] for c in schedule] == entry["model_kwargs"]["learning_rate"]
        assert [c["vf_coef"] for c in schedule] == entry["model_kwargs"]["vf_coef"][:21]
        assert all(c["gamma"] == 0.9 and c["policy"] == "MlpPolicy" for c in schedule)
        backends.get(protocol.backend)().check_config(protocol, {"schedule": schedule}, name)


def test_a_reproduction_table_is_shown_under_its_preamble_and_refused_without_one(tmp_path):
    import shutil

    from hpobench_rl_cl.analysis.reproductions import checked_reproduction
    from hpobench_rl_cl.analysis.results import collect
    from hpobench_rl_cl.errors import UserError
    from hpobench_rl_cl.leaderboard import render

    committed = collect("results").reproductions
    page = render.reproductions_page(committed, {"up": "", "built": "today", "reproductions": True})
    preamble = committed["rl-paper-quick"].preamble
    assert any("backend jax" in line for line in preamble) and any("It cannot show" in line for line in preamble)
    assert "It can show: which method" in page and "backend jax" in page
    # The numbers alone, stripped of what they can and cannot show, are refused.
    bare = tmp_path / "rl-paper-quick.csv"
    shutil.copyfile("results/reproductions/rl-paper-quick.csv", bare)
    with pytest.raises(UserError, match="no preamble"):
        checked_reproduction(bare, collect("results"))


@pytest.mark.slow
def test_reproduce_rl_paper_at_smoke_scale(tmp_path, capsys):
    argv = ["reproduce", "rl-paper", "--scale", "smoke", "--workers", "1", "--store", str(tmp_path / "runs"),
            "--results", str(tmp_path / "results"), "--no-progress"]
    assert cli.main(argv) == 0
    table = pd.read_csv(tmp_path / "results" / "reproductions" / "rl-paper-smoke.csv")
    assert set(table["setting"]) == {"lr space", "full space, 1 tuning seed", "full space"}
    assert {"hand-tuned", "random", "how-to-autorl rs (published incumbents)",
            "how-to-autorl dehb (published incumbents)", "how-to-autorl pb2 (published incumbents)"} <= set(table["method"])
    random = table[table["method"] == "random"]
    assert (random["gap"] == random["tuning_score"] - random["test_mean"]).all()
    markdown = (tmp_path / "results" / "reproductions" / "rl-paper-smoke.md").read_text()
    assert "| protocol | setting | backend | env_steps_per_run | method |" in markdown
    assert "backend sb3" in markdown and "shortened: a check that the grid runs, not a result" in markdown
    assert (tmp_path / "results" / "rl" / "dqn-minigrid+lr-smoke-random-s0.csv").is_file()
    # A table edited (or left behind by a study run again) is written again from its studies,
    # training nothing.
    csv = tmp_path / "results" / "reproductions" / "rl-paper-smoke.csv"
    written = csv.read_text()
    edited = table.copy()
    edited.loc[0, "test_mean"] += 1
    edited.to_csv(csv, index=False)
    argv = ["reproduce", "rl-paper", "--scale", "smoke", "--from-results", "--store", str(tmp_path / "none"),
            "--results", str(tmp_path / "results"), "--no-progress"]
    assert cli.main(argv) == 0
    assert csv.read_text() == written and not (tmp_path / "none").exists()
    # A smoke reproduction tests the pipeline: neither its table nor its studies reach the site.
    index = build(tmp_path / "results", tmp_path / "site")
    assert "dqn-minigrid+lr@smoke" not in index.read_text() and "smoke-scale studies" in index.read_text()
    assert not (index.parent / "reproductions.html").exists()


@pytest.mark.slow
def test_reproduce_cl_paper_ranks_strategies_and_skips_missing_data(tmp_path):
    table, skipped = reproduce_cl_paper("smoke", suites=[str(FIXTURES / "tiny-cl.yaml"), "cifar100-b0-10"],
                                        workers=1, store=tmp_path / "runs", results=tmp_path / "results",
                                        progress=False)
    assert list(table["strategy"]) == ["naive", "replay"]
    assert set(table["suite"]) == {"tiny-cl"} and table["kendall_tau"].notna().all()
    assert len(skipped) == 1 and skipped[0].startswith("cifar100-b0-10: no CIFAR-100 under")
    assert (tmp_path / "results" / "reproductions" / "cl-paper-smoke.md").is_file()
    # Written again from the comparisons under results/ alone, the table is the same.
    markdown = tmp_path / "results" / "reproductions" / "cl-paper-smoke.md"
    written = markdown.read_text()
    markdown.unlink()
    again, _ = reproduce_cl_paper("smoke", suites=[str(FIXTURES / "tiny-cl.yaml"), "cifar100-b0-10"], store=tmp_path / "none",
                                  results=tmp_path / "results", progress=False, train=False)
    assert again.equals(table) and markdown.read_text() == written and not (tmp_path / "none").exists()
