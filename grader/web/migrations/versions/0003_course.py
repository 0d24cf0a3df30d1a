"""Running a course: the roster (students and their sign-in keys), assignments with their
rules, attempts, the record of decisions, and LTI 1.3 (platforms, their users, resource links
and the scores owed to the LMS).

Revision ID: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TABLES = ("lti_launch_data", "lti_scores", "lti_launches", "lti_links", "lti_users",
          "lti_platforms", "decisions", "attempts", "assignments", "students")


def upgrade() -> None:
    op.create_table(
        "students",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("email", sa.Text, nullable=False, server_default=""),
        sa.Column("key_hash", sa.Text, unique=True),
        sa.Column("key_issued_at", sa.Text),
        sa.Column("source", sa.Text, nullable=False, server_default="roster"),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Text, nullable=False),
    )
    op.create_table(
        "assignments",
        sa.Column("id", sa.Text, primary_key=True),
        sa.Column("problem", sa.Text, nullable=False),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("opens_at", sa.Text, nullable=False),
        sa.Column("due_at", sa.Text, nullable=False),
        sa.Column("timezone", sa.Text, nullable=False),
        sa.Column("late_per_day", sa.Float),
        sa.Column("late_cutoff_days", sa.Float, nullable=False, server_default="0"),
        sa.Column("max_attempts", sa.Integer),
        sa.Column("counting", sa.Text, nullable=False),
        sa.Column("feedback", sa.Text, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.Column("updated_at", sa.Text, nullable=False),
    )
    op.create_table(
        "attempts",
        sa.Column("submission_id", ID, sa.ForeignKey("submissions.id", ondelete="CASCADE"),
               primary_key=True),
        sa.Column("assignment_id", sa.Text, sa.ForeignKey("assignments.id"), nullable=False),
        sa.Column("student_id", sa.Text, sa.ForeignKey("students.id"), nullable=False),
        sa.Column("number", sa.Integer, nullable=False),
        sa.Column("submitted_at", sa.Text, nullable=False),
        sa.Column("late_days", sa.Integer, nullable=False, server_default="0"),
        sa.Column("penalty", sa.Float, nullable=False, server_default="0"),
        sa.UniqueConstraint("assignment_id", "student_id", "number", name="attempts_numbered"),
    )
    op.create_table(
        "decisions",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("at", sa.Text, nullable=False),
        sa.Column("action", sa.Text, nullable=False),
        sa.Column("allowed", sa.Integer, nullable=False),
        sa.Column("assignment_id", sa.Text),
        sa.Column("student_id", sa.Text),
        sa.Column("submission_id", ID),
        sa.Column("reason", sa.Text, nullable=False, server_default=""),
        sa.Column("detail", sa.Text),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "lti_platforms",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("issuer", sa.Text, nullable=False),
        sa.Column("client_id", sa.Text, nullable=False),
        sa.Column("auth_login_url", sa.Text, nullable=False),
        sa.Column("auth_token_url", sa.Text, nullable=False),
        sa.Column("key_set_url", sa.Text, nullable=False),
        sa.Column("deployment_ids", sa.Text, nullable=False),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.UniqueConstraint("issuer", "client_id", name="lti_platforms_client"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "lti_users",
        sa.Column("platform_id", ID, sa.ForeignKey("lti_platforms.id", ondelete="CASCADE"),
               primary_key=True),
        sa.Column("sub", sa.Text, primary_key=True),
        sa.Column("student_id", sa.Text, sa.ForeignKey("students.id"), nullable=False),
    )
    op.create_table(
        "lti_links",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("platform_id", ID, sa.ForeignKey("lti_platforms.id", ondelete="CASCADE"),
               nullable=False),
        sa.Column("deployment_id", sa.Text, nullable=False),
        sa.Column("resource_link_id", sa.Text, nullable=False),
        sa.Column("assignment_id", sa.Text, sa.ForeignKey("assignments.id"), nullable=False),
        sa.Column("lineitem", sa.Text),
        sa.Column("scopes", sa.Text, nullable=False, server_default="[]"),
        sa.Column("created_at", sa.Text, nullable=False),
        sa.UniqueConstraint("platform_id", "resource_link_id", name="lti_links_resource"),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "lti_launches",
        sa.Column("link_id", ID, sa.ForeignKey("lti_links.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("student_id", sa.Text, primary_key=True),
        sa.Column("sub", sa.Text, nullable=False),
        sa.Column("launched_at", sa.Text, nullable=False),
    )
    op.create_table(
        "lti_launch_data",
        sa.Column("key", sa.Text, primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("expires_at", sa.Float, nullable=False),
    )
    op.create_table(
        "lti_scores",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("link_id", ID, sa.ForeignKey("lti_links.id", ondelete="CASCADE"), nullable=False),
        sa.Column("student_id", sa.Text, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("max_score", sa.Float, nullable=False),
        sa.Column("status", sa.Text, nullable=False),
        sa.Column("tries", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_try_at", sa.Float, nullable=False),
        sa.Column("lease_until", sa.Float, nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text),
        sa.Column("updated_at", sa.Text, nullable=False),
        sa.Column("sent_at", sa.Text),
        sa.UniqueConstraint("link_id", "student_id", name="lti_scores_owed"),
        sqlite_autoincrement=True,
    )
    op.create_index("attempts_by_student", "attempts", ["assignment_id", "student_id"])
    op.create_index("decisions_by_assignment", "decisions", ["assignment_id", "id"])
    op.create_index("lti_scores_due", "lti_scores", ["status", "next_try_at"])
    op.create_index("lti_launch_data_expiry", "lti_launch_data", ["expires_at"])


def downgrade() -> None:
    for table in TABLES:
        op.drop_table(table)
