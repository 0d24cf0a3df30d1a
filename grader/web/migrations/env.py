"""Alembic's environment for the web service's store: run by ``grader.web.storage.upgrade``
(at every start and by ``grader db upgrade``) on the connection it passes in."""

from __future__ import annotations

from alembic import context

from grader.web.schema import metadata
from grader.web.storage import DatabaseError

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - the store always passes its connection
    raise DatabaseError("run the migrations through `grader db upgrade`, not alembic's CLI")
context.configure(connection=connection, target_metadata=metadata,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
