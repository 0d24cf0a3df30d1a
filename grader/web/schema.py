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
    UniqueConstraint,
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

# ------------------------------------------------------------------ running a course
# The roster: a student id (the school's, or made for an LTI user), name and email; the
# personal sign-in key is kept as a digest, so the file does not hold live sign-in links.
students = Table(
    "students", metadata,
    Column("id", Text, primary_key=True),
    Column("name", Text, nullable=False),
    Column("email", Text, nullable=False, server_default=""),
    Column("key_hash", Text, unique=True),           # SHA-256 of the sign-in key, or revoked
    Column("key_issued_at", Text),
    Column("source", Text, nullable=False, server_default="roster"),   # roster | lti
    Column("created_at", Text, nullable=False),
    Column("updated_at", Text, nullable=False),
)

assignments = Table(
    "assignments", metadata,
    Column("id", Text, primary_key=True),
    Column("problem", Text, nullable=False),
    Column("title", Text, nullable=False),
    Column("opens_at", Text, nullable=False),
    Column("due_at", Text, nullable=False),
    Column("timezone", Text, nullable=False),
    Column("late_per_day", Float),                    # NULL: no late attempts
    Column("late_cutoff_days", Float, nullable=False, server_default="0"),
    Column("max_attempts", Integer),                  # NULL: unlimited
    Column("counting", Text, nullable=False),         # best | last
    Column("feedback", Text, nullable=False),         # full | verdicts | score | after_due
    Column("created_at", Text, nullable=False),
    Column("updated_at", Text, nullable=False),
)

# An attempt is a submission made to an assignment by a signed-in student; the unique
# (assignment, student, number) makes the attempt limit hold under concurrent requests.
attempts = Table(
    "attempts", metadata,
    Column("submission_id", ID, ForeignKey("submissions.id", ondelete="CASCADE"),
           primary_key=True),
    Column("assignment_id", Text, ForeignKey("assignments.id"), nullable=False),
    Column("student_id", Text, ForeignKey("students.id"), nullable=False),
    Column("number", Integer, nullable=False),
    Column("submitted_at", Text, nullable=False),
    Column("late_days", Integer, nullable=False, server_default="0"),
    Column("penalty", Float, nullable=False, server_default="0"),
    UniqueConstraint("assignment_id", "student_id", "number", name="attempts_numbered"),
)
Index("attempts_by_student", attempts.c.assignment_id, attempts.c.student_id)

# Every decision the rules made (an attempt allowed or refused, an assignment created or
# changed, a roster import, a key issued or revoked, a score sent), with its time. A refused
# attempt keeps the student's answers here, so nothing they wrote is lost.
decisions = Table(
    "decisions", metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("at", Text, nullable=False),
    Column("action", Text, nullable=False),
    Column("allowed", Integer, nullable=False),       # 1 or 0
    Column("assignment_id", Text),
    Column("student_id", Text),
    Column("submission_id", ID),
    Column("reason", Text, nullable=False, server_default=""),
    Column("detail", Text),                           # JSON
    sqlite_autoincrement=True,
)
Index("decisions_by_assignment", decisions.c.assignment_id, decisions.c.id)

# LTI 1.3: the platforms (LMSs) registered with the tool, the users they launch, the
# resource links that point at an assignment, and the scores owed to each link's line item.
lti_platforms = Table(
    "lti_platforms", metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("name", Text, nullable=False),
    Column("issuer", Text, nullable=False),
    Column("client_id", Text, nullable=False),
    Column("auth_login_url", Text, nullable=False),
    Column("auth_token_url", Text, nullable=False),
    Column("key_set_url", Text, nullable=False),
    Column("deployment_ids", Text, nullable=False),   # JSON list
    Column("created_at", Text, nullable=False),
    UniqueConstraint("issuer", "client_id", name="lti_platforms_client"),
    sqlite_autoincrement=True,
)

lti_users = Table(
    "lti_users", metadata,
    Column("platform_id", ID, ForeignKey("lti_platforms.id", ondelete="CASCADE"),
           primary_key=True),
    Column("sub", Text, primary_key=True),
    Column("student_id", Text, ForeignKey("students.id"), nullable=False),
)

lti_links = Table(
    "lti_links", metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("platform_id", ID, ForeignKey("lti_platforms.id", ondelete="CASCADE"),
           nullable=False),
    Column("deployment_id", Text, nullable=False),
    Column("resource_link_id", Text, nullable=False),
    Column("assignment_id", Text, ForeignKey("assignments.id"), nullable=False),
    Column("lineitem", Text),                          # the AGS line item URL, if any
    Column("scopes", Text, nullable=False, server_default="[]"),   # JSON list of AGS scopes
    Column("created_at", Text, nullable=False),
    UniqueConstraint("platform_id", "resource_link_id", name="lti_links_resource"),
    sqlite_autoincrement=True,
)

# Who launched which link, as which LMS user: a score goes to the links its student came from.
lti_launches = Table(
    "lti_launches", metadata,
    Column("link_id", ID, ForeignKey("lti_links.id", ondelete="CASCADE"), primary_key=True),
    Column("student_id", Text, primary_key=True),
    Column("sub", Text, nullable=False),
    Column("launched_at", Text, nullable=False),
)

# pylti1p3's short-lived launch data (OIDC nonces, launches kept for deep linking): not in the
# session, since the LMS posts the launch cross-site and a SameSite=Lax cookie stays behind.
lti_launch_data = Table(
    "lti_launch_data", metadata,
    Column("key", Text, primary_key=True),
    Column("value", Text, nullable=False),             # JSON
    Column("expires_at", Float, nullable=False),
)
Index("lti_launch_data_expiry", lti_launch_data.c.expires_at)

# One row per (link, student): the newest counting score replaces one not yet sent. A sender
# claims a due row (``lease_until``), posts it, and marks it sent or schedules a retry.
lti_scores = Table(
    "lti_scores", metadata,
    Column("id", ID, primary_key=True, autoincrement=True),
    Column("link_id", ID, ForeignKey("lti_links.id", ondelete="CASCADE"), nullable=False),
    Column("student_id", Text, nullable=False),
    Column("score", Float, nullable=False),
    Column("max_score", Float, nullable=False),
    Column("status", Text, nullable=False),            # pending | sent | failed
    Column("tries", Integer, nullable=False, server_default="0"),
    Column("next_try_at", Float, nullable=False),
    Column("lease_until", Float, nullable=False, server_default="0"),
    Column("last_error", Text),
    Column("updated_at", Text, nullable=False),
    Column("sent_at", Text),
    UniqueConstraint("link_id", "student_id", name="lti_scores_owed"),
    sqlite_autoincrement=True,
)
Index("lti_scores_due", lti_scores.c.status, lti_scores.c.next_try_at)
