"""The web service's store: submissions, overrides, regrades, sessions and settings, in
one SQLite file (the default) or a PostgreSQL database shared by several web processes and
grading workers.

A store is opened by URL (``sqlite:///path`` or ``postgresql://user@host/db``; a plain path is
a SQLite file) through SQLAlchemy Core: one set of queries, built from the tables in
``grader.web.schema``, runs on both. The schema is brought up to date by Alembic migrations
(``grader/web/migrations``) when a store is opened and by ``grader db upgrade``.

Every submission is inserted (status ``pending``) and committed before it is graded, so a
grader that dies leaves the submission on disk to be graded on the next start or regrade.
Whoever grades it (a thread of the web process, or a remote worker) writes the result here,
and the web side learns that a submission is done by reading its status back, never from an
object in memory. A result is written only while the submission is owed one (pending, or
marked for a regrade): the status transition is the guard, so a grading that a queue delivers
twice (a worker killed after it saved, a redelivery) is saved once. A regrade is a row in
``regrades``; each submission it covers carries the regrade's id until its new result is
saved, which also counts it done, so the progress of a regrade is on disk too and a regrade
cut short by a restart resumes.

SQLite runs in WAL mode (readers never block the writer) and every write transaction takes
the write lock at its start (``BEGIN IMMEDIATE``); PostgreSQL serializes the few
read-then-write steps with row locks and transaction-scoped advisory locks. A ``Store`` is
safe to share between threads.

Free text (a student's name, a document, a TA's comment) is stored as given, but for NUL,
which PostgreSQL's text cannot hold: it is stored on both engines as U+2400 (the sign the
pages show for it anyway). Answers and results are JSON, in which NUL is escaped.

Secrets are stored as SHA-256 digests only: a student's result token, the generated
instructor token and the session ids in cookies cannot be read back out of the database.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, make_url

from ..errors import GraderError
from ..results import Override
from .schema import metadata, overrides, regrades, sessions, settings, submissions

DATABASE_URL_ENV = "GRADER_DATABASE_URL"
MIGRATIONS = str(Path(__file__).resolve().parent / "migrations")


class DatabaseError(GraderError):
    """The database cannot be opened or brought up to date (a bad URL, a server that does
    not answer, a schema newer than this grader)."""


def database_url(value: str | Path) -> str:
    """The SQLAlchemy URL for ``value``: a URL as given (``postgresql://`` reads through
    psycopg 3), a plain path as the SQLite file it names."""
    text = str(value)
    if "://" not in text:
        if text == ":memory:":
            return "sqlite://"
        return "sqlite:///" + str(Path(text).expanduser().resolve())
    try:
        url = make_url(text)
    except sa.exc.ArgumentError as err:
        raise DatabaseError(f"not a database URL: {text!r} ({err})") from None
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() not in ("sqlite", "postgresql"):
        raise DatabaseError(f"unsupported database {url.get_backend_name()!r} in "
                            f"{url.render_as_string(hide_password=True)}: use sqlite:///PATH "
                            "or postgresql://USER@HOST/DB")
    return url.render_as_string(hide_password=False)


def describe(url: str) -> str:
    """The URL to show a person: no password; a SQLite file as its path."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.database or ":memory:"
    return parsed.render_as_string(hide_password=True)


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database:
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30},
                                  poolclass=sa.pool.NullPool)

        @sa.event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi, _record):
            dbapi.isolation_level = None          # SQLAlchemy emits BEGIN itself (below)
            if parsed.database:
                dbapi.execute("PRAGMA journal_mode=WAL")
            dbapi.execute("PRAGMA foreign_keys=ON")
            dbapi.execute("PRAGMA busy_timeout=30000")

        @sa.event.listens_for(engine, "begin")
        def _sqlite_begin(conn):
            # a write takes the lock at once: a deferred read-then-write could not wait
            immediate = conn.get_execution_options().get("immediate")
            conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        return engine
    return sa.create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10,
                            connect_args={"connect_timeout": 10})


