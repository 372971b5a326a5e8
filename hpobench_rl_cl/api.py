"""The suite's Python API: what the command line calls.

>>> from hpobench_rl_cl import api
>>> summary = api.run_study("ppo-cartpole", scale="smoke")            # tune, select, test
>>> api.evaluate("ppo-cartpole", "hand-tuned", scale="smoke")         # a configuration on tuning seeds
>>> api.show_study(summary["study_id"])
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Mapping

from .errors import SealError, UserError
from .protocol import BenchmarkProtocol
from .protocol.cl_spec import load_cl_suite
from .protocol.spec import (DEFAULT_PROTOCOL, DEFAULT_SCALE, SCALES, list_protocol_names, load_protocol,
                            protocol_family)
from .store.export import DEFAULT_RESULTS_DIR, export_comparison, export_study
from .store.sqlite_store import DEFAULT_STORE_DIR, ResultStore
from .trainers.base import BACKENDS

# Steps/s of one single-threaded trial on the 2-core development machines, evaluation included.
# PPO: the default study (paper's full space: small batches, many epochs) ran 135k steps in 520
# core-seconds; DQN, SAC, TD3: SB3 defaults measured in shared/notes (a tuned space can be slower).
_STEPS_PER_SECOND = {"PPO": 260.0, "A2C": 600.0, "DQN": 700.0, "SAC": 45.0, "TD3": 60.0}
_CNN_SLOWDOWN = 5.0
# Training images/s of one CL trial on one core of the development machines, everything included
# (small-cnn: the glyph quick study, 840k training images in 26 min on 2 cores, with EWC's importance
# passes and replay batches; a lone naive trial runs about 3x faster). ResNet-18 belongs on a GPU.
_IMAGES_PER_SECOND = {"mlp": 20000.0, "small-cnn": 330.0, "resnet18-cifar": 40.0}


def estimated_cost(protocol: Any) -> dict[str, float]:
    """Work units (env steps or training images) and single-core hours of a whole study at the
    protocol's scale: the tuning budget plus both roles on every held-out seed (a rough estimate)."""
    runs = protocol.budget_full_runs * len(protocol.tuning_seeds) + 2 * len(protocol.seeds.test)
    if protocol.family == "cl":
        per_run = protocol.epochs * protocol.tuning_data.info().train_images
        units, speed = runs * per_run, _IMAGES_PER_SECOND.get(protocol.model, 500.0)
    else:
        units = runs * protocol.total_timesteps
        speed = _STEPS_PER_SECOND.get(protocol.algorithm, 500.0) / (_CNN_SLOWDOWN if "Cnn" in protocol.policy else 1.0)
    return {"units": units, "core_hours": units / speed / 3600}


def list_protocols() -> list[dict[str, Any]]:
    """Every shipped protocol with its estimated cost at each scale (a CL protocol: all its strategies)."""
    rows = []
    for name in list_protocol_names():
        row: dict[str, Any] = {"name": name, "family": protocol_family(name)}
        for scale in SCALES:
            protocols = load_any(name, scale)
            costs = [estimated_cost(p) for p in protocols]
            row[scale] = {k: sum(c[k] for c in costs) for k in ("units", "core_hours")}
            row["description"] = protocols[0].description
        rows.append(row)
    return rows


def load_any(name: str, scale: str) -> list[BenchmarkProtocol]:
    """An RL protocol, or each strategy of a CL protocol."""
    if protocol_family(name) == "cl":
        return list(load_cl_suite(name, scale).strategies.values())
    return [load_protocol(name, scale)]


def load_one(name: str, scale: str, strategy: str | None = None) -> BenchmarkProtocol:
    """An RL protocol, or one strategy of a CL protocol."""
    if protocol_family(name) == "rl":
        if strategy:
            raise UserError(f"{name} is an RL protocol: it has no strategies")
        return load_protocol(name, scale)
    strategies = load_cl_suite(name, scale).strategies
    if strategy not in strategies:
        raise UserError(f"{name} is a CL protocol: name one of its strategies ({', '.join(strategies)}) with --strategy")
    return strategies[strategy]


