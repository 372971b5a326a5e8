"""What hardware-independent CL trials cost: one glyph trial under each setting, side by side.

    python benchmarks/cl_determinism.py [--strategy naive] [--repeats 2]

Settings, each in a fresh process (the math libraries read them at start-up):
- ``default``: torch's defaults (oneDNN convolutions, MKL picking kernels for this CPU's ISA);
- ``deterministic``: ``torch.use_deterministic_algorithms(True)`` and oneDNN off (reference
  convolutions), what the Avalanche backend uses;
- ``deterministic+cbwr``: the same with ``MKL_CBWR=COMPATIBLE`` (MKL's conditional numerical
  reproducibility: the same kernels on every x86 CPU, so results stop depending on AVX2 vs AVX-512).
Prints wall time per setting, the ratio to ``default``, and whether the final accuracies agree.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

TRIAL = """
import json, os, time, torch
from hpobench_rl_cl.protocol import load_cl_suite
from hpobench_rl_cl.trainers.cl import avalanche
avalanche.DETERMINISTIC = os.environ["CL_DETERMINISTIC"] == "1"
from hpobench_rl_cl.trainers.base import BACKENDS, Trial
protocol = load_cl_suite("glyphs-halves", "smoke").strategies[{strategy!r}]
spec = protocol.train_specs("cpu")["tuning"]
start = time.perf_counter()
result = BACKENDS.get("avalanche")().train_batch(spec, [Trial(protocol.hand_tuned["config"], 0, 1)])[0]
print(json.dumps({{"wall_s": time.perf_counter() - start, "score": result.score, "status": result.status,
                  "deterministic": result.host["torch"]["deterministic"]}}))
"""

SETTINGS = {
    "default": {"CL_DETERMINISTIC": "0"},
    "deterministic": {"CL_DETERMINISTIC": "1"},
    "deterministic+cbwr": {"CL_DETERMINISTIC": "1", "MKL_CBWR": "COMPATIBLE"},
}


def run(strategy: str, env: dict[str, str]) -> dict:
    done = subprocess.run([sys.executable, "-c", TRIAL.format(strategy=strategy)], env={**os.environ, **env},
                          capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--strategy", default="naive")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    run(args.strategy, SETTINGS["default"])  # render the glyphs once, warm the caches for every side
    times: dict[str, list[float]] = {name: [] for name in SETTINGS}
    scores: dict[str, set[float]] = {name: set() for name in SETTINGS}
    for _ in range(args.repeats):
        for name, env in SETTINGS.items():  # alternate the sides: the machine's noise hits all alike
            outcome = run(args.strategy, env)
            times[name].append(outcome["wall_s"])
            scores[name].add(outcome["score"])
    base = min(times["default"])
    for name in SETTINGS:
        best = min(times[name])
        print(f"{name:<20} best {best:6.1f} s   ratio to default {best / base:5.2f}   final accuracy {sorted(scores[name])}")


if __name__ == "__main__":
    main()
