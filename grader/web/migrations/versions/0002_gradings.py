"""submissions.gradings: how many results were saved, so a grading delivered twice by the
queue (at-least-once) is seen to have been written once.

Revision ID: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("submissions") as batch:
        batch.add_column(sa.Column("gradings", sa.Integer, nullable=False, server_default="0"))
    # a submission graded before this column existed was graded once
    op.execute("UPDATE submissions SET gradings = 1 WHERE status = 'graded'")


def downgrade() -> None:
    with op.batch_alter_table("submissions") as batch:
        batch.drop_column("gradings")
