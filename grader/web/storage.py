"""The web service's store: submissions, instructor overrides and settings in one SQLite file.

Every submission is inserted (status ``pending``) and committed before it is graded, so a
grader that dies leaves the submission on disk to be graded on the next start or regrade.
The database runs in WAL mode (readers never block the writer); every call opens its own
short-lived connection, so a ``Store`` is safe to share between waitress's threads and the
background thread that grades pending submissions.

Secrets are stored as SHA-256 digests only: a student's result token and the generated
instructor token cannot be read back out of the file.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

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

PENDING = "pending"
GRADED = "graded"


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
class Override:
    part: str
    score: float
    verdict: str
    comment: str
    updated_at: str

    def to_json(self) -> dict:
        return {"part": self.part, "score": self.score, "verdict": self.verdict,
                "comment": self.comment, "updated_at": self.updated_at}


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
    overrides: dict[str, Override]


class Store:
    """All reads and writes of the service's SQLite file."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        if self.path != ":memory:":
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.execute("PRAGMA journal_mode=WAL")
            db.executescript(SCHEMA)

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
            return int(cursor.lastrowid)

    def save_result(self, submission_id: int, result: dict) -> None:
        with self._transaction() as db:
            db.execute("UPDATE submissions SET status = ?, result = ?, graded_at = ? WHERE id = ?",
                       (GRADED, json.dumps(result, ensure_ascii=False), _now(), submission_id))

    def get(self, submission_id: int) -> StoredSubmission | None:
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

    # ----------------------------------------------------------------- overrides
    def set_override(self, submission_id: int, part: str, score: float, verdict: str,
                     comment: str) -> None:
        with self._transaction() as db:
            db.execute(
                "INSERT INTO overrides (submission_id, part, score, verdict, comment, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (submission_id, part) DO UPDATE SET"
                " score = excluded.score, verdict = excluded.verdict,"
                " comment = excluded.comment, updated_at = excluded.updated_at",
                (submission_id, part, score, verdict, comment, _now()))

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
            created_at=row["created_at"], graded_at=row["graded_at"], overrides=overrides)
