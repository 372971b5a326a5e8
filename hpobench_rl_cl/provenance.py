"""Where and with what a result was produced."""

from __future__ import annotations

import platform
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

_PACKAGES = (
    "hpobench-rl-cl", "torch", "stable-baselines3", "gymnasium", "rl-zoo3", "ConfigSpace", "smac", "dehb",
    "optuna", "avalanche-lib", "dask", "distributed", "numpy", "pandas",
)


def package_versions() -> dict[str, str]:
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "absent"
    return versions


def git_commit() -> str:
    """The suite's commit (with ``+dirty`` for uncommitted changes), or ``unknown`` outside a checkout."""
    root = Path(__file__).resolve().parents[1]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        if commit.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return commit.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def gpu_name() -> str | None:
    """The first NVIDIA GPU's name, asked of ``nvidia-smi`` (no CUDA library is loaded for it)."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.splitlines()[0].strip() if out.returncode == 0 and out.stdout.strip() else None


def collect() -> dict[str, Any]:
    return {
        "suite_commit": git_commit(),
        "packages": package_versions(),
        "python": sys.version.split()[0],
        "host": platform.node(),
        "platform": platform.platform(),
        "cpu": platform.processor() or platform.machine(),
        "gpu": gpu_name(),
    }
