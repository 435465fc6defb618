"""The embedded store: one DuckDB file holding a credit archive and everything derived from it.

Tables: ``subjects``, ``records`` (accepted archive rows), ``links`` (person-organisation links
with their validity dates), ``quarantine`` (rejected rows with
reasons and original values), ``ingest_batches`` (audit log with each quality report) and ``meta``.
No server is needed; the file is the store.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from scoring.core.errors import StoreError

SCHEMA_VERSION = "1"
DEFAULT_MEMORY_LIMIT = "4GB"

DDL = [
    """CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS subjects (
        subject_id VARCHAR NOT NULL,
        subject_type VARCHAR NOT NULL,
        name VARCHAR NOT NULL,
        industry_code VARCHAR,
        region_code VARCHAR NOT NULL,
        registered_on DATE,
        legal_rep_id VARCHAR,
        actual_controller_id VARCHAR,
        positive_opt_out BOOLEAN NOT NULL,
        id_warning VARCHAR,
        content_hash VARCHAR NOT NULL,
        batch_id VARCHAR NOT NULL,
        source_file VARCHAR NOT NULL,
        source_row BIGINT NOT NULL,
        address VARCHAR)""",
    """CREATE TABLE IF NOT EXISTS records (
        record_id VARCHAR NOT NULL,
        subject_id VARCHAR NOT NULL,
        record_type VARCHAR NOT NULL,
        event_date DATE NOT NULL,
        document_no VARCHAR,
        agency VARCHAR NOT NULL,
        severity VARCHAR,
        amount DOUBLE,
        grade VARCHAR,
        related_record_id VARCHAR,
        repaired_on DATE,
        objection_raised_on DATE,
        objection_resolved_on DATE,
        objection_outcome VARCHAR,
        revoked_on DATE,
        list_entry_on DATE,
        list_exit_on DATE,
        content_hash VARCHAR NOT NULL,
        batch_id VARCHAR NOT NULL,
        source_file VARCHAR NOT NULL,
        source_row BIGINT NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS quarantine (
        source_sha256 VARCHAR NOT NULL,
        table_name VARCHAR NOT NULL,
        source_row BIGINT NOT NULL,
        source_file VARCHAR NOT NULL,
        batch_id VARCHAR NOT NULL,
        reason VARCHAR NOT NULL,
        field VARCHAR,
        detail VARCHAR,
        reasons VARCHAR[] NOT NULL,
        original JSON NOT NULL)""",
    # Earlier versions of rows a later batch replaced (lineage, not content): with them the archive
    # can be rebuilt as it was known after any batch, so published results can be re-derived exactly.
    """CREATE TABLE IF NOT EXISTS subjects_history AS
        SELECT *, CAST(NULL AS VARCHAR) AS superseded_batch FROM subjects LIMIT 0""",
    """CREATE TABLE IF NOT EXISTS records_history AS
        SELECT *, CAST(NULL AS VARCHAR) AS superseded_batch FROM records LIMIT 0""",
    # Person-organisation links (法定代表人 / 实际控制人) with their history: a link counts on day D
    # when valid_from <= D < valid_to (NULL: from the beginning / still valid). Kept by ingestion
    # (scoring.archive.write.links_plan): a later export that changes a link closes the old one and
    # opens the new one, so features at earlier dates never change after the fact.
    """CREATE TABLE IF NOT EXISTS links (
        organisation_id VARCHAR NOT NULL,
        person_id VARCHAR NOT NULL,
        role VARCHAR NOT NULL,
        valid_from DATE,
        valid_to DATE,
        opened_batch VARCHAR NOT NULL,
        closed_batch VARCHAR)""",
    # Published outputs (score snapshots, grade lists): kept, never overwritten (scoring.lineage.publish).
    """CREATE TABLE IF NOT EXISTS publications (
        publication_id VARCHAR PRIMARY KEY,
        kind VARCHAR NOT NULL,
        scope VARCHAR NOT NULL,
        as_of DATE NOT NULL,
        model_name VARCHAR NOT NULL,
        model_version VARCHAR NOT NULL,
        model_content_version VARCHAR NOT NULL,
        run_id VARCHAR NOT NULL,
        store_batch VARCHAR NOT NULL,
        store_fingerprint VARCHAR NOT NULL,
        content_hash VARCHAR NOT NULL,
        n_rows BIGINT NOT NULL,
        created_at TIMESTAMP NOT NULL,
        files JSON NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS published_results (
        publication_id VARCHAR NOT NULL,
        subject_id VARCHAR NOT NULL,
        result VARCHAR,
        detail JSON NOT NULL)""",
    # The configs in force at each publication (scoring.lineage.configs): every file of a config
    # bundle with its content, kept once per bundle hash, and the bundle each publication recorded.
    # Additive: a store made before them gets them on its next opening for writing; read-only
    # openings of such a store find none (its publications justify with today's configs).
    """CREATE TABLE IF NOT EXISTS config_files (
        bundle_hash VARCHAR NOT NULL,
        path VARCHAR NOT NULL,
        sha256 VARCHAR NOT NULL,
        content BLOB NOT NULL,
        PRIMARY KEY (bundle_hash, path))""",
    """CREATE TABLE IF NOT EXISTS publication_configs (
        publication_id VARCHAR PRIMARY KEY,
        bundle_hash VARCHAR NOT NULL,
        recorded_at TIMESTAMP NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS ingest_batches (
        batch_id VARCHAR PRIMARY KEY,
        started_at TIMESTAMP NOT NULL,
        finished_at TIMESTAMP NOT NULL,
        export_date DATE NOT NULL,
        files JSON NOT NULL,
        rows_read BIGINT NOT NULL,
        accepted BIGINT NOT NULL,
        quarantined BIGINT NOT NULL,
        report JSON NOT NULL)""",
]

#: Tables whose content defines the archive (what the fingerprint covers).
DATA_TABLES = ("subjects", "records", "quarantine", "links")
#: Columns that are lineage, not content (left out of the fingerprint).
LINEAGE_COLUMNS = ("batch_id", "source_file", "opened_batch", "closed_batch")


def scratch_path(store_path: str | Path) -> Path:
    """The scratch database an ingest stages its input in (beside the store; raw IDs inside)."""
    p = Path(store_path)
    return p.with_name(p.name + ".ingest-scratch")


def remove_scratch(store_path: str | Path) -> None:
    """Remove an ingest's scratch database (and its WAL)."""
    s = scratch_path(store_path)
    for p in (s, Path(str(s) + ".wal")):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


#: The links a ``subjects`` table holds, valid from the beginning (a store without a ``links`` table).
BACKFILL_LINKS = """
    SELECT subject_id, legal_rep_id, 'legal_rep', CAST(NULL AS DATE), CAST(NULL AS DATE), batch_id, NULL
    FROM subjects WHERE legal_rep_id IS NOT NULL
    UNION ALL
    SELECT subject_id, actual_controller_id, 'actual_controller', NULL, NULL, batch_id, NULL
    FROM subjects WHERE actual_controller_id IS NOT NULL"""


def _history_links(col: str, role: str) -> str:
    return f"""
    WITH v AS (
        SELECT x.subject_id, x.{col} AS person_id, x.batch_id, b.export_date, b.finished_at
        FROM (SELECT subject_id, {col}, batch_id FROM subjects WHERE subject_type <> 'person'
              UNION ALL SELECT subject_id, {col}, batch_id FROM subjects_history WHERE subject_type <> 'person') x
        LEFT JOIN ingest_batches b USING (batch_id)
    ), o AS (
        SELECT *, row_number() OVER w AS k, lag(person_id) OVER w AS prev_person FROM v
        WINDOW w AS (PARTITION BY subject_id ORDER BY export_date, finished_at, batch_id)
    ), c AS (  -- the versions that changed the link (and every organisation's first version)
        SELECT *, lead(export_date) OVER w AS next_on, lead(batch_id) OVER w AS next_batch FROM o
        WHERE k = 1 OR person_id IS DISTINCT FROM prev_person
        WINDOW w AS (PARTITION BY subject_id ORDER BY k)
    )
    SELECT subject_id, person_id, '{role}', CASE WHEN k > 1 THEN export_date END, next_on, batch_id, next_batch
    FROM c WHERE person_id IS NOT NULL"""


#: A store made before the link history: its links rebuilt from the subjects' versions (the current
#: rows and ``subjects_history``), each change dated at the export date of the batch that brought it,
#: the first version's links valid from the beginning, as ingestion would have kept them.
HISTORY_LINKS = (
    f"SELECT * FROM ({_history_links('legal_rep_id', 'legal_rep')}) "
    f"UNION ALL SELECT * FROM ({_history_links('actual_controller_id', 'actual_controller')})"
)


class Store:
    """A DuckDB-file store. Use :func:`open_store` to get one."""

    def __init__(self, path: str | Path, read_only: bool = False):
        self.path = Path(path)
        self.read_only = read_only
        self._fingerprint: tuple[tuple[Any, ...], str] | None = None
        if read_only and not self.path.exists():
            raise StoreError(f"{self.path}: no store here; create one with `scoring ingest ... --store {self.path}`")
        if not read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self.con = duckdb.connect(str(self.path), read_only=read_only)
        except duckdb.Error as exc:  # locked, corrupt, wrong version
            raise StoreError(f"{self.path}: cannot open the store: {exc}") from None
        threads = os.environ.get("XINYI_THREADS")
        if threads:
            self.con.execute(f"SET threads = {int(threads)}")
        # Bounded memory: DuckDB spills to <store>.tmp beyond this (its own default is 80% of RAM).
        limit = os.environ.get("XINYI_MEMORY_LIMIT", DEFAULT_MEMORY_LIMIT)
        try:
            self.con.execute(f"SET memory_limit = '{limit.replace(chr(39), '')}'")
        except duckdb.Error as exc:
            raise StoreError(f"XINYI_MEMORY_LIMIT={limit!r} is not a memory size such as 4GB ({exc})") from None
        self.con.execute("SET preserve_insertion_order = false")
        if not read_only:
            self._init_schema()
            # this connection holds the store's write lock: a scratch database left beside it by an
            # ingest that was killed (kill -9, power loss) is stale, and holds raw IDs: remove it
            remove_scratch(self.path)

    def _init_schema(self) -> None:
        had_links = self._has_table("links")
        for stmt in DDL:
            self.con.execute(stmt)
        # optional columns added after a store was made (住所: address): added when missing, so
        # existing stores keep opening (written by name: scoring.archive.write)
        for table in ("subjects", "subjects_history"):
            self.con.execute(f"ALTER TABLE {table} ADD COLUMN IF NOT EXISTS address VARCHAR")
        if not had_links:
            # a store made before the link history: its links rebuilt from the subjects' versions
            # (an organisation ingested once: its links count from the beginning, as until now)
            self.con.execute(f"INSERT INTO links {HISTORY_LINKS}")
        rows = self.con.execute("SELECT value FROM meta WHERE key='schema_version'").fetchall()
        have = rows[0] if rows else None
        if have is None:
            self.con.execute("INSERT INTO meta VALUES ('schema_version', ?)", [SCHEMA_VERSION])
            self.con.execute("INSERT INTO meta VALUES ('pseudonym_key', ?)", [secrets.token_hex(32)])
        elif have[0] != SCHEMA_VERSION:
            raise StoreError(f"{self.path}: store schema {have[0]} is not {SCHEMA_VERSION}; re-ingest into a new store")

    def _has_table(self, name: str) -> bool:
        return bool(
            self.con.execute(
                "SELECT count(*) FROM information_schema.tables WHERE table_name = ? AND table_schema = 'main' "
                "AND table_catalog = current_database()",
                [name],
            ).fetchall()[0][0]
        )

    # -- access ----------------------------------------------------------------------------
    def sql(self, query: str, params: list | None = None) -> pd.DataFrame:
        return self.con.execute(query, params or []).df()

    def arrow(self, query: str, params: list | None = None):
        """Run a query and fetch the result as a pyarrow Table (DuckDB 1.x and 2.x)."""
        rel = self.con.sql(query, params=params) if params else self.con.sql(query)
        return (getattr(rel, "to_arrow_table", None) or rel.arrow)()

    def polars(self, query: str, params: list | None = None):
        import polars as pl

        return pl.from_arrow(self.arrow(query, params))

    def table(self, name: str) -> pd.DataFrame:
        return self.sql(f"SELECT * FROM {name}")

    def count(self, name: str) -> int:
        return int(self.con.execute(f"SELECT count(*) FROM {name}").fetchall()[0][0])

    @property
    def pseudonym_key(self) -> bytes:
        rows = self.con.execute("SELECT value FROM meta WHERE key='pseudonym_key'").fetchall()
        row = rows[0] if rows else None
        return bytes.fromhex(row[0]) if row else b""

    @contextlib.contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """All-or-nothing: commit on success, roll back on any exception (or interruption)."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield self.con
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        else:
            self.con.execute("COMMIT")

    def fingerprint(self, tables: tuple[str, ...] = DATA_TABLES) -> str:
        """Content hash of the archive tables: independent of row order and of the file layout.

        The archive tables change only by ingestion, which records a batch in the same transaction
        and calls :meth:`changed` first (so a failed ingest is hashed again too): the hash is kept
        until then, or until the batches change on another connection (hashing reads every row)."""
        if tables != DATA_TABLES:
            return self._hash(tables)
        state = self.con.execute("SELECT count(*), max(batch_id), max(finished_at) FROM ingest_batches").fetchall()[0]
        cached = self._fingerprint
        if cached is None or cached[0] != state:
            cached = (state, self._hash(tables))
            self._fingerprint = cached
        return cached[1]

    def changed(self) -> None:
        """The archive tables are about to change on this connection: forget the cached fingerprint."""
        self._fingerprint = None

    def _hash(self, tables: tuple[str, ...]) -> str:
        h = hashlib.sha256()
        for t in tables:
            if t == "links" and not self._has_table(t):  # a store from before the link history, opened read-only
                continue
            cols = [
                r[0]
                for r in self.con.execute(
                    "SELECT column_name FROM information_schema.columns WHERE table_name=? ORDER BY ordinal_position",
                    [t],
                ).fetchall()
            ]
            # batch ids and file paths are lineage, not content: the same archive ingested from
            # another folder or in another batch has the same fingerprint
            cols = [c for c in cols if c not in LINEAGE_COLUMNS]
            row = ", ".join(f'"{c}"' for c in cols)
            n, x = self.con.execute(
                f"SELECT count(*), coalesce(bit_xor(md5_number(CAST(ROW({row}) AS VARCHAR))), 0) FROM {t}"
            ).fetchall()[0]
            h.update(f"{t}:{n}:{x};".encode())
        return h.hexdigest()

    def summary(self) -> dict:
        return {
            "path": str(self.path),
            "subjects": self.count("subjects"),
            "records": self.count("records"),
            "quarantine": self.count("quarantine"),
            "batches": self.count("ingest_batches"),
            "fingerprint": self.fingerprint(),
        }

    def last_report(self) -> dict | None:
        rows = self.con.execute("SELECT report FROM ingest_batches ORDER BY finished_at DESC LIMIT 1").fetchall()
        row = rows[0] if rows else None
        return json.loads(row[0]) if row else None

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_store(path: str | Path, read_only: bool = False) -> Store:
    """Open (creating if needed) the DuckDB store at ``path``."""
    return Store(path, read_only=read_only)