def upgrade(engine: Engine, revision: str = "head") -> str | None:
    """Apply the Alembic migrations up to ``revision``; the revision the database is at."""
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext

    config = Config()
    config.set_main_option("script_location", MIGRATIONS)
    # Alembic's context is module-global: one migration at a time in a process (the advisory
    # lock below serializes processes)
    try:
        with _UPGRADE_LOCK, engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                # several processes start at once: one migrates, the others wait for it
                conn.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": _MIGRATE_LOCK})
                conn.commit()
            try:
                config.attributes["connection"] = conn
                command.upgrade(config, revision)
                conn.commit()
                return MigrationContext.configure(conn).get_current_revision()
            finally:
                if conn.dialect.name == "postgresql":
                    conn.rollback()
                    conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"),
                                 {"key": _MIGRATE_LOCK})
                    conn.commit()
    except sa.exc.OperationalError as err:
        raise DatabaseError(f"cannot open the database {describe(str(engine.url))}: "
                            f"{str(err.orig).strip().splitlines()[0]}") from None
    except Exception as err:
        if type(err).__module__.startswith("alembic"):
            raise DatabaseError(f"cannot bring the database {describe(str(engine.url))} up "
                                f"to date: {err}") from None
        raise


_UPGRADE_LOCK = threading.Lock()
_MIGRATE_LOCK = 0x6772616465   # "grade": the advisory lock the migrations run under

PENDING = "pending"
GRADED = "graded"
MAX_ID = 2 ** 63 - 1      # the largest id SQLite or a BIGINT holds: past it is no id at all


