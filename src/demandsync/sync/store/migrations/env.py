"""Alembic environment: runs on the connection demandsync hands it.

demandsync never needs an ``alembic.ini``: :func:`demandsync.sync.store.store.migrate`
builds the config in code and passes an open connection in
``config.attributes["connection"]``.
"""

from __future__ import annotations

from alembic import context

from demandsync.sync.store.schema import METADATA

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=METADATA,
    render_as_batch=connection.dialect.name == "sqlite",  # SQLite needs batch ALTERs
)
with context.begin_transaction():
    context.run_migrations()