class _Session:
    """A store, a Dask client and a progress bar around one operation."""

    def __init__(self, store_dir: str | Path, workers: int | None, scheduler: str | None, scheduler_file: str | None,
                 progress: bool, total: int, label: str) -> None:
        self.store_dir, self.workers, self.scheduler, self.scheduler_file = store_dir, workers, scheduler, scheduler_file
        self.progress, self.total, self.label = progress, total, label

    def __enter__(self) -> "_Session":
        from tqdm import tqdm

        from .runner.execution import dask_client

        if self.workers is None:
            self.workers = os.cpu_count() or 1
        if self.workers < 1:
            raise UserError(f"--workers must be at least 1, got {self.workers}")
        self.store = ResultStore(self.store_dir)
        self._client_context = dask_client(self.workers, self.scheduler, self.scheduler_file)
        self.client = self._client_context.__enter__()
        self.bar = tqdm(total=self.total, desc=self.label, unit="trial", disable=not self.progress, dynamic_ncols=True)
        return self

    def study(self, protocol: BenchmarkProtocol, study_id: str, optimizer: str, hpo_seed: int, device: str) -> Any:
        """Open (or resume) ``study_id`` in the store and return its :class:`Study`."""
        from . import provenance
        from .runner.execution import TrialRunner
        from .runner.study import Study

        self.store.open_study(
            study_id, family=protocol.family, protocol_name=protocol.name, scale=protocol.scale,
            protocol_hash=protocol.hash, protocol_content=protocol.content(), optimizer=optimizer,
            hpo_seed=hpo_seed, provenance=provenance.collect(),
        )

        def on_progress(result: Any, from_store: bool) -> None:
            self.bar.update(1)
            self.bar.set_postfix_str("resumed" if from_store else f"last score {result.score:.1f}")

        runner = TrialRunner(self.client, BACKENDS.get(protocol.backend)(), protocol.train_specs(device), self.store,
                             on_progress)
        return Study(protocol, optimizer, hpo_seed, self.store, runner, study_id)

    def run_studies(self, protocols: list[BenchmarkProtocol], optimizer: str, hpo_seed: int, device: str,
                    results: str | Path, study_name: str | None = None) -> dict[str, Any]:
        """One study per protocol (an RL protocol, or each strategy of a CL protocol), exported;
        returns the RL study's summary, or the CL strategies' comparison."""
        from .runner.study import study_id_for

        scale = protocols[0].scale
        study_ids = [f"{study_name}-{p.strategy}" if study_name and p.family == "cl" else
                     study_name or study_id_for(p, optimizer, hpo_seed) for p in protocols]
        self.bar.set_description(study_ids[0] if len(study_ids) == 1 else protocols[0].name)
        summaries = []
        for protocol, study_id in zip(protocols, study_ids):
            summaries.append(self.study(protocol, study_id, optimizer, hpo_seed, device).run())
            export_study(self.store, study_id, results)
        if protocols[0].family == "rl":
            return summaries[0]
        from .analysis.cl_metrics import compare_strategies

        label = study_name or f"{protocols[0].suite}-{scale}-{optimizer}-s{hpo_seed}"
        comparison = {"comparison_id": label, "protocol": protocols[0].suite, "scale": scale, "optimizer": optimizer,
                      "hpo_seed": hpo_seed, "family": "cl", "held_out_phase": "evaluation",
                      **compare_strategies({p.strategy: s for p, s in zip(protocols, summaries)}),
                      "studies": summaries}
        export_comparison(comparison, results)
        return comparison

    def __exit__(self, *exc: Any) -> None:
        self.bar.close()
        self._client_context.__exit__(*exc)
        self.store.close()


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
) -> dict[str, Any]:
    """Tune ``protocol`` (a name, a YAML path, or a loaded protocol, whose scale then wins) with
    ``optimizer``, then test the incumbent and the hand-tuned baseline on the sealed test seeds. ``workers``: parallel trials (default: one per core). Rerunning the same
    call resumes the study. Returns the study summary.

    A CL protocol runs one study per strategy (tune on the tuning dataset, then evaluate incumbent
    and hand-tuned once per evaluation seed on the evaluation dataset) and returns the comparison:
    each strategy's tuning-phase and evaluation-phase score and rank, and Kendall's tau."""
    from . import optimizers  # noqa: F401  (registers built-in tools)

    protocols = load_any(protocol, scale) if isinstance(protocol, str) else [protocol]
    tool = optimizers.OPTIMIZERS.get(optimizer)  # fail on an unknown tool before anything starts
    if tool.multi_fidelity and protocols[0].min_fidelity >= 1:
        raise UserError(f"{optimizer} is a multi-fidelity tool, but {protocols[0].protocol_id} has a single fidelity "
                        f"level ({protocols[0].full_fidelity} {protocols[0].budget_unit.replace('_', ' ')}): use a "
                        "larger scale or a full-fidelity tool")
    with _Session(store, workers, scheduler, scheduler_file, progress, expected_trials(protocols),
                  study_name or protocols[0].name) as session:
        return session.run_studies(protocols, optimizer, hpo_seed, device, results, study_name)


