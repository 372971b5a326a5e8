"""The suite's Python API: what the command line calls, a thin layer over the runner's session.

>>> from hpobench_rl_cl import api
>>> summary = api.run_study("ppo-cartpole", scale="smoke")            # tune, select, held-out phase
>>> api.train_config("ppo-cartpole", "hand-tuned", scale="smoke")     # a configuration on tuning seeds
>>> api.show_study(summary["study_id"])
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from .errors import SealError, UserError, first_line
from .protocol import (DEFAULT_PROTOCOL, DEFAULT_SCALE, SCALES, BenchmarkProtocol, list_protocol_names,
                       load_benchmark, load_benchmarks, load_protocol, protocol_family)
from .runner.cost import estimated_cost
from .runner.session import Session, expected_trials
from .store.export import DEFAULT_RESULTS_DIR, export_study
from .store.sqlite_store import DEFAULT_STORE_DIR, ResultStore
from .trainers.base import BACKENDS


def list_protocols() -> list[dict[str, Any]]:
    """Every shipped protocol with its estimated cost at each scale (a CL protocol: all its strategies)."""
    rows = []
    for name in list_protocol_names():
        row: dict[str, Any] = {"name": name, "family": protocol_family(name)}
        for scale in SCALES:
            protocols = load_benchmarks(name, scale, check_backend=False)
            costs = [estimated_cost(p) for p in protocols]
            row[scale] = {k: sum(c[k] for c in costs) for k in ("units", "core_hours")}
            row["description"] = protocols[0].description
        rows.append(row)
    return rows


MAX_HPO_SEED = 2**31 - 1


def _check_seed(value: Any, what: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_HPO_SEED:
        raise UserError(f"{what} must be an integer from 0 to {MAX_HPO_SEED}, got {value!r}")


def _check_ready(protocols: list[BenchmarkProtocol]) -> None:
    """What the protocols' backends need before the first trial (their data, for CL)."""
    for protocol in protocols:
        BACKENDS.get(protocol.backend)().check_ready(protocol)


def _check_device(device: str) -> None:
    """Refuse a device this machine cannot give before any training (``cuda`` loads torch to ask)."""
    from .trainers.base import resolve_device

    if device not in ("auto", "cpu"):
        resolve_device(device, prefer_gpu=True)


def run_study(
    protocol: str | BenchmarkProtocol = DEFAULT_PROTOCOL,
    *,
    scale: str = DEFAULT_SCALE,
    optimizer: str = "random",
    hpo_seed: int = 0,
    workers: int | None = None,
    store: str | Path = DEFAULT_STORE_DIR,
    results: str | Path = DEFAULT_RESULTS_DIR,
    device: str = "auto",
    scheduler: str | None = None,
    scheduler_file: str | None = None,
    study_name: str | None = None,
    progress: bool = True,
    strategy: str | None = None,
) -> dict[str, Any]:
    """Tune ``protocol`` (a name, a YAML path, or a loaded protocol, whose scale then wins) with
    ``optimizer``, then train the incumbent and the hand-tuned baseline on the sealed test seeds.
    ``workers``: parallel trials (default: one per core). Rerunning the same call resumes the study.
    Returns the study summary.

    A CL protocol runs one study per strategy (tune on the tuning dataset, then evaluate incumbent
    and hand-tuned once per evaluation seed on the evaluation dataset) and returns the comparison:
    each strategy's tuning-phase and evaluation-phase score and rank, and Kendall's tau. With
    ``strategy``, that strategy's study alone runs; the comparison takes the other strategies from
    their finished exports under ``results`` (without them, it is not written and the study's
    summary comes back with ``comparison_missing``)."""
    from .optimizers import OPTIMIZERS

    _check_seed(hpo_seed, "hpo_seed")
    protocols = load_benchmarks(protocol, scale) if isinstance(protocol, str) else [protocol]
    if strategy is not None:
        chosen = [load_benchmark(protocol, scale, strategy) if isinstance(protocol, str) else protocol]
        if getattr(chosen[0], "strategy", None) != strategy:
            raise UserError(f"{chosen[0].protocol_id} is not the study of strategy {strategy!r}")
    else:
        chosen = protocols
    _check_device(device)
    tool = OPTIMIZERS.get(optimizer)  # fail on an unknown tool before anything starts
    if tool.multi_fidelity and protocols[0].min_fidelity >= 1:
        raise UserError(f"{optimizer} is a multi-fidelity tool, but {protocols[0].protocol_id} has a single fidelity "
                        f"level ({protocols[0].full_fidelity} {protocols[0].budget_unit.replace('_', ' ')}): use a "
                        "larger scale or a full-fidelity tool")
    if getattr(tool, "population_based", False) and not BACKENDS.get(protocols[0].backend).trains_in_segments:
        raise UserError(f"{optimizer} trains a population in segments, which the {protocols[0].backend} backend of "
                        f"{protocols[0].protocol_id} does not do: use an RL protocol (jax backend, or sb3 through checkpoints)")
    _check_ready(chosen)
    with Session(store, workers=workers, scheduler=scheduler, scheduler_file=scheduler_file, progress=progress,
                 total=expected_trials(chosen), label=study_name or protocols[0].name) as session:
        return session.run_studies(protocols, optimizer, hpo_seed, device, results, study_name, strategy)


