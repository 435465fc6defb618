"""Serving database commands (服务库): serving upgrade, push, status.

The serving database is what the platform service (``scoring serve``) shows: published grade lists
and score snapshots pushed from the store. ``--serving URL`` (``sqlite:///path`` or
``postgresql+psycopg://user@host/db``), else ``$XINYI_SERVING_URL``, else ``serving.sqlite`` beside
the store.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import typer

from scoring.cli.common import (
    JsonOpt,
    StoreOpt,
    TrackingOpt,
    emit_fields,
    emit_frame,
    emit_json,
    emit_text,
    group,
    progress,
)
from scoring.core.errors import StoreError
from scoring.workflows.workspace import Workspace, find_store

serving_app = group(
    "服务库: the serving database the platform service reads (published outputs pushed from the store)."
)
ServingOpt: Any = typer.Option(
    None,
    "--serving",
    metavar="URL",
    help="Serving database URL (sqlite:///FILE or postgresql+psycopg://...); "
    "default $XINYI_SERVING_URL, else serving.sqlite beside the store.",
)


def register(app: typer.Typer) -> None:
    app.add_typer(serving_app, name="serving")


def _beside(store: Path | None, url: str | None) -> Path | None:
    """The store the default serving database sits beside (none needed when a URL is given)."""
    if url or store is not None:
        return store
    try:
        return find_store(None)
    except StoreError:  # no store here: the default is work/serving.sqlite
        return None


@serving_app.command("upgrade")
def serving_upgrade(
    serving: str | None = ServingOpt,
    store: Path | None = StoreOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Create the serving database or bring its schema to the newest revision (Alembic migrations;
    running it again changes nothing)."""
    from scoring.workflows.serving import upgrade_serving

    res = upgrade_serving(serving, beside=_beside(store, serving))
    if as_json:
        emit_json(res)
        return
    emit_fields(res, title="serving database")


@serving_app.command("push")
def serving_push(
    serving: str | None = ServingOpt,
    store: Path | None = StoreOpt,
    tracking_uri: str | None = TrackingOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Push every publication of the store not yet in the serving database (grade lists with their
    reasons and records, score snapshots with their line items), re-derived with the registered
    versions they name. Publications already pushed are left as they are."""
    from scoring.serving.database import serving_url, shown
    from scoring.workflows.serving import push_to_serving

    ws = Workspace.find(store, tracking_uri)
    with ws.open() as st:
        results = push_to_serving(st, serving, tracking_uri=ws.tracking_uri, progress=progress())
    target = shown(serving_url(serving, beside=ws.store_path))
    if as_json:
        emit_json({"serving": target, "pushed": [r.to_dict() for r in results]})
        return
    if not results:
        emit_text(f"The store has no publications yet (publish with --publish); nothing pushed to {target}.")
        return
    emit_frame(pd.DataFrame([r.to_dict() for r in results]), title=f"pushed into {target}")
    n = sum(r.new for r in results)
    emit_text(f"{n} new publication(s) pushed, {len(results) - n} already there.")


@serving_app.command("status")
def serving_status(
    serving: str | None = ServingOpt,
    store: Path | None = StoreOpt,
    as_json: bool = JsonOpt,
) -> None:
    """The serving database: revision, rows per table, publications."""
    from scoring.workflows.serving import serving_status as status

    res = status(serving, beside=_beside(store, serving))
    if as_json:
        emit_json(res)
        return
    emit_fields(
        {
            "serving": res["serving"],
            "revision": res["revision"] or "(not migrated: scoring serving upgrade)",
            "head": res["head"],
        },
        title="serving database",
    )
    if res["tables"]:
        emit_frame(pd.DataFrame(list(res["tables"].items()), columns=["table", "rows"]), title="tables")
    if res["publications"]:
        emit_frame(pd.DataFrame(res["publications"]), title="publications")
