"""Where and with what a result was produced: enough to tell, when a result does not reproduce,
whether the hardware or the software stack differs (the reproducibility contract in the README)."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

_PACKAGES = (
    "hpobench-rl-cl", "torch", "torchvision", "stable-baselines3", "gymnasium", "rl-zoo3", "ConfigSpace", "smac",
    "dehb", "optuna", "avalanche-lib", "dask", "distributed", "numpy", "scipy", "pandas", "matplotlib", "jax", "jaxlib",
)
#: Vector instructions that change which math kernels run (and so the last bits of a result).
_CPU_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_bf16", "avx512_vnni", "amx_tile")
#: Environment variables that change thread counts or kernel choice in the math libraries.
_MATH_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE",
             "MKL_CBWR", "XLA_FLAGS", "CUBLAS_WORKSPACE_CONFIG")


def package_versions() -> dict[str, str]:
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            versions[name] = "absent"
    return versions


#: What decides a trial's numbers: the package (code and shipped protocols) and what installs it. An
#: uncommitted change elsewhere (a results log a finished study appended to, a README) is not code.
CODE_PATHS = ("hpobench_rl_cl", "pyproject.toml", "constraints.txt")


def git_commit(root: Path = Path(__file__).resolve().parents[1]) -> str:
    """The suite's commit (with ``+dirty`` for uncommitted changes to :data:`CODE_PATHS`), or
    ``unknown`` outside a checkout."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, timeout=10)
        if commit.returncode != 0:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", *CODE_PATHS], cwd=root,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return commit.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def gpu() -> dict[str, str] | None:
    """The first NVIDIA GPU's model and driver, asked of ``nvidia-smi`` (no CUDA library is loaded)."""
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    if out.returncode != 0 or not out.stdout.strip():
        return None
    model, _, driver = out.stdout.splitlines()[0].partition(",")
    return {"model": model.strip(), "driver": driver.strip()}


def cpu() -> dict[str, Any]:
    """The CPU model, its vector-instruction flags that matter for math kernels, and the core count."""
    model, flags = platform.processor() or platform.machine(), set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name":
                model = value.strip()
            elif key.strip() == "flags":
                flags = set(value.split())
                break
    except OSError:
        pass
    return {"model": model, "flags": sorted(flags & set(_CPU_FLAGS)), "cores": os.cpu_count()}


def machine() -> dict[str, Any]:
    """What a trial's numbers depend on besides the code: hardware and math-library settings."""
    return {"host": platform.node(), "platform": platform.platform(), "cpu": cpu(), "gpu": gpu(),
            "math_env": {k: os.environ[k] for k in _MATH_ENV if k in os.environ}}


def collect() -> dict[str, Any]:
    """A study's provenance, taken in the driver (light: it loads no training library)."""
    return {"suite_commit": git_commit(), "packages": package_versions(), "python": sys.version.split()[0],
            **machine()}


def hardware(provenance: dict[str, Any]) -> str:
    """CPU model and vector flags, GPU model and driver, from a study's or a trial's provenance."""
    cpu, gpu = provenance.get("cpu"), provenance.get("gpu")
    if isinstance(cpu, dict):
        cpu = f"{cpu.get('model')} ({', '.join(cpu.get('flags', []))}; {cpu.get('cores')} cores)"
    if isinstance(gpu, dict):
        gpu = f"{gpu.get('model')} (driver {gpu.get('driver')})"
    return f"{cpu or 'unknown CPU'} · GPU {gpu or 'none'}"
