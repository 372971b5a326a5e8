"""Every HPO tool runs a real study through the same runner, within the same budget."""

import pytest

from hpobench_rl_cl import api
from hpobench_rl_cl.optimizers import OPTIMIZERS, Budget
from hpobench_rl_cl.protocol.rl import load_protocol

TOOLS = ["random", "smac", "smac-mf", "dehb", "tpe"]


def test_every_tool_is_registered():
    assert set(TOOLS) <= set(OPTIMIZERS.names())


@pytest.mark.parametrize("tool", TOOLS)
def test_tool_asks_legal_configurations_and_is_deterministic(tool, tiny_protocol):
    protocol = load_protocol(tiny_protocol, "paper")

    def proposals():
        optimizer = OPTIMIZERS.get(tool)(protocol.search_space(seed=3), seed=3, budget=Budget(5, 0.25))
        asked = []
        for i in range(4):
            info = optimizer.ask()
            assert 0 < info.fidelity <= 1
            asked.append((info.config, info.fidelity))
            optimizer.tell(info, float(i))
        optimizer.close()
        return asked

    first = proposals()
    space = protocol.search_space()
    for config, _ in first:
        assert set(config) == set(space.keys())
        for name, value in config.items():
            assert space[name].legal_value(value), (name, value)
    assert first == proposals()


@pytest.mark.slow
@pytest.mark.parametrize("tool", TOOLS)
def test_tool_runs_a_study_within_budget_and_tests_a_full_fidelity_incumbent(tool, tiny_protocol, tmp_path):
    protocol = load_protocol(tiny_protocol, "quick")
    summary = api.run_study(tiny_protocol, scale="quick", optimizer=tool, hpo_seed=1, workers=1,
                            store=tmp_path / "runs", results=tmp_path / "results", progress=False)
    assert summary["budget"]["given_full_runs"] == protocol.budget_full_runs
    assert 0 < summary["budget"]["used_full_runs"] <= protocol.budget_full_runs + 1e-9
    trials = api.show_study(summary["study_id"], tmp_path / "runs")["trials"]
    tuning = [t for t in trials if t["phase"] == "tuning"]
    assert {t["seed"] for t in tuning} == set(protocol.tuning_seeds)
    # Charged what was trained: PPO trains whole rollouts of n_steps (64), so a low fidelity costs more
    # than its nominal fraction; a full run (256 steps) costs one full-run equivalent.
    assert all(t["trained"] == -(-t["budget"] // 64) * 64 for t in tuning)
    charged = sum(t["trained"] for t in tuning) / (protocol.total_timesteps * len(protocol.tuning_seeds))
    assert charged == pytest.approx(summary["budget"]["used_full_runs"])
    assert summary["budget"]["tuning_units"] == sum(t["trained"] for t in tuning)
    incumbent = summary["incumbent"]["config_hash"]
    incumbent_tuning = [t for t in tuning if t["config_hash"] == incumbent and t["fidelity"] == 1.0]
    assert {t["seed"] for t in incumbent_tuning} == set(protocol.tuning_seeds), "incumbent scored at full fidelity"
    assert {t["seed"] for t in trials if t["phase"] == "test"} == set(protocol.seeds.held_out)
