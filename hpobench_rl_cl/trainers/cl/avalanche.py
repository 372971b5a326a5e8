"""The Avalanche backend: one CL trial = one strategy trained through a class-incremental scenario.

A trial's budget is epochs per experience. After each experience the strategy is evaluated on
every experience's test data, which fills the accuracy matrix ``R[i, j]`` (stored in the trial's
notes with the metrics derived from it); the trial's score is the protocol's metric, in percent.
The learning curve is the accuracy on the seen classes after each experience.

Seeds: the trial seed seeds Python, NumPy and torch through Avalanche's RNG manager (weights,
mini-batch order, replay sampling), and a Python generator of the trial's own (``own_python_random``).
The class order is the protocol's (``class_order_seed``, 1993 as in the CL paper), the same for
every trial, so seeds vary the learner and not the scenario.
"""

from __future__ import annotations

import os
import random
import warnings
from contextlib import contextmanager
from typing import Any, Iterator, Sequence

import numpy as np

from ...analysis import cl_metrics
from ...errors import ProtocolError, UserError
from ..base import TrainerBackend, Trial, TrialResult, gpu_unit, guarded_trial, own_python_random, resolve_device
from .data import LabelledImages
from .spec import CLTrainSpec

# Results are read from the evaluator, not logged, so Avalanche's "no loggers" notice is noise; its
# own plugins call APIs it has deprecated, which is nothing for a user of this suite to act on.
warnings.filterwarnings("ignore", message="No loggers specified", category=UserWarning)
warnings.filterwarnings("ignore", category=DeprecationWarning, module="avalanche")


class _ClassificationData:
    """The (image, target) dataset with a ``targets`` list that Avalanche's scenario builders read."""

    def __init__(self, data: LabelledImages) -> None:
        self.images, self.targets = data.images, data.targets

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> tuple[Any, int]:
        return self.images[index], self.targets[index]


def on_device_when_they_fit(datasets: Sequence[LabelledImages], device: str) -> bool:
    """Move in-memory images to the GPU when together they take under a quarter of its free memory
    (all or none): measured on an H200, feeding ResNet-18 from a CPU DataLoader cost 20% of the
    throughput."""
    import torch

    if not device.startswith("cuda") or not all(isinstance(d.images, torch.Tensor) for d in datasets):
        return False
    free, _ = torch.cuda.mem_get_info()
    if sum(d.images.element_size() * d.images.nelement() for d in datasets) > free / 4:
        return False
    for data in datasets:
        data.images = data.images.to(device)
    return True


def scenario_for(spec: CLTrainSpec, device: str) -> tuple[Any, bool, str | None]:
    """The class-incremental scenario of the spec's data, whether its images sit on the GPU, and the
    data's content digest (in-memory data; None for a lazily read image folder)."""
    import torch
    from avalanche.benchmarks import nc_benchmark

    from .data import DATASETS, dataset_digest

    transforms = DATASETS.get(spec.data.source).transforms
    train_transform, eval_transform = transforms() if transforms else (None, None)
    train, test = spec.data.load()
    in_memory = all(isinstance(d.images, torch.Tensor) for d in (train, test))
    digest = dataset_digest(train, test) if in_memory else None
    on_gpu = on_device_when_they_fit((train, test), device)
    per_exp = {0: spec.first_experience_classes} if spec.first_experience_classes else None
    return nc_benchmark(
        _ClassificationData(train), _ClassificationData(test), n_experiences=spec.n_experiences, task_labels=False,
        seed=spec.class_order_seed, per_exp_classes=per_exp, class_ids_from_zero_from_first_exp=True,
        train_transform=train_transform, eval_transform=eval_transform,
    ), on_gpu, digest


def _experience_accuracies(metrics: dict[str, Any], n_experiences: int) -> list[float]:
    prefix = "Top1_Acc_Exp/eval_phase/test_stream/Task000/Exp"
    return [float(metrics[f"{prefix}{j:03d}"]) for j in range(n_experiences)]


