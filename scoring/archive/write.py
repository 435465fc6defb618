"""Staging and applying (暂存与写入): text rows into the scratch tables, checked rows into the store.

* :func:`stage_table` adds lineage (file, row, order), the read issue of each row, the one
  normalisation of identifiers (:func:`scoring.core.identifiers.normalise_id`) and their checks;
* :func:`plan` decides insert / update / unchanged for every accepted row before the store is
  touched, :func:`write` applies it inside the store's transaction (keeping replaced versions in
  ``<table>_history``);
* :func:`links_plan` decides which person-organisation links (法定代表人 / 实际控制人) this ingest
  opens and closes, :func:`write_links` applies it (the link history: a later export that changes
  a link closes the old one and opens the new one, so the past is never rewritten);
* :func:`quarantine` adds the rejected rows, **keyed by content**: a row already quarantined with
  the same original values (the k-th copy of the same values, for repeats) is not added again, so
  re-ingesting the same rows from a CSV, a Parquet file or a workbook changes nothing.

No value is ever pasted into SQL text: data travels as Arrow tables, constants as parameters, the
store's database name as a quoted identifier.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from scoring.archive import schema as archive
from scoring.archive.check import ident
from scoring.archive.read import Chunk
from scoring.archive.reasons import SourceFile
from scoring.core.identifiers import check_id_number, check_uscc, normalise_id

#: Identifier columns normalised at staging, per table.
ID_COLUMNS = {"subjects": ("subject_id", "legal_rep_id", "actual_controller_id"), "records": ("subject_id",)}


def staging_ddl(table: str) -> str:
    cols = ", ".join(f"{c.name} VARCHAR" for c in archive.TABLES[table])
    ids = ", ".join(f"_n_{c} VARCHAR" for c in ID_COLUMNS[table])
    extra = (
        ", _uscc_status TINYINT, _ric_status TINYINT, _rep_status TINYINT, _ctl_status TINYINT"
        if table == "subjects"
        else ""
    )
    return (
        f"CREATE OR REPLACE TABLE stg_{table} ({cols}, _file VARCHAR, _sha VARCHAR, _row BIGINT, _ord BIGINT, "
        f"_read_issue VARCHAR, {ids}{extra})"
    )


def _normalised(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    """:func:`normalise_id` over a text column (each distinct value once); empty -> null."""
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    enc = arr.dictionary_encode()
    distinct = enc.dictionary
    # ASCII letters and digits only (almost every ID): normalise_id upper-cases them, nothing else
    plain = pc.fill_null(pc.match_substring_regex(distinct, "^[0-9A-Za-z]+$"), False)
    values = pc.utf8_upper(distinct)
    odd = np.flatnonzero(~plain.to_numpy(zero_copy_only=False))
    if len(odd):
        fixed = [normalise_id(v) or None for v in distinct.take(pa.array(odd)).to_pylist()]
        values = pc.replace_with_mask(values, pc.invert(plain), pa.array(fixed, type=pa.string()))
    return pa.DictionaryArray.from_arrays(enc.indices, values).cast(pa.string())


def stage_table(src: SourceFile, chunk: Chunk, first_row: int, order_base: int) -> pa.Table:
    """A chunk as a staging table: archive columns (text), lineage, read issues, normalised IDs
    and their check statuses."""
    raw = chunk.table
    n = raw.num_rows
    out: dict[str, Any] = {}
    for c in archive.TABLES[src.table]:
        out[c.name] = raw.column(c.name) if c.name in raw.column_names else pa.nulls(n, pa.string())
    out["_file"] = pa.repeat(pa.scalar(src.label, pa.string()), n)
    out["_sha"] = pa.repeat(pa.scalar(src.sha256, pa.string()), n)
    out["_row"] = pa.array(np.arange(first_row, first_row + n, dtype=np.int64))
    out["_ord"] = pa.array(np.arange(order_base, order_base + n, dtype=np.int64))
    out["_read_issue"] = pa.array(chunk.issues if chunk.issues else [None] * n, type=pa.string())
    for name in ID_COLUMNS[src.table]:
        out[f"_n_{name}"] = _normalised(out[name]) if n else pa.array([], type=pa.string())
    if src.table == "subjects":
        ids = out["_n_subject_id"].to_pylist()
        out["_uscc_status"] = pa.array(check_uscc(ids), type=pa.int8())
        out["_ric_status"] = pa.array(check_id_number(ids), type=pa.int8())
        for link, key in (("legal_rep_id", "_rep_status"), ("actual_controller_id", "_ctl_status")):
            out[key] = pa.array(check_id_number(out[f"_n_{link}"].to_pylist()), type=pa.int8())
    return pa.table(out)


def plan(con: Any, table: str, key: str, main: str) -> dict[str, int]:
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


def write(
    con: Any, table: str, key: str, main: str, main_name: str, batch_id: str, counts: dict[str, int] | None = None
) -> None:
    """Inside the store's transaction: replace updated rows (keeping the old version in
    ``<table>_history``), insert new ones. ``counts``: the :func:`plan` of ``table``; when every
    accepted row is an insert (a new store, a new batch of new rows) the plan is not joined."""
    updated = f"SELECT c.{key} FROM chk_{table} c JOIN act_{table} a USING (_ord) WHERE a.action = 'update'"
    if counts is None or counts["update"]:
        con.execute(
            f"INSERT INTO {main}.{table}_history BY NAME SELECT *, ? AS superseded_batch FROM {main}.{table} "
            f"WHERE {key} IN ({updated})",
            [batch_id],
        )
        con.execute(f"DELETE FROM {main}.{table} WHERE {key} IN ({updated})")
    cols = [
        r[0]
        for r in con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_catalog = ? AND table_name = ? "
            "ORDER BY ordinal_position",
            [main_name, table],
        ).fetchall()
    ]
    lineage = {"batch_id": "$batch", "source_file": "c._file", "source_row": "c._row"}
    select = ", ".join(lineage.get(c, f"c.{ident(c)}") for c in cols)
    # act_<table> holds exactly the accepted rows: with none unchanged or updated, they are all inserts
    rows = (
        f"chk_{table} c WHERE len(c.issues) = 0"
        if counts is not None and not counts["update"] and not counts["unchanged"]
        else f"chk_{table} c JOIN act_{table} a USING (_ord) WHERE a.action <> 'unchanged'"
    )
    con.execute(f"INSERT INTO {main}.{table} SELECT {select.replace('$batch', '?')} FROM {rows}", [batch_id])


def quarantine(con: Any, table: str, main: str, batch_id: str) -> int:
    """Add this ingest's rejected rows of ``table`` that the store does not hold yet (by content);
    returns how many were added."""
    sparse = archive.SPARSE_COLUMNS[table]
    raw = (
        "to_json(struct_pack("
        + ", ".join(f"{c.name} := s.{c.name}" for c in archive.TABLES[table] if c.name not in sparse)
        + "))"
    )
    if sparse:  # optional columns named only when given (json_merge_patch drops null members)
        raw = f"json_merge_patch({raw}, to_json(struct_pack({', '.join(f'{c} := s.{c}' for c in sparse)})))"
    before = int(con.execute(f"SELECT count(*) FROM {main}.quarantine").fetchall()[0][0])
    con.execute(
        f"""
        INSERT INTO {main}.quarantine
        WITH q AS (
            SELECT c._sha, c._row, c._file, c._ord, c.issues, {raw} AS original
            FROM chk_{table} c JOIN stg_{table} s USING (_ord)
            WHERE len(c.issues) > 0
        ), k AS (
            SELECT *, CAST(original AS VARCHAR) AS o,
                   row_number() OVER (PARTITION BY CAST(original AS VARCHAR) ORDER BY _ord) AS occurrence
            FROM q
        ), have AS (
            SELECT CAST(original AS VARCHAR) AS o, count(*) AS n
            FROM {main}.quarantine WHERE table_name = ? GROUP BY 1
        )
        SELECT k._sha, ?, k._row, k._file, ?,
               split_part(k.issues[1], chr(31), 1), split_part(k.issues[1], chr(31), 2),
               split_part(k.issues[1], chr(31), 3),
               list_transform(k.issues, lambda x: split_part(x, chr(31), 1) || ':' || split_part(x, chr(31), 2)),
               k.original
        FROM k LEFT JOIN have h ON h.o = k.o
        WHERE k.occurrence > coalesce(h.n, 0)
        ORDER BY k._ord
        """,
        [table, table, batch_id],
    )
    after = int(con.execute(f"SELECT count(*) FROM {main}.quarantine").fetchall()[0][0])
    return after - before


#: subjects columns holding a link, with their role and optional start-date column
LINK_COLUMNS = (
    ("legal_rep_id", "legal_rep", "legal_rep_since"),
    ("actual_controller_id", "actual_controller", "actual_controller_since"),
)
FIRST_DAY = "DATE '1900-01-01'"


def links_plan(con: Any, main: str, export_date: Any) -> None:
    """``lnk_plan`` (op open | close, organisation_id, role, person_id, on_date) and the warnings of
    adjusted start dates in ``wrn_subjects``, from this ingest's accepted organisations.

    An organisation new to the archive: its links count from their start date column, or from the
    beginning. A known one whose link changes: the old link is closed and the new one opened on the
    change date, the start date given or else the export date, but never before the current link
    started, nor on or before the previous export's date (what was known then stays as it was), nor
    after this export date. A link that is gone (empty column) is closed on the export date."""
    new = " UNION ALL ".join(
        f"""SELECT subject_id AS organisation_id, '{role}' AS role, {col} AS person_id, {since} AS since,
                   _file, _row, '{since}' AS since_field
            FROM chk_subjects WHERE len(issues) = 0 AND subject_type <> 'person'"""
        for col, role, since in LINK_COLUMNS
    )
    con.execute(
        f"""
        CREATE OR REPLACE TABLE lnk_changes AS
        WITH n AS ({new}),
        cur AS (SELECT organisation_id, role, person_id, valid_from FROM {main}.links WHERE valid_to IS NULL),
        known AS (SELECT DISTINCT subject_id AS organisation_id FROM {main}.subjects),
        prev AS (SELECT max(export_date) + 1 AS after_prev FROM {main}.ingest_batches),
        j AS (
            SELECT n.*, c.person_id AS old_person, c.valid_from AS old_from, k.organisation_id IS NOT NULL AS known,
                   greatest(coalesce(c.valid_from, {FIRST_DAY}), coalesce((SELECT after_prev FROM prev), {FIRST_DAY}))
                     AS earliest
            FROM n LEFT JOIN cur c USING (organisation_id, role) LEFT JOIN known k USING (organisation_id)
            WHERE n.person_id IS DISTINCT FROM c.person_id
        )
        SELECT *,
               CASE WHEN NOT known THEN since
                    ELSE least(?, greatest(coalesce(since, ?), earliest)) END AS on_date,
               known AND since IS NOT NULL AND since < earliest AS adjusted
        FROM j
        """,
        [export_date, export_date],
    )
    con.execute("""
        CREATE OR REPLACE TABLE lnk_plan AS
        SELECT 'close' AS op, organisation_id, role, old_person AS person_id, on_date
        FROM lnk_changes WHERE old_person IS NOT NULL
        UNION ALL
        SELECT 'open', organisation_id, role, person_id, on_date FROM lnk_changes WHERE person_id IS NOT NULL
    """)
    con.execute("""
        CREATE OR REPLACE TABLE wrn_subjects AS
        SELECT _file, _row, 'LINK_SINCE_ADJUSTED' AS reason, since_field AS field,
               'start date ' || CAST(since AS VARCHAR) || ' is before ' || CAST(earliest AS VARCHAR)
               || ' (the current link''s start or the day after the previous export); the change is dated '
               || CAST(on_date AS VARCHAR) AS detail
        FROM lnk_changes WHERE adjusted
    """)


def write_links(con: Any, main: str, batch_id: str) -> None:
    """Inside the store's transaction: apply ``lnk_plan`` to the store's ``links``."""
    con.execute(
        f"""UPDATE {main}.links l SET valid_to = p.on_date, closed_batch = ?
        FROM lnk_plan p WHERE p.op = 'close' AND l.organisation_id = p.organisation_id AND l.role = p.role
          AND l.valid_to IS NULL""",
        [batch_id],
    )
    con.execute(
        f"""INSERT INTO {main}.links (organisation_id, person_id, role, valid_from, valid_to, opened_batch, closed_batch)
        SELECT organisation_id, person_id, role, on_date, NULL, ?, NULL FROM lnk_plan WHERE op = 'open'""",
        [batch_id],
    )
