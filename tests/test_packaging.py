"""What a user gets without training anything: commands that import no training library, and a
wheel that carries its protocols."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from closed_form import PROTOCOL, ClosedFormBackend

from hpobench_rl_cl import api
from hpobench_rl_cl.trainers.base import BACKENDS

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("torch", "stable_baselines3", "avalanche", "gymnasium", "jax")

BACKENDS.add("closed-form", ClosedFormBackend)


def _heavy_modules_after(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> tuple[int, list[str], str]:
    """Run the CLI with ``argv`` in a fresh interpreter; return its exit code and the heavy modules loaded."""
    probe = ("import json, sys\nfrom hpobench_rl_cl import cli\nrc = cli.main(sys.argv[1:])\n"
             f"print(json.dumps([rc, sorted(m for m in {HEAVY!r} if m in sys.modules)]))\n")
    done = subprocess.run([sys.executable, "-c", probe, *argv], cwd=cwd, capture_output=True, text=True, timeout=300,
                          env=env)
    rc, heavy = json.loads(done.stdout.strip().splitlines()[-1])
    return rc, heavy, done.stderr


@pytest.mark.slow
def test_list_show_audit_and_leaderboard_build_load_no_training_library(tmp_path):
    protocol = tmp_path / "closed-form.yaml"
    protocol.write_text(PROTOCOL)
    summary = api.run_study(str(protocol), scale="paper", workers=1, store=tmp_path / "runs",
                            results=tmp_path / "results", progress=False)
    for argv in (["list"], ["show", summary["study_id"]], ["audit", summary["study_id"], "--out", "audit"],
                 ["leaderboard", "build", "--out", "site"]):
        rc, heavy, stderr = _heavy_modules_after(argv, tmp_path)
        assert rc == 0, stderr
        assert heavy == [], f"{argv[0]} loaded {heavy}"
    assert (tmp_path / "site" / "index.html").is_file()


@pytest.mark.slow
def test_a_non_editable_wheel_carries_its_protocols_and_runs_a_shipped_one(tmp_path):
    wheels, target = tmp_path / "wheels", tmp_path / "site-packages"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels),
                    str(ROOT)], check=True, timeout=300)
    wheel = next(wheels.glob("hpobench_rl_cl-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, timeout=300)
    env = {**os.environ, "PYTHONPATH": str(target)}
    where = subprocess.run([sys.executable, "-c", "import hpobench_rl_cl; print(hpobench_rl_cl.__file__)"], cwd=tmp_path,
                           env=env, capture_output=True, text=True, check=True).stdout
    assert where.startswith(str(target)), "the test must run the installed wheel, not the checkout"
    listed = subprocess.run([sys.executable, "-m", "hpobench_rl_cl", "list"], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=300)
    assert listed.returncode == 0, listed.stderr
    assert "ppo-cartpole" in listed.stdout and "glyphs-halves" in listed.stdout
    run = subprocess.run([sys.executable, "-m", "hpobench_rl_cl", "run", "dqn-cartpole", "--scale", "smoke",
                          "--workers", "1", "--no-progress"], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr
    assert "hand-tuned" in run.stdout and (tmp_path / "results" / "rl").is_dir()
