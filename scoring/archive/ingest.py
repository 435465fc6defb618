"""``scoring ingest``: load credit-archive files into the store, losing nothing.

Each file (CSV, Parquet or Excel) is streamed into a DuckDB staging table as text, every row is
checked, good rows go to ``subjects``/``records`` and bad rows to ``quarantine`` with a reason
code, the field, a detail and the original values. The whole ingest is one transaction: if it
fails or is interrupted the store is exactly as it was. Invariants:

* input rows = accepted + quarantined;
* re-ingesting the same file changes nothing (rows are keyed by record id / subject id and the
  quarantine by file hash and row);
* a file that cannot be read at all raises :class:`~scoring.core.errors.InputFileError`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict

from scoring.archive import schema as archive
from scoring.archive.catalog import ORGANISATION_TYPES, Catalog, SubjectType, load_catalog
from scoring.archive.quality import QualityReport, build_report
from scoring.archive.reasons import SourceFile
from scoring.archive.store import Store
from scoring.core import lawful
from scoring.core.config import config_dir, load_model
from scoring.core.errors import InputFileError
from scoring.core.identifiers import IdStatus, check_id_number, check_uscc

log = logging.getLogger(__name__)

SEP = "\x1f"
BATCH_ROWS = 1_000_000
SUPPORTED = {".csv": "csv", ".txt": "csv", ".parquet": "parquet", ".pq": "parquet", ".xlsx": "excel", ".xls": "excel"}


class IngestConfig(BaseModel):
    """configs/ingest.yaml."""

    model_config = ConfigDict(extra="forbid")
    uscc_mode: Literal["strict", "allowlist", "warn"] = "allowlist"
    uscc_allowlist: list[str] = []
    report_examples: int = 20


def load_ingest_config(path: str | Path | None = None) -> IngestConfig:
    p = Path(path) if path is not None else config_dir() / "ingest.yaml"
    return load_model(IngestConfig, p) if p.exists() or path is not None else IngestConfig()


# -- reading ---------------------------------------------------------------------------------
def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def expand_inputs(paths: Iterable[str | Path]) -> tuple[list[Path], dt.date | None]:
    """Expand folders to the archive files directly inside them; read a manifest's export date."""
    files: list[Path] = []
    export_date = None
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            manifest = p / "manifest.json"
            if manifest.exists():
                try:
                    export_date = dt.date.fromisoformat(json.loads(manifest.read_text())["export_date"])
                except (KeyError, ValueError) as exc:
                    raise InputFileError(f"{manifest}: no valid export_date ({exc})") from None
            found = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in SUPPORTED)
            if not found:
                raise InputFileError(f"{p}: folder holds no CSV, Parquet or Excel file")
            files.extend(found)
        elif p.exists():
            files.append(p)
        else:
            raise InputFileError(f"{p}: file not found")
    return files, export_date


def _excel_rows(path: Path) -> list[list[object]]:
    from python_calamine import CalamineWorkbook

    wb = CalamineWorkbook.from_path(str(path))
    return wb.get_sheet_by_index(0).to_python(skip_empty_area=True)


def _cell_text(v: object) -> str | None:
    if v is None or v == "":
        return None
    if isinstance(v, dt.datetime):
        return v.date().isoformat() if v.time() == dt.time() else v.isoformat(sep=" ")
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def _headers(path: Path, kind: str) -> list[str]:
    try:
        if kind == "csv":
            with open(path, encoding="utf-8-sig") as f:
                line = f.readline()
            if not line.strip():
                raise InputFileError(f"{path}: the file is empty (no header row)")
            reader = pacsv.read_csv(
                pa.py_buffer(line.encode()), read_options=pacsv.ReadOptions(autogenerate_column_names=False)
            )
            return [str(c) for c in reader.column_names]
        if kind == "parquet":
            return [str(n) for n in pq.ParquetFile(path).schema_arrow.names]
        rows = _excel_rows(path)
        if not rows:
            raise InputFileError(f"{path}: the first sheet is empty (no header row)")
        return [str(c).strip() for c in rows[0]]
    except InputFileError:
        raise
    except UnicodeDecodeError:
        raise InputFileError(f"{path}: not UTF-8 text; save the CSV as UTF-8") from None
    except Exception as exc:
        raise InputFileError(f"{path}: cannot read as {kind}: {exc}") from None


