"""Benchmark definitions: RL protocols (one algorithm on one environment) and CL protocols (strategies
on a tuning dataset and a disjoint evaluation dataset). The study runner takes either.

``load_*`` functions check a protocol completely (its backend included); ``read_*`` functions check
what the file declares and import no training library (``list``, ``show``, the leaderboard)."""

from __future__ import annotations

from typing import Union

from ..errors import UserError
from .cl import CLProtocol, load_cl_suite, read_cl_suite
from .common import DEFAULT_PROTOCOL, DEFAULT_SCALE, SCALES, list_protocol_names, protocol_family
from .rl import RLProtocol, load_protocol, read_protocol

BenchmarkProtocol = Union[RLProtocol, CLProtocol]


def load_benchmarks(name: str, scale: str, *, check_backend: bool = True) -> list[BenchmarkProtocol]:
    """An RL protocol, or each strategy of a CL protocol (a name or a YAML path)."""
    if protocol_family(name) == "cl":
        suite = load_cl_suite(name, scale) if check_backend else read_cl_suite(name, scale)
        return list(suite.strategies.values())
    return [load_protocol(name, scale) if check_backend else read_protocol(name, scale)]


def load_benchmark(name: str, scale: str, strategy: str | None = None) -> BenchmarkProtocol:
    """An RL protocol, or one strategy of a CL protocol."""
    if protocol_family(name) == "rl":
        if strategy:
            raise UserError(f"{name} is an RL protocol: it has no strategies")
        return load_protocol(name, scale)
    strategies = load_cl_suite(name, scale).strategies
    if strategy not in strategies:
        raise UserError(f"{name} is a CL protocol: name one of its strategies ({', '.join(strategies)}) with --strategy")
    return strategies[strategy]


__all__ = ["DEFAULT_PROTOCOL", "DEFAULT_SCALE", "SCALES", "BenchmarkProtocol", "CLProtocol", "RLProtocol",
           "list_protocol_names", "load_benchmark", "load_benchmarks", "load_protocol", "load_cl_suite",
           "read_protocol", "read_cl_suite", "protocol_family"]
