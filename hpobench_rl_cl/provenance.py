"""Where and with what a result was produced: enough to tell, when a result does not reproduce,
whether the hardware or the software stack differs (the reproducibility contract in the README)."""

from __future__ import annotations

import hashlib
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
SUITE_ROOT = Path(__file__).resolve().parents[1]


def _git(root: Path, *args: str, stdin: str | None = None) -> str | None:
    """``git args`` in ``root``: its output, or None when git or the checkout is missing or it fails."""
    try:
        done = subprocess.run(["git", *args], cwd=root, input=stdin, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def _is_checkout(root: Path) -> bool:
    """Whether ``root`` is the top of a git checkout (not a folder inside another project's, such
    as an installed copy in a virtual environment there)."""
    top = _git(root, "rev-parse", "--show-toplevel")
    return top is not None and Path(top.strip()).resolve() == root.resolve()


def git_commit(root: Path = SUITE_ROOT) -> str:
    """The suite's commit (with ``+dirty`` for uncommitted changes to :data:`CODE_PATHS`), or
    ``unknown`` outside a checkout of the suite."""
    commit = _git(root, "rev-parse", "HEAD") if _is_checkout(root) else None
    if commit is None:
        return "unknown"
    dirty = _git(root, "status", "--porcelain", "--untracked-files=no", "--", *CODE_PATHS)
    return commit.strip() + ("+dirty" if dirty and dirty.strip() else "")


def _fingerprint(blobs: dict[str, str]) -> str:
    return hashlib.sha256("".join(f"{path} {blob}\n" for path, blob in sorted(blobs.items())).encode()).hexdigest()


def code_fingerprint(root: Path = SUITE_ROOT, commit: str | None = None) -> str | None:
    """A hash of the code (:data:`CODE_PATHS`: each file's path and git blob id), as it is on disk
    (tracked files and the untracked ones git does not ignore: an added module counts) or, given
    ``commit``, as that commit has it. None outside a checkout or for a commit it does not hold."""
    if not _is_checkout(root):
        return None
    if commit is not None:
        listing = _git(root, "ls-tree", "-r", "-z", commit, "--", *CODE_PATHS)
        if listing is None:
            return None
        entries = (entry.partition("\t") for entry in listing.split("\0") if entry)
        return _fingerprint({path: meta.split()[2] for meta, _, path in entries})
    listing = _git(root, "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *CODE_PATHS)
    if listing is None:
        return None
    paths = sorted({path for path in listing.split("\0") if path and (root / path).is_file()})
    blobs = _git(root, "hash-object", "--stdin-paths", stdin="".join(f"{path}\n" for path in paths))
    return None if blobs is None else _fingerprint(dict(zip(paths, blobs.split())))


class SuiteCode:
    """This checkout's code and its history: what a study's recorded code must be to count as the
    suite's. A study counts when its code fingerprint is this checkout's code or the code of its
    recorded commit, and that commit is in the history of HEAD. Code edited and run without a commit,
    or a commit the history lacks (another branch, a fork), makes the study its own entry. A shallow
    clone cannot tell a commit it lacks from a fork's: a study recorded before fingerprints counts
    there by its commit's clean mark, a later one only by its fingerprint."""

    def __init__(self, root: Path = SUITE_ROOT) -> None:
        self.root = root
        self.current = code_fingerprint(root)
        history = _git(root, "rev-list", "HEAD")
        self.history = set(history.split()) if history else set()
        #: False in a shallow clone (CI's checkouts often are): a commit it lacks may still be the suite's.
        self.complete_history = bool(history) and _git(root, "rev-parse", "--is-shallow-repository") == "false\n"
        self._at: dict[str, str | None] = {}

    def foreign(self, provenance: dict[str, Any], accepted_before_checks: bool = False) -> str | None:
        """Why the code ``provenance`` records is not the suite's, or None when it is. A study
        recorded before fingerprints (no ``code_fingerprint`` key) has only its commit to go by; its
        ``+dirty`` then meant any uncommitted file (a results log too), so such a study counts only
        when it is one of the exports ``accepted_before_checks``."""
        commit = str(provenance.get("suite_commit", "unknown"))
        clean = commit.removesuffix("+dirty")
        if "code_fingerprint" not in provenance:
            if commit.endswith("+dirty") and not accepted_before_checks:
                return f"edited code at {clean[:7]}"
            if clean in self.history or accepted_before_checks or not self.complete_history:
                return None
            return f"code from outside this repository's history {clean[:7]}"
        fingerprint = provenance["code_fingerprint"]
        if fingerprint is None:
            return "code unchecked: not run from a git checkout"
        if fingerprint == self.current:
            return None
        if clean in self.history:
            if clean not in self._at:
                self._at[clean] = code_fingerprint(self.root, clean)
            if self._at[clean] == fingerprint:
                return None
        elif not commit.endswith("+dirty"):
            if not self.complete_history:
                return f"code unchecked: commit {clean[:7]} is not in this shallow clone"
            return f"code from outside this repository's history {clean[:7]}"
        return f"edited code at {clean[:7]}"


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


def code() -> dict[str, Any]:
    """The suite's code as a study records it: the commit and the code's fingerprint."""
    return {"suite_commit": git_commit(), "code_fingerprint": code_fingerprint()}


def collect() -> dict[str, Any]:
    """A study's provenance, taken in the driver (light: it loads no training library)."""
    return {**code(), "packages": package_versions(), "python": sys.version.split()[0], **machine()}


def hardware(provenance: dict[str, Any]) -> str:
    """CPU model and vector flags, GPU model and driver, from a study's or a trial's provenance."""
    cpu, gpu = provenance.get("cpu"), provenance.get("gpu")
    if isinstance(cpu, dict):
        cpu = f"{cpu.get('model')} ({', '.join(cpu.get('flags', []))}; {cpu.get('cores')} cores)"
    if isinstance(gpu, dict):
        gpu = f"{gpu.get('model')} (driver {gpu.get('driver')})"
    return f"{cpu or 'unknown CPU'} · GPU {gpu or 'none'}"
