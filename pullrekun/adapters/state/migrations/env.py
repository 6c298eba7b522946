"""Alembic environment: pullrekun passes the connection in ``config.attributes``."""

from __future__ import annotations

from alembic import context

from pullrekun.adapters.state import schema_sleep  # noqa: F401 - its tables join Base.metadata
from pullrekun.adapters.state.schema import Base

connection = context.config.attributes.get("connection")
if connection is None:  # pragma: no cover - only when someone runs the alembic CLI directly
    raise RuntimeError("run migrations through pullrekun.adapters.state.store.migrate()")
context.configure(
    connection=connection, target_metadata=Base.metadata, render_as_batch=connection.dialect.name == "sqlite"
)
with context.begin_transaction():
    context.run_migrations()
