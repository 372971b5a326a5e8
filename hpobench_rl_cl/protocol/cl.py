"""Continual-learning protocols (``protocols/cl/NAME.yaml``): the CL paper's two-phase protocol.

A CL protocol (``protocol/data/cl/NAME.yaml``, or any YAML path) names a *tuning* dataset and an *evaluation* dataset with one scenario shape (number
of experiences, size of the first one, replay memory), and the strategies to compare. For each
strategy, an HPO tool tunes it on the tuning dataset (on the tuning seeds); the chosen
configuration and the hand-tuned one then run once per evaluation seed on the evaluation dataset.

Enforced here: the two datasets share no class (same source) and no class folder (two
ImageFolder trees); their scenarios have the same shape. Enforced by the runner: the tuning
phase's trainer is only given the tuning dataset, and the evaluation seeds are sealed like RL test
seeds (one configuration per role and seed).

Budget unit: one full-run equivalent is one configuration trained for ``epochs`` epochs per
experience on every tuning seed; multi-fidelity tools use fewer epochs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from ..errors import ProtocolError, UserError
from ..trainers.cl.data import DATASETS, DataSpec, imagefolder_classes
from .common import (ProtocolBase, apply_scale, backend_name, check_budget, check_types, hpo_runs, protocol_path,
                     read_protocol_file)
from .rl import check_with_backend
from .search_space import load_space_definition
from .seeds import SeedSplit

_REQUIRED = {
    "name": str,
    "family": str,
    "model": str,
    "tuning_data": dict,
    "evaluation_data": dict,
    "scenario": dict,
    "epochs": int,
    "strategies": list,
    "search_space": (str, dict),
    "strategy_spaces": (str, dict),
    "budget_full_runs": (int, float),
    "tuning_seeds": list,
    "evaluation_seeds": list,
    "hand_tuned": dict,
}
_OPTIONAL = {"description": str, "metric": str, "scales": dict, "backend": str, "hpo_runs": int, "base_config": dict,
             "deviations": list}
_SCALABLE = {"epochs", "budget_full_runs", "tuning_seeds", "evaluation_seeds", "strategies", "hpo_runs"}
_SCENARIO_KEYS = {"n_experiences", "first_experience", "memory_size", "class_order_seed"}
SCORE_METRICS = ("final_accuracy", "average_incremental_accuracy")


@dataclass(frozen=True)
class CLProtocol(ProtocolBase):
    """One strategy of a CL protocol at one scale: what a study tunes and evaluates."""

    suite: str
    strategy: str
    scale: str
    model: str
    tuning_data: DataSpec
    evaluation_data: DataSpec
    n_experiences: int
    first_experience_classes: int | None
    memory_size: int
    class_order_seed: int
    epochs: int
    metric: str
    search_space_name: str
    search_space_definition: dict[str, Any]
    base_config: dict[str, Any]
    budget_full_runs: float
    seeds: SeedSplit
    hand_tuned: dict[str, Any]
    #: Where the protocol departs from the paper it follows, each said in a line (shown on the leaderboard).
    deviations: tuple[str, ...] = ()
    backend: str = "avalanche"
    hpo_runs: int = 1
    description: str = ""
    family: str = "cl"
    worst_score: float = 0.0
    source_path: str = field(default="", compare=False)

    budget_unit = "epochs"

    @property
    def name(self) -> str:
        return f"{self.suite}-{self.strategy}"

    @property
    def full_fidelity(self) -> int:
        return self.epochs

    @property
    def min_fidelity(self) -> float:
        return 1 / self.epochs

    def hand_tuned_run_config(self) -> tuple[dict[str, Any], str]:
        return dict(self.hand_tuned["config"]), self.hand_tuned["source"]

    def train_specs(self, device: str = "auto") -> dict[str, Any]:
        """Tuning (and user evaluations on tuning seeds) see only the tuning data; the evaluation
        phase sees only the evaluation data."""
        from ..trainers.cl.spec import CLTrainSpec

        def spec(data: Any) -> CLTrainSpec:
            return CLTrainSpec(
                strategy=self.strategy, model=self.model, data=data, n_experiences=self.n_experiences,
                first_experience_classes=self.first_experience_classes, memory_size=self.memory_size,
                class_order_seed=self.class_order_seed, metric=self.metric, full_epochs=self.epochs,
                worst_score=self.worst_score, device=device,
            )

        tuning = spec(self.tuning_data)
        return {"tuning": tuning, "user": tuning, self.held_out_phase: spec(self.evaluation_data)}


@dataclass(frozen=True)
class CLSuite:
    """A CL protocol file at one scale: one :class:`CLProtocol` per strategy, in the file's order."""

    name: str
    scale: str
    strategies: dict[str, CLProtocol]
    description: str = ""


