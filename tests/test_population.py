"""Population-based tools (PBT, PB2): their decision rules, the exploit copy, and tiny real studies
on the jax backend end to end (schedules stored, retrained on the test seeds, resumed, deterministic)."""

from __future__ import annotations

import json

import jax
import numpy as np
import pytest
import yaml

from hpobench_rl_cl import api
from hpobench_rl_cl.errors import UserError
from hpobench_rl_cl.optimizers.population import PB2, PBT
from hpobench_rl_cl.protocol import load_protocol
from hpobench_rl_cl.protocol.common import DATA_ROOT

ROLLOUT = {"n_envs": 1, "n_steps": 32, "batch_size": 32, "n_epochs": 2}
SEGMENTS = 5  # the tiny protocol's (the paper's 21 at every shipped scale)


@pytest.fixture(scope="module")
def tiny_protocol(tmp_path_factory):
    """ppo-cartpole-jax tuning its learning rate (one shape: one compilation), two rollouts per segment."""
    data = yaml.safe_load((DATA_ROOT / "rl" / "ppo-cartpole-jax.yaml").read_text())
    data.update(name="ppo-cartpole-jax-tiny", base_config=ROLLOUT, search_space="ppo_lr")
    data["scales"]["smoke"].update(total_timesteps=SEGMENTS * 64, eval_episodes=2, population_segments=SEGMENTS)
    path = tmp_path_factory.mktemp("protocol") / "tiny.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _space():
    """The RL paper's small PPO space: learning rate, n_epochs, entropy coefficient."""
    from hpobench_rl_cl.protocol.rl import protocol_variant

    return protocol_variant(load_protocol("ppo-cartpole-jax", "smoke"), space="small").search_space(seed=0)


def test_pbt_replaces_the_bottom_quarter_by_perturbed_copies_of_the_top():
    space = _space()
    frozen = frozenset({"n_epochs"})
    tool = PBT(space, seed=3, population_size=8, frozen=frozen)
    configs = tool.initial()
    scores = [float(i) for i in range(8)]  # member 7 best, member 0 worst
    choices = tool.next_configs(configs, scores)
    assert [source for source, _ in choices[2:]] == list(range(2, 8)), "the rest continue as they are"
    assert {source for source, _ in choices[:2]} <= {6, 7}, "the bottom quarter copies the top quarter"
    for member, (source, config) in enumerate(choices[:2]):
        assert config["n_epochs"] == configs[source]["n_epochs"], "a carry-shaping value is inherited"
        assert config != configs[source], "explored"
        __import__("ConfigSpace").Configuration(space, values=config).check_valid_configuration()
    assert choices[2:] == [(m, configs[m]) for m in range(2, 8)]
    again = PBT(space, seed=3, population_size=8, frozen=frozen)
    assert again.next_configs(again.initial(), scores) == choices, "determined by the HPO seed"


def test_pb2_explores_by_its_bandit_and_stays_in_the_space():
    space = _space()
    tool = PB2(space, seed=0, population_size=4)
    configs = tool.initial()
    for round_ in range(3):
        before = configs
        choices = tool.next_configs(configs, [1.0 * round_ + i for i in range(4)])
        configs = [config for _, config in choices]
        assert choices[0][0] == 3, "the worst member exploits the best"
        assert choices[0][1] != before[3], "and explores away from it"
        assert choices[1:] == [(m, before[m]) for m in range(1, 4)]
    for config in configs:
        __import__("ConfigSpace").Configuration(space, values=config)
    assert len(tool.rows) == 12 and len(tool.improvements) == 12


@pytest.mark.slow
def test_an_exploited_member_holds_its_sources_learner_and_keeps_its_own_environment(tiny_protocol):
    from hpobench_rl_cl.trainers.base import BACKENDS

    protocol = load_protocol(str(tiny_protocol), "smoke")
    spec = protocol.train_specs("cpu")["tuning"]
    training = BACKENDS.get("jax")().segmented(spec, [0, 1], protocol.full_fidelity)
    configs = [{**ROLLOUT, "learning_rate": 1e-3}, {**ROLLOUT, "learning_rate": 1e-4}]
    training.start(configs)
    training.advance(configs, 64)
    source, target = training.carries
    training.copy_learner(1, 0)
    copied = training.carries[1]
    for mine, theirs in zip(jax.tree.leaves((copied.params, copied.opt_state)), jax.tree.leaves((source.params, source.opt_state))):
        np.testing.assert_array_equal(np.asarray(mine), np.asarray(theirs))
    np.testing.assert_array_equal(np.asarray(copied.key), np.asarray(target.key))
    np.testing.assert_array_equal(np.asarray(copied.obs), np.asarray(target.obs))
    assert training.timesteps == [64, 64]
    # A checkpoint round-trips as plain arrays; one that does not fit the trainer is refused in one line.
    state = training.state()
    training.restore(configs, state)
    np.testing.assert_array_equal(np.asarray(training.carries[1].params["pi"][0][0]),
                                  np.asarray(source.params["pi"][0][0]))
    state["leaves"][0] = state["leaves"][0][:-1]
    with pytest.raises(UserError, match="does not fit this version"):
        training.restore(configs, state)