def expected_trials(protocols: list[BenchmarkProtocol]) -> int:
    """Trials of whole studies of ``protocols`` at full fidelity (the progress bar's total)."""
    return sum(round(p.budget_full_runs) * len(p.tuning_seeds) + 2 * len(p.seeds.test) for p in protocols)


def evaluate(
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
    (default: the tuning seeds). Test seeds (CL: evaluation seeds, on the evaluation dataset): only
    for the hand-tuned baseline, or as a recorded audit run (``audit=True``). A CL protocol needs
    the ``strategy``."""
    from .runner.study import run_config_for, score_summary

    spec_protocol = load_one(protocol, scale, strategy)
    seeds = list(seeds) if seeds is not None else list(spec_protocol.tuning_seeds)
    test_seeds = sorted(set(seeds) & set(spec_protocol.seeds.test))
    unknown = sorted(set(seeds) - set(spec_protocol.tuning_seeds) - set(spec_protocol.seeds.test))
    if unknown:
        raise UserError(f"seed(s) {unknown} are neither tuning nor test seeds of {spec_protocol.protocol_id}")
    if test_seeds and set(seeds) - set(test_seeds):
        raise UserError("evaluate tuning seeds and test seeds in separate calls")
    if config == "hand-tuned":
        role, run_config = "hand-tuned", spec_protocol.hand_tuned_run_config()[0]
    else:
        if not isinstance(config, Mapping):
            raise UserError("config must be a mapping of hyperparameters or 'hand-tuned'")
        accepted = spec_protocol.accepted_hyperparameters()
        unknown_names = sorted(set(config) - accepted) if accepted is not None else []
        if unknown_names:
            raise UserError(f"unknown hyperparameter(s) {unknown_names} for {spec_protocol.protocol_id}")
        role, run_config = "user", run_config_for(spec_protocol, dict(config))
        if test_seeds and not audit:
            raise SealError(
                f"test seeds {test_seeds} are sealed: scoring your own configuration on them is selecting on the "
                "test set; use the tuning seeds, or pass --audit to record an audit run shown as such"
            )
    phase = spec_protocol.held_out_phase if test_seeds else "evaluate"
    study_id = f"{spec_protocol.name}-{scale}-evaluate"
    with _Session(store, workers, None, None, progress, len(seeds), study_id) as session:
        study = session.study(spec_protocol, study_id, "none", 0, device)
        results_by_role = study.test({role: run_config}, tuple(seeds), phase=phase, audit=audit and role == "user")
        export_study(session.store, study_id, results)
    by_seed = results_by_role[role]
    return {"study_id": study_id, "role": role, "phase": phase, "audit": audit and role == "user",
            "config": run_config, **score_summary([by_seed[s].score for s in seeds])}


def show_study(study_id: str, store: str | Path = DEFAULT_STORE_DIR) -> dict[str, Any]:
    """A study's trials, incumbent and test scores, from the store."""
    import json

    result_store = ResultStore(store)
    try:
        study = result_store.study(study_id)
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

    from .runner.execution import dask_client
    from .trainers.base import Trial
    from .trainers.hand_tuned import zoo_reference_timesteps

    paper = load_protocol(protocol, "paper")
    published = paper.hand_tuned.get("published")
    steps = zoo_reference_timesteps(paper.algorithm, paper.env_id, paper.hand_tuned)
    if published is None or steps is None:
        raise UserError(f"{protocol}: no published rl-zoo3 figure to reproduce")
    config, source = paper.hand_tuned_run_config()
    spec = paper.train_specs(device)["evaluate"]
    with dask_client(workers or os.cpu_count() or 1) as client:
        futures = BACKENDS.get("sb3")().submit(client, spec, [Trial(config, s, steps) for s in seeds])
        results = client.gather(futures)
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