def train_config(
    protocol: str,
    config: Mapping[str, Any] | str,
    *,
    scale: str = DEFAULT_SCALE,
    seeds: list[int] | None = None,
    audit: bool = False,
    workers: int | None = None,
    store: str | Path = DEFAULT_STORE_DIR,
    results: str | Path = DEFAULT_RESULTS_DIR,
    device: str = "auto",
    progress: bool = True,
    strategy: str | None = None,
) -> dict[str, Any]:
    """Train a configuration (a mapping, or ``"hand-tuned"``) at full fidelity on ``seeds``
    (default: the tuning seeds): a *user run*, stored in the protocol's ``-user`` study. Held-out
    seeds (RL: test seeds; CL: evaluation seeds, on the evaluation dataset): only for the hand-tuned
    baseline, or as a recorded audit run (``audit=True``). A CL protocol needs the ``strategy``."""
    from .runner.study import run_config_for, score_summary

    spec_protocol = load_benchmark(protocol, scale, strategy)
    _check_device(device)
    label = spec_protocol.held_out_phase
    seeds = list(seeds) if seeds is not None else list(spec_protocol.tuning_seeds)
    held_out_seeds = sorted(set(seeds) & set(spec_protocol.held_out_seeds))
    unknown = sorted(set(seeds) - set(spec_protocol.tuning_seeds) - set(spec_protocol.held_out_seeds))
    if unknown:
        raise UserError(f"seed(s) {unknown} are neither tuning nor {label} seeds of {spec_protocol.protocol_id}")
    if held_out_seeds and set(seeds) - set(held_out_seeds):
        raise UserError(f"train tuning seeds and {label} seeds in separate calls")
    if config == "hand-tuned":
        role, run_config = "hand-tuned", spec_protocol.hand_tuned_run_config()[0]
    else:
        if not isinstance(config, Mapping):
            raise UserError("config must be a mapping of hyperparameters or 'hand-tuned'")
        accepted = BACKENDS.get(spec_protocol.backend)().accepted_hyperparameters(spec_protocol)
        unknown_names = sorted(set(config) - accepted) if accepted is not None else []
        if unknown_names:
            raise UserError(f"unknown hyperparameter(s) {unknown_names} for {spec_protocol.protocol_id}")
        role, run_config = "user", run_config_for(spec_protocol, dict(config))
        BACKENDS.get(spec_protocol.backend)().check_config(spec_protocol, run_config, "config")
        if held_out_seeds and not audit:
            raise SealError(
                f"{label} seeds {held_out_seeds} are sealed: scoring your own configuration on them is selecting on "
                f"the test set; use the tuning seeds, or pass --audit to record an audit run shown as such"
            )
    _check_ready([spec_protocol])
    phase = spec_protocol.held_out_phase if held_out_seeds else "user"
    study_id = f"{spec_protocol.name}-{scale}-user"
    with Session(store, workers=workers, progress=progress, total=len(seeds), label=study_id) as session:
        study = session.study(spec_protocol, study_id, "none", 0, device)
        results_by_role = study.train_roles({role: run_config}, tuple(seeds), phase=phase,
                                            audit=audit and role == "user")
        export_study(session.store, study_id, results)
    by_seed = results_by_role[role]
    crashed = [by_seed[s] for s in seeds if by_seed[s].status == "crashed"]
    if len(crashed) == len(seeds):
        raise UserError(f"every trial crashed; the first: {first_line(crashed[0].error)}")
    return {"study_id": study_id, "role": role, "phase": phase, "audit": audit and role == "user",
            "config": run_config, **score_summary([by_seed[s].score for s in seeds])}


