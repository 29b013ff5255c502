"""Alembic's entry point: migrations run on the connection :func:`modelseal.store.db.migrate` passes."""

from __future__ import annotations

from alembic import context

from modelseal.store.models import Base

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=Base.metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