#: Deterministic kernels and no oneDNN convolutions (whose kernels depend on the CPU's vector
#: instructions): CL trials as hardware-independent as torch allows; benchmarks/cl_determinism.py
#: measures the cost.
DETERMINISTIC = True


@contextmanager
def deterministic_math() -> Iterator[None]:
    """Deterministic algorithms and reference convolutions for one trial, restored afterwards (the
    trial may share its process with others)."""
    import torch

    if not DETERMINISTIC:
        yield
        return
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # cuBLAS needs it for deterministic GEMMs
    before = torch.are_deterministic_algorithms_enabled(), torch.backends.mkldnn.enabled
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.mkldnn.enabled = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(before[0])
        torch.backends.mkldnn.enabled = before[1]


def trained_epochs(config: dict[str, Any], budget: int, full_epochs: int) -> int:
    """Epochs per experience: a configuration that tunes its epochs (the CL paper's space) trains
    them scaled by the trial's fidelity (``budget / full_epochs``), never more than the budget (the
    smoke scale's few epochs cap every configuration); otherwise the trial's budget."""
    if "epochs" not in config:
        return budget
    return max(1, min(budget, round(config["epochs"] * budget / full_epochs)))


def lr_scheduler(name: str, optimizer: Any, epochs: int) -> Any:
    """The configuration's ``lr_schedule`` over ``epochs`` per experience (None: constant): cosine
    annealing, or steps of 0.1 at half and three quarters of the epochs (PyCIL's milestones sit there)."""
    import torch

    if name == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=epochs)
    if name == "step":
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones=[epochs // 2, 3 * epochs // 4], gamma=0.1)
    return None


def train_cl_trial(spec: CLTrainSpec, trial: Trial) -> TrialResult:
    """Train a strategy through the scenario and score it. Never raises (failures are ``crashed``)."""
    with deterministic_math(), own_python_random(trial.seed):
        return _train_cl_trial(spec, trial)


def _train_cl_trial(spec: CLTrainSpec, trial: Trial) -> TrialResult:
    import torch

    device = resolve_device(spec.device, prefer_gpu=True)
    if device == "cpu":
        torch.set_num_threads(1)

    def body(curve: list[tuple[int, float]], notes: dict[str, Any]) -> float:
        from avalanche.evaluation.metrics import accuracy_metrics
        from avalanche.training.determinism.rng_manager import RNGManager
        from avalanche.training.plugins import EvaluationPlugin, LRSchedulerPlugin

        from .models import CL_MODELS
        from .strategies import STRATEGIES, StrategyContext

        config = trial.config
        scenario, data_on_gpu, data_digest = scenario_for(spec, device)
        # After the scenario: Avalanche seeds torch's global generator with the class-order seed.
        RNGManager.set_random_seeds(trial.seed)
        random.seed(trial.seed)  # RNGManager seeds the shared generator it bound at import; this, the trial's own
        model = CL_MODELS.get(spec.model)(spec.data.info())
        optimizer = torch.optim.SGD(model.parameters(), lr=config["lr"], momentum=config.get("momentum", 0.0),
                                    weight_decay=config.get("weight_decay", 0.0))
        epochs = trained_epochs(config, trial.budget, spec.full_epochs)
        schedule = lr_scheduler(config.get("lr_schedule", "constant"), optimizer, epochs)
        plugins = [] if schedule is None else [LRSchedulerPlugin(schedule, reset_scheduler=True, reset_lr=True)]
        common = {
            "train_mb_size": int(config["batch_size"]), "train_epochs": epochs,
            "eval_mb_size": spec.eval_batch_size, "device": device, "plugins": plugins,
            "evaluator": EvaluationPlugin(accuracy_metrics(experience=True), loggers=[]),
        }
        context = StrategyContext(spec.memory_size, spec.n_experiences, int(config["batch_size"]))
        learner = STRATEGIES.get(spec.strategy)(model, optimizer, config, context, common)
        matrix = []
        weights = [len(e.dataset) for e in scenario.test_stream]
        # Avalanche pins CPU memory for CUDA by default; images already on the GPU cannot be pinned.
        loader = {"pin_memory": False} if data_on_gpu else {}
        for i, experience in enumerate(scenario.train_stream):
            learner.train(experience, **loader)
            matrix.append(_experience_accuracies(learner.eval(scenario.test_stream, **loader), spec.n_experiences))
            curve.append((i + 1, 100.0 * cl_metrics.seen_accuracy(np.array(matrix)[:, : i + 1], weights[: i + 1])[-1]))
        metrics = cl_metrics.all_metrics(matrix, weights)
        notes["trained"] = epochs
        notes["data_digest"] = data_digest
        notes.update({"accuracy_matrix": matrix, "test_sizes": weights, **metrics,
                      "class_order": [int(c) for c in scenario.classes_order_original_ids]})
        return 100.0 * metrics[spec.metric]

    return guarded_trial(spec.worst_score, body)


#: Data pairs already compared in this process (every strategy of a protocol shares its data).
_DISJOINT: set[tuple[str, str]] = set()


class AvalancheBackend(TrainerBackend):
    """One trial per call. On a GPU, run several workers: they share the device (measured on an
    H200: 4 concurrent trials gave 3.0x one trial's throughput). On a cluster whose GPU workers
    declare a ``GPU`` resource (``dask worker ... --resources GPU=4``: four trials at once), trials
    that may use CUDA go to those workers only, one unit each."""

    def check_protocol(self, protocol: Any) -> None:
        from .models import CL_MODELS
        from .strategies import accepted_hyperparameters

        where = f"{protocol.source_path}: strategy {protocol.strategy!r}"
        try:
            CL_MODELS.get(protocol.model)
            accepted = accepted_hyperparameters(protocol.strategy)
        except UserError as error:
            raise ProtocolError(f"{where}: {error}") from None
        names = set(protocol.search_space().keys()) | set(protocol.hand_tuned["config"])
        if accepted is not None and names - accepted:
            raise ProtocolError(f"{where}: unknown hyperparameter(s) {sorted(names - accepted)} "
                                f"(it takes {', '.join(sorted(accepted))})")

    def check_ready(self, protocol: Any) -> None:
        """The data of both phases is here, and the evaluation data shares no image with the tuning
        data (compared by content: renamed class folders, links and copies are the same images)."""
        from .data import ensure_data, shared_images

        for phase, data in (("tuning_data", protocol.tuning_data), ("evaluation_data", protocol.evaluation_data)):
            try:
                ensure_data(data)
            except UserError as error:
                raise UserError(f"{protocol.source_path}: {phase}: {error}") from None
        key = (repr(protocol.tuning_data), repr(protocol.evaluation_data))
        if key not in _DISJOINT:
            shared, example = shared_images(protocol.tuning_data, protocol.evaluation_data)
            if shared:
                raise ProtocolError(f"{protocol.source_path}: evaluation_data shares {shared} image(s) with tuning_data "
                                    f"(e.g. {example}): the evaluation data must be unseen")
            _DISJOINT.add(key)

    def trained_units(self, spec: CLTrainSpec, config: Any, budget: int) -> int:
        return trained_epochs(config, budget, spec.full_epochs)

    def accepted_hyperparameters(self, protocol: Any) -> set[str] | None:
        from .strategies import accepted_hyperparameters

        return accepted_hyperparameters(protocol.strategy)

    def resources(self, spec: CLTrainSpec, workers: Sequence[Any]) -> dict[str, float]:
        return gpu_unit(spec.device, workers)

    def train_batch(self, spec: CLTrainSpec, trials: Sequence[Trial]) -> list[TrialResult]:
        return [train_cl_trial(spec, trial) for trial in trials]