def show_study(study_id: str, store: str | Path = DEFAULT_STORE_DIR) -> dict[str, Any]:
    """A study's trials, incumbent and test scores, from the store."""
    import json

    result_store = ResultStore(store)
    try:
        study = result_store.study(study_id)
        result_store.verify(study_id)
        return {
            "study": {k: v for k, v in study.items() if not k.endswith("_json")},
            "summary": json.loads(study["summary_json"]) if study["summary_json"] else None,
            "provenance": json.loads(study["provenance_json"]),
            "trials": result_store.trials(study_id),
        }
    finally:
        result_store.close()


def reproduce_hand_tuned(protocol: str, *, seeds: tuple[int, ...] = (0, 1), workers: int | None = None,
                         device: str = "auto") -> dict[str, Any]:
    """Train the hand-tuned configuration on rl-zoo3's own setting (its ``n_timesteps``) and compare
    with the protocol's ``hand_tuned.published`` figure (rl-baselines3-zoo's benchmark.md).

    That figure is one training run, published as a check of the algorithm's maximal performance,
    so ``reproduced`` is True when the best seed reaches the published mean minus
    max(published std, 5% of |published mean|); the mean over seeds is reported beside it."""
    import numpy as np

    from .runner.execution import executor
    from .trainers.base import Trial
    from .trainers.rl.hand_tuned import zoo_reference_timesteps

    paper = load_protocol(protocol, "paper")
    published = paper.hand_tuned.get("published")
    steps = zoo_reference_timesteps(paper.algorithm, paper.env_id, paper.hand_tuned)
    if published is None or steps is None:
        raise UserError(f"{protocol}: no published rl-zoo3 figure to reproduce")
    config, source = paper.hand_tuned_run_config()
    spec = paper.train_specs(device)["user"]
    backend = BACKENDS.get(paper.backend)()
    with executor(workers or os.cpu_count() or 1) as runs:
        calls = [runs.submit(backend.train_batch, spec, [Trial(config, s, steps)], resources={}) for s in seeds]
        results = [call.result()[0] for call in calls]
    scores = [r.score for r in results]
    threshold = published["mean"] - max(published["std"], 0.05 * abs(published["mean"]))
    return {"protocol": protocol, "source": source, "timesteps": steps, "seeds": list(seeds), "scores": scores,
            "mean": float(np.mean(scores)), "published": published, "threshold": threshold,
            "reproduced": bool(max(scores) >= threshold), "wall_s": [r.wall_s for r in results]}


def audit(input: str | Path, *, store: str | Path = DEFAULT_STORE_DIR, out: str | Path | None = None,
          reps: int = 2000, seed: int = 0) -> tuple[dict[str, Any], list[Path]]:
    """Seed-overfitting audit of a study id, one of our exports, or any CSV/Parquet with columns
    ``config_id``, ``seed``, ``score`` (optional ``phase``, ``budget``, ``method``). Writes markdown,
    JSON and plots to ``out`` (default: a folder beside the input). Returns (report, paths)."""
    from .analysis import audit as auditing
    from .analysis import report as reporting
    from .store.export import trials_frame

    path = Path(input)
    if path.suffix in (".csv", ".parquet"):
        frame = auditing.read_table(path)
        default_out = path.with_suffix(".audit")
    else:
        result_store = ResultStore(store)
        try:
            result_store.study(str(input))
            frame = auditing.validated(trials_frame(result_store, str(input)), f"study {input}")
        finally:
            result_store.close()
        default_out = Path(store) / f"{input}.audit"
    report = auditing.audit(frame, reps=reps, seed=seed)
    paths = reporting.write(report, Path(out) if out else default_out, path.stem if path.suffix else str(input))
    return report, paths
