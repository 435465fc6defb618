"""The store's Parquet copy (存储的 Parquet 副本): what the as-of timeline needs, for engines that read files.

The Spark feature engine (:mod:`scoring.features.engine_spark`) does not read the DuckDB file: it reads
this copy, written by :func:`export_parquet` (``scoring archive export-parquet``)::

    <folder>/records/bucket=<k>/*.parquet    the record columns the as-of rule and the features read
    <folder>/subjects/bucket=<k>/*.parquet   subject_id, subject_type, positive_opt_out, registered_on, industry_code
    <folder>/links/*.parquet                 organisation_id, person_id, valid_from, valid_to
    <folder>/manifest.json                   the store's fingerprint, bucket count, row counts

Records and subjects are bucketed by subject (``bucket = hash(subject_id) % buckets``, DuckDB's
hash): all of a subject's rows sit in one bucket, so a reader can split the work by bucket.

This is a store-side artefact, not an output for people: like the DuckDB file it holds raw
subject IDs (ID card numbers, USCCs), so it lives beside the store (default ``<store>.parquet/``),
with the store's access rights, and is never handed out. Outputs for people stay masked or
pseudonymised (:mod:`scoring.core.privacy`). Only the columns the features need are copied
(no names, addresses, document numbers or source rows).

The copy is a snapshot: :func:`parquet_current` compares the manifest's fingerprint with the store's,
and :func:`ensure_parquet` writes the copy again when the store has changed since.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from scoring.archive.store import Store
from scoring.core.errors import StoreError

#: buckets of the records and subjects (a few per core of a cluster's executors: more buckets, smaller files)
DEFAULT_BUCKETS = 16
FORMAT_VERSION = "1"
RECORD_COLUMNS = (
    "subject_id",
    "record_id",
    "record_type",
    "severity",
    "amount",
    "grade",
    "event_date",
    "repaired_on",
    "objection_raised_on",
    "objection_resolved_on",
    "objection_outcome",
    "revoked_on",
    "list_entry_on",
    "list_exit_on",
)
SUBJECT_COLUMNS = ("subject_id", "subject_type", "positive_opt_out", "registered_on", "industry_code")
LINK_COLUMNS = ("organisation_id", "person_id", "valid_from", "valid_to")
#: the store's link history, as the feature engines read it (valid_from <= D < valid_to; NULL: open)
LINKS_QUERY = "SELECT DISTINCT organisation_id, person_id, valid_from, valid_to FROM links"


@dataclass(frozen=True)
class ParquetCopy:
    """A written Parquet copy of a store."""

    folder: Path
    fingerprint: str
    buckets: int
    rows: dict[str, int]
    written: bool  # False: an up-to-date copy was already there

    def to_dict(self) -> dict:
        return {
            "folder": str(self.folder),
            "fingerprint": self.fingerprint,
            "buckets": self.buckets,
            "rows": self.rows,
            "written": self.written,
        }


def default_folder(store: Store) -> Path:
    """Where a store's Parquet copy goes by default: ``<store file>.parquet/`` beside it."""
    return store.path.with_name(store.path.name + ".parquet")


def read_manifest(folder: str | Path) -> dict | None:
    p = Path(folder) / "manifest.json"
    try:
        return json.loads(p.read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def parquet_current(store: Store, folder: str | Path) -> bool:
    """Is the copy in ``folder`` complete and of the store as it is now (same fingerprint)?"""
    m = read_manifest(folder)
    return bool(m) and m.get("format") == FORMAT_VERSION and m.get("fingerprint") == store.fingerprint()  # type: ignore[union-attr]


def export_parquet(
    store: Store, folder: str | Path | None = None, *, buckets: int = DEFAULT_BUCKETS, links_query: str = LINKS_QUERY
) -> ParquetCopy:
    """Write the store's Parquet copy to ``folder`` (default :func:`default_folder`), replacing any
    copy there. Written to a scratch folder beside it first and moved in place at the end, so a
    reader never sees half a copy. ``links_query``: the links (:data:`LINK_COLUMNS`) to copy."""
    if buckets < 1:
        raise StoreError(f"buckets must be at least 1, got {buckets}")
    out = Path(folder) if folder is not None else default_folder(store)
    out.parent.mkdir(parents=True, exist_ok=True)
    fingerprint = store.fingerprint()
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    con = store.con
    try:
        rows = {}
        tables = {
            "records": f"SELECT {', '.join(RECORD_COLUMNS)} FROM records",
            "subjects": f"SELECT {', '.join(SUBJECT_COLUMNS)} FROM subjects",
        }
        for name, query in tables.items():
            con.execute(
                f"COPY (SELECT *, CAST(hash(subject_id) % {int(buckets)} AS INTEGER) AS bucket FROM ({query})) "
                f"TO '{_q(tmp / name)}' (FORMAT parquet, COMPRESSION zstd, PARTITION_BY (bucket))"
            )
            rows[name] = con.execute(f"SELECT count(*) FROM ({query})").fetchall()[0][0]
        (tmp / "links").mkdir()
        links = f"SELECT {', '.join(LINK_COLUMNS)} FROM ({links_query})"
        con.execute(f"COPY ({links}) TO '{_q(tmp / 'links' / 'links.parquet')}' (FORMAT parquet, COMPRESSION zstd)")
        rows["links"] = con.execute(f"SELECT count(*) FROM ({links})").fetchall()[0][0]
        manifest = {
            "format": FORMAT_VERSION,
            "what": "the store's Parquet copy (store-side: raw IDs inside; never hand it out)",
            "store": store.path.name,
            "fingerprint": fingerprint,
            "buckets": buckets,
            "rows": rows,
            "written_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        }
        (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2), encoding="utf-8")
        if out.exists():
            old = out.with_name(out.name + ".old")
            shutil.rmtree(old, ignore_errors=True)
            os.replace(out, old)
            os.replace(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return ParquetCopy(out, fingerprint, buckets, rows, True)


def ensure_parquet(
    store: Store, folder: str | Path | None = None, *, buckets: int | None = None, links_query: str = LINKS_QUERY
) -> ParquetCopy:
    """The store's Parquet copy in ``folder``: the one there if it is current (and has ``buckets``
    buckets, when given), else written anew (with ``buckets``; default: as many as the old copy had,
    else :data:`DEFAULT_BUCKETS`)."""
    out = Path(folder) if folder is not None else default_folder(store)
    m = read_manifest(out)
    if m and parquet_current(store, out) and buckets in (None, m.get("buckets")):
        return ParquetCopy(out, m["fingerprint"], m["buckets"], m["rows"], False)
    buckets = buckets or int((m or {}).get("buckets") or DEFAULT_BUCKETS)
    return export_parquet(store, out, buckets=buckets, links_query=links_query)


def _q(p: Path) -> str:
    return str(p).replace("'", "''")