def _classes(value: Any, where: str) -> list[Any]:
    """``"0-49"`` (inclusive range), a list of indices, or (ImageFolder) a list of folder names."""
    if isinstance(value, str):
        low, sep, high = value.partition("-")
        if not sep or not low.strip().isdigit() or not high.strip().isdigit() or int(low) > int(high):
            raise ProtocolError(f"{where}: classes {value!r} is not a range like '0-49'")
        return list(range(int(low), int(high) + 1))
    if not isinstance(value, list) or not value:
        raise ProtocolError(f"{where}: classes must be a range 'A-B' or a non-empty list")
    if len(set(map(str, value))) != len(value):
        raise ProtocolError(f"{where}: classes repeat")
    return value


def _data_spec(raw: Mapping[str, Any], where: str) -> DataSpec:
    if "source" not in raw or "classes" not in raw:
        raise ProtocolError(f"{where}: needs 'source' and 'classes'")
    source = raw["source"]
    try:
        data_source = DATASETS.get(source)
    except UserError as error:
        raise ProtocolError(f"{where}: {error}") from None
    options = {k: v for k, v in raw.items() if k not in ("source", "classes")}
    classes = _classes(raw["classes"], where)
    if any(isinstance(c, str) for c in classes):
        if source != "imagefolder":
            raise ProtocolError(f"{where}: class names are only for imagefolder; use indices for {source}")
        names = imagefolder_classes(options)
        missing = [c for c in classes if c not in names]
        if missing:
            raise ProtocolError(f"{where}: no class folder(s) {missing} under {options.get('root')}/train")
        classes = [names.index(c) for c in classes]
    total = data_source.info(options).classes
    outside = [c for c in classes if not isinstance(c, int) or isinstance(c, bool) or not 0 <= c < total]
    if outside:
        raise ProtocolError(f"{where}: class(es) {outside} outside the {total} classes of {source}")
    return DataSpec(source, tuple(classes), options)


def _class_identity(spec: DataSpec) -> set[Any]:
    """What makes two datasets' classes the same class: index within one source, or folder name."""
    if spec.source == "imagefolder":
        names = imagefolder_classes(spec.options)
        return {names[c] for c in spec.classes}
    return {(spec.source, c) for c in spec.classes}


def check_disjoint(tuning: DataSpec, evaluation: DataSpec, origin: str) -> None:
    """Refuse datasets that share classes (and so samples): the evaluation data must be unseen."""
    shared = _class_identity(tuning) & _class_identity(evaluation)
    if shared:
        shown = sorted(c if isinstance(c, str) else c[1] for c in shared)
        raise ProtocolError(f"{origin}: tuning_data and evaluation_data overlap on class(es) {shown[:10]}"
                            f"{' ...' if len(shown) > 10 else ''}; the evaluation dataset must be disjoint")


