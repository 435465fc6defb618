"""``scoring serve``: the platform service (regulator console and JSON API) on uvicorn."""

from __future__ import annotations

import os

import sqlalchemy as sa
import typer

from scoring.cli.common import emit_text
from scoring.core.errors import StoreError

HINT = "run `scoring demo` (writes work/serving.sqlite) or `scoring serving push --serving URL` first"


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)


def check_serving(url: str) -> None:
    """Refuse a serving database that does not exist or was never filled (the service would show nothing)."""
    from scoring.serving import database

    u = sa.engine.make_url(url)
    if u.get_backend_name() == "sqlite":
        if not u.database or u.database == ":memory:" or not os.path.isfile(u.database):
            raise StoreError(f"serving database {database.shown(url)} does not exist; {HINT}")
    eng = database.engine(url)
    try:
        rev = database.revision(eng)
    finally:
        eng.dispose()
    if rev is None:
        raise StoreError(f"serving database {database.shown(url)} has no tables yet; {HINT}")


def serve(
    serving: str | None = typer.Option(
        None,
        "--serving",
        metavar="URL",
        help="Serving database URL (default: $XINYI_SERVING_URL, else sqlite:///work/serving.sqlite).",
    ),
    host: str = typer.Option("127.0.0.1", "--host", help="Address to listen on (loopback by default)."),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="Port to listen on."),
    workers: int = typer.Option(1, "--workers", min=1, max=32, help="uvicorn worker processes."),
) -> None:
    """Start the platform service: the regulator console (Chinese pages) and the JSON API
    (/api/openapi.json) on the serving database."""
    import uvicorn

    from scoring.service.settings import MIGRATED_ENV, Settings
    from scoring.serving.database import connect, serving_url, shown

    url = serving_url(serving)
    check_serving(url)
    Settings.from_env(url)  # fails here (secret, single sign-on) rather than in every worker
    connect(url, upgrade=True).dispose()  # migrated once, not by every worker at the same time
    os.environ["XINYI_SERVING_URL"] = url  # the workers' factory reads it
    os.environ[MIGRATED_ENV] = url
    emit_text(f"xinyi service on http://{host}:{port}/ (serving database {shown(url)}); Ctrl-C stops it.")
    uvicorn.run(
        "scoring.service.app:app_from_env",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        proxy_headers=False,
        server_header=False,
        log_level="info",
    )
