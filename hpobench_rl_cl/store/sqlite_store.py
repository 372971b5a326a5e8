"""The result store: one SQLite file in WAL mode, crash-safe and safe for concurrent writers.

Contract:
- Each finished trial is committed on its own, so a killed run loses at most the trials still
  training. A stored trial row never changes (triggers refuse UPDATE and DELETE).
- Every study started, resumed and finished, and every trial stored, is an entry of the append-only
  study log, written in the same transaction; a trial's entry carries the digest of its row and a
  finished study's entry the digest of the whole study (:mod:`.integrity`). Resuming, exporting and
  showing a study verify them and refuse, naming the study, rows changed or deleted behind the
  store's back.
- A study id belongs to one (protocol hash, HPO tool, HPO seed): reopening it with another is refused.
- A trial is identified by (study, phase, role, configuration, seed, budget); storing it twice is a
  no-op, which is what makes re-running a command resume it.
- The sealing rule is enforced here too: a partial unique index allows one non-audit held-out
  trial (RL ``test``, CL ``evaluation``) per (study, role, seed).
- ``budget`` is in the protocol's unit (RL: env steps; CL: epochs per experience); ``trained`` is
  what the trial really trained in that unit (PPO trains whole rollouts); the summary names the unit.
"""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator, Sequence

from ..errors import SealError, StoreError
from ..protocol.common import HELD_OUT_PHASES as _HELD_OUT_BY_FAMILY
from ..trainers.base import TrialResult
from .integrity import recorded_code, study_digest, trial_digest

DEFAULT_STORE_DIR = Path("runs")
DB_NAME = "hpobench.sqlite"
HELD_OUT_PHASES = tuple(_HELD_OUT_BY_FAMILY.values())
SCHEMA_VERSION = 3

_SCHEMA = """
CREATE TABLE IF NOT EXISTS studies (
    study_id TEXT PRIMARY KEY,
    family TEXT NOT NULL,
    protocol_name TEXT NOT NULL,
    scale TEXT NOT NULL,
    protocol_hash TEXT NOT NULL,
    protocol_json TEXT NOT NULL,
    optimizer TEXT NOT NULL,
    hpo_seed INTEGER NOT NULL,
    created_at REAL NOT NULL,
    provenance_json TEXT NOT NULL,
    summary_json TEXT
);
CREATE TABLE IF NOT EXISTS trials (
    trial_id INTEGER PRIMARY KEY AUTOINCREMENT,
    study_id TEXT NOT NULL REFERENCES studies(study_id),
    phase TEXT NOT NULL,
    role TEXT NOT NULL,
    audit INTEGER NOT NULL DEFAULT 0,
    eval_index INTEGER,
    config_hash TEXT NOT NULL,
    config_json TEXT NOT NULL,
    seed INTEGER NOT NULL,
    fidelity REAL NOT NULL,
    budget INTEGER NOT NULL,
    trained INTEGER,
    score REAL NOT NULL,
    status TEXT NOT NULL,
    error TEXT,
    curve_json TEXT NOT NULL,
    notes_json TEXT NOT NULL,
    wall_s REAL NOT NULL,
    cpu_s REAL NOT NULL,
    host_json TEXT NOT NULL,
    finished_at REAL NOT NULL,
    UNIQUE (study_id, phase, role, config_hash, seed, budget)
);
CREATE UNIQUE INDEX IF NOT EXISTS sealed_held_out_seed ON trials (study_id, role, seed)
    WHERE phase IN ('test', 'evaluation') AND audit = 0;
CREATE TABLE IF NOT EXISTS study_log (
    entry_id INTEGER PRIMARY KEY AUTOINCREMENT,
    study_id TEXT NOT NULL,
    event TEXT NOT NULL,  -- started | resumed | trial | finished | exported (a study without a summary)
    at REAL NOT NULL,
    protocol_hash TEXT NOT NULL,
    optimizer TEXT NOT NULL,
    hpo_seed INTEGER NOT NULL,
    trial_id INTEGER,
    digest TEXT
);
CREATE TRIGGER IF NOT EXISTS study_log_is_append_only BEFORE UPDATE ON study_log
    BEGIN SELECT RAISE(ABORT, 'the study log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS study_log_keeps_every_entry BEFORE DELETE ON study_log
    BEGIN SELECT RAISE(ABORT, 'the study log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS trials_never_change BEFORE UPDATE ON trials
    BEGIN SELECT RAISE(ABORT, 'a stored trial never changes'); END;
CREATE TRIGGER IF NOT EXISTS trials_are_never_deleted BEFORE DELETE ON trials
    BEGIN SELECT RAISE(ABORT, 'a stored trial never changes'); END;
"""