def describe(path: Path) -> SourceFile:
    """Identify a file's format and table, and check its header row."""
    kind = SUPPORTED.get(path.suffix.lower())
    if kind is None:
        raise InputFileError(f"{path}: unsupported file type {path.suffix!r}; use CSV, Parquet or Excel")
    headers = _headers(path, kind)
    table = archive.detect_table(headers)
    if table is None:
        raise InputFileError(
            f"{path}: cannot tell which archive table this is: a records file needs a 'record_type' "
            f"column, a subjects file a 'subject_type' column (found: {', '.join(headers)})"
        )
    hmap = archive.header_map(table)
    columns, dropped, ignored = [], [], []
    for h in headers:
        name = hmap.get(h.strip())
        if name is not None:
            columns.append(name)
        elif lawful.screen(h, kinds=("forbidden",)):
            dropped.append(h)
        else:
            ignored.append(h)
    missing = [c for c in archive.required_columns(table) if c not in columns]
    if missing:
        raise InputFileError(f"{path}: {table} file lacks required column(s): {', '.join(missing)}")
    return SourceFile(path, kind, table, _sha256(path), columns, dropped, ignored)


def _batches(src: SourceFile) -> Iterator[pa.Table]:
    """Stream a file as tables of text columns named by the archive format."""
    try:
        if src.kind == "csv":
            headers = _headers(src.path, "csv")
            opts = pacsv.ConvertOptions(
                column_types={h: pa.string() for h in headers},
                strings_can_be_null=False,
                quoted_strings_can_be_null=False,
            )
            reader = pacsv.open_csv(
                src.path, read_options=pacsv.ReadOptions(block_size=1 << 24, encoding="utf8"), convert_options=opts
            )
            for batch in reader:
                yield pa.Table.from_batches([batch])
        elif src.kind == "parquet":
            pf = pq.ParquetFile(src.path)
            for batch in pf.iter_batches(batch_size=BATCH_ROWS):
                yield pa.Table.from_batches([batch])
        else:
            rows = _excel_rows(src.path)
            headers = [str(c).strip() for c in rows[0]]
            cols = {h: [_cell_text(r[i]) if i < len(r) else None for r in rows[1:]] for i, h in enumerate(headers)}
            yield pa.table({h: pa.array(v, type=pa.string()) for h, v in cols.items()})
    except InputFileError:
        raise
    except Exception as exc:
        raise InputFileError(f"{src.path}: cannot read as {src.kind}: {exc}") from None


def _to_text(col: pa.ChunkedArray) -> pa.ChunkedArray:
    if pa.types.is_string(col.type) or pa.types.is_large_string(col.type):
        return col
    if pa.types.is_timestamp(col.type):
        col = col.cast(pa.date32())
    return col.cast(pa.string())


def _stage_table(src: SourceFile, raw: pa.Table, first_row: int, order_base: int) -> pa.Table:
    """Rename to archive columns, cast to text, add lineage and identifier checks."""
    hmap = archive.header_map(src.table)
    cols: dict[str, pa.ChunkedArray] = {}
    for name in raw.column_names:
        target = hmap.get(name.strip())
        if target is not None and target not in cols:
            cols[target] = _to_text(raw.column(name))
    n = raw.num_rows
    out = {}
    for c in archive.TABLES[src.table]:
        out[c.name] = cols.get(c.name, pa.nulls(n, pa.string()))
    rows = pa.array(range(first_row, first_row + n), type=pa.int64())
    out["_file"] = pa.array([str(src.path)] * n, type=pa.string())
    out["_sha"] = pa.array([src.sha256] * n, type=pa.string())
    out["_row"] = rows
    out["_ord"] = pa.array(range(order_base, order_base + n), type=pa.int64())
    if src.table == "subjects":
        ids = out["subject_id"].to_pylist()
        out["_uscc_status"] = pa.array(check_uscc(ids), type=pa.int8())
        out["_ric_status"] = pa.array(check_id_number(ids), type=pa.int8())
        for link, key in (("legal_rep_id", "_rep_status"), ("actual_controller_id", "_ctl_status")):
            out[key] = pa.array(check_id_number(out[link].to_pylist()), type=pa.int8())
    return pa.table(out)


# -- checks ----------------------------------------------------------------------------------
def _case(expr: str, mapping: dict[str, str]) -> str:
    whens = " ".join(f"WHEN {_lit(k)} THEN {_lit(v)}" for k, v in mapping.items())
    return f"(CASE {expr} {whens} ELSE {expr} END)"


