"""The web service's store: submissions, overrides, regrades, sessions and settings in one
SQLite file.

Every submission is inserted (status ``pending``) and committed before it is graded, so a
grader that dies leaves the submission on disk to be graded on the next start or regrade.
Whoever grades it (a thread of the web process, or a remote worker) writes the result here,
and the web side learns that a submission is done by reading its status back, never from an
object in memory. A regrade is a row in ``regrades``; each submission it covers carries the
regrade's id until its new result is saved, which also counts it done, so the progress of a
regrade is on disk too and a regrade cut short by a restart resumes.

The database runs in WAL mode (readers never block the writer); every call opens its own
short-lived connection, so a ``Store`` is safe to share between waitress's threads and the
grading threads.

Secrets are stored as SHA-256 digests only: a student's result token, the generated
instructor token and the session ids in cookies cannot be read back out of the file.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ..results import Override

SCHEMA = """
CREATE TABLE IF NOT EXISTS settings (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS submissions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    problem     TEXT NOT NULL,
    student     TEXT NOT NULL,
    token_hash  TEXT NOT NULL,
    source      TEXT NOT NULL,              -- answers | document | upload
    document    TEXT,                       -- the whole document as sent, if any
    answers     TEXT NOT NULL,              -- JSON {part: latex} as extracted
    status      TEXT NOT NULL DEFAULT 'pending',   -- pending | graded
    result      TEXT,                       -- the grader's result contract (JSON)
    created_at  TEXT NOT NULL,
    graded_at   TEXT
);
CREATE INDEX IF NOT EXISTS submissions_by_problem ON submissions (problem, id);
CREATE INDEX IF NOT EXISTS submissions_by_status ON submissions (status);
CREATE TABLE IF NOT EXISTS regrades (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    problem     TEXT NOT NULL,
    total       INTEGER NOT NULL,
    done        INTEGER NOT NULL DEFAULT 0,     -- graded again, or failed
    failed      INTEGER NOT NULL DEFAULT 0,
    started_at  TEXT NOT NULL,
    finished_at TEXT
);
CREATE TABLE IF NOT EXISTS sessions (
    id_hash     TEXT PRIMARY KEY,               -- SHA-256 of the cookie's random id
    data        TEXT NOT NULL,
    instructor  TEXT,                           -- the instructor token's digest at login
    expires_at  REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_expiry ON sessions (expires_at);
CREATE TABLE IF NOT EXISTS overrides (
    submission_id INTEGER NOT NULL REFERENCES submissions (id) ON DELETE CASCADE,
    part          TEXT NOT NULL,
    score         REAL NOT NULL,
    verdict       TEXT NOT NULL,
    comment       TEXT NOT NULL DEFAULT '',
    updated_at    TEXT NOT NULL,
    PRIMARY KEY (submission_id, part)
);
"""

# Columns added after the first release, for databases made before them.
MIGRATIONS = {
    "submissions": [("regrade_id", "INTEGER"),      # the regrade that still has to grade it
                    ("grade_error", "TEXT")],       # why the last grading attempt failed
}

PENDING = "pending"
GRADED = "graded"
MAX_ID = 2 ** 63 - 1      # SQLite's largest integer: an id past it is no id at all


def digest(secret: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def matches(secret: str | None, stored_digest: str | None) -> bool:
    """Constant-time check of a presented token against a stored digest."""
    if not secret or not stored_digest:
        return False
    return hmac.compare_digest(digest(secret), stored_digest)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class StoredSubmission:
    id: int
    problem: str
    student: str
    token_hash: str
    source: str
    document: str | None
    answers: dict[str, str]
    status: str
    result: dict | None          # the grader's own result, before overrides
    created_at: str
    graded_at: str | None
    overrides: dict[str, Override]   # a TA's decisions, by part (grader.results.Override)
    regrade_id: int | None = None
    grade_error: str | None = None


@dataclass(frozen=True)
class Regrade:
    id: int
    problem: str
    total: int
    done: int
    failed: int
    started_at: str
    finished_at: str | None

    @property
    def running(self) -> bool:
        return self.finished_at is None

    def to_json(self) -> dict:
        return {"id": self.id, "problem": self.problem, "total": self.total, "done": self.done,
                "failed": self.failed, "running": self.running, "started_at": self.started_at,
                "finished_at": self.finished_at}


class Store:
    """All reads and writes of the service's SQLite file."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)
            for table, columns in MIGRATIONS.items():
                have = {row["name"] for row in db.execute(f"PRAGMA table_info({table})")}
                for name, kind in columns:
                    if name not in have:
                        db.execute(f"ALTER TABLE {table} ADD COLUMN {name} {kind}")
            db.execute("CREATE INDEX IF NOT EXISTS submissions_by_regrade"
                       " ON submissions (regrade_id)")

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA busy_timeout=30000")
        try:
            yield db
        finally:
            db.close()

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._connect() as db:
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    # ------------------------------------------------------------------ settings
    def setting(self, key: str) -> str | None:
        with self._connect() as db:
            row = db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return row["value"] if row else None

    def setting_or_create(self, key: str, make) -> tuple[str, bool]:
        """The stored value of ``key``, or ``make()`` stored now; and whether it was created."""
        with self._transaction() as db:
            row = db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
            if row:
                return row["value"], False
            value = make()
            db.execute("INSERT INTO settings (key, value) VALUES (?, ?)", (key, value))
            return value, True

    # --------------------------------------------------------------- submissions
    def add_submission(self, problem: str, student: str, token: str, source: str,
                       answers: dict[str, str], document: str | None = None) -> int:
        """Store a new submission as pending (committed before this returns); its id."""
        with self._transaction() as db:
            cursor = db.execute(
                "INSERT INTO submissions (problem, student, token_hash, source, document,"
                " answers, status, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (problem, student, digest(token), source, document,
                 json.dumps(answers, ensure_ascii=False), PENDING, _now()))
            return _row_id(cursor)

    def save_result(self, submission_id: int, result: dict) -> None:
        """Store the grader's result: the submission is graded, and done for its regrade."""
        with self._transaction() as db:
            row = db.execute("SELECT regrade_id FROM submissions WHERE id = ?",
                             (submission_id,)).fetchone()
            db.execute("UPDATE submissions SET status = ?, result = ?, graded_at = ?,"
                       " regrade_id = NULL, grade_error = NULL WHERE id = ?",
                       (GRADED, json.dumps(result, ensure_ascii=False), _now(), submission_id))
            if row is not None and row["regrade_id"] is not None:
                self._count_done(db, row["regrade_id"], failed=False)

    def grading_failed(self, submission_id: int, error: str) -> None:
        """Grading could not finish (the grader is down, the spec is gone): the submission
        keeps its status and result, says why, and counts as done (failed) for its regrade."""
        with self._transaction() as db:
            row = db.execute("SELECT regrade_id FROM submissions WHERE id = ?",
                             (submission_id,)).fetchone()
            if row is None:
                return
            db.execute("UPDATE submissions SET regrade_id = NULL, grade_error = ? WHERE id = ?",
                       (error[:500], submission_id))
            if row["regrade_id"] is not None:
                self._count_done(db, row["regrade_id"], failed=True)

    @staticmethod
    def _count_done(db: sqlite3.Connection, regrade_id: int, failed: bool) -> None:
        db.execute("UPDATE regrades SET done = done + 1, failed = failed + ? WHERE id = ?",
                   (int(failed), regrade_id))
        db.execute("UPDATE regrades SET finished_at = ? WHERE id = ? AND finished_at IS NULL"
                   " AND done >= total", (_now(), regrade_id))

    def status(self, submission_id: int) -> tuple[str, str | None] | None:
        """(status, why grading last failed or None), cheap, for waiting on a submission;
        None if there is no such submission."""
        if not _valid_id(submission_id):
            return None
        with self._connect() as db:
            row = db.execute("SELECT status, grade_error FROM submissions WHERE id = ?",
                             (submission_id,)).fetchone()
        return (row["status"], row["grade_error"]) if row else None

    def get(self, submission_id: int) -> StoredSubmission | None:
        if not _valid_id(submission_id):
            return None
        with self._connect() as db:
            row = db.execute("SELECT * FROM submissions WHERE id = ?",
                             (submission_id,)).fetchone()
            if row is None:
                return None
            return self._load(db, row)

    def for_problem(self, problem: str) -> list[StoredSubmission]:
        with self._connect() as db:
            rows = db.execute("SELECT * FROM submissions WHERE problem = ? ORDER BY id",
                              (problem,)).fetchall()
            return [self._load(db, row) for row in rows]

    def count(self, problem: str) -> int:
        with self._connect() as db:
            return db.execute("SELECT COUNT(*) FROM submissions WHERE problem = ?",
                              (problem,)).fetchone()[0]

    def page(self, problem: str, limit: int, offset: int) -> list[StoredSubmission]:
        """One page of a problem's submissions, newest first."""
        with self._connect() as db:
            rows = db.execute("SELECT * FROM submissions WHERE problem = ? ORDER BY id DESC"
                              " LIMIT ? OFFSET ?", (problem, limit, offset)).fetchall()
            return [self._load(db, row) for row in rows]

    def to_grade(self) -> list[int]:
        """Submissions a previous run left unfinished: never graded, or still owed a regrade."""
        with self._connect() as db:
            return [row["id"] for row in db.execute(
                "SELECT id FROM submissions WHERE status = ? OR regrade_id IS NOT NULL"
                " ORDER BY id", (PENDING,))]

    def ids(self, problem: str | None = None, status: str | None = None) -> list[int]:
        query, args = "SELECT id FROM submissions WHERE 1 = 1", []
        if problem is not None:
            query += " AND problem = ?"
            args.append(problem)
        if status is not None:
            query += " AND status = ?"
            args.append(status)
        with self._connect() as db:
            return [row["id"] for row in db.execute(query + " ORDER BY id", args)]

    def counts(self) -> dict[str, dict[str, int]]:
        """{problem: {status: count}}."""
        out: dict[str, dict[str, int]] = {}
        with self._connect() as db:
            for row in db.execute("SELECT problem, status, COUNT(*) AS n FROM submissions"
                                  " GROUP BY problem, status"):
                out.setdefault(row["problem"], {})[row["status"]] = row["n"]
        return out

    # ------------------------------------------------------------------ regrades
    def start_regrade(self, problem: str) -> tuple[Regrade, list[int], bool]:
        """Mark every submission to ``problem`` for a regrade, unless one is running:
        (the regrade, the ids it covers, whether it was started now)."""
        with self._transaction() as db:
            running = db.execute("SELECT * FROM regrades WHERE problem = ? AND finished_at IS"
                                 " NULL ORDER BY id DESC LIMIT 1", (problem,)).fetchone()
            if running is not None:
                ids = [row["id"] for row in db.execute(
                    "SELECT id FROM submissions WHERE regrade_id = ? ORDER BY id",
                    (running["id"],))]
                return _regrade(running), ids, False
            ids = [row["id"] for row in db.execute(
                "SELECT id FROM submissions WHERE problem = ? ORDER BY id", (problem,))]
            now = _now()
            cursor = db.execute(
                "INSERT INTO regrades (problem, total, started_at, finished_at)"
                " VALUES (?, ?, ?, ?)", (problem, len(ids), now, None if ids else now))
            regrade_id = _row_id(cursor)
            db.execute("UPDATE submissions SET regrade_id = ? WHERE problem = ?",
                       (regrade_id, problem))
            row = db.execute("SELECT * FROM regrades WHERE id = ?", (regrade_id,)).fetchone()
            return _regrade(row), ids, True

    def regrade(self, regrade_id: int) -> Regrade | None:
        if not _valid_id(regrade_id):
            return None
        with self._connect() as db:
            row = db.execute("SELECT * FROM regrades WHERE id = ?", (regrade_id,)).fetchone()
        return _regrade(row) if row else None

    def latest_regrade(self, problem: str) -> Regrade | None:
        with self._connect() as db:
            row = db.execute("SELECT * FROM regrades WHERE problem = ? ORDER BY id DESC"
                             " LIMIT 1", (problem,)).fetchone()
        return _regrade(row) if row else None

    # ------------------------------------------------------------------ sessions
    def load_session(self, id_hash: str) -> tuple[str, str | None] | None:
        """(data, instructor digest) of a live session; None if unknown or expired."""
        with self._connect() as db:
            row = db.execute("SELECT data, instructor FROM sessions WHERE id_hash = ? AND"
                             " expires_at > ?", (id_hash, time.time())).fetchone()
        return (row["data"], row["instructor"]) if row else None

    def save_session(self, id_hash: str, data: str, instructor: str | None,
                     expires_at: float) -> None:
        with self._transaction() as db:
            db.execute("INSERT INTO sessions (id_hash, data, instructor, expires_at)"
                       " VALUES (?, ?, ?, ?) ON CONFLICT (id_hash) DO UPDATE SET"
                       " data = excluded.data, instructor = excluded.instructor,"
                       " expires_at = excluded.expires_at",
                       (id_hash, data, instructor, expires_at))

    def delete_session(self, id_hash: str) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM sessions WHERE id_hash = ?", (id_hash,))

    def delete_expired_sessions(self) -> None:
        with self._transaction() as db:
            db.execute("DELETE FROM sessions WHERE expires_at <= ?", (time.time(),))

    def end_instructor_sessions(self, except_digest: str | None = None) -> int:
        """End every instructor session not made with ``except_digest`` (a changed token)."""
        with self._transaction() as db:
            cursor = db.execute("DELETE FROM sessions WHERE instructor IS NOT NULL AND"
                                " instructor IS NOT ?", (except_digest,))
            return cursor.rowcount

    # ----------------------------------------------------------------- overrides
    def set_override(self, submission_id: int, override: Override) -> None:
        """Store a TA's decision on a part (replacing one made before), stamped with now."""
        with self._transaction() as db:
            db.execute(
                "INSERT INTO overrides (submission_id, part, score, verdict, comment, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (submission_id, part) DO UPDATE SET"
                " score = excluded.score, verdict = excluded.verdict,"
                " comment = excluded.comment, updated_at = excluded.updated_at",
                (submission_id, override.part, override.score, override.verdict.value,
                 override.comment, _now()))

    def delete_override(self, submission_id: int, part: str) -> bool:
        with self._transaction() as db:
            cursor = db.execute("DELETE FROM overrides WHERE submission_id = ? AND part = ?",
                                (submission_id, part))
            return cursor.rowcount > 0

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _load(db: sqlite3.Connection, row: sqlite3.Row) -> StoredSubmission:
        overrides = {
            o["part"]: Override(o["part"], o["score"], o["verdict"], o["comment"],
                                o["updated_at"])
            for o in db.execute("SELECT * FROM overrides WHERE submission_id = ?", (row["id"],))
        }
        return StoredSubmission(
            id=row["id"], problem=row["problem"], student=row["student"],
            token_hash=row["token_hash"], source=row["source"], document=row["document"],
            answers=json.loads(row["answers"]), status=row["status"],
            result=json.loads(row["result"]) if row["result"] else None,
            created_at=row["created_at"], graded_at=row["graded_at"], overrides=overrides,
            regrade_id=row["regrade_id"], grade_error=row["grade_error"])


def _regrade(row: sqlite3.Row) -> Regrade:
    return Regrade(id=row["id"], problem=row["problem"], total=row["total"], done=row["done"],
                   failed=row["failed"], started_at=row["started_at"],
                   finished_at=row["finished_at"])


def _valid_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID


def _row_id(cursor: sqlite3.Cursor) -> int:
    """The id SQLite gave the row an INSERT just added."""
    assert cursor.lastrowid is not None  # set by every successful INSERT
    return cursor.lastrowid
