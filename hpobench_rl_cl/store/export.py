"""Tidy exports of the store under ``results/``: one row per trial, the columns in EXPORT_COLUMNS.

These files, not the SQLite store, are what analysis and the leaderboard read.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from .sqlite_store import ResultStore

DEFAULT_RESULTS_DIR = Path("results")

#: column -> meaning (the export's documented schema; README "Result files" repeats it)
EXPORT_COLUMNS = {
    "study_id": "protocol-scale-optimizer-sHPOSEED",
    "family": "rl or cl",
    "protocol": "protocol name",
    "scale": "smoke, quick or paper",
    "protocol_hash": "hash of the resolved protocol the trial ran under",
    "optimizer": "HPO tool of the study",
    "hpo_seed": "the HPO tool's seed",
    "phase": "tuning; the held-out phase: test (RL) or evaluation (CL: the evaluation dataset); or user "
             "(a user's configuration trained with `hpobench-rl-cl train` on tuning seeds)",
    "role": "tuning, incumbent, hand-tuned, user, or published (a paper's own incumbent)",
    "audit": "1 for an audit run on test seeds (not a valid test result)",
    "eval_index": "order in which the tool asked for the configuration (tuning only)",
    "config_id": "hash of the configuration",
    "config": "the configuration, JSON",
    "seed": "trial seed (every other seed derives from it)",
    "fidelity": "fraction of a full run",
    "budget": "training budget in the protocol's unit: env steps (RL) or epochs per experience (CL)",
    "trained": "what the trial really trained, in the same unit (PPO trains whole rollouts: can exceed budget); "
               "empty when unknown",
    "score": "RL: mean return of the deterministic policy on the evaluation episodes; CL: the protocol's "
             "metric in percent (final accuracy or average incremental accuracy)",
    "status": "ok or crashed (then score is the protocol's worst score)",
    "error": "the error of a crashed trial",
    "curve": "JSON list of [env_steps, score] checkpoints (CL: [experiences, accuracy on seen classes])",
    "wall_s": "wall-clock seconds of the trial",
    "cpu_s": "CPU seconds of the trial",
    "host": "JSON: host, cpu, gpu the trial ran on",
    "notes": "JSON: adjustments made (e.g. buffer_size_clamped_from); CL: accuracy_matrix, metrics, class_order",
    "finished_at": "Unix time the trial was stored",
}


def trials_frame(store: ResultStore, study_id: str | None = None) -> pd.DataFrame:
    rows = []
    for t in store.trials(study_id):
        rows.append({
            "study_id": t["study_id"], "family": t["family"], "protocol": t["protocol_name"], "scale": t["scale"],
            "protocol_hash": t["protocol_hash"], "optimizer": t["optimizer"], "hpo_seed": t["hpo_seed"],
            "phase": t["phase"], "role": t["role"], "audit": t["audit"], "eval_index": t["eval_index"],
            "config_id": t["config_hash"], "config": t["config_json"], "seed": t["seed"], "fidelity": t["fidelity"],
            "budget": t["budget"], "trained": t["trained"], "score": t["score"], "status": t["status"], "error": t["error"],
            "curve": t["curve_json"], "wall_s": t["wall_s"], "cpu_s": t["cpu_s"], "host": t["host_json"],
            "notes": t["notes_json"], "finished_at": t["finished_at"],
        })
    return pd.DataFrame(rows, columns=list(EXPORT_COLUMNS))


def export_study(store: ResultStore, study_id: str, results_dir: str | Path = DEFAULT_RESULTS_DIR) -> list[Path]:
    """Write ``results/<family>/<study_id>.{csv,parquet}``, the study's summary JSON (with its digest
    and log entries) and the store's study log (``results/study_log.csv``), after verifying the study."""
    store.verify(study_id)
    study = store.study(study_id)
    folder = Path(results_dir) / study["family"]
    folder.mkdir(parents=True, exist_ok=True)
    frame = trials_frame(store, study_id)
    paths = [folder / f"{study_id}.csv", folder / f"{study_id}.parquet", folder / f"{study_id}.summary.json"]
    frame.to_csv(paths[0], index=False)
    frame.to_parquet(paths[1], index=False)
    paths[2].write_text(json.dumps({
        "summary": json.loads(study["summary_json"]) if study["summary_json"] else None,
        "digest": store.finished_digest(study_id) if study["summary_json"] else store.log_export(study_id),
        "log": store.log(study_id),
        "provenance": json.loads(study["provenance_json"]),
        "protocol": json.loads(study["protocol_json"]),
    }, indent=2, sort_keys=True))
    return paths + [export_study_log(store, results_dir)]


LOG_COLUMNS = ["study_id", "event", "at", "protocol_hash", "optimizer", "hpo_seed", "digest"]


def export_study_log(store: ResultStore, results_dir: str | Path = DEFAULT_RESULTS_DIR) -> Path:
    """Merge the store's study log (every study started, resumed, finished) into
    ``results/study_log.csv``: a study that was started and dropped still shows there."""
    path = Path(results_dir) / "study_log.csv"
    frame = pd.DataFrame(store.log(), columns=LOG_COLUMNS + ["entry_id", "trial_id"])[LOG_COLUMNS]
    if path.is_file():
        frame = pd.concat([pd.read_csv(path, float_precision="round_trip"), frame])
    frame.drop_duplicates(["study_id", "event", "at"]).sort_values("at").to_csv(path, index=False)
    return path


def export_comparison(comparison: dict, results_dir: str | Path = DEFAULT_RESULTS_DIR) -> Path:
    """Write a CL protocol's strategy comparison as ``results/cl/<comparison_id>.comparison.json``."""
    folder = Path(results_dir) / "cl"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{comparison['comparison_id']}.comparison.json"
    path.write_text(json.dumps(comparison, indent=2, sort_keys=True))
    return path
