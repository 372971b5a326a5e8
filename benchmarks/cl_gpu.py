"""Throughput of CL training: one trial, N concurrent trials, and Avalanche vs a plain PyTorch loop.

Measured side by side in one run, on the device chosen at run time (CUDA when present):
1. plain:      a hand-written PyTorch training loop (SGD, batch --batch) over the data;
2. avalanche:  the suite's path, Avalanche's Naive strategy over the same data as one experience;
3. concurrent: N processes each running (2) at once on the same device (aggregate images/s).
Reported: images/s of each, avalanche/plain (Avalanche's overhead) and the aggregate speed-up of N
concurrent trials over one. Data: random tensors of the model's input shape (speed only; no dataset
can be downloaded on the benchmark machines), held on the device when it is a GPU.

    python benchmarks/cl_gpu.py                                  # GPU: ResNet-18 (CIFAR stem), 32x32x3
    python benchmarks/cl_gpu.py --model small-cnn --channels 1  # CPU: the offline default's network
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import time
import warnings

import torch

from hpobench_rl_cl.trainers.cl.data import DatasetInfo
from hpobench_rl_cl.trainers.cl.models import CL_MODELS

CLASSES = 100


def _data(args: argparse.Namespace, device: str) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    x = torch.rand(args.images, args.channels, 32, 32, generator=generator)
    y = torch.randint(0, CLASSES, (args.images,), generator=generator)
    return x.to(device), y.to(device)


def _model(args: argparse.Namespace, device: str) -> torch.nn.Module:
    torch.manual_seed(0)
    return CL_MODELS.get(args.model)(DatasetInfo(args.channels, 32, CLASSES, 0)).to(device)


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def plain_loop(args: argparse.Namespace, device: str) -> float:
    """Images/s of a bare PyTorch loop: shuffled mini-batches, forward, backward, SGD step."""
    x, y = _data(args, device)
    model = _model(args, device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    model.train()
    start = None
    for epoch in range(args.epochs + 1):  # epoch 0 warms up (cuDNN autotuning, allocator)
        if epoch == 1:
            _sync(device)
            start = time.perf_counter()
        order = torch.randperm(len(x), device=device)
        for i in range(0, len(x), args.batch):
            batch = order[i : i + args.batch]
            loss = torch.nn.functional.cross_entropy(model(x[batch]), y[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
    _sync(device)
    return args.images * args.epochs / (time.perf_counter() - start)


def avalanche_trial(args: argparse.Namespace, device: str) -> tuple[float, float]:
    """Start and end (wall clock) of Avalanche's Naive strategy training ``epochs`` epochs over the
    same data as one experience, after a warm-up epoch."""
    warnings.filterwarnings("ignore")
    from avalanche.benchmarks import nc_benchmark
    from avalanche.training import Naive
    from avalanche.training.plugins import EvaluationPlugin

    from hpobench_rl_cl.trainers.cl.avalanche import _ClassificationData
    from hpobench_rl_cl.trainers.cl.data import LabelledImages

    x, y = _data(args, "cpu")
    data = _ClassificationData(LabelledImages(x, y.tolist()))
    scenario = nc_benchmark(data, data, n_experiences=1, task_labels=False, seed=0)
    model = _model(args, device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    learner = Naive(model=model, optimizer=optimizer, train_mb_size=args.batch, train_epochs=1, device=device,
                    evaluator=EvaluationPlugin(loggers=[]))
    learner.train(scenario.train_stream[0])  # warm-up epoch
    _sync(device)
    start = time.time()
    learner.train_epochs = args.epochs
    learner.train(scenario.train_stream[0])
    _sync(device)
    return start, time.time()


def _worker(args: argparse.Namespace, device: str, barrier, results) -> None:
    if device == "cpu":
        torch.set_num_threads(1)
    barrier.wait()
    results.put(avalanche_trial(args, device))


def concurrent(args: argparse.Namespace, device: str, n: int) -> float:
    """Aggregate images/s of n Avalanche trials in n processes sharing the device."""
    context = mp.get_context("spawn")
    barrier, results = context.Barrier(n), context.Queue()
    processes = [context.Process(target=_worker, args=(args, device, barrier, results)) for _ in range(n)]
    for process in processes:
        process.start()
    windows = [results.get() for _ in processes]
    for process in processes:
        process.join()
    # All images over the span from the first start to the last end: no credit for windows that
    # did not overlap.
    return n * args.images * args.epochs / (max(end for _, end in windows) - min(start for start, _ in windows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="resnet18-cifar")
    parser.add_argument("--channels", type=int, default=3)
    parser.add_argument("--images", type=int, default=10000)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--concurrent", type=int, nargs="*", default=[2, 4])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    device = args.device
    if device == "cpu":
        torch.set_num_threads(1)
    name = torch.cuda.get_device_name(0) if device == "cuda" else "CPU, 1 thread per trial"
    print(f"{args.model}, {args.images} images 32x32x{args.channels}, batch {args.batch}, {args.epochs} epochs, on {name}")
    plain = plain_loop(args, device)
    start, end = avalanche_trial(args, device)
    single = args.images * args.epochs / (end - start)
    print(f"plain PyTorch loop      : {plain:10.0f} images/s")
    print(f"one Avalanche trial     : {single:10.0f} images/s   avalanche/plain = {single / plain:.2f}")
    for n in args.concurrent:
        total = concurrent(args, device, n)
        print(f"{n} concurrent trials    : {total:10.0f} images/s   aggregate / one trial = {total / single:.2f}x")


if __name__ == "__main__":
    main()
