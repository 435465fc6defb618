"""Serving database workflows (服务库): bring its schema up to date, push a store's publications into
it, say what it holds. The CLI (``scoring serving upgrade|push|status``) and the main job call these.

The serving database is ``--serving URL``, else ``$XINYI_SERVING_URL``, else ``serving.sqlite``
beside the store (:func:`scoring.serving.database.serving_url`).
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from scoring.archive.store import Store
from scoring.serving import database
from scoring.serving import schema as t
from scoring.serving.push import PushResult, push_store
from scoring.workflows.workspace import Progress, data_errors, quiet


def upgrade_serving(url: str | None = None, *, beside: str | Path | None = None) -> dict:
    """Bring the serving database to the newest schema revision (Alembic ``upgrade head``):
    ``{"serving": shown URL, "revision": ..., "head": ...}``."""
    target = database.serving_url(url, beside=beside)
    eng = database.connect(target, upgrade=False)
    try:
        before = database.revision(eng)
        rev = database.upgrade(eng)
    finally:
        eng.dispose()
    return {"serving": database.shown(target), "previous_revision": before, "revision": rev, "head": database.head()}


def push_to_serving(
    store: Store, url: str | None = None, *, tracking_uri: str | None = None, progress: Progress = quiet
) -> list[PushResult]:
    """Push every publication of ``store`` not yet in the serving database (``url``: default
    ``serving.sqlite`` beside the store), re-deriving reasons and line items with the registered
    versions the publications name (``tracking_uri``: default the MLflow store beside the store).
    Idempotent: publications already there are reported with ``new`` False."""
    target = database.serving_url(url, beside=store.path)
    eng = database.connect(target)
    try:
        with data_errors(), eng.begin() as conn:
            return push_store(conn, store, tracking_uri=tracking_uri, progress=progress)
    finally:
        eng.dispose()


def serving_status(url: str | None = None, *, beside: str | Path | None = None) -> dict:
    """What the serving database holds: its URL (password hidden), revision and head, the rows of
    every table, and its publications (newest first)."""
    target = database.serving_url(url, beside=beside)
    eng = database.connect(target, upgrade=False)
    try:
        rev = database.revision(eng)
        out: dict = {"serving": database.shown(target), "revision": rev, "head": database.head(), "tables": {}}
        if rev is None:
            out["publications"] = []
            return out
        with eng.connect() as conn:
            have = set(sa.inspect(conn).get_table_names())
            for table in t.metadata.sorted_tables:
                if table.name in have:
                    out["tables"][table.name] = conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            p = t.publications
            rows = conn.execute(
                sa.select(p.c.publication_id, p.c.kind, p.c.scope, p.c.as_of, p.c.n_rows, p.c.pushed_at).order_by(
                    p.c.as_of.desc(), p.c.scope
                )
            ).all()
        out["publications"] = [
            {
                "publication_id": r.publication_id,
                "kind": r.kind,
                "scope": r.scope,
                "as_of": r.as_of.isoformat(),
                "rows": r.n_rows,
                "pushed_at": r.pushed_at.isoformat(timespec="seconds"),
            }
            for r in rows
        ]
        return out
    finally:
        eng.dispose()
