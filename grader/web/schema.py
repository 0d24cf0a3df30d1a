"""The tables of the web service's store, as SQLAlchemy Core metadata.

One description for every engine: the embedded SQLite file and PostgreSQL alike. The
migrations (``grader/web/migrations``) bring a database to this shape; the store's queries are
built from these ``Table`` objects, so there is no SQL dialect string in the store.

Ids are 64-bit on PostgreSQL (``BIGINT``, identity) and SQLite's ``INTEGER PRIMARY KEY
AUTOINCREMENT`` (its rowid, 64-bit too) on SQLite. Times stay ISO-8601 text (UTC, seconds),
as the contract shows them; a session's expiry is seconds since the epoch.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
)

# SQLite's autoincrementing key must be spelled INTEGER; PostgreSQL's is a BIGINT.
ID = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData()

settings = Table(
    "settings", metadata,
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),
)

submissions = Table(
    "submissions", metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("problem", Text, nullable=False),
    Column("student", Text, nullable=False),
    Column("token_hash", Text, nullable=False),
    Column("source", Text, nullable=False),           # answers | document | upload
    Column("document", Text),                         # the whole document as sent, if any
    Column("answers", Text, nullable=False),          # JSON {part: latex} as extracted
    Column("status", Text, nullable=False, server_default="pending"),   # pending | graded
    Column("result", Text),                           # the grader's result contract (JSON)
    Column("created_at", Text, nullable=False),
    Column("graded_at", Text),
    Column("regrade_id", ID),                         # the regrade that still has to grade it
    Column("grade_error", Text),                      # why the last grading attempt failed
    # how many results were saved (1 after the first grading, +1 per regrade): a grading
    # delivered twice (a worker killed after it saved, a broker's redelivery) writes once
    Column("gradings", Integer, nullable=False, server_default="0"),
    sqlite_autoincrement=True,
)
Index("submissions_by_problem", submissions.c.problem, submissions.c.id)
Index("submissions_by_status", submissions.c.status)
Index("submissions_by_regrade", submissions.c.regrade_id)

regrades = Table(
    "regrades", metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("problem", Text, nullable=False),
    Column("total", Integer, nullable=False),
    Column("done", Integer, nullable=False, server_default="0"),    # graded again, or failed
    Column("failed", Integer, nullable=False, server_default="0"),
    Column("started_at", Text, nullable=False),
    Column("finished_at", Text),
    sqlite_autoincrement=True,
)

sessions = Table(
    "sessions", metadata,
    Column("id_hash", Text, primary_key=True),       # SHA-256 of the cookie's random id
    Column("data", Text, nullable=False),
    Column("instructor", Text),                      # the instructor token's digest at login
    Column("expires_at", Float, nullable=False),
)
Index("sessions_by_expiry", sessions.c.expires_at)

overrides = Table(
    "overrides", metadata,
    Column("submission_id", ID, ForeignKey("submissions.id", ondelete="CASCADE"),
           primary_key=True),
    Column("part", Text, primary_key=True),
    Column("score", Float, nullable=False),
    Column("verdict", Text, nullable=False),
    Column("comment", Text, nullable=False, server_default=""),
    Column("updated_at", Text, nullable=False),
)
