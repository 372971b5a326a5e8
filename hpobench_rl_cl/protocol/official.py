"""The official benchmarks: the content hash of every shipped protocol at every scale (and of the
RL paper's variants the reproduction runs), recorded in ``data/official.json``.

A result is *official* only when its protocol's name, scale and hash are recorded here. A copied
protocol file that keeps a shipped name is another protocol: it hashes differently, and its results
are a separately labelled "modified protocol" entry, never pooled with the official one. Changing a
shipped protocol is a deliberate act: a test compares this file with the shipped files, and

    python -m hpobench_rl_cl.protocol.official --write

records the new hashes.
"""

from __future__ import annotations

import json
import sys
from functools import lru_cache

from .common import SCALES, list_protocol_names, protocol_family, shipped_file
from .published import RL_PAPER_PROTOCOLS

OFFICIAL_FILE = shipped_file("official.json")
#: The RL paper's protocol variants (``reproduce rl-paper``): search spaces and tuning-seed counts.
PAPER_VARIANTS = ({"space": "lr"}, {"space": "small"}, {"tuning_seeds": 1}, {"tuning_seeds": 3}, {"tuning_seeds": 5})


def shipped_hashes() -> dict[str, dict[str, dict[str, object]]]:
    """name -> scale -> {hash, hpo_runs, hand_tuned source} of every shipped protocol, computed now."""
    from . import read_cl_suite, read_protocol
    from .rl import protocol_variant

    table: dict[str, dict[str, dict[str, object]]] = {}

    def record(protocol: object) -> None:
        table.setdefault(protocol.name, {})[protocol.scale] = {  # type: ignore[attr-defined]
            "hash": protocol.hash, "hpo_runs": protocol.hpo_runs,  # type: ignore[attr-defined]
            "hand_tuned_source": protocol.hand_tuned["source"]}  # type: ignore[attr-defined]

    for name in list_protocol_names():
        for scale in SCALES:
            if protocol_family(name) == "cl":
                for protocol in read_cl_suite(name, scale).strategies.values():
                    record(protocol)
                continue
            protocol = read_protocol(name, scale)
            record(protocol)
            if name in RL_PAPER_PROTOCOLS:
                for variant in PAPER_VARIANTS:
                    record(protocol_variant(protocol, **variant, check_backend=False))  # type: ignore[arg-type]
    return table


@lru_cache(maxsize=1)
def recorded() -> dict[str, dict[str, dict[str, object]]]:
    return json.loads(OFFICIAL_FILE.read_text())


def official_entry(name: str, scale: str, protocol_hash: str) -> dict[str, object] | None:
    """The recorded entry when (name, scale, hash) is an official benchmark, else None."""
    entry = recorded().get(name, {}).get(scale)
    return entry if entry is not None and entry["hash"] == protocol_hash else None


def main(argv: list[str]) -> int:
    if argv != ["--write"]:
        print("usage: python -m hpobench_rl_cl.protocol.official --write", file=sys.stderr)
        return 2
    OFFICIAL_FILE.write_text(json.dumps(shipped_hashes(), indent=1, sort_keys=True) + "\n")
    print(f"written: {OFFICIAL_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
