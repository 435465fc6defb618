"""Connecting to the serving database: a SQLite file by default, PostgreSQL in production.

:func:`serving_url` resolves where it is (``--serving URL``, else ``$XINYI_SERVING_URL``, else the
SQLite file ``serving.sqlite`` beside the store); :func:`connect` gives an engine with the schema
brought up to date.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from scoring.core.errors import ConfigError
from scoring.serving.schema import metadata

DEFAULT_FILE = "serving.sqlite"
ENV = "XINYI_SERVING_URL"


def serving_url(url: str | None = None, beside: str | Path | None = None) -> str:
    """The serving database's URL: ``url``, else ``$XINYI_SERVING_URL``, else
    ``sqlite:///<folder of beside>/serving.sqlite`` (``beside``: the store file), else
    ``sqlite:///work/serving.sqlite``."""
    if url:
        return url
    if os.environ.get(ENV):
        return os.environ[ENV]
    folder = Path(beside).resolve().parent if beside else Path("work").resolve()
    return f"sqlite:///{folder / DEFAULT_FILE}"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cur = dbapi_connection.cursor()
    cur.execute("PRAGMA journal_mode=WAL")  # readers never wait for the writer
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


def engine(url: str) -> Engine:
    """An engine for ``url`` (no schema change)."""
    try:
        u = sa.engine.make_url(url)
    except sa.exc.ArgumentError as e:
        raise ConfigError(f"serving database URL {url!r} is not a database URL: {e}") from e
    if u.get_backend_name() == "sqlite":
        if u.database:
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        eng = sa.create_engine(u, connect_args={"check_same_thread": False})
        sa.event.listen(eng, "connect", _sqlite_pragmas)
        return eng
    if u.get_backend_name() != "postgresql":
        raise ConfigError(f"serving database {u.render_as_string(hide_password=True)}: use sqlite:/// or postgresql://")
    return sa.create_engine(u, pool_size=10, max_overflow=20, pool_pre_ping=True)


def connect(url: str, *, upgrade: bool = True) -> Engine:
    """An engine for the serving database at ``url``, its schema brought up to date when ``upgrade``."""
    eng = engine(url)
    if upgrade:
        metadata.create_all(eng)  # interim: replaced by the Alembic migrations (upgrade head)
    return eng