@dataclass(frozen=True)
class TrialKey:
    """Where a trial belongs and what it trains."""

    study_id: str
    phase: str  # tuning | test (RL) | evaluation (CL) | user (a user's configuration on tuning seeds)
    role: str  # tuning | incumbent | hand-tuned | user | published
    config_hash: str
    seed: int
    budget: int
    audit: bool = False


class ResultStore:
    """All studies of one store directory. Open it with ``ResultStore(path)``."""

    def __init__(self, directory: str | Path = DEFAULT_STORE_DIR) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.path = self.directory / DB_NAME
        self._connection = sqlite3.connect(self.path, timeout=60, isolation_level=None)
        self._connection.row_factory = sqlite3.Row
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute("PRAGMA synchronous=NORMAL")
        version = self._connection.execute("PRAGMA user_version").fetchone()[0]
        has_trials = self._connection.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='trials'").fetchone() is not None
        if has_trials and version < 2:
            self._upgrade_to_v2()
        if has_trials and version < 3:
            with self._transaction() as db:
                db.execute("ALTER TABLE trials ADD COLUMN trained INTEGER")
        self._connection.executescript(_SCHEMA)
        if has_trials and version < 3:
            self._adopt_unlogged_rows()
        self._connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _upgrade_to_v2(self) -> None:
        """Stores written before the vocabulary was unified: ``budget_steps`` is ``budget``, the
        ``evaluate`` phase is ``user``. Rows keep every value; only names change."""
        with self._transaction() as db:
            db.execute("ALTER TABLE trials RENAME COLUMN budget_steps TO budget")
            db.execute("UPDATE trials SET phase = 'user' WHERE phase = 'evaluate'")
            db.execute("DROP INDEX IF EXISTS sealed_test_seed")

    def _adopt_unlogged_rows(self) -> None:
        """Stores written before the study log: their rows enter it as they are (from here on,
        changes to them show)."""
        with self._transaction() as db:
            for study in db.execute("SELECT * FROM studies").fetchall():
                for row in db.execute("SELECT * FROM trials WHERE study_id = ?", (study["study_id"],)).fetchall():
                    self._log(db, study["study_id"], "trial", trial_id=row["trial_id"], digest=trial_digest(dict(row)))
                if study["summary_json"]:
                    self._log(db, study["study_id"], "finished", digest=self._study_digest(db, study["study_id"]))

    def close(self) -> None:
        self._connection.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        self._connection.execute("BEGIN IMMEDIATE")
        try:
            yield self._connection
        except BaseException:
            self._connection.execute("ROLLBACK")
            raise
        self._connection.execute("COMMIT")

    # studies -----------------------------------------------------------------------------------
    def open_study(
        self,
        study_id: str,
        *,
        family: str,
        protocol_name: str,
        scale: str,
        protocol_hash: str,
        protocol_content: dict[str, Any],
        optimizer: str,
        hpo_seed: int,
        provenance: dict[str, Any],
    ) -> bool:
        """Create the study, or check that the existing one is the same (protocol hash, HPO tool, HPO
        seed) and that its rows are as they were stored.

        Returns True when the study already existed (the run resumes it).
        """
        with self._transaction() as db:
            row = db.execute("SELECT * FROM studies WHERE study_id = ?", (study_id,)).fetchone()
            if row is not None:
                if row["protocol_hash"] != protocol_hash:
                    raise StoreError(
                        f"study {study_id!r} in {self.path} was made with protocol hash {row['protocol_hash']}, "
                        f"but the protocol now hashes to {protocol_hash}: use another --store or --study-name"
                    )
                if (row["optimizer"], row["hpo_seed"]) != (optimizer, hpo_seed):
                    raise StoreError(
                        f"study {study_id!r} in {self.path} belongs to {row['optimizer']} with HPO seed "
                        f"{row['hpo_seed']}, not {optimizer} with HPO seed {hpo_seed}: choose another --study-name"
                    )
                self._verify(db, study_id)
                if row["summary_json"] is None:
                    self._refuse_other_code(row, provenance, "resuming")
                self._log(db, study_id, "resumed")
                return True
            db.execute(
                "INSERT INTO studies VALUES (?,?,?,?,?,?,?,?,?,?,NULL)",
                (
                    study_id, family, protocol_name, scale, protocol_hash,
                    json.dumps(protocol_content, sort_keys=True, default=str), optimizer, hpo_seed,
                    time.time(), json.dumps(provenance, sort_keys=True),
                ),
            )
            self._log(db, study_id, "started")
            return False

    def study(self, study_id: str) -> dict[str, Any]:
        row = self._connection.execute("SELECT * FROM studies WHERE study_id = ?", (study_id,)).fetchone()
        if row is None:
            known = ", ".join(self.study_ids()) or "none"
            raise StoreError(f"no study {study_id!r} in {self.path} (studies: {known})")
        return dict(row)

    def study_ids(self) -> list[str]:
        return [r[0] for r in self._connection.execute("SELECT study_id FROM studies ORDER BY created_at")]

    def save_summary(self, study_id: str, summary: dict[str, Any], code: dict[str, Any] | None = None) -> str:
        """Finish the study: store its summary and log the study's digest (returned). With ``code``
        (the checkout's, :func:`~hpobench_rl_cl.provenance.code`), refuse when it is not the code
        the study started on: it changed while the study ran."""
        with self._transaction() as db:
            self._verify(db, study_id)
            if code is not None:
                self._refuse_other_code(db.execute("SELECT * FROM studies WHERE study_id = ?", (study_id,)).fetchone(),
                                        code, "finishing")
            db.execute("UPDATE studies SET summary_json = ? WHERE study_id = ?", (json.dumps(summary), study_id))
            digest = self._study_digest(db, study_id)
            self._log(db, study_id, "finished", digest=digest)
            return digest

    def log_export(self, study_id: str) -> str:
        """An open-ended study (user runs, published incumbents: no summary, never finished) is
        exported: log the digest of its rows as they are now (returned), for the export to carry."""
        with self._transaction() as db:
            self._verify(db, study_id)
            digest = self._study_digest(db, study_id)
            self._log(db, study_id, "exported", digest=digest)
            return digest

    def verify(self, study_id: str) -> None:
        """Refuse, in one line naming the study, rows changed or deleted after they were stored."""
        self._verify(self._connection, study_id)

    def log(self, study_id: str | None = None) -> list[dict[str, Any]]:
        """The study log's entries other than per-trial ones (of one study, or all), oldest first."""
        query, args = "SELECT * FROM study_log WHERE event != 'trial'", ()
        if study_id is not None:
            query, args = query + " AND study_id = ?", (study_id,)
        return [dict(r) for r in self._connection.execute(query + " ORDER BY entry_id", args)]

    def finished_digest(self, study_id: str) -> str | None:
        row = self._connection.execute("SELECT digest FROM study_log WHERE study_id = ? AND event = 'finished' "
                                       "ORDER BY entry_id DESC LIMIT 1", (study_id,)).fetchone()
        return None if row is None else row["digest"]

    # integrity ---------------------------------------------------------------------------------
    @staticmethod
    def _log(db: sqlite3.Connection, study_id: str, event: str, *, trial_id: int | None = None,
             digest: str | None = None) -> None:
        study = db.execute("SELECT protocol_hash, optimizer, hpo_seed FROM studies WHERE study_id = ?",
                           (study_id,)).fetchone()
        db.execute("INSERT INTO study_log (study_id, event, at, protocol_hash, optimizer, hpo_seed, trial_id, digest) "
                   "VALUES (?,?,?,?,?,?,?,?)", (study_id, event, time.time(), study["protocol_hash"],
                                                study["optimizer"], study["hpo_seed"], trial_id, digest))

    def _refuse_other_code(self, study: sqlite3.Row, code: dict[str, Any], doing: str) -> None:
        """A study's trials are of the code it started on (its fingerprint; a commit of results
        alone changes nothing): resuming or finishing it on other code would mix two codes."""
        started_on, now = recorded_code(json.loads(study["provenance_json"])), recorded_code(code)
        if started_on and now and started_on["code_fingerprint"] != now["code_fingerprint"]:
            raise StoreError(
                f"study {study['study_id']!r} in {self.path} started on the code of commit {started_on['suite_commit']} "
                f"and the checkout now has other code ({now['suite_commit']}): {doing} it would mix trials of both; "
                "put that code back, or use another --store or --study-name"
            )

    @staticmethod
    def _study_digest(db: sqlite3.Connection, study_id: str) -> str:
        study = db.execute("SELECT * FROM studies WHERE study_id = ?", (study_id,)).fetchone()
        rows = db.execute("SELECT * FROM trials WHERE study_id = ?", (study_id,)).fetchall()
        summary = json.loads(study["summary_json"]) if study["summary_json"] else None
        return study_digest(study_id, study["protocol_hash"], study["optimizer"], study["hpo_seed"],
                            [trial_digest(dict(r)) for r in rows], summary, json.loads(study["provenance_json"]))

    def _verify(self, db: sqlite3.Connection, study_id: str) -> None:
        where = f"study {study_id!r} in {self.path}"
        logged = {r["trial_id"]: r["digest"] for r in db.execute(
            "SELECT trial_id, digest FROM study_log WHERE study_id = ? AND event = 'trial'", (study_id,))}
        rows = db.execute("SELECT * FROM trials WHERE study_id = ?", (study_id,)).fetchall()
        for row in rows:
            if logged.pop(row["trial_id"], None) != trial_digest(dict(row)):
                raise StoreError(f"{where}: trial {row['trial_id']} ({row['phase']}, {row['role']}, seed {row['seed']}) "
                                 "differs from what was stored: the store was edited; rerun the study in a new store")
        if logged:
            raise StoreError(f"{where}: {len(logged)} stored trial(s) were deleted (trial {min(logged)} first): "
                             "the store was edited; rerun the study in a new store")
        finished = db.execute("SELECT digest FROM study_log WHERE study_id = ? AND event = 'finished' "
                              "ORDER BY entry_id DESC LIMIT 1", (study_id,)).fetchone()
        if finished is not None and finished["digest"] != self._study_digest(db, study_id):
            raise StoreError(f"{where}: the study finished, but its summary or trials changed afterwards: the store "
                             "was edited; rerun the study in a new store")

    # trials ------------------------------------------------------------------------------------
    def get(self, key: TrialKey) -> TrialResult | None:
        """The stored result of this exact trial, if it ran already."""
        row = self._connection.execute(
            "SELECT * FROM trials WHERE study_id=? AND phase=? AND role=? AND config_hash=? AND seed=? AND budget=?",
            (key.study_id, key.phase, key.role, key.config_hash, key.seed, key.budget),
        ).fetchone()
        return None if row is None else _result(row)

    def check_seal(self, key: TrialKey) -> None:
        """Refuse a second, different configuration in a role on a study's test seed."""
        if key.phase not in HELD_OUT_PHASES or key.audit:
            return
        row = self._connection.execute(
            "SELECT config_hash FROM trials WHERE study_id=? AND phase=? AND role=? AND seed=? AND audit=0",
            (key.study_id, key.phase, key.role, key.seed),
        ).fetchone()
        if row is not None and row["config_hash"] != key.config_hash:
            raise SealError(
                f"{key.phase} seed {key.seed} of study {key.study_id!r} already evaluated a {key.role} configuration "
                f"({row['config_hash']}); evaluating another ({key.config_hash}) would be selecting on the test set "
                "(ask for an audit run to record it as such)"
            )

    def put(self, key: TrialKey, config: dict[str, Any], fidelity: float, result: TrialResult, eval_index: int | None) -> None:
        """Store a finished trial (idempotent: an already-stored trial is left as it is)."""
        self.check_seal(key)
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT OR IGNORE INTO trials (study_id, phase, role, audit, eval_index, config_hash, config_json, seed, "
                "fidelity, budget, trained, score, status, error, curve_json, notes_json, wall_s, cpu_s, host_json, "
                "finished_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    key.study_id, key.phase, key.role, int(key.audit), eval_index, key.config_hash,
                    json.dumps(config, sort_keys=True), key.seed, fidelity, key.budget, result.trained, result.score,
                    result.status, result.error, json.dumps(result.curve), json.dumps(result.notes),
                    result.wall_s, result.cpu_s, json.dumps(result.host), time.time(),
                ),
            )
            if cursor.rowcount:
                row = db.execute("SELECT * FROM trials WHERE trial_id = ?", (cursor.lastrowid,)).fetchone()
                self._log(db, key.study_id, "trial", trial_id=row["trial_id"], digest=trial_digest(dict(row)))

    def adopt_held_out(self, study_id: str, role: str, config_hash: str, seeds: Sequence[int], budget: int) -> str | None:
        """Copy into ``study_id`` the held-out trials of ``role`` on every one of ``seeds`` from an
        earlier finished study in this store that ran the same protocol (hash) on the same code
        (fingerprint), so a baseline that no HPO tool chooses is trained once per store, not once per
        study. The source must pass :meth:`verify`, hold the trials whole (every seed, ``ok``, whole
        backend calls, so ``verify`` of the copies retrains them in their recorded call) and not be
        an adopter itself. The copies keep every field and add ``adopted_from`` to their notes.
        Returns the source study's id, or None when none qualifies (the trials are then trained)."""
        target = self.study(study_id)
        code = recorded_code(json.loads(target["provenance_json"]))
        if code is None:
            return None
        phase = _HELD_OUT_BY_FAMILY[target["family"]]
        held = ("SELECT * FROM trials WHERE study_id = ? AND phase = ? AND role = ? AND audit = 0 AND config_hash = ? "
                "AND budget = ? ORDER BY trial_id")
        already = [json.loads(r["notes_json"]).get("adopted_from")
                   for r in self._connection.execute(held, (study_id, phase, role, config_hash, budget))]
        if already:  # a resumed study keeps what it adopted or trained
            return already[0] if all(already) else None
        for source in self._connection.execute(
                "SELECT * FROM studies WHERE protocol_hash = ? AND study_id != ? AND summary_json IS NOT NULL "
                "ORDER BY created_at", (target["protocol_hash"], study_id)).fetchall():
            if recorded_code(json.loads(source["provenance_json"])) != code:
                continue
            rows = self._connection.execute(held, (source["study_id"], phase, role, config_hash, budget)).fetchall()
            notes = [json.loads(r["notes_json"]) for r in rows]
            if (sorted(r["seed"] for r in rows) != sorted(seeds) or any(r["status"] != "ok" for r in rows)
                    or any("adopted_from" in n for n in notes) or not _whole_calls(notes)):
                continue
            try:
                self.verify(source["study_id"])
            except StoreError:
                continue
            with self._transaction() as db:
                for row, note in zip(rows, notes):
                    copy = {**dict(row), "study_id": study_id, "finished_at": time.time(),
                            "notes_json": json.dumps({**note, "adopted_from": source["study_id"]})}
                    del copy["trial_id"]
                    cursor = db.execute(f"INSERT OR IGNORE INTO trials ({', '.join(copy)}) "
                                        f"VALUES ({', '.join('?' * len(copy))})", tuple(copy.values()))
                    if cursor.rowcount:
                        stored = db.execute("SELECT * FROM trials WHERE trial_id = ?", (cursor.lastrowid,)).fetchone()
                        self._log(db, study_id, "trial", trial_id=stored["trial_id"], digest=trial_digest(dict(stored)))
            return source["study_id"]
        return None

    def trials(self, study_id: str | None = None) -> list[dict[str, Any]]:
        query = "SELECT t.*, s.protocol_name, s.scale, s.protocol_hash, s.optimizer, s.hpo_seed, s.family " \
                "FROM trials t JOIN studies s USING (study_id)"
        args: tuple[Any, ...] = ()
        if study_id is not None:
            query += " WHERE study_id = ?"
            args = (study_id,)
        return [dict(r) for r in self._connection.execute(query + " ORDER BY trial_id", args)]