def _scenario(raw: Mapping[str, Any], classes: int, origin: str) -> tuple[int, int | None, int, int]:
    unknown = set(raw) - _SCENARIO_KEYS
    if unknown:
        raise ProtocolError(f"{origin}: unknown scenario key(s) {sorted(unknown)}")
    n = raw.get("n_experiences")
    memory = raw.get("memory_size", 0)
    order_seed = raw.get("class_order_seed", 1993)
    for key, value in (("n_experiences", n), ("memory_size", memory), ("class_order_seed", order_seed)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ProtocolError(f"{origin}: scenario {key} must be a non-negative integer, got {value!r}")
    if n < 1:
        raise ProtocolError(f"{origin}: scenario n_experiences must be at least 1")
    first = raw.get("first_experience", "equal")
    if first == "equal":
        if classes % n:
            raise ProtocolError(f"{origin}: {classes} classes do not split into {n} equal experiences")
        return n, None, memory, order_seed
    if first == "half":
        half = classes // 2
        if n < 2 or (classes - half) % (n - 1):
            raise ProtocolError(f"{origin}: with half the {classes} classes first, the other {classes - half} "
                                f"do not split into {n - 1} equal experiences")
        return n, half, memory, order_seed
    raise ProtocolError(f"{origin}: scenario first_experience must be 'equal' or 'half', got {first!r}")


def _strategy_spaces(reference: str | Mapping[str, Any]) -> dict[str, Any]:
    _, definition = load_space_definition(reference)
    return definition


def load_cl_suite(name_or_path: str, scale: str = "quick") -> CLSuite:
    """Load and validate a CL protocol at a scale, its backend's checks (strategies, model,
    hyperparameter names) included. Raises :class:`ProtocolError` naming what is wrong."""
    suite = read_cl_suite(name_or_path, scale)
    for protocol in suite.strategies.values():
        check_with_backend(protocol)
    return suite


def read_cl_suite(name_or_path: str, scale: str = "quick") -> CLSuite:
    """A CL protocol as its file declares it, checked without its backend (nothing heavy imported)."""
    path = protocol_path(name_or_path)
    origin = str(path)
    data = read_protocol_file(path)
    check_types(data, origin, _REQUIRED, _OPTIONAL)
    resolved = apply_scale(data, scale, origin, _SCALABLE, "epochs")
    check_types(resolved, f"{origin} (scale {scale})", _REQUIRED, _OPTIONAL)
    tuning = _data_spec(resolved["tuning_data"], f"{origin}: tuning_data")
    evaluation = _data_spec(resolved["evaluation_data"], f"{origin}: evaluation_data")
    check_disjoint(tuning, evaluation, origin)
    if len(tuning.classes) != len(evaluation.classes):
        raise ProtocolError(f"{origin}: the scenarios differ in shape: tuning_data has {len(tuning.classes)} classes, "
                            f"evaluation_data {len(evaluation.classes)}")
    n, first, memory, order_seed = _scenario(resolved["scenario"], len(tuning.classes), origin)
    metric = resolved.get("metric", "final_accuracy")
    if metric not in SCORE_METRICS:
        raise ProtocolError(f"{origin}: metric must be one of {', '.join(SCORE_METRICS)}, got {metric!r}")
    if not 1 <= resolved["epochs"] <= 10_000:
        raise ProtocolError(f"{origin}: epochs must be from 1 to 10,000, got {resolved['epochs']}")
    check_budget(float(resolved["budget_full_runs"]), origin)
    seeds = SeedSplit.validated(resolved["tuning_seeds"], resolved["evaluation_seeds"], origin=origin,
                                held_out_label="evaluation")
    shared_name, shared_space = load_space_definition(resolved["search_space"])
    own_spaces = _strategy_spaces(resolved["strategy_spaces"])
    hand_tuned = resolved["hand_tuned"]
    if not isinstance(hand_tuned.get("config"), dict) or not isinstance(hand_tuned.get("source"), str):
        raise ProtocolError(f"{origin}: hand_tuned needs a 'config' (shared hyperparameters) and a 'source'")
    strategies: dict[str, CLProtocol] = {}
    for strategy in resolved["strategies"]:
        where = f"{origin}: strategy {strategy!r}"
        own = own_spaces.get(strategy) or {}
        space = {"hyperparameters": {**shared_space["hyperparameters"], **(own.get("hyperparameters") or {})}}
        config = {**(resolved.get("base_config") or {}), **hand_tuned["config"], **(own.get("hand_tuned") or {})}
        source = hand_tuned["source"] + (f"; {own['source']}" if own.get("source") else "")
        protocol = CLProtocol(
            suite=resolved["name"], strategy=strategy, scale=scale, model=resolved["model"], tuning_data=tuning,
            evaluation_data=evaluation, n_experiences=n, first_experience_classes=first, memory_size=memory,
            class_order_seed=order_seed, epochs=resolved["epochs"], metric=metric,
            search_space_name=f"{shared_name}+{strategy}", search_space_definition=space,
            base_config=dict(resolved.get("base_config") or {}),
            deviations=tuple(str(d) for d in resolved.get("deviations") or ()),
            budget_full_runs=float(resolved["budget_full_runs"]), seeds=seeds,
            hand_tuned={"config": config, "source": source}, backend=backend_name(resolved, "cl", origin),
            hpo_runs=hpo_runs(resolved, origin), description=resolved.get("description", ""), source_path=origin,
        )
        missing = sorted(set(protocol.search_space().keys()) - set(config))
        if missing:
            raise ProtocolError(f"{where}: the hand-tuned configuration does not set {missing}")
        strategies[strategy] = protocol
    if not strategies:
        raise ProtocolError(f"{origin}: strategies is empty")
    return CLSuite(resolved["name"], scale, strategies, resolved.get("description", ""))