def digest(secret: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def matches(secret: str | None, stored_digest: str | None) -> bool:
    """Constant-time check of a presented token against a stored digest."""
    if not secret or not stored_digest:
        return False
    return hmac.compare_digest(digest(secret), stored_digest)


def _text(value: str | None) -> str | None:
    """Free text as stored: NUL (which PostgreSQL's text refuses) as its visible sign."""
    return value.replace("\x00", "\u2400") if value is not None else None


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
    gradings: int = 0            # results saved for it (grader.web.schema)


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
    """All reads and writes of the service's database (SQLite file or PostgreSQL)."""

    def __init__(self, location: str | Path, migrate: bool = True):
        self.url = database_url(location)
        self.engine = make_engine(self.url)
        self.dialect = self.engine.dialect.name
        self.path = make_url(self.url).database if self.dialect == "sqlite" else None
        self._memory: Connection | None = None
        self._memory_lock = threading.RLock()
        if self.dialect == "sqlite" and not self.path:   # one connection holds the data
            self._memory = self.engine.connect()
        if migrate:
            if self._memory is not None:
                metadata.create_all(self._memory)
                self._memory.commit()
            else:
                upgrade(self.engine)

    def describe(self) -> str:
        return describe(self.url)

    def close(self) -> None:
        if self._memory is not None:
            self._memory.close()
        self.engine.dispose()

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        """A connection for reads."""
        if self._memory is not None:
            with self._memory_lock:
                yield self._memory
                self._memory.rollback()
            return
        with self.engine.connect() as db:
            yield db

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        """A write transaction, committed at the end (SQLite: BEGIN IMMEDIATE)."""
        if self._memory is not None:
            with self._memory_lock, self._memory.begin():
                yield self._memory
            return
        with self.engine.connect().execution_options(immediate=True) as db, db.begin():
            yield db

    def _lock(self, db: Connection, name: str) -> None:
        """Serialize read-then-write steps on ``name`` across processes (PostgreSQL; a
        SQLite write transaction holds the whole file already)."""
        if self.dialect == "postgresql":
            db.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"),
                       {"key": zlib.crc32(name.encode("utf-8"))})

    def _insert(self, table: sa.Table):
        """The dialect's INSERT, which has ON CONFLICT (both SQLite and PostgreSQL do)."""
        if self.dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as pg_insert
            return pg_insert(table)
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert
        return sqlite_insert(table)

    # ------------------------------------------------------------------ settings
    def setting(self, key: str) -> str | None:
        with self._connect() as db:
            return db.execute(sa.select(settings.c.value).where(settings.c.key == key)
                              ).scalar_one_or_none()

    def setting_or_create(self, key: str, make) -> tuple[str, bool]:
        """The stored value of ``key``, or ``make()`` stored now; and whether it was created.
        Several processes starting at once agree on one value (the first one stored)."""
        with self._transaction() as db:
            found = db.execute(sa.select(settings.c.value).where(settings.c.key == key)
                               ).scalar_one_or_none()
            if found is not None:
                return found, False
            value = make()
            # RETURNING gives no row when another process stored the key first
            inserted = db.execute(self._insert(settings).values(key=key, value=value)
                                  .on_conflict_do_nothing(index_elements=["key"])
                                  .returning(settings.c.value)).first()
            if inserted is not None:
                return value, True
            return db.execute(sa.select(settings.c.value).where(settings.c.key == key)
                              ).scalar_one(), False

    # --------------------------------------------------------------- submissions
    def add_submission(self, problem: str, student: str, token: str, source: str,
                       answers: dict[str, str], document: str | None = None) -> int:
        """Store a new submission as pending (committed before this returns); its id."""
        with self._transaction() as db:
            return db.execute(submissions.insert().values(
                problem=problem, student=_text(student), token_hash=digest(token),
                source=source, document=_text(document),
                answers=json.dumps(answers, ensure_ascii=False), status=PENDING,
                created_at=_now()).returning(submissions.c.id)).scalar_one()

    def owed(self, submission_id: int) -> bool:
        """Whether the submission still waits for a result: never graded, or marked for a
        regrade. A grading worker skips one that is not (a redelivered task)."""
        if not _valid_id(submission_id):
            return False
        with self._connect() as db:
            row = db.execute(sa.select(submissions.c.status, submissions.c.regrade_id)
                             .where(submissions.c.id == submission_id)).first()
        return row is not None and (row.status == PENDING or row.regrade_id is not None)

    def save_result(self, submission_id: int, result: dict) -> bool:
        """Store the grader's result: the submission is graded, and done for its regrade.

        Only a submission that is owed a result takes one (pending, or marked for a
        regrade): a second delivery of the same grading writes nothing. True if written."""
        owed = sa.or_(submissions.c.status == PENDING, submissions.c.regrade_id.is_not(None))
        with self._transaction() as db:
            # the row lock (PostgreSQL) or the write lock (SQLite) makes this read-then-write
            # one step: two workers finishing the same submission write it once
            row = db.execute(sa.select(submissions.c.regrade_id)
                             .where(submissions.c.id == submission_id, owed)
                             .with_for_update()).first()
            if row is None:
                return False
            db.execute(submissions.update().where(submissions.c.id == submission_id).values(
                status=GRADED, result=json.dumps(result, ensure_ascii=False),
                graded_at=_now(), regrade_id=None, grade_error=None,
                gradings=submissions.c.gradings + 1))
            if row.regrade_id is not None:
                self._count_done(db, row.regrade_id, failed=False)
            return True

    def grading_failed(self, submission_id: int, error: str) -> None:
        """Grading could not finish (the grader is down, the spec is gone): the submission
        keeps its status and result, says why, and counts as done (failed) for its regrade."""
        with self._transaction() as db:
            row = db.execute(sa.select(submissions.c.regrade_id, submissions.c.status)
                             .where(submissions.c.id == submission_id)
                             .with_for_update()).first()
            if row is None or (row.status != PENDING and row.regrade_id is None):
                return
            db.execute(submissions.update().where(submissions.c.id == submission_id)
                       .values(regrade_id=None, grade_error=_text(error[:500])))
            if row.regrade_id is not None:
                self._count_done(db, row.regrade_id, failed=True)

    @staticmethod
    def _count_done(db: Connection, regrade_id: int, failed: bool) -> None:
        db.execute(regrades.update().where(regrades.c.id == regrade_id).values(
            done=regrades.c.done + 1, failed=regrades.c.failed + int(failed)))
        db.execute(regrades.update().where(
            regrades.c.id == regrade_id, regrades.c.finished_at.is_(None),
            regrades.c.done >= regrades.c.total).values(finished_at=_now()))

    def status(self, submission_id: int) -> tuple[str, str | None] | None:
        """(status, why grading last failed or None), cheap, for waiting on a submission;
        None if there is no such submission."""
        if not _valid_id(submission_id):
            return None
        with self._connect() as db:
            row = db.execute(sa.select(submissions.c.status, submissions.c.grade_error)
                             .where(submissions.c.id == submission_id)).first()
        return (row.status, row.grade_error) if row else None

    def get(self, submission_id: int) -> StoredSubmission | None:
        if not _valid_id(submission_id):
            return None
        with self._connect() as db:
            row = db.execute(sa.select(submissions).where(submissions.c.id == submission_id)
                             ).first()
            if row is None:
                return None
            return self._load(db, [row])[0]

    def for_problem(self, problem: str) -> list[StoredSubmission]:
        with self._connect() as db:
            rows = db.execute(sa.select(submissions).where(submissions.c.problem == problem)
                              .order_by(submissions.c.id)).all()
            return self._load(db, rows)

    def count(self, problem: str) -> int:
        with self._connect() as db:
            return db.execute(sa.select(sa.func.count()).select_from(submissions)
                              .where(submissions.c.problem == problem)).scalar_one()

    def page(self, problem: str, limit: int, offset: int) -> list[StoredSubmission]:
        """One page of a problem's submissions, newest first."""
        with self._connect() as db:
            rows = db.execute(sa.select(submissions).where(submissions.c.problem == problem)
                              .order_by(submissions.c.id.desc()).limit(limit).offset(offset)
                              ).all()
            return self._load(db, rows)

    def to_grade(self) -> list[int]:
        """Submissions a previous run left unfinished: never graded, or still owed a regrade."""
        with self._connect() as db:
            return list(db.execute(sa.select(submissions.c.id).where(sa.or_(
                submissions.c.status == PENDING, submissions.c.regrade_id.is_not(None)))
                .order_by(submissions.c.id)).scalars())

    def ids(self, problem: str | None = None, status: str | None = None) -> list[int]:
        query = sa.select(submissions.c.id).order_by(submissions.c.id)
        if problem is not None:
            query = query.where(submissions.c.problem == problem)
        if status is not None:
            query = query.where(submissions.c.status == status)
        with self._connect() as db:
            return list(db.execute(query).scalars())

    def gradings(self, submission_ids: list[int] | None = None) -> dict[int, int]:
        """{id: how many results were saved for it} (every submission, or those ids)."""
        query = sa.select(submissions.c.id, submissions.c.gradings)
        if submission_ids is not None:
            query = query.where(submissions.c.id.in_(submission_ids))
        with self._connect() as db:
            return {row.id: row.gradings for row in db.execute(query)}

    def counts(self) -> dict[str, dict[str, int]]:
        """{problem: {status: count}}."""
        out: dict[str, dict[str, int]] = {}
        with self._connect() as db:
            for row in db.execute(sa.select(submissions.c.problem, submissions.c.status,
                                            sa.func.count().label("n"))
                                  .group_by(submissions.c.problem, submissions.c.status)):
                out.setdefault(row.problem, {})[row.status] = row.n
        return out

    # ------------------------------------------------------------------ regrades
    def start_regrade(self, problem: str) -> tuple[Regrade, list[int], bool]:
        """Mark every submission to ``problem`` for a regrade, unless one is running:
        (the regrade, the ids it covers, whether it was started now)."""
        with self._transaction() as db:
            self._lock(db, f"regrade:{problem}")
            running = db.execute(sa.select(regrades).where(
                regrades.c.problem == problem, regrades.c.finished_at.is_(None))
                .order_by(regrades.c.id.desc()).limit(1)).first()
            if running is not None:
                ids = list(db.execute(sa.select(submissions.c.id).where(
                    submissions.c.regrade_id == running.id).order_by(submissions.c.id)
                    ).scalars())
                return _regrade(running), ids, False
            ids = list(db.execute(sa.select(submissions.c.id).where(
                submissions.c.problem == problem).order_by(submissions.c.id)).scalars())
            now = _now()
            regrade_id = db.execute(regrades.insert().values(
                problem=problem, total=len(ids), started_at=now,
                finished_at=None if ids else now).returning(regrades.c.id)).scalar_one()
            db.execute(submissions.update().where(submissions.c.problem == problem)
                       .values(regrade_id=regrade_id))
            row = db.execute(sa.select(regrades).where(regrades.c.id == regrade_id)).one()
            return _regrade(row), ids, True

    def regrade(self, regrade_id: int) -> Regrade | None:
        if not _valid_id(regrade_id):
            return None
        with self._connect() as db:
            row = db.execute(sa.select(regrades).where(regrades.c.id == regrade_id)).first()
        return _regrade(row) if row else None

    def latest_regrade(self, problem: str) -> Regrade | None:
        with self._connect() as db:
            row = db.execute(sa.select(regrades).where(regrades.c.problem == problem)
                             .order_by(regrades.c.id.desc()).limit(1)).first()
        return _regrade(row) if row else None

    # ------------------------------------------------------------------ sessions
    def load_session(self, id_hash: str) -> tuple[str, str | None] | None:
        """(data, instructor digest) of a live session; None if unknown or expired."""
        with self._connect() as db:
            row = db.execute(sa.select(sessions.c.data, sessions.c.instructor).where(
                sessions.c.id_hash == id_hash, sessions.c.expires_at > time.time())).first()
        return (row.data, row.instructor) if row else None

    def save_session(self, id_hash: str, data: str, instructor: str | None,
                     expires_at: float) -> None:
        insert = self._insert(sessions).values(id_hash=id_hash, data=data,
                                               instructor=instructor, expires_at=expires_at)
        with self._transaction() as db:
            db.execute(insert.on_conflict_do_update(
                index_elements=["id_hash"],
                set_={"data": insert.excluded.data, "instructor": insert.excluded.instructor,
                      "expires_at": insert.excluded.expires_at}))

    def delete_session(self, id_hash: str) -> None:
        with self._transaction() as db:
            db.execute(sessions.delete().where(sessions.c.id_hash == id_hash))

    def delete_expired_sessions(self) -> None:
        with self._transaction() as db:
            db.execute(sessions.delete().where(sessions.c.expires_at <= time.time()))

    def end_instructor_sessions(self, except_digest: str | None = None) -> int:
        """End every instructor session not made with ``except_digest`` (a changed token)."""
        with self._transaction() as db:
            return db.execute(sessions.delete().where(
                sessions.c.instructor.is_not(None),
                sessions.c.instructor.is_distinct_from(except_digest))).rowcount

    # ----------------------------------------------------------------- overrides
    def set_override(self, submission_id: int, override: Override) -> None:
        """Store a TA's decision on a part (replacing one made before), stamped with now."""
        insert = self._insert(overrides).values(
            submission_id=submission_id, part=override.part, score=override.score,
            verdict=override.verdict.value, comment=_text(override.comment),
            updated_at=_now())
        with self._transaction() as db:
            db.execute(insert.on_conflict_do_update(
                index_elements=["submission_id", "part"],
                set_={"score": insert.excluded.score, "verdict": insert.excluded.verdict,
                      "comment": insert.excluded.comment,
                      "updated_at": insert.excluded.updated_at}))

    def delete_override(self, submission_id: int, part: str) -> bool:
        with self._transaction() as db:
            return db.execute(overrides.delete().where(
                overrides.c.submission_id == submission_id, overrides.c.part == part)
            ).rowcount > 0

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _load(db: Connection, rows) -> list[StoredSubmission]:
        found: dict[int, dict[str, Override]] = {row.id: {} for row in rows}
        if found:
            for o in db.execute(sa.select(overrides).where(
                    overrides.c.submission_id.in_(list(found)))):
                found[o.submission_id][o.part] = Override(o.part, o.score, o.verdict,
                                                          o.comment, o.updated_at)
        return [StoredSubmission(
            id=row.id, problem=row.problem, student=row.student,
            token_hash=row.token_hash, source=row.source, document=row.document,
            answers=json.loads(row.answers), status=row.status,
            result=json.loads(row.result) if row.result else None,
            created_at=row.created_at, graded_at=row.graded_at, overrides=found[row.id],
            regrade_id=row.regrade_id, grade_error=row.grade_error, gradings=row.gradings)
            for row in rows]


def _regrade(row) -> Regrade:
    return Regrade(id=row.id, problem=row.problem, total=row.total, done=row.done,
                   failed=row.failed, started_at=row.started_at, finished_at=row.finished_at)


def _valid_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value <= MAX_ID
