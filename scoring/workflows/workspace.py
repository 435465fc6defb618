"""Where a job reads and writes, and the rules every workflow shares.

A :class:`Workspace` is a store (the DuckDB file), the MLflow tracking URI that records its models
(by default ``mlflow.db`` in the store's folder, or ``MLFLOW_TRACKING_URI``) and the folder outputs
go to (by default the store's folder: ``work/`` after ``scoring demo --workdir work``). Nothing is
ever written into the installed package.

The store is found in this order (:func:`find_store`): an explicit path, ``$XINYI_STORE``, then
``work/store.duckdb`` in the current folder when it exists (what ``make demo`` leaves behind).

Also here: the date rule (no date after the archive's export date), how a subject is named (an
ID number, a USCC, or the keyed pseudonym ``subject_key`` of every export) and the translation of
the library's lookup failures into :class:`~scoring.core.errors.NotFoundError`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from scoring.archive.store import Store
from scoring.core.errors import DataError, NotFoundError, StoreError, XinyiError
from scoring.core.privacy import pseudonym

Progress = Callable[[str], None]
STORE_ENV = "XINYI_STORE"
DEFAULT_STORE = Path("work") / "store.duckdb"
_PSEUDONYM = re.compile(r"S[a-z2-7]{16}")


def quiet(_: str) -> None:
    """A progress callback that says nothing."""


def find_store(path: str | Path | None = None) -> Path:
    """The store file: ``path``, else ``$XINYI_STORE``, else ``work/store.duckdb`` when it exists."""
    if path:
        return Path(path)
    env = os.environ.get(STORE_ENV)
    if env:
        return Path(env)
    if DEFAULT_STORE.exists():
        return DEFAULT_STORE
    raise StoreError(
        f"no store given and no {DEFAULT_STORE} here: pass --store FILE, set {STORE_ENV}=FILE, "
        "or run `scoring demo --workdir work` first"
    )


@dataclass(frozen=True)
class Workspace:
    """A store, its MLflow tracking URI and the folder outputs go to."""

    store_path: Path
    tracking_uri: str
    root: Path

    @classmethod
    def beside(
        cls, store_path: str | Path, tracking_uri: str | None = None, root: str | Path | None = None
    ) -> Workspace:
        """The workspace of a store: MLflow and outputs in the store's folder unless given."""
        from scoring.lineage.tracking import default_tracking_uri

        p = Path(store_path)
        folder = Path(root) if root is not None else p.parent
        return cls(p, tracking_uri or default_tracking_uri(folder), folder)

    @classmethod
    def find(cls, store: str | Path | None = None, tracking_uri: str | None = None) -> Workspace:
        """The workspace of :func:`find_store`."""
        return cls.beside(find_store(store), tracking_uri)

    @property
    def artifacts(self) -> Path:
        """Where new MLflow experiments keep their artefacts."""
        return self.root / "mlartifacts"

    def path(self, *parts: str) -> Path:
        """A default output path under the workspace folder."""
        return self.root.joinpath(*parts)

    def open(self, write: bool = False) -> Store:
        from scoring.archive.store import open_store

        return open_store(self.store_path, read_only=not write)


@contextlib.contextmanager
def not_found() -> Iterator[None]:
    """Turn a library lookup failure about something the user named (a model alias or version, a
    publication, a subject) into :class:`NotFoundError`; xinyi errors pass through."""
    try:
        yield
    except XinyiError:
        raise
    except LookupError as exc:  # KeyError too: its message is the first argument
        raise NotFoundError(str(exc.args[0]) if exc.args else type(exc).__name__) from exc


@contextlib.contextmanager
def data_errors() -> Iterator[None]:
    """Turn a library ValueError about the user's input (a model for another industry, dates in the
    wrong order) into :class:`DataError`; use only around calls whose ValueErrors are such."""
    try:
        yield
    except XinyiError:
        raise
    except ValueError as exc:
        raise DataError(str(exc)) from exc


def as_date(value: dt.date | str, what: str = "date") -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise DataError(f"{what} must be a date like 2026-06-30, got {value!r}") from None


def export_date(store: Store) -> dt.date | None:
    """The archive's export date: the latest of its ingest batches (None before any ingest)."""
    row = store.con.execute("SELECT max(export_date) FROM ingest_batches").fetchall()[0][0]
    if row is None:
        return None
    return row if isinstance(row, dt.date) else dt.date.fromisoformat(str(row))


def check_date(store: Store, value: dt.date | str, what: str = "--as-of") -> dt.date:
    """``value`` as a date, refused when it is after the archive's export date (nothing is known
    after it, so a score or grade for that date would be a guess)."""
    day = as_date(value, what)
    last = export_date(store)
    if last is None:
        raise DataError(f"{store.path}: the store holds no archive yet; ingest one with `scoring ingest`")
    if day > last:
        raise DataError(
            f"{what} {day} is after the archive's export date {last}: nothing is known after it; "
            f"use a date up to {last} (or ingest a later export)"
        )
    return day


def resolve_subject(store: Store, subject: str) -> str:
    """The subject id for an ID number, a USCC or a keyed pseudonym (``subject_key`` in the
    store's exports: scores, features); raises NotFoundError for an unknown pseudonym."""
    text = subject.strip()
    if not _PSEUDONYM.fullmatch(text):
        return text.upper()
    key = store.pseudonym_key
    ids = store.sql("SELECT subject_id FROM subjects WHERE subject_type = 'person'")["subject_id"]
    hit = next((s for s in ids if pseudonym(str(s), key) == text), None)
    if hit is None:
        raise NotFoundError(f"no person with the key {text} in {store.path} (keys are per store)")
    return str(hit)