def test_population_tools_need_a_backend_that_trains_in_segments(tmp_path):
    with pytest.raises(UserError, match="pb2 trains a population in segments.*avalanche backend"):
        api.run_study("glyphs-halves", optimizer="pb2", scale="smoke", workers=1, store=tmp_path, results=tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("tool", ["pbt", "pb2"])
def test_population_tools_on_the_sb3_backend_through_checkpoints(tool, tiny_protocol, tmp_path):
    """The same tiny protocol on SB3: members saved and loaded each segment, the incumbent schedule
    retrained from scratch on the test seeds, what it trained counted."""
    data = yaml.safe_load(tiny_protocol.read_text())
    data.update(name="ppo-cartpole-sb3-tiny", backend="sb3")
    path = tmp_path / "sb3.yaml"
    path.write_text(yaml.safe_dump(data))
    summary = api.run_study(load_protocol(str(path), "smoke"), optimizer=tool, workers=1, store=tmp_path / "runs",
                            results=tmp_path / "r", progress=False)
    assert len(summary["incumbent"]["config"]["schedule"]) == SEGMENTS
    assert summary["budget"]["tuning_units"] == 2 * 2 * SEGMENTS * 64 and summary["budget"]["crashed_trials"] == 0
    scores = summary["held_out"]["incumbent"]["scores"]
    assert len(scores) == 2 and all(0 < s <= 500 for s in scores)


@pytest.mark.slow
def test_pbt_and_pb2_studies_end_to_end_resume_and_repeat(tiny_protocol, tmp_path, monkeypatch):
    protocol = load_protocol(str(tiny_protocol), "smoke")
    runs = {}
    for tool in ("pbt", "pb2"):
        runs[tool] = api.run_study(protocol, optimizer=tool, workers=1, store=tmp_path / tool, results=tmp_path / "r",
                                   progress=False)
        summary = runs[tool]
        schedule = summary["incumbent"]["config"]["schedule"]
        assert len(schedule) == SEGMENTS and all(c["n_steps"] == 32 for c in schedule)
        assert summary["budget"]["used_full_runs"] <= summary["budget"]["given_full_runs"]
        assert summary["budget"]["tuning_units"] == 2 * 2 * SEGMENTS * 64, "population x seeds x trained steps"
        assert len(summary["held_out"]["incumbent"]["scores"]) == 2 and summary["budget"]["crashed_trials"] == 0
        trials = api.show_study(summary["study_id"], tmp_path / tool)["trials"]
        tuning = [t for t in trials if t["phase"] == "tuning"]
        assert len(tuning) == 4 and all(len(json.loads(t["curve_json"])) == SEGMENTS for t in tuning)

    # Interrupted after segment 3 (as a kill between segments leaves it), then rerun: it resumes
    # from the checkpoint and ends where the uninterrupted run ended.
    from hpobench_rl_cl.trainers.rl.jax import segments

    advance, calls = segments.SegmentedTraining.advance, []

    def dying_advance(self, configs, until):
        calls.append(until)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return advance(self, configs, until)

    monkeypatch.setattr(segments.SegmentedTraining, "advance", dying_advance)
    with pytest.raises(KeyboardInterrupt):
        api.run_study(protocol, optimizer="pbt", workers=1, store=tmp_path / "again", results=tmp_path / "r2",
                      progress=False)
    resumed_calls = []

    def counting_advance(self, configs, until):
        resumed_calls.append(until)
        return advance(self, configs, until)

    monkeypatch.setattr(segments.SegmentedTraining, "advance", counting_advance)
    resumed = api.run_study(protocol, optimizer="pbt", workers=1, store=tmp_path / "again", results=tmp_path / "r2",
                            progress=False)
    assert len(resumed_calls) == (SEGMENTS - 3) + SEGMENTS, "tuning from segment 4 on, then the test schedule"
    assert resumed["incumbent"]["config"] == runs["pbt"]["incumbent"]["config"]
    assert resumed["held_out"] == runs["pbt"]["held_out"], "same HPO seed, same layout: the same scores"
