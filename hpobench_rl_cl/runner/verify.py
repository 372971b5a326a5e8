"""``hpobench-rl-cl verify``: retrain a sample of a study's stored trials and compare the scores.

The contract (README, "Reproducibility"): on the same hardware and software stack a trial's score
is bit-identical; across machines it agrees within run-to-run noise. A verification retrains K trials
drawn at random from each phase, with the stored configuration, seed and budget, and reports for each
the stored and the new score: identical, or the difference and whether the hardware (CPU model and
vector flags, GPU) or, for CL, the data the trial saw differs. Beside an export it writes
``STUDY.verification.json``, which the leaderboard shows.

A trial the batched backend trained inside a call is retrained inside the same call: its batch
mates, in their recorded positions (a score is bit-reproducible only given its batch layout). A
call's trials are stored one after the other in position order, so the layout is read back from the
stored order; a call the store holds only in part is retrained alone and reported as such.
"""

from __future__ import annotations

import datetime
import json
import random
from pathlib import Path
from typing import Any

import pandas as pd

from .. import provenance
from ..errors import UserError
from ..protocol import BenchmarkProtocol, load_cl_suite, load_protocol
from ..store.sqlite_store import ResultStore, recorded_call
from ..trainers.base import BACKENDS, Trial


def _stored(target: str, store: str | Path) -> tuple[list[dict[str, Any]], dict[str, Any], Path | None]:
    """The trials and the resolved protocol of a study id in ``store``, or of an exported study CSV."""
    path = Path(target)
    if path.suffix == ".csv":
        if not path.is_file():
            raise UserError(f"no exported study at {path}")
        frame = pd.read_csv(path, float_precision="round_trip")
        meta = json.loads(path.with_name(f"{path.stem}.summary.json").read_text())
        trials = frame.rename(columns={"config_id": "config_hash", "config": "config_json", "notes": "notes_json",
                                       "host": "host_json"}).to_dict("records")
        return trials, {**meta["protocol"], "hash": frame["protocol_hash"].iloc[0],
                        "scale": frame["scale"].iloc[0]}, path
    result_store = ResultStore(store)
    try:
        study = result_store.study(target)
        result_store.verify(target)
        trials = result_store.trials(target)
    finally:
        result_store.close()
    return trials, {**json.loads(study["protocol_json"]), "hash": study["protocol_hash"], "scale": study["scale"]}, None


def protocol_for(content: dict[str, Any], protocol_file: str | None = None) -> BenchmarkProtocol:
    """The protocol a study ran, rebuilt from its file (``protocol_file``, or the shipped protocol of
    its name: RL paper variants ``+lr``, ``+small``, ``+Nseeds`` included) and checked by hash."""
    from ..protocol.rl import protocol_variant

    scale = content["scale"]
    if "strategy" in content:
        protocol: BenchmarkProtocol = load_cl_suite(protocol_file or content["suite"], scale).strategies[content["strategy"]]
    else:
        base, *variants = str(content["name"]).split("+")
        protocol = load_protocol(protocol_file or base, scale)
        for variant in variants:
            seeds = variant.removesuffix("seeds").removesuffix("seed")
            protocol = protocol_variant(protocol, tuning_seeds=int(seeds)) if seeds.isdigit() else \
                protocol_variant(protocol, space=variant)
    if protocol.hash != content["hash"]:
        raise UserError(f"the study ran protocol hash {content['hash']}, but {protocol.source_path} at scale {scale} "
                        f"hashes to {protocol.hash}: pass the study's own protocol file with --protocol")
    return protocol


def _call_of(trials: list[dict[str, Any]], index: int) -> range:
    """The indices of the stored trials of the call that trained ``trials[index]``, in position order
    (its notes' ``batch``: ``trials`` or ``schedule_trials``, and ``position``), or the trial alone
    when it trained alone or its call is not stored whole."""
    count, position, layouts = recorded_call(json.loads(trials[index]["notes_json"]))
    call = range(index - position, index - position + count)
    if call.start < 0 or call.stop > len(trials):
        return range(index, index + 1)
    recorded = [{**json.loads(trials[i]["notes_json"]).get("batch", {}), "phase": trials[i]["phase"]} for i in call]
    expected = [{**layout, "phase": trials[index]["phase"]} for layout in layouts]
    return call if recorded == expected else range(index, index + 1)


def _trial(stored: dict[str, Any]) -> Trial:
    return Trial(json.loads(stored["config_json"]), int(stored["seed"]), int(stored["budget"]))


def _hardware(host: dict[str, Any]) -> Any:
    return host.get("cpu"), host.get("gpu")


def verify(target: str, *, store: str | Path = "runs", sample: int = 3, seed: int = 0,
           protocol_file: str | None = None, device: str = "auto") -> dict[str, Any]:
    """Retrain ``sample`` stored trials of each phase of ``target`` (a study id or an exported CSV);
    returns (and, for an export, writes beside it) the comparison."""
    if sample < 1:
        raise UserError(f"--sample must be at least 1, got {sample}")
    trials, content, export = _stored(target, store)
    protocol = protocol_for(content, protocol_file)
    backend, specs = BACKENDS.get(protocol.backend)(), protocol.train_specs(device)
    rng = random.Random(seed)
    chosen = []
    for phase in sorted({t["phase"] for t in trials}):
        in_phase = [i for i, t in enumerate(trials) if t["phase"] == phase]
        chosen += rng.sample(in_phase, min(sample, len(in_phase)))
    here = provenance.machine()
    rows, retrained = [], {}
    for index in chosen:
        stored, call = trials[index], _call_of(trials, index)
        if call not in retrained:
            retrained[call] = backend.train_batch(specs[stored["phase"]], [_trial(trials[i]) for i in call])
        new = retrained[call][call.index(index)]
        stored_host = json.loads(stored["host_json"]) if isinstance(stored["host_json"], str) else {}
        stored_data = json.loads(stored["notes_json"]).get("data_digest")
        rows.append({
            "phase": stored["phase"], "role": stored["role"], "seed": int(stored["seed"]),
            "config_hash": stored["config_hash"], "stored": float(stored["score"]), "new": new.score,
            "identical": new.score == float(stored["score"]), "difference": new.score - float(stored["score"]),
            "hardware_differs": None if "cpu" not in stored_host else _hardware(stored_host) != _hardware(here),
            "data_differs": stored_data is not None and new.notes.get("data_digest") != stored_data,
            "status": new.status, "call_size": len(call),
        })
    report = {
        "study_id": str(trials[0]["study_id"]),
        "verified_at": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": here, "sample_per_phase": sample, "trials": rows,
        "all_identical": all(r["identical"] for r in rows),
        "largest_difference": max((abs(r["difference"]) for r in rows), default=0.0),
    }
    if export is not None:
        export.with_name(f"{export.stem}.verification.json").write_text(json.dumps(report, indent=2, sort_keys=True))
    return report