def recorded_call(notes: dict[str, Any]) -> tuple[int, int, list[dict[str, Any]]]:
    """A trial's backend call as its notes' ``batch`` records it: (trials in the call, this trial's
    position, the ``batch`` notes of the call's trials in position order); alone: (1, 0, [{}])."""
    layout = notes.get("batch", {})
    count = layout.get("trials", layout.get("schedule_trials", 1))
    return count, layout.get("position", 0), [{**layout, "position": p} for p in range(count)] if layout else [{}]


def _whole_calls(notes: list[dict[str, Any]]) -> bool:
    """Whether trials (their notes, in stored order) are whole backend calls: each call's trials one
    after the other in position order, as :mod:`~hpobench_rl_cl.runner.verify` reads a call back."""
    index = 0
    while index < len(notes):
        count, _, expected = recorded_call(notes[index])
        if [n.get("batch", {}) for n in notes[index:index + count]] != expected:
            return False
        index += count
    return True


def _result(row: sqlite3.Row) -> TrialResult:
    return TrialResult(
        score=row["score"],
        status=row["status"],
        trained=row["trained"],
        curve=[tuple(p) for p in json.loads(row["curve_json"])],
        wall_s=row["wall_s"],
        cpu_s=row["cpu_s"],
        error=row["error"],
        notes=json.loads(row["notes_json"]),
        host=json.loads(row["host_json"]),
    )
