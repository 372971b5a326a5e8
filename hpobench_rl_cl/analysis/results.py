"""Read ``results/`` and check it against the documented schema before anything is published.

Inputs, per family folder (``results/rl``, ``results/cl``): ``STUDY.csv`` (one row per trial, the
columns of :data:`~hpobench_rl_cl.store.export.EXPORT_COLUMNS`), ``STUDY.summary.json`` (summary,
provenance, resolved protocol) and, for CL, ``SUITE-SCALE-TOOL-sSEED.comparison.json``; beside
them ``study_log.csv``, every study started and finished. A file that breaks the schema stops the
build with one line naming the file and the row at fault.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from ..errors import UserError
from ..protocol.common import HELD_OUT_PHASES, content_hash
from ..protocol.official import official_entry
from ..provenance import SuiteCode
from ..store.export import EXPORT_COLUMNS
from ..store.integrity import study_digest, trial_digest

PHASES = {"tuning", "user", *HELD_OUT_PHASES.values()}
ROLES = {"tuning", "incumbent", "hand-tuned", "user", "published"}
STATUSES = {"ok", "crashed"}
FAMILIES = ("rl", "cl")
SUMMARY_KEYS = ("study_id", "protocol", "scale", "optimizer", "hpo_seed", "incumbent", "held_out", "budget", "time")


@dataclass
class StudyRecord:
    """One exported study: its trials, summary (None for ``evaluate`` runs), provenance, protocol."""

    family: str
    study_id: str
    csv_path: Path
    trials: pd.DataFrame
    summary: dict[str, Any] | None
    provenance: dict[str, Any]
    protocol: dict[str, Any]
    verification: dict[str, Any] | None = None  # STUDY.verification.json, written by `hpobench-rl-cl verify`
    #: digests of the study's finished runs with different outcomes, in the order the study log has
    #: them (a study run again, e.g. from an empty store, adds one); the export is the last
    finished_runs: tuple[str, ...] = ()
    #: Why the code the study recorded is not this suite's (see :class:`~hpobench_rl_cl.provenance.SuiteCode`),
    #: e.g. "edited code at 5eb4d99"; None when it is. Set by :func:`collect`.
    foreign_code: str | None = None
    #: Listed in :data:`ACCEPTED_BEFORE_CHECKS`, with the digest it has.
    accepted_before_checks: bool = False

    @property
    def official(self) -> dict[str, Any] | None:
        """The official entry of this study's (name, scale, hash), None for a modified protocol or a
        study whose code is not the suite's."""
        first = self.trials.iloc[0]
        entry = official_entry(str(first["protocol"]), str(first["scale"]), str(first["protocol_hash"]))
        return None if self.foreign_code else entry

    @property
    def unofficial_reason(self) -> str | None:
        """What keeps the study out of its official benchmark: its code, or its protocol; None if nothing."""
        if self.foreign_code:
            return self.foreign_code
        return None if self.official else f"modified protocol {str(self.trials['protocol_hash'].iloc[0])[:8]}"

    @property
    def run_length(self) -> int:
        """What each full-fidelity run of this study trained: RL env steps, CL epochs per experience."""
        return int(self.protocol.get("epochs") if self.family == "cl" else self.protocol.get("total_timesteps", 0))

    @property
    def protocol_id(self) -> str:
        """``name@scale`` for an official benchmark; a modified protocol (another hash under a
        shipped or unknown name) or code that is not the suite's makes its own, labelled entry."""
        first = self.trials.iloc[0]
        name, reason = f"{first['protocol']}@{first['scale']}", self.unofficial_reason
        return f"{name} ({reason})" if reason else name


@dataclass
class Reproduction:
    """A paper's table (``results/reproductions/NAME.csv``) and its preamble from ``NAME.md``: the
    scale, backend, runs per cell, and what the table can and cannot show."""

    table: pd.DataFrame
    preamble: list[str]


@dataclass
class Results:
    studies: list[StudyRecord]
    comparisons: list[dict[str, Any]]
    reproductions: dict[str, Reproduction]


def _fail(path: Path, message: str) -> None:
    raise UserError(f"{path}: {message}")


