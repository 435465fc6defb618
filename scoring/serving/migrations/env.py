"""Alembic environment of the serving database: run programmatically by
:func:`scoring.serving.database.upgrade` (no alembic.ini), on the connection it passes in
``config.attributes["connection"]``; ``render_as_batch`` so later revisions alter SQLite tables too."""

from __future__ import annotations

from alembic import context

from scoring.serving.schema import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:  # pragma: no cover - only through database.upgrade
    raise RuntimeError("the serving migrations run through scoring.serving.database.upgrade(engine)")
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
