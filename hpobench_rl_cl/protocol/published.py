"""The RL paper's published incumbents (how-to-autorl, Apache-2.0), shipped as protocol reference
data: what ``reproduce rl-paper`` retrains on the test seeds, and the only configurations a study
may put on held-out seeds in the ``published`` role."""

from __future__ import annotations

from typing import Any

from .common import read_yaml, shipped_file

INCUMBENTS_FILE = shipped_file("reference/how-to-autorl-incumbents.yaml")
#: Shipped protocol at the paper's run length -> its key in the incumbents file. ``ppo-acrobot-jax``
#: trains the paper's 1e6 steps on the jax backend; ``dqn-minigrid-jax`` and ``sac-pendulum-jax`` run
#: rl-zoo3's shorter lengths, for which the paper's incumbents were not tuned.
RL_PAPER_PROTOCOLS = {"ppo-acrobot": "ppo_acrobot", "dqn-minigrid": "dqn_minigrid", "sac-pendulum": "sac_pendulum",
                      "ppo-acrobot-jax": "ppo_acrobot"}
PUBLISHED_ROLE = "published"


def published_incumbents(protocol: str, variants: tuple[str, ...] | None = None,
                         runs: int | None = None) -> dict[str, dict[str, Any]]:
    """The paper's incumbents for a shipped protocol (``rs``/``dehb``/``pb2``; the chosen variants and first
    ``runs`` HPO runs, default all); none for any other protocol."""
    if protocol not in RL_PAPER_PROTOCOLS:
        return {}
    data = read_yaml(INCUMBENTS_FILE, "the published incumbents")[RL_PAPER_PROTOCOLS[protocol]]
    return {name: entry for name, entry in sorted(data.items())
            if (variants is None or entry["variant"] in variants) and (runs is None or entry["hpo_run"] < runs)}


def published_config(protocol: Any, entry: dict[str, Any]) -> dict[str, Any]:
    """The configuration a published incumbent trains with on ``protocol``. Each trains with the policy
    its file names (the paper's random-search DQN-MiniGrid incumbents name MlpPolicy: SB3 then
    flattens the image observation). A PB2 incumbent with lists is a schedule
    (``trainers/schedule.py``): segment k takes each list's k-th value and every scalar."""
    from ..trainers.schedule import SCHEDULE_KEY

    kwargs = entry["model_kwargs"]
    if "segments" not in entry:
        return {**protocol.base_config, **kwargs, "policy": entry["policy"]}
    return {SCHEDULE_KEY: [{**protocol.base_config, **{k: v[i] if isinstance(v, list) else v for k, v in kwargs.items()},
                            "policy": entry["policy"]} for i in range(entry["segments"])]}
