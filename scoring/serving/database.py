"""Connecting to the serving database: a SQLite file by default, PostgreSQL in production.

:func:`serving_url` resolves where it is (``--serving URL``, else ``$XINYI_SERVING_URL``, else the
SQLite file ``serving.sqlite`` beside the store); :func:`connect` gives an engine with the schema
brought up to date.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Engine

from scoring.core.errors import ConfigError, StoreError

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


def _json(value: Any) -> str:
    """JSON cells as UTF-8 text (Chinese stays readable and small); numpy scalars, dates and NaN
    (null: PostgreSQL's json rejects NaN) converted when plain JSON fails."""
    try:
        return json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError):  # numpy scalars, dates, NaN: made JSON-ready first
        return json.dumps(_jsonable(value), ensure_ascii=False, allow_nan=False, default=str)


def _jsonable(v: Any) -> Any:
    """``v`` with numpy / pandas scalars, dates and NaN made JSON-ready (NaN: null)."""
    import datetime as dt

    import numpy as np

    if v is None or isinstance(v, (str, bool, int)):
        return v
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, np.ndarray)):
        return [_jsonable(x) for x in list(v)]
    if isinstance(v, np.bool_):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v) if np.isfinite(v) else None
    if isinstance(v, dt.datetime):
        return v.isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    try:
        import pandas as pd

        if v is pd.NA or v is pd.NaT:
            return None
    except ImportError:  # pragma: no cover
        pass
    return v


def engine(url: str) -> Engine:
    """An engine for ``url`` (no schema change)."""
    try:
        u = sa.engine.make_url(url)
    except sa.exc.ArgumentError as e:
        raise ConfigError(f"serving database URL {url!r} is not a database URL: {e}") from e
    if u.get_backend_name() == "sqlite":
        if u.database:
            Path(u.database).parent.mkdir(parents=True, exist_ok=True)
        eng = sa.create_engine(u, connect_args={"check_same_thread": False}, json_serializer=_json)
        sa.event.listen(eng, "connect", _sqlite_pragmas)
        return eng
    if u.get_backend_name() != "postgresql":
        raise ConfigError(f"serving database {u.render_as_string(hide_password=True)}: use sqlite:/// or postgresql://")
    return sa.create_engine(u, pool_size=10, max_overflow=20, pool_pre_ping=True, json_serializer=_json)


MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def _alembic_config(connection: sa.Connection | None = None) -> Config:
    """The Alembic configuration of the serving migrations, built in code (no alembic.ini): the
    scripts live inside the package (``scoring/serving/migrations``), so an installed wheel migrates too."""
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = connection
    return cfg


def head() -> str:
    """The newest revision of the migrations (what :func:`upgrade` brings a database to)."""
    rev = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert rev is not None, "the serving migrations have a head revision"
    return rev


def upgrade(eng: Engine, revision: str = "head") -> str:
    """Bring the serving database of ``eng`` to ``revision`` (Alembic ``upgrade head``); returns the
    revision it is at. Running it again changes nothing."""
    try:
        with eng.begin() as conn:
            command.upgrade(_alembic_config(conn), revision)
    except sa.exc.OperationalError as e:
        raise StoreError(
            f"serving database {shown(eng.url)}: cannot migrate ({e.orig}); check the URL and the server"
        ) from e
    rev = current_revision(eng)
    assert rev is not None
    return rev


def current_revision(eng: Engine) -> str | None:
    """The revision the database is at (None: never migrated)."""
    with eng.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def revision(eng: Engine) -> str | None:
    """The revision the serving database of ``eng`` is at (None: not migrated yet)."""
    try:
        return current_revision(eng)
    except sa.exc.OperationalError as e:
        raise StoreError(
            f"serving database {shown(eng.url)}: cannot read it ({e.orig}); check the URL and the server"
        ) from e


def shown(url: str | sa.URL) -> str:
    """``url`` as it may be printed or logged: the password hidden (``***``)."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "<not a database URL>"


def connect(url: str, *, upgrade: bool = True) -> Engine:
    """An engine for the serving database at ``url``, its schema brought up to date (Alembic
    ``upgrade head``) when ``upgrade``."""
    eng = engine(url)
    if upgrade:
        _upgrade(eng)
    return eng


_upgrade = upgrade
