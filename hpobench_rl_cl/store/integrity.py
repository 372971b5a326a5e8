"""Digests that make an edited store or export visible.

Every stored trial gets a digest of the fields that decide what a study selects and reports (which
phase, role, configuration, seed, budget, score, status, and the audit mark); the store logs it in
its append-only study log as the trial is written. A finished study's digest covers its identity,
its trials' digests, its summary and the code it recorded (commit and fingerprint). The same
functions run on the store's rows and on the exported CSV and summary, so an export can be checked
without the store.

These are checksums, not signatures: they catch an edited row, a deleted held-out trial, a changed
audit mark or score, not a forger who recomputes them. ``hpobench-rl-cl verify`` (retraining stored
trials) is the check that needs no trust.
"""

from __future__ import annotations

import hashlib
import json
import math
from typing import Any, Iterable, Mapping

#: Trial fields a digest covers, as the store names them (exports: ``config_id``, ``config``).
TRIAL_FIELDS = ("study_id", "phase", "role", "audit", "eval_index", "config_hash", "config_json", "seed", "fidelity",
                "budget", "trained", "score", "status")
_EXPORT_NAMES = {"config_hash": "config_id", "config_json": "config"}


def _plain(value: Any) -> Any:
    """One canonical form for a value read from SQLite, pandas or JSON."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    if hasattr(value, "item"):  # NumPy scalars from pandas
        value = value.item()
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def _sha(payload: Any) -> str:
    return hashlib.sha256(json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def trial_digest(row: Mapping[str, Any]) -> str:
    """The digest of one trial row (a store row, or an export row with its column names)."""
    return _sha([_plain(row[_EXPORT_NAMES[f]] if f not in row and f in _EXPORT_NAMES else row[f])
                 for f in TRIAL_FIELDS])


def recorded_code(provenance: Mapping[str, Any]) -> dict[str, Any] | None:
    """The code a study recorded (commit and fingerprint), which its digest covers; None for a study
    recorded before fingerprints, whose digest did not. Deleting the fingerprint or the commit's
    ``+dirty`` from an export changes the digest."""
    if "code_fingerprint" not in provenance:
        return None
    return {"suite_commit": provenance.get("suite_commit"), "code_fingerprint": provenance["code_fingerprint"]}


def study_digest(study_id: str, protocol_hash: str, optimizer: str, hpo_seed: int, trial_digests: Iterable[str],
                 summary: Mapping[str, Any] | None, provenance: Mapping[str, Any]) -> str:
    """The digest of a finished study: identity, every trial (in any order), the summary and the
    recorded code."""
    code = recorded_code(provenance)
    return _sha([study_id, protocol_hash, optimizer, int(hpo_seed), sorted(trial_digests), summary,
                 *([code] if code is not None else [])])