def _lit(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


def _issue(reason: str, fld: str, cond: str, detail: str) -> str:
    return f"CASE WHEN {cond} THEN {_lit(reason + SEP + fld + SEP)} || ({detail}) END"


def _issues_sql(items: list[str]) -> str:
    return "list_filter([" + ",\n  ".join(items) + "], lambda x: x IS NOT NULL)"


MACROS = [
    "CREATE OR REPLACE TEMP MACRO nz(x) AS NULLIF(trim(x), '')",
    """CREATE OR REPLACE TEMP MACRO xd(x) AS COALESCE(
        TRY_CAST(x AS DATE), TRY_STRPTIME(x, '%Y/%m/%d')::DATE, TRY_STRPTIME(x, '%Y%m%d')::DATE,
        TRY_STRPTIME(x, '%Y年%m月%d日')::DATE, TRY_STRPTIME(x, '%Y-%m-%d %H:%M:%S')::DATE)""",
]

STATUS_MESSAGES = "(CASE {s} " + " ".join(f"WHEN {int(s)} THEN {_lit(s.message)}" for s in IdStatus) + " END)"


def _catalog_table(con, catalog: Catalog) -> None:
    rows = [
        {
            "code": r.code,
            "subject_types": [s.value for s in r.subject_types],
            "severities": [s.value for s in r.severities],
            "requires_document": r.requires_document,
            "list_type": r.list_type,
            "has_amount": r.amount is not None,
            "amount_required": bool(r.amount and r.amount.required),
            "grades": list(r.grades),
            "repairable": r.repairable,
        }
        for r in catalog.record_types
    ]
    tbl = pa.Table.from_pylist(rows)
    con.register("cat_arrow", tbl)
    con.execute("CREATE OR REPLACE TEMP TABLE cat_types AS SELECT * FROM cat_arrow")
    con.unregister("cat_arrow")


def _ranks(src: str, id_key: str, doc_key: str | None, raw: list[str]) -> str:
    """Duplicate ranks without window sorts: a row is a repeat when an earlier row (lower _ord)
    has the same raw values (exact_rank), the same id (id_rank) or the same document (doc_rank).
    Ranks are 1 for the first occurrence and 2 for any later one."""
    row_key = f"md5_number(CAST(ROW({', '.join(raw)}) AS VARCHAR))"
    doc_cols = [c.strip() for c in doc_key.split(",")] if doc_key else []
    doc_join = " AND ".join(f"fd.{c} = x.{c}" for c in doc_cols)
    doc_sel = ", CASE WHEN x._ord > fd.o THEN 2 ELSE 1 END AS doc_rank" if doc_key else ""
    doc_cte = (
        f" LEFT JOIN (SELECT {doc_key}, min(_ord) AS o FROM {src} WHERE {doc_cols[-1]} IS NOT NULL GROUP BY ALL) fd ON {doc_join}"
        if doc_key
        else ""
    )
    return f"""
            SELECT x.*, CASE WHEN x._ord > fr.o THEN 2 ELSE 1 END AS exact_rank,
                   CASE WHEN x._ord > fi.o THEN 2 ELSE 1 END AS id_rank{doc_sel}
            FROM (SELECT *, {row_key} AS k_row FROM {src}) x
            LEFT JOIN (SELECT {row_key} AS k_row, min(_ord) AS o FROM {src} GROUP BY 1) fr ON fr.k_row = x.k_row
            LEFT JOIN (SELECT {id_key}, min(_ord) AS o FROM {src} WHERE {id_key} IS NOT NULL GROUP BY 1) fi ON fi.{id_key} = x.{id_key}
            {doc_cte}"""


def _check_subjects(con, cfg: IngestConfig, export_date: dt.date) -> None:
    stype = _case("lower(nz(subject_type))", archive.SUBJECT_TYPE_ALIASES)
    orgs = "(" + ",".join(_lit(t) for t in ORGANISATION_TYPES) + ")"
    valid_types = "(" + ",".join(_lit(t.value) for t in SubjectType) + ")"
    allow = "[" + ",".join(_lit(c.strip().upper()) for c in cfg.uscc_allowlist) + "]::VARCHAR[]"
    legacy_ok = {
        "strict": "false",
        "allowlist": f"list_contains({allow}, k_id)",
        "warn": "true",
    }[cfg.uscc_mode]
    legacy_statuses = f"({int(IdStatus.BAD_CHECK)}, {int(IdStatus.BAD_ORG_CHECK)})"
    ex = f"DATE '{export_date.isoformat()}'"
    bools = "(" + ",".join(_lit(v) for v in archive.TRUE_VALUES + archive.FALSE_VALUES) + ")"
    raw = [c.name for c in archive.SUBJECT_COLUMNS]
    items = [
        _issue("MISSING_REQUIRED", "subject_id", "k_id IS NULL", "''"),
        _issue("MISSING_REQUIRED", "subject_type", "k_type IS NULL", "''"),
        _issue("MISSING_REQUIRED", "name", "nz(name) IS NULL", "''"),
        _issue("MISSING_REQUIRED", "region_code", "nz(region_code) IS NULL", "''"),
        _issue(
            "MISSING_REQUIRED",
            "industry_code",
            f"k_type IN {orgs} AND nz(industry_code) IS NULL",
            "'organisations need an industry code'",
        ),
        _issue(
            "MISSING_REQUIRED",
            "registered_on",
            f"k_type IN {orgs} AND nz(registered_on) IS NULL",
            "'organisations need a registration date'",
        ),
        _issue(
            "BAD_SUBJECT_TYPE",
            "subject_type",
            f"k_type IS NOT NULL AND k_type NOT IN {valid_types}",
            "'unknown subject type ' || subject_type",
        ),
        _issue(
            "BAD_USCC",
            "subject_id",
            f"k_id IS NOT NULL AND k_type IN {orgs} AND _uscc_status <> 0 AND NOT (_uscc_status IN {legacy_statuses} AND {legacy_ok})",
            STATUS_MESSAGES.format(s="_uscc_status"),
        ),
        _issue(
            "BAD_ID_NUMBER",
            "subject_id",
            "k_id IS NOT NULL AND k_type = 'person' AND _ric_status <> 0",
            STATUS_MESSAGES.format(s="_ric_status"),
        ),
        _issue(
            "BAD_REGION",
            "region_code",
            "nz(region_code) IS NOT NULL AND NOT regexp_full_match(trim(region_code), '[0-9]{6}')",
            "'not 6 digits: ' || region_code",
        ),
        _issue(
            "BAD_INDUSTRY",
            "industry_code",
            "nz(industry_code) IS NOT NULL AND (k_type = 'person' OR NOT regexp_full_match(trim(industry_code), '[0-9]{4}'))",
            "'not a 4-digit class for an organisation: ' || industry_code",
        ),
        _issue(
            "BAD_DATE",
            "registered_on",
            "nz(registered_on) IS NOT NULL AND d_reg IS NULL",
            "'cannot parse ' || registered_on",
        ),
        _issue("DATE_AFTER_EXPORT", "registered_on", f"d_reg > {ex}", f"'after export date {export_date}'"),
        _issue(
            "BAD_LINK",
            "legal_rep_id",
            "nz(legal_rep_id) IS NOT NULL AND (k_type = 'person' OR _rep_status <> 0)",
            "'not a valid ID number of a person linked to an organisation'",
        ),
        _issue(
            "BAD_LINK",
            "actual_controller_id",
            "nz(actual_controller_id) IS NOT NULL AND (k_type = 'person' OR _ctl_status <> 0)",
            "'not a valid ID number of a person linked to an organisation'",
        ),
        _issue(
            "BAD_VALUE",
            "positive_opt_out",
            f"nz(positive_opt_out) IS NOT NULL AND lower(trim(positive_opt_out)) NOT IN {bools}",
            "'not true/false: ' || positive_opt_out",
        ),
        _issue("DUPLICATE_EXACT", "subject_id", "exact_rank > 1", "'same row seen earlier'"),
        _issue(
            "DUPLICATE_SUBJECT",
            "subject_id",
            "exact_rank = 1 AND id_rank > 1",
            "'subject id seen earlier with other values'",
        ),
    ]
    trues = "(" + ",".join(_lit(v) for v in archive.TRUE_VALUES) + ")"
    con.execute(f"""
        CREATE OR REPLACE TABLE chk_subjects AS
        WITH s AS (
            SELECT *, upper(nz(subject_id)) AS k_id, {stype} AS k_type, xd(nz(registered_on)) AS d_reg,
              CASE WHEN {stype} IN {orgs} AND _uscc_status IN {legacy_statuses} THEN 'legacy_uscc' END AS id_warning,
              coalesce(lower(trim(positive_opt_out)) IN {trues}, false) AS b_opt_out
            FROM stg_subjects
        ), d AS ({_ranks("s", "k_id", None, raw)}
        )
        {_typed_select(items, SUBJECT_VALUES, "d")}
    """)


def _check_records(con, export_date: dt.date, main: str) -> None:
    # subjects as they will be after this ingest: accepted rows of this batch over the store's
    con.execute(f"""
        CREATE OR REPLACE TABLE known_subjects AS
        SELECT subject_id, subject_type, registered_on FROM chk_subjects WHERE len(issues) = 0
        UNION ALL
        SELECT subject_id, subject_type, registered_on FROM {main}.subjects s
        WHERE NOT EXISTS (SELECT 1 FROM chk_subjects c WHERE len(c.issues) = 0 AND c.subject_id = s.subject_id)
    """)
    rtype = "upper(nz(record_type))"
    sev = _case("lower(nz(severity))", archive.SEVERITY_ALIASES)
    outcome = _case("lower(nz(objection_outcome))", archive.OUTCOME_ALIASES)
    ex = f"DATE '{export_date.isoformat()}'"
    date_fields = [c.name for c in archive.RECORD_COLUMNS if c.dtype == "date"]
    raw = [c.name for c in archive.RECORD_COLUMNS]
    items = [
        _issue("MISSING_REQUIRED", "record_id", "k_id IS NULL", "''"),
        _issue("MISSING_REQUIRED", "subject_id", "k_subject IS NULL", "''"),
        _issue("MISSING_REQUIRED", "record_type", "k_type IS NULL", "''"),
        _issue("MISSING_REQUIRED", "event_date", "nz(event_date) IS NULL", "''"),
        _issue("MISSING_REQUIRED", "agency", "nz(agency) IS NULL", "''"),
        _issue(
            "MISSING_REQUIRED",
            "document_no",
            "c.requires_document AND nz(document_no) IS NULL",
            "k_type || ' needs a legally effective document number'",
        ),
        _issue(
            "MISSING_REQUIRED", "severity", "len(c.severities) > 0 AND k_sev IS NULL", "k_type || ' needs a severity'"
        ),
        _issue(
            "MISSING_REQUIRED", "amount", "c.amount_required AND nz(amount) IS NULL", "k_type || ' needs an amount'"
        ),
        _issue("MISSING_REQUIRED", "grade", "len(c.grades) > 0 AND nz(grade) IS NULL", "k_type || ' needs a grade'"),
        _issue(
            "MISSING_REQUIRED",
            "list_entry_on",
            "c.list_type AND nz(list_entry_on) IS NULL",
            "k_type || ' is a list record and needs list_entry_on'",
        ),
        _issue(
            "UNKNOWN_RECORD_TYPE",
            "record_type",
            "k_type IS NOT NULL AND c.code IS NULL",
            "'not in the catalogue: ' || record_type",
        ),
        _issue(
            "UNKNOWN_SUBJECT",
            "subject_id",
            "k_subject IS NOT NULL AND sj_type IS NULL",
            "'no such subject in the archive'",
        ),
        _issue(
            "TYPE_NOT_ALLOWED",
            "record_type",
            "c.code IS NOT NULL AND sj_type IS NOT NULL AND NOT list_contains(c.subject_types, sj_type)",
            "k_type || ' does not apply to ' || sj_type",
        ),
    ]
    for f in date_fields:
        items.append(_issue("BAD_DATE", f, f"nz({f}) IS NOT NULL AND d_{f} IS NULL", f"'cannot parse ' || {f}"))
    for f in date_fields:
        items.append(_issue("DATE_AFTER_EXPORT", f, f"d_{f} > {ex}", f"'after export date {export_date}'"))
    items += [
        _issue(
            "EVENT_BEFORE_REGISTRATION",
            "event_date",
            "d_event_date < sj_registered",
            "'before registration on ' || CAST(sj_registered AS VARCHAR)",
        ),
        _issue(
            "BAD_SEVERITY",
            "severity",
            "k_sev IS NOT NULL AND c.code IS NOT NULL AND NOT list_contains(c.severities, k_sev)",
            "'severity ' || severity || ' not allowed for ' || k_type",
        ),
        _issue(
            "BAD_AMOUNT",
            "amount",
            "nz(amount) IS NOT NULL AND (n_amount IS NULL OR n_amount < 0 OR NOT isfinite(n_amount))",
            "'not a non-negative number: ' || amount",
        ),
        _issue(
            "BAD_AMOUNT",
            "amount",
            "n_amount IS NOT NULL AND c.code IS NOT NULL AND NOT c.has_amount",
            "k_type || ' takes no amount'",
        ),
        _issue(
            "BAD_GRADE",
            "grade",
            "nz(grade) IS NOT NULL AND c.code IS NOT NULL AND NOT list_contains(c.grades, trim(grade))",
            "'grade ' || grade || ' not allowed for ' || k_type",
        ),
        _issue("BAD_STATUS", "repaired_on", "d_repaired_on < d_event_date", "'repaired before the event'"),
        _issue(
            "BAD_STATUS",
            "repaired_on",
            "d_repaired_on IS NOT NULL AND c.code IS NOT NULL AND NOT c.repairable",
            "k_type || ' cannot be repaired (not repairable or a list record)'",
        ),
        _issue("BAD_STATUS", "revoked_on", "d_revoked_on < d_event_date", "'revoked before the event'"),
        _issue(
            "BAD_STATUS",
            "objection_raised_on",
            "d_objection_raised_on < d_event_date",
            "'objection raised before the event'",
        ),
        _issue(
            "BAD_STATUS",
            "objection_resolved_on",
            "d_objection_resolved_on IS NOT NULL AND (d_objection_raised_on IS NULL OR d_objection_resolved_on < d_objection_raised_on)",
            "'resolved without or before the objection'",
        ),
        _issue(
            "BAD_STATUS",
            "objection_outcome",
            "(k_outcome IS NOT NULL AND k_outcome NOT IN ('upheld','rejected')) OR ((k_outcome IS NULL) <> (d_objection_resolved_on IS NULL))",
            "'outcome must be upheld/rejected and given exactly when resolved'",
        ),
        _issue("BAD_STATUS", "list_exit_on", "d_list_exit_on < d_list_entry_on", "'exit before entry'"),
        _issue(
            "BAD_STATUS",
            "list_entry_on",
            "(d_list_entry_on IS NOT NULL OR d_list_exit_on IS NOT NULL) AND c.code IS NOT NULL AND NOT c.list_type",
            "k_type || ' is not a list record'",
        ),
        _issue("DUPLICATE_EXACT", "record_id", "exact_rank > 1", "'same row seen earlier'"),
        _issue(
            "DUPLICATE_RECORD_ID",
            "record_id",
            "exact_rank = 1 AND id_rank > 1",
            "'record id seen earlier with other values'",
        ),
        _issue(
            "DUPLICATE_DOCUMENT",
            "document_no",
            "exact_rank = 1 AND id_rank = 1 AND k_doc IS NOT NULL AND (doc_rank > 1 OR sd_id IS NOT NULL)",
            "'document ' || document_no || ' already recorded for this subject and type'",
        ),
    ]
    dates = ", ".join(f"xd(nz({f})) AS d_{f}" for f in date_fields)
    con.execute(f"""
        CREATE OR REPLACE TABLE chk_records AS
        WITH s AS (
            SELECT *, nz(record_id) AS k_id, upper(nz(subject_id)) AS k_subject, {rtype} AS k_type,
                   {sev} AS k_sev, {outcome} AS k_outcome, nz(document_no) AS k_doc,
                   TRY_CAST(nz(amount) AS DOUBLE) AS n_amount, {dates}
            FROM stg_records
        ), d AS ({_ranks("s", "k_id", "k_subject, k_type, k_doc", raw)}
        ), store_docs AS (
            SELECT subject_id, record_type, document_no, min(record_id) AS record_id
            FROM {main}.records WHERE document_no IS NOT NULL GROUP BY ALL
        )
        , j AS (
            SELECT d.*, c AS c, sj.subject_type AS sj_type, sj.registered_on AS sj_registered, sd.record_id AS sd_id
            FROM d
            LEFT JOIN cat_types c ON c.code = d.k_type
            LEFT JOIN known_subjects sj ON sj.subject_id = d.k_subject
            LEFT JOIN store_docs sd ON sd.subject_id = d.k_subject AND sd.record_type = d.k_type
                 AND sd.document_no = d.k_doc AND sd.record_id <> d.k_id
        )
        {_typed_select(items, RECORD_VALUES, "j")}
    """)


# -- applying --------------------------------------------------------------------------------
#: (expression over the checked row, stored column) for each table, in store column order.
SUBJECT_VALUES = [
    ("k_id", "subject_id"),
    ("k_type", "subject_type"),
    ("trim(name)", "name"),
    ("nz(industry_code)", "industry_code"),
    ("trim(region_code)", "region_code"),
    ("d_reg", "registered_on"),
    ("upper(nz(legal_rep_id))", "legal_rep_id"),
    ("upper(nz(actual_controller_id))", "actual_controller_id"),
    ("b_opt_out", "positive_opt_out"),
    ("id_warning", "id_warning"),
]
RECORD_VALUES = [
    ("k_id", "record_id"),
    ("k_subject", "subject_id"),
    ("k_type", "record_type"),
    ("d_event_date", "event_date"),
    ("k_doc", "document_no"),
    ("nz(agency)", "agency"),
    ("k_sev", "severity"),
    ("n_amount", "amount"),
    ("nz(grade)", "grade"),
    ("nz(related_record_id)", "related_record_id"),
    ("d_repaired_on", "repaired_on"),
    ("d_objection_raised_on", "objection_raised_on"),
    ("d_objection_resolved_on", "objection_resolved_on"),
    ("k_outcome", "objection_outcome"),
    ("d_revoked_on", "revoked_on"),
    ("d_list_entry_on", "list_entry_on"),
    ("d_list_exit_on", "list_exit_on"),
]


def _typed_select(items: list[str], values: list[tuple[str, str]], src: str) -> str:
    """The check tables keep lineage, issues, the typed values and their content hash only."""
    typed = ", ".join(f"{expr} AS {name}" for expr, name in values)
    names = ", ".join(name for _, name in values)
    return f"""
        SELECT *, md5(CAST(ROW({names}) AS VARCHAR)) AS content_hash FROM (
            SELECT _ord, _file, _row, _sha, {_issues_sql(items)} AS issues, {typed} FROM {src})"""


def _plan(con, table: str, key: str, main: str) -> dict[str, int]:
    """Decide insert / update / unchanged for every accepted row (before the store is touched)."""
    con.execute(f"""
        CREATE OR REPLACE TABLE act_{table} AS
        SELECT c._ord, CASE WHEN t.{key} IS NULL THEN 'insert'
                            WHEN t.content_hash = c.content_hash THEN 'unchanged' ELSE 'update' END AS action
        FROM chk_{table} c LEFT JOIN {main}.{table} t ON t.{key} = c.{key}
        WHERE len(c.issues) = 0
    """)
    counts = dict(con.execute(f"SELECT action, count(*) FROM act_{table} GROUP BY action").fetchall())
    return {k: int(counts.get(k, 0)) for k in ("insert", "update", "unchanged")}


def _write(con, table: str, key: str, main: str, batch_id: str) -> None:
    """Inside the store's transaction: replace updated rows (keeping the old version in
    ``<table>_history``), insert new ones."""
    updated = f"SELECT c.{key} FROM chk_{table} c JOIN act_{table} a USING (_ord) WHERE a.action = 'update'"
    con.execute(f"""
        INSERT INTO {main}.{table}_history SELECT *, {_lit(batch_id)} FROM {main}.{table} WHERE {key} IN ({updated})
    """)
    con.execute(f"DELETE FROM {main}.{table} WHERE {key} IN ({updated})")
    cols = [
        r[0]
        for r in con.execute(
            f"SELECT column_name FROM information_schema.columns WHERE table_catalog = '{main}' AND table_name = '{table}' "
            "ORDER BY ordinal_position"
        ).fetchall()
    ]
    lineage = {"batch_id": _lit(batch_id), "source_file": "c._file", "source_row": "c._row"}
    select = ", ".join(lineage.get(c, f"c.{c}") for c in cols)
    con.execute(f"""
        INSERT INTO {main}.{table} SELECT {select}
        FROM chk_{table} c JOIN act_{table} a USING (_ord) WHERE a.action <> 'unchanged'
    """)


def _quarantine(con, table: str, main: str, batch_id: str) -> None:
    raw = ", ".join(f"{c.name} := s.{c.name}" for c in archive.TABLES[table])
    con.execute(f"""
        INSERT INTO {main}.quarantine
        SELECT c._sha, '{table}', c._row, c._file, '{batch_id}',
               split_part(c.issues[1], chr(31), 1), split_part(c.issues[1], chr(31), 2), split_part(c.issues[1], chr(31), 3),
               list_transform(c.issues, lambda x: split_part(x, chr(31), 1) || ':' || split_part(x, chr(31), 2)),
               to_json(struct_pack({raw}))
        FROM chk_{table} c JOIN stg_{table} s USING (_ord)
        WHERE len(c.issues) > 0 AND NOT EXISTS (
            SELECT 1 FROM {main}.quarantine q
            WHERE q.source_sha256 = c._sha AND q.table_name = '{table}' AND q.source_row = c._row)
    """)


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

    def to_dict(self) -> dict:
        return {
            "batch_id": self.batch_id,
            "export_date": self.export_date.isoformat(),
            "files": self.files,
            "rows_read": self.rows_read,
            "accepted": self.accepted,
            "quarantined": self.quarantined,
            "inserted": self.inserted,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "by_reason": self.by_reason,
            "report_path": str(self.report_path) if self.report_path else None,
            "quality": self.report.to_dict(),
        }


SCRATCH = "xinyi_ingest_scratch"


def _remove_scratch(path: Path) -> None:
    for p in (path, Path(str(path) + ".wal")):
        p.unlink(missing_ok=True)


def ingest(
    files: Iterable[str | Path],
    store: Store,
    *,
    export_date: dt.date | None = None,
    catalog: Catalog | None = None,
    config: IngestConfig | None = None,
    report_path: str | Path | None = None,
    progress: Callable[[str], None] | None = None,
    _fail_after: str | None = None,  # test-only fault injection: staging | checks | write
) -> IngestResult:
    """Ingest credit-archive files (or folders of them) into ``store``.

    ``export_date``: the date the archive was exported; dates after it are rejected. Defaults to
    the folder's ``manifest.json`` or today. ``report_path``: where to write the quality report
    (JSON; a Markdown copy is written beside it).
    """
    say = progress or (lambda msg: log.info(msg))
    catalog = catalog or load_catalog()
    cfg = config or load_ingest_config()
    paths, manifest_date = expand_inputs(files)
    export_date = export_date or manifest_date or dt.date.today()
    sources: list[SourceFile] = []
    seen: set[str] = set()
    for p in paths:
        src = describe(p)
        if src.sha256 in seen:
            say(f"skipping {p}: same content as a file already in this ingest")
            continue
        seen.add(src.sha256)
        sources.append(src)
    sources.sort(key=lambda s: 0 if s.table == "subjects" else 1)

    batch_id = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S") + "-" + uuid.uuid4().hex[:8]
    started = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    store.changed()
    con = store.con
    main = con.execute("SELECT current_database()").fetchall()[0][0]
    scratch = store.path.with_name(store.path.name + ".ingest-scratch")
    _remove_scratch(scratch)
    # Staging and checks live in a disk-backed scratch database beside the store (bounded memory);
    # only the final apply touches the store, in one transaction.
    con.execute(f"ATTACH '{scratch}' AS {SCRATCH}")
    con.execute(f"USE {SCRATCH}")
    try:
        for m in MACROS:
            con.execute(m)
        _catalog_table(con, catalog)
        for table in ("subjects", "records"):
            cols = ", ".join(f"{c.name} VARCHAR" for c in archive.TABLES[table])
            extra = (
                ", _uscc_status TINYINT, _ric_status TINYINT, _rep_status TINYINT, _ctl_status TINYINT"
                if table == "subjects"
                else ""
            )
            con.execute(
                f"CREATE OR REPLACE TABLE stg_{table} ({cols}, _file VARCHAR, _sha VARCHAR, _row BIGINT, _ord BIGINT{extra})"
            )
        order = 0
        for src in sources:
            say(f"reading {src.path.name} ({src.kind}, {src.table})")
            row = 1
            for raw in _batches(src):
                staged = _stage_table(src, raw, row, order)
                con.register("stage_arrow", staged)
                con.execute(f"INSERT INTO stg_{src.table} BY NAME SELECT * FROM stage_arrow")
                con.unregister("stage_arrow")
                row += raw.num_rows
                order += raw.num_rows
        if _fail_after == "staging":
            raise RuntimeError("injected failure after staging")
        say("checking subjects")
        _check_subjects(con, cfg, export_date)
        say("checking records")
        _check_records(con, export_date, main)
        counts = {"insert": 0, "update": 0, "unchanged": 0}
        for table, key in (("subjects", "subject_id"), ("records", "record_id")):
            for k, v in _plan(con, table, key, main).items():
                counts[k] += v
        if _fail_after == "checks":
            raise RuntimeError("injected failure after checks")
        say("building the quality report")
        report = build_report(con, sources, export_date, batch_id, catalog, cfg.report_examples)
        if report.rows_read != report.accepted + report.quarantined:
            raise AssertionError(
                f"conservation broken: read {report.rows_read} != accepted {report.accepted} + quarantined {report.quarantined}"
            )
        files_info = [
            {
                "path": str(s.path),
                "table": s.table,
                "format": s.kind,
                "sha256": s.sha256,
                "dropped_forbidden_columns": s.dropped_forbidden,
                "ignored_columns": s.ignored,
            }
            for s in sources
        ]
        say("writing to the store")
        with store.transaction():
            for table, key in (("subjects", "subject_id"), ("records", "record_id")):
                _write(con, table, key, main, batch_id)
                _quarantine(con, table, main, batch_id)
            finished = dt.datetime.now(dt.UTC).replace(tzinfo=None)
            con.execute(
                f"INSERT INTO {main}.ingest_batches VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [
                    batch_id,
                    started,
                    finished,
                    export_date,
                    json.dumps(files_info),
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
    finally:
        con.execute(f"USE {main}")
        con.execute(f"DETACH {SCRATCH}")
        _remove_scratch(scratch)
    out_path = None
    if report_path is not None:
        out_path = report.write(report_path)
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
    )
