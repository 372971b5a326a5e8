"""Benchmark definitions: RL protocols (one algorithm on one environment) and CL protocols (strategies
on a tuning dataset and a disjoint evaluation dataset). The study runner takes either."""

from typing import Union

from .cl_spec import CLProtocol
from .spec import RLProtocol

BenchmarkProtocol = Union[RLProtocol, CLProtocol]

__all__ = ["BenchmarkProtocol", "CLProtocol", "RLProtocol"]