def _check_row(path: Path, index: int, row: pd.Series) -> None:
    line = index + 2  # header is line 1
    where = f"row {line}"
    for column, allowed in (("phase", PHASES), ("role", ROLES), ("status", STATUSES), ("family", set(FAMILIES))):
        if row[column] not in allowed:
            _fail(path, f"{where}: {column} {row[column]!r} is not one of {', '.join(sorted(allowed))}")
    for column in ("score", "fidelity", "wall_s", "cpu_s"):
        value = row[column]
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
            _fail(path, f"{where}: {column} {value!r} is not a finite number")
    for column in ("seed", "budget", "hpo_seed", "trained"):
        value = row[column]
        if column == "trained" and isinstance(value, float) and math.isnan(value):
            continue  # unknown (a crashed trial, or an export from before it was recorded)
        if not isinstance(value, (int, float)) or value != int(value):
            _fail(path, f"{where}: {column} {value!r} is not an integer")
    if not 0 < row["fidelity"] <= 1 + 1e-9:
        _fail(path, f"{where}: fidelity {row['fidelity']} is outside (0, 1]")
    for column in ("config", "curve", "notes", "host"):
        try:
            json.loads(row[column])
        except (TypeError, ValueError):
            _fail(path, f"{where}: {column} is not valid JSON")


def read_trials(path: Path) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path, float_precision="round_trip")
    except Exception as error:  # noqa: BLE001 - pandas raises many types for a malformed file
        _fail(path, f"cannot read as CSV: {error}")
    missing = [c for c in EXPORT_COLUMNS if c not in frame.columns]
    if missing:
        _fail(path, f"missing column(s) {missing}")
    if frame.empty:
        _fail(path, "has no trials")
    for column in ("score", "fidelity", "wall_s", "cpu_s", "seed", "budget", "hpo_seed"):
        converted = pd.to_numeric(frame[column], errors="coerce")
        bad = frame.index[converted.isna()]
        if len(bad):
            _fail(path, f"row {int(bad[0]) + 2}: {column} {frame.at[bad[0], column]!r} is not a number")
        frame[column] = converted
    for index, row in frame.iterrows():
        _check_row(path, int(index), row)
    for column in ("study_id", "protocol", "scale", "optimizer"):
        if frame[column].nunique() != 1:
            _fail(path, f"column {column} must hold one value per study file, found {sorted(map(str, frame[column].unique()))}")
    return frame


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except ValueError as error:
        _fail(path, f"malformed JSON: {error}")
    if not isinstance(data, dict):
        _fail(path, "expected a JSON object")
    return data


#: Exports committed before the suite could check them, accepted as they were (study id -> digest):
#: studies whose ``+dirty`` predates code fingerprints, and exports without a summary from before
#: those were digested. The file's "why" says more; an export not listed gets every check.
ACCEPTED_BEFORE_CHECKS: dict[str, str] = json.loads(
    (Path(__file__).resolve().parents[1] / "accepted_before_checks.json").read_text())["studies"]


def export_digest(study_id: str, trials: pd.DataFrame, summary: dict[str, Any] | None,
                  provenance: dict[str, Any]) -> str:
    """The digest of an export as it is: what the store logged for it, unless it was edited."""
    first = trials.iloc[0]
    return study_digest(study_id, str(first["protocol_hash"]), str(first["optimizer"]), int(first["hpo_seed"]),
                        [trial_digest(row) for row in trials.to_dict("records")], summary, provenance)


def logged_digests(results_dir: Path, study_id: str, event: str = "finished") -> tuple[str, ...]:
    """The distinct digests ``results_dir/study_log.csv`` logged for ``study_id`` at ``event``
    (finished; exported, for a study without a summary), oldest first."""
    path = results_dir / "study_log.csv"
    if not path.is_file():
        return ()
    log = pd.read_csv(path, float_precision="round_trip", dtype={"digest": str})
    logged = log[(log["study_id"] == study_id) & (log["event"] == event)].sort_values("at", kind="stable")
    # Ordered by each digest's last entry: a run repeating an earlier outcome makes that one the last.
    return tuple(reversed(dict.fromkeys(reversed(list(logged["digest"])))))


def _check_logged(path: Path, study_id: str, digest: Any, recomputed: str, logged: tuple[str, ...], event: str) -> None:
    """The export carries the digest the store logged (when the study finished, or for a study
    without a summary when it was exported): rows, a summary or a recorded code edited after that
    no longer match it, and an earlier export put back is not the last one logged."""
    if not isinstance(digest, str):
        _fail(path, f"study {study_id}'s export carries no digest: export it again from its store")
    if recomputed != digest:
        _fail(path, f"study {study_id}: its rows, summary or recorded code differ from the digest logged when "
                    f"it {event} (the export was edited)")
    if not logged or logged[-1] != digest:
        _fail(path, f"study {study_id} is not the last {event} run that study_log.csv beside {path.parent.name}/ "
                    "logged for it (an earlier run's export put back, or the log edited)")


