"""``scoring ingest``: load credit-archive files into the store, losing nothing.

Each input (a CSV or Parquet file, or every sheet of a workbook that holds an archive table) is
streamed into a DuckDB staging table as text (:mod:`scoring.archive.read`), every row is checked
(:mod:`scoring.archive.check`), good rows go to ``subjects``/``records`` and bad rows to
``quarantine`` with a reason code, the field, a detail and the original values
(:mod:`scoring.archive.write`). The whole ingest is one transaction: if it fails or is interrupted
the store is exactly as it was, and the scratch database (a staged copy of the input, raw IDs
included) is removed. Invariants:

* input rows = accepted + quarantined, every data row of every table counted (a ragged or
  undecodable CSV row, a formula cell without a value: quarantined with its line or cell);
* stray files (lock files, ``._*``, readme/notes), identical duplicate files and workbook sheets
  without an archive table are skipped and listed in the result and the report;
* re-ingesting the same rows changes nothing, in any format: records are keyed by record id /
  subject id and content, the quarantine by content;
* person-organisation links keep their history (table ``links``): a later export that changes a
  legal representative / actual controller closes the old link and opens the new one
  (:func:`scoring.archive.write.links_plan`); rows accepted with a warning (a repair before the end of
  the minimum publicity period) are counted in the report's ``accepted_with_warning``;
* every failure is a :class:`~scoring.core.errors.XinyiError` naming the file (and row or field):
  :class:`~scoring.core.errors.InputFileError` for an input, :class:`~scoring.core.errors.StoreError`
  for the store (disk full, locked).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import duckdb
from pydantic import BaseModel, ConfigDict

from scoring.archive import read
from scoring.archive.catalog import Catalog, load_catalog
from scoring.archive.check import MACROS, catalog_table, check_records, check_subjects, ident
from scoring.archive.quality import QualityReport, build_report
from scoring.archive.read import SUPPORTED, Chunk, FastReaderFailed, describe, expand_inputs
from scoring.archive.reasons import SourceFile
from scoring.archive.store import Store, remove_scratch, scratch_path
from scoring.archive.write import links_plan, plan, quarantine, stage_table, staging_ddl, write, write_links
from scoring.core.config import config_dir, load_model
from scoring.core.errors import DataError, InputFileError, StoreError, XinyiError
from scoring.core.privacy import scrub

log = logging.getLogger(__name__)

__all__ = ["SUPPORTED", "IngestConfig", "IngestResult", "describe", "expand_inputs", "ingest", "load_ingest_config"]


class IngestConfig(BaseModel):
    """configs/ingest.yaml."""

    model_config = ConfigDict(extra="forbid")
    uscc_mode: Literal["strict", "allowlist", "warn"] = "allowlist"
    uscc_allowlist: list[str] = []
    report_examples: int = 20
    #: text encoding of CSV files (utf-8, gb18030, gbk, utf-16, ...); empty: detected per file
    csv_encoding: str | None = None


def load_ingest_config(path: str | Path | None = None) -> IngestConfig:
    p = Path(path) if path is not None else config_dir() / "ingest.yaml"
    return load_model(IngestConfig, p) if p.exists() or path is not None else IngestConfig()


@dataclass
class IngestResult:
    """What one ingest did. ``rows_read == accepted + quarantined`` always."""

    batch_id: str
    export_date: dt.date
    files: list[dict]
    rows_read: int
    accepted: int
    quarantined: int
    inserted: int
    updated: int
    unchanged: int
    by_reason: dict[str, int]
    report: QualityReport
    report_path: Path | None = None
    skipped_files: list[dict] = field(default_factory=list)
    duplicate_files: list[dict] = field(default_factory=list)
    other_sheets: list[dict] = field(default_factory=list)
    quarantine_added: int = 0

    def to_dict(self) -> dict:
        return {
            "batch_id": self.batch_id,
            "export_date": self.export_date.isoformat(),
            "files": self.files,
            "skipped_files": self.skipped_files,
            "duplicate_files": self.duplicate_files,
            "other_sheets": self.other_sheets,
            "rows_read": self.rows_read,
            "accepted": self.accepted,
            "quarantined": self.quarantined,
            "quarantine_added": self.quarantine_added,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "by_reason": self.by_reason,
            "report_path": str(self.report_path) if self.report_path else None,
            "quality": self.report.to_dict(),
        }


SCRATCH = "xinyi_ingest_scratch"


def _shown(items: list[dict]) -> list[dict]:
    """Paths and names as they may be shown (controls stripped, ID numbers masked)."""
    return [{k: scrub(v, newlines=False) if isinstance(v, str) else v for k, v in d.items()} for d in items]


def _stage_source(con: Any, src: SourceFile, order: int) -> int:
    """Stage every row of one source; returns the next order number. A CSV the fast reader cannot
    take whole (a ragged or undecodable row, quoted newlines) is staged again by the exact reader."""
    for exact in (False, True):
        row, nxt = 1, order
        try:
            for chunk in read.chunks(src, exact=exact):
                _insert(con, src, chunk, row, nxt)
                row += chunk.table.num_rows
                nxt += chunk.table.num_rows
            return nxt
        except FastReaderFailed:
            con.execute(f"DELETE FROM stg_{src.table} WHERE _sha = ?", [src.sha256])
    raise AssertionError("unreachable")  # the exact reader raises InputFileError or finishes


def _insert(con: Any, src: SourceFile, chunk: Chunk, first_row: int, order: int) -> None:
    staged = stage_table(src, chunk, first_row, order)
    con.register("stage_arrow", staged)
    try:
        con.execute(f"INSERT INTO stg_{src.table} BY NAME SELECT * FROM stage_arrow")
    finally:
        con.unregister("stage_arrow")


def _store_error(store: Store, exc: BaseException) -> StoreError:
    msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    hint = "free disk space and run the ingest again" if "space" in msg.lower() else "run the ingest again"
    return StoreError(
        f"{store.path}: the ingest failed writing its data ({scrub(msg, newlines=False)}); the store is unchanged; {hint}"
    )


def ingest(
    files: Iterable[str | Path],
    store: Store,
    *,
    export_date: dt.date | None = None,
    catalog: Catalog | None = None,
    config: IngestConfig | None = None,
    report_path: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
    encoding: str | None = None,
    _fail_after: str | None = None,  # test-only fault injection: staging | checks | write
) -> IngestResult:
    """Ingest credit-archive files (or folders of them) into ``store``.

    ``export_date``: the date the archive was exported; dates after it are rejected. Defaults to
    the folder's ``manifest.json`` or today. ``report_path``: where to write the quality report
    (JSON; a text copy is written beside it). ``encoding``: the text encoding of CSV files
    (default: detected; UTF-8, GB18030/GBK and UTF-16 with BOM are recognised).
    """
    say = progress or (lambda msg: log.info(msg))
    catalog = catalog or load_catalog()
    cfg = config or load_ingest_config()
    inputs = expand_inputs(files)
    export_date = export_date or inputs.export_date or dt.date.today()
    sources: list[SourceFile] = []
    seen: dict[str, Path] = {}
    duplicates: list[dict] = []
    other_sheets: list[dict] = []
    try:
        for p in inputs.files:
            try:
                sha = read.sha256_file(p)
            except OSError as exc:
                raise InputFileError(f"{scrub(str(p))}: cannot read: {exc.strerror or exc}") from None
            if sha in seen:
                say(f"skipping {scrub(str(p))}: same content as {scrub(str(seen[sha]))}")
                duplicates.append({"path": str(p), "same_as": str(seen[sha]), "sha256": sha})
                continue
            seen[sha] = p
            found = describe(p, encoding=encoding or cfg.csv_encoding)
            sources.extend(found.sources)
            other_sheets.extend(found.other_sheets)
        sources.sort(key=lambda s: 0 if s.table == "subjects" else 1)
        notes = {
            "skipped_files": _shown(inputs.skipped),
            "duplicate_files": _shown(duplicates),
            "other_sheets": _shown(other_sheets),
        }
        return _run(sources, store, export_date, catalog, cfg, report_path, say, notes, _fail_after)
    finally:
        read.clear_caches()


def _run(
    sources: list[SourceFile],
    store: Store,
    export_date: dt.date,
    catalog: Catalog,
    cfg: IngestConfig,
    report_path: str | Path | None,
    say: Callable[[str], None],
    notes: dict[str, list[dict]],
    _fail_after: str | None,
) -> IngestResult:
    batch_id = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
    started = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    store.changed()
    con = store.con
    main_name = con.execute("SELECT current_database()").fetchall()[0][0]
    main = ident(main_name)
    scratch = scratch_path(store.path)
    remove_scratch(store.path)
    # Staging and checks live in a disk-backed scratch database beside the store (bounded memory);
    # only the final apply touches the store, in one transaction.
    try:
        con.execute(f"ATTACH ? AS {SCRATCH}", [str(scratch)])
    except duckdb.Error as exc:
        remove_scratch(store.path)
        raise _store_error(store, exc) from None
    added = 0
    try:
        con.execute(f"USE {SCRATCH}")
        for m in MACROS:
            con.execute(m)
        catalog_table(con, catalog)
        for table in ("subjects", "records"):
            con.execute(staging_ddl(table))
        order = 0
        for src in sources:
            say(scrub(f"reading {src.path.name}{f' sheet {src.sheet}' if src.sheet else ''} ({src.kind}, {src.table})"))
            order = _stage_source(con, src, order)
        if _fail_after == "staging":
            raise RuntimeError("injected failure after staging")
        say("checking subjects")
        check_subjects(con, export_date, cfg.uscc_mode, cfg.uscc_allowlist)
        say("checking records")
        check_records(con, export_date, main)
        links_plan(con, main, export_date)
        counts = {"insert": 0, "update": 0, "unchanged": 0}
        plans = {}
        for table, key in (("subjects", "subject_id"), ("records", "record_id")):
            plans[table] = plan(con, table, key, main)
            for k, v in plans[table].items():
                counts[k] += v
        if _fail_after == "checks":
            raise RuntimeError("injected failure after checks")
        say("building the quality report")
        report = build_report(con, sources, export_date, batch_id, catalog, cfg.report_examples, notes)
        if report.rows_read != report.accepted + report.quarantined:
            raise AssertionError(
                f"conservation broken: read {report.rows_read} != accepted {report.accepted} + quarantined {report.quarantined}"
            )
        files_info = [
            {
                "path": scrub(s.label, newlines=False),
                "table": s.table,
                "format": s.kind,
                "sheet": s.sheet,
                "encoding": s.encoding,
                "sha256": s.sha256,
                "dropped_forbidden_columns": [scrub(c, newlines=False) for c in s.dropped_forbidden],
                "ignored_columns": [scrub(c, newlines=False) for c in s.ignored],
            }
            for s in sources
        ]
        say("writing to the store")
        with store.transaction():
            for table, key in (("subjects", "subject_id"), ("records", "record_id")):
                write(con, table, key, main, main_name, batch_id, plans[table])
                added += quarantine(con, table, main, batch_id)
            write_links(con, main, batch_id)
            finished = dt.datetime.now(dt.UTC).replace(tzinfo=None)
            con.execute(
                f"INSERT INTO {main}.ingest_batches VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    batch_id,
                    started,
                    finished,
                    export_date,
                    json.dumps(files_info, ensure_ascii=False),
                    report.rows_read,
                    report.accepted,
                    report.quarantined,
                    json.dumps(report.to_dict(), ensure_ascii=False),
                ],
            )
            pause = os.environ.get("XINYI_INGEST_PAUSE_IN_TRANSACTION")  # fault-injection point for tests
            if pause:
                say("paused inside the transaction")
                time.sleep(float(pause))
            if _fail_after == "write":
                raise RuntimeError("injected failure inside the store transaction")
    except XinyiError:
        raise
    except duckdb.Error as exc:  # disk full, I/O errors, out of memory in the scratch database
        raise _store_error(store, exc) from None
    except OSError as exc:
        raise _store_error(store, exc) from None
    finally:
        try:
            con.execute(f"USE {main}")
            con.execute(f"DETACH {SCRATCH}")
        except duckdb.Error:
            pass
        remove_scratch(store.path)
    out_path = None
    if report_path is not None:
        try:
            out_path = report.write(report_path)
        except OSError as exc:
            raise DataError(
                f"{report_path}: the ingest was stored (batch {batch_id}) but its quality report could not be "
                f"written ({exc.strerror or exc}); `scoring info` shows the report"
            ) from None
    return IngestResult(
        batch_id=batch_id,
        export_date=export_date,
        files=files_info,
        rows_read=report.rows_read,
        accepted=report.accepted,
        quarantined=report.quarantined,
        inserted=counts["insert"],
        updated=counts["update"],
        unchanged=counts["unchanged"],
        by_reason=report.by_reason,
        report=report,
        report_path=out_path,
        skipped_files=notes["skipped_files"],
        duplicate_files=notes["duplicate_files"],
        other_sheets=notes["other_sheets"],
        quarantine_added=added,
    )


# -- readers during an ingest ------------------------------------------------------------------
def _signature(path: Path) -> tuple[tuple[int, int] | None, ...]:
    """(size, mtime) of the store file and its WAL: changes whenever anyone writes to the store."""
    out: list[tuple[int, int] | None] = []
    for p in (path, Path(str(path) + ".wal")):
        try:
            s = p.stat()
            out.append((s.st_size, s.st_mtime_ns))
        except FileNotFoundError:
            out.append(None)
    return tuple(out)


def next_path(store_path: str | Path) -> Path:
    """The new version of the store an :func:`ingest_path` builds before switching to it."""
    p = Path(store_path)
    return p.with_name(p.name + ".next")


def _unlink(*paths: Path) -> None:
    for p in paths:
        p.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def ingest_path(store_path: str | Path, files: Iterable[str | Path], **kwargs: Any) -> IngestResult:
    """Ingest into a new version of the store file and switch to it atomically, so that readers
    (``info``, ``features``, ``points``, ``grades``, ``justify``: read-only opens) keep working on
    the last committed state while the ingest runs.

    The store (checkpointed first) is copied to ``<store>.next``, the ingest runs there, the copy
    is closed and synced, and ``os.replace`` makes it the store. A kill -9 at any moment leaves the
    store exactly as before (a stale ``.next`` is removed by the next ingest) or as after. Ingests
    are serialised by a lock file; a process that wrote to the store meanwhile (e.g. a publication)
    makes the ingest fail with StoreError instead of losing that write. ``kwargs`` go to
    :func:`ingest`.
    """
    import fcntl
    import shutil

    path = Path(store_path)
    path.parent.mkdir(parents=True, exist_ok=True)
    nxt = next_path(path)
    nxt_wal = Path(str(nxt) + ".wal")
    lock = open(path.with_name(path.name + ".ingest-lock"), "a+")
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise StoreError(
                f"{path}: another ingest into this store is running; run this one when it has finished"
            ) from None
        _unlink(nxt, nxt_wal)
        remove_scratch(nxt)
        if path.exists():
            if Path(str(path) + ".wal").exists():  # fold a crashed writer's committed work in first
                Store(path).close()
            before = _signature(path)
            shutil.copyfile(path, nxt)
        else:
            before = _signature(path)
        try:
            with Store(nxt) as st:
                res = ingest(files, st, **kwargs)
                st.con.execute("CHECKPOINT")
            _fsync(nxt)
            if _signature(path) != before:
                raise StoreError(
                    f"{path}: the store was written to while the ingest ran (another command wrote to it); "
                    "nothing was changed: run the ingest again"
                )
            os.replace(nxt, path)
            _fsync(path.parent)
        finally:
            _unlink(nxt, nxt_wal)
            remove_scratch(nxt)
        return res
    finally:
        lock.close()
