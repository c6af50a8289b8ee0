"""Alembic's environment: run on the connection bot.storage.migrate hands over."""

from __future__ import annotations

from alembic import context

from bot.storage.migrate import ours
from bot.storage.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata,
                  render_as_batch=True,  # SQLite alters a table by copying it
                  compare_type=True, include_name=ours)
with context.begin_transaction():
    context.run_migrations()