def read_study(csv_path: Path, family: str) -> StudyRecord:
    trials = read_trials(csv_path)
    study_id = str(trials["study_id"].iloc[0])
    if csv_path.stem != study_id:
        _fail(csv_path, f"file name does not match its study_id {study_id!r}")
    if set(trials["family"]) != {family}:
        _fail(csv_path, f"rows of family {sorted(set(trials['family']))} in the {family!r} folder")
    summary_path = csv_path.with_name(f"{study_id}.summary.json")
    if not summary_path.is_file():
        _fail(csv_path, f"no {summary_path.name} beside it")
    meta = _read_json(summary_path)
    summary = meta.get("summary")
    if summary is not None:
        missing = [k for k in SUMMARY_KEYS if k not in summary]
        if missing:
            _fail(summary_path, f"summary lacks {missing}")
    for key in ("provenance", "protocol"):
        if not isinstance(meta.get(key), dict):
            _fail(summary_path, f"lacks the {key!r} object")
    recomputed = export_digest(study_id, trials, summary, meta["provenance"])
    accepted_before_checks = ACCEPTED_BEFORE_CHECKS.get(study_id) == recomputed
    event = "finished" if summary is not None else "exported"
    runs = logged_digests(csv_path.parent.parent, study_id, event)
    if summary is not None or not accepted_before_checks:
        _check_logged(summary_path, study_id, meta.get("digest"), recomputed, runs, event)
    if content_hash(meta["protocol"]) != str(trials["protocol_hash"].iloc[0]):
        _fail(summary_path, f"its protocol does not hash to its rows' protocol_hash {trials['protocol_hash'].iloc[0]} "
                            "(the protocol was edited)")
    verification_path = csv_path.with_name(f"{study_id}.verification.json")
    verification = _read_json(verification_path) if verification_path.is_file() else None
    return StudyRecord(family, study_id, csv_path, trials, summary, meta["provenance"], meta["protocol"], verification,
                       runs if summary is not None else (), accepted_before_checks=accepted_before_checks)


def finished_summary(csv_path: Path, protocol_hash: str) -> dict[str, Any] | None:
    """The checked summary of the study exported at ``csv_path`` (``results/FAMILY/STUDY.csv``):
    None when there is no export or the study did not finish. An export made under another protocol
    than the one hashing to ``protocol_hash`` is refused."""
    if not csv_path.is_file():
        return None
    record = read_study(csv_path, csv_path.parent.name)
    made_under = str(record.trials["protocol_hash"].iloc[0])
    if made_under != protocol_hash:
        _fail(csv_path, f"was made under protocol hash {made_under}, not this protocol's {protocol_hash}: "
                        "run that study again under this protocol")
    return record.summary


def collect(results_dir: str | Path, *, reproductions: bool = True) -> Results:
    """Every study and comparison under ``results_dir``, validated, and (``reproductions``) every
    reproduction table checked against them. Raises :class:`UserError`."""
    root = Path(results_dir)
    if not root.is_dir():
        raise UserError(f"results folder not found: {root}")
    studies, comparisons = [], []
    for family in FAMILIES:
        folder = root / family
        for csv_path in sorted(folder.glob("*.csv")):
            studies.append(read_study(csv_path, family))
        for path in sorted(folder.glob("*.comparison.json")):
            data = _read_json(path)
            if not isinstance(data.get("strategies"), list) or "kendall_tau_tuning_vs_evaluation" not in data:
                _fail(path, "lacks 'strategies' or 'kendall_tau_tuning_vs_evaluation'")
            comparisons.append((path, data))
    if not studies:
        raise UserError(f"no study exports (*.csv) under {root}/rl or {root}/cl")
    # Comparisons and reproduction tables are views of the studies: built again from them, not read.
    from .reproductions import check_comparison, checked_reproduction

    suite = SuiteCode()
    for study in studies:
        study.foreign_code = suite.foreign(study.provenance, study.accepted_before_checks)
    by_id = {study.study_id: study for study in studies}
    for path, comparison in comparisons:
        check_comparison(path, comparison, by_id)
    results = Results(studies, [comparison for _, comparison in comparisons], {})
    for path in sorted((root / "reproductions").glob("*.csv")) if reproductions else []:
        results.reproductions[path.stem] = checked_reproduction(path, results)
    return results
