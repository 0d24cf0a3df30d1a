"""The store as it was before migrations: every table, made only where it is missing.

A SQLite file made by an older grader (its schema written by hand, no alembic_version)
already has these tables, perhaps without the two columns added since (regrade_id,
grade_error): they are added, and the file's rows stay.

Revision ID: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    have = set(sa.inspect(op.get_bind()).get_table_names())
    if "settings" not in have:
        op.create_table("settings",
                        sa.Column("key", sa.Text, primary_key=True),
                        sa.Column("value", sa.Text, nullable=False))
    if "submissions" not in have:
        op.create_table(
            "submissions",
            sa.Column("id", ID, primary_key=True, autoincrement=True),
            sa.Column("problem", sa.Text, nullable=False),
            sa.Column("student", sa.Text, nullable=False),
            sa.Column("token_hash", sa.Text, nullable=False),
            sa.Column("source", sa.Text, nullable=False),
            sa.Column("document", sa.Text),
            sa.Column("answers", sa.Text, nullable=False),
            sa.Column("status", sa.Text, nullable=False, server_default="pending"),
            sa.Column("result", sa.Text),
            sa.Column("created_at", sa.Text, nullable=False),
            sa.Column("graded_at", sa.Text),
            sa.Column("regrade_id", ID),
            sa.Column("grade_error", sa.Text),
            sqlite_autoincrement=True)
        op.create_index("submissions_by_problem", "submissions", ["problem", "id"])
        op.create_index("submissions_by_status", "submissions", ["status"])
    else:
        columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("submissions")}
        for name, kind in (("regrade_id", ID), ("grade_error", sa.Text())):
            if name not in columns:
                op.add_column("submissions", sa.Column(name, kind))
    indexes = {i["name"] for i in sa.inspect(op.get_bind()).get_indexes("submissions")}
    if "submissions_by_regrade" not in indexes:
        op.create_index("submissions_by_regrade", "submissions", ["regrade_id"])
    if "regrades" not in have:
        op.create_table(
            "regrades",
            sa.Column("id", ID, primary_key=True, autoincrement=True),
            sa.Column("problem", sa.Text, nullable=False),
            sa.Column("total", sa.Integer, nullable=False),
            sa.Column("done", sa.Integer, nullable=False, server_default="0"),
            sa.Column("failed", sa.Integer, nullable=False, server_default="0"),
            sa.Column("started_at", sa.Text, nullable=False),
            sa.Column("finished_at", sa.Text),
            sqlite_autoincrement=True)
    if "sessions" not in have:
        op.create_table(
            "sessions",
            sa.Column("id_hash", sa.Text, primary_key=True),
            sa.Column("data", sa.Text, nullable=False),
            sa.Column("instructor", sa.Text),
            sa.Column("expires_at", sa.Float, nullable=False))
        op.create_index("sessions_by_expiry", "sessions", ["expires_at"])
    if "overrides" not in have:
        op.create_table(
            "overrides",
            sa.Column("submission_id", ID,
                      sa.ForeignKey("submissions.id", ondelete="CASCADE"), primary_key=True),
            sa.Column("part", sa.Text, primary_key=True),
            sa.Column("score", sa.Float, nullable=False),
            sa.Column("verdict", sa.Text, nullable=False),
            sa.Column("comment", sa.Text, nullable=False, server_default=""),
            sa.Column("updated_at", sa.Text, nullable=False))


def downgrade() -> None:
    for table in ("overrides", "sessions", "regrades", "submissions", "settings"):
        op.drop_table(table)
