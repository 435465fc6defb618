"""A synthetic daily delta (每日增量导出): split a generated archive into a base export and a delta.

:func:`split_archive` reads an archive folder (``subjects`` and ``records``, Parquet or CSV, as the
generator writes them) and writes two archive folders: the *base* (what the platform knew
yesterday) and the *delta* (today's export of new and changed rows), by deterministic hashes of the
ids and ``seed`` (DuckDB SQL, so it runs on a 100M-record archive as on a small one):

* new subjects: a share of the persons (not named as anyone's legal representative or controller)
  and of the organisations appear only in the delta, with all their records;
* new records: a share of the other subjects' records appear only in the delta;
* changed records: a share of the base records is sent again edited: repaired (信用修复, repairable
  types only), revoked (撤销), an objection raised and pending, upheld or rejected (异议), a list
  exit (移出名单, list types), or a corrected amount;
* changed links: a share of the organisations is sent again with another legal representative
  (法定代表人变更) — a person of the base;
* a share of base rows is sent again unchanged (an export repeats rows; the ingest keeps them).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import duckdb

from scoring.archive.catalog import Catalog, load_catalog


@dataclass(frozen=True)
class DeltaShares:
    """Shares (0-1) of each kind of row in the delta."""

    new_subjects: float = 0.0005
    new_records: float = 0.0004
    changed_records: float = 0.0004
    changed_links: float = 0.001
    unchanged: float = 0.0002


def _table(folder: Path, name: str) -> str:
    for ext, reader in (("parquet", "read_parquet"), ("csv", "read_csv")):
        p = folder / f"{name}.{ext}"
        if p.exists():
            opts = ", all_varchar = true, header = true" if ext == "csv" else ""
            return f"{reader}('{p}'{opts})"
    raise FileNotFoundError(f"{folder}: no {name}.parquet or {name}.csv")


def split_archive(
    src: str | Path,
    base: str | Path,
    delta: str | Path,
    *,
    seed: int = 0,
    shares: DeltaShares = DeltaShares(),
    delta_export_date: dt.date | None = None,
    catalog: Catalog | None = None,
) -> dict:
    """Write ``base`` and ``delta`` archive folders from ``src`` (see the module docstring); returns
    the counts of each kind of row and both export dates."""
    src, base, delta = Path(src), Path(base), Path(delta)
    catalog = catalog or load_catalog()
    manifest = json.loads((src / "manifest.json").read_text(encoding="utf-8"))
    d0 = dt.date.fromisoformat(manifest["export_date"])
    d1 = delta_export_date or d0 + dt.timedelta(days=1)
    repairable = [rt.code for rt in catalog.record_types if rt.repairable and not rt.list_type]
    lists = [rt.code for rt in catalog.record_types if rt.list_type]
    amounts = [rt.code for rt in catalog.record_types if rt.amount]
    q = lambda xs: ", ".join(f"'{x}'" for x in xs) or "''"  # noqa: E731
    for d in (base, delta):
        d.mkdir(parents=True, exist_ok=True)
    con = duckdb.connect()
    con.execute("SET enable_progress_bar = false")
    con.execute("SET preserve_insertion_order = false")

    def u(expr: str, salt: str) -> str:  # a uniform [0, 1) of an id, the seed and a salt
        return f"(hash({expr} || '|{seed}|{salt}') % 1000003) / 1000003.0"

    con.execute(f"CREATE VIEW subs AS SELECT * FROM {_table(src, 'subjects')}")
    con.execute(f"CREATE VIEW recs AS SELECT * FROM {_table(src, 'records')}")
    con.execute(f"""CREATE TABLE held AS SELECT subject_id FROM subs s
        WHERE {u("s.subject_id", "new")} < {shares.new_subjects}
          AND (s.subject_type <> 'person' OR s.subject_id NOT IN (
              SELECT legal_rep_id FROM subs WHERE legal_rep_id IS NOT NULL
              UNION SELECT actual_controller_id FROM subs WHERE actual_controller_id IS NOT NULL))""")
    con.execute(f"""CREATE TABLE rec_new AS SELECT r.* FROM recs r
        WHERE r.subject_id IN (SELECT subject_id FROM held) OR {u("r.record_id", "rec")} < {shares.new_records}""")
    con.execute("CREATE VIEW rec_base AS SELECT * FROM recs WHERE record_id NOT IN (SELECT record_id FROM rec_new)")
    k = u("r.record_id", "kind")
    d1s = f"DATE '{d1}'"
    ev = "CAST(r.event_date AS DATE)"
    later = f"least({d1s}, {ev} + CAST(floor({u('r.record_id', 'days')} * 1500) AS INTEGER))"
    con.execute(f"""CREATE TABLE rec_chg AS SELECT * REPLACE (
          CASE WHEN kind = 'repair' THEN CAST({later} AS VARCHAR) ELSE r.repaired_on END AS repaired_on,
          CASE WHEN kind = 'revoke' THEN CAST({later} AS VARCHAR) ELSE r.revoked_on END AS revoked_on,
          CASE WHEN kind LIKE 'objection%' THEN CAST({later} AS VARCHAR) ELSE r.objection_raised_on END
            AS objection_raised_on,
          CASE WHEN kind IN ('objection_upheld', 'objection_rejected')
               THEN CAST(least({d1s}, {later} + 30) AS VARCHAR)
               WHEN kind = 'objection_pending' THEN NULL ELSE r.objection_resolved_on END AS objection_resolved_on,
          CASE WHEN kind = 'objection_upheld' THEN 'upheld' WHEN kind = 'objection_rejected' THEN 'rejected'
               WHEN kind = 'objection_pending' THEN NULL ELSE r.objection_outcome END AS objection_outcome,
          CASE WHEN kind = 'list_exit'
               THEN CAST(greatest(CAST(coalesce(r.list_entry_on, r.event_date) AS DATE), {later}) AS VARCHAR)
               ELSE r.list_exit_on END AS list_exit_on,
          CASE WHEN kind = 'amount' THEN CAST(round(CAST(r.amount AS DOUBLE) * 1.5 + 100, 2) AS VARCHAR)
               ELSE r.amount END AS amount)
        FROM (SELECT r.*, CASE
              WHEN r.record_type IN ({q(lists)}) THEN CASE WHEN {k} < 0.5 THEN 'list_exit' ELSE 'revoke' END
              WHEN {k} < 0.3 AND r.record_type IN ({q(repairable)}) THEN 'repair'
              WHEN {k} < 0.4 THEN 'revoke'
              WHEN {k} < 0.55 THEN 'objection_pending'
              WHEN {k} < 0.7 THEN 'objection_upheld'
              WHEN {k} < 0.85 THEN 'objection_rejected'
              WHEN r.record_type IN ({q(amounts)}) AND r.amount IS NOT NULL THEN 'amount'
              ELSE 'revoke' END AS kind
            FROM rec_base r WHERE {u("r.record_id", "chg")} < {shares.changed_records}) r""")
    kinds = dict(con.execute("SELECT kind, count(*) FROM rec_chg GROUP BY 1").fetchall())
    con.execute("ALTER TABLE rec_chg DROP COLUMN kind")
    con.execute(f"""CREATE TABLE rec_same AS SELECT r.* FROM rec_base r
        WHERE {u("r.record_id", "same")} < {shares.unchanged} AND r.record_id NOT IN (SELECT record_id FROM rec_chg)""")
    # another legal representative: a base person picked by hash
    con.execute("""CREATE TABLE people AS SELECT subject_id, row_number() OVER (ORDER BY hash(subject_id)) - 1 AS i
        FROM subs WHERE subject_type = 'person' AND subject_id NOT IN (SELECT subject_id FROM held)""")
    n_people = con.execute("SELECT count(*) FROM people").fetchall()[0][0]
    cols = [r[0] for r in con.execute("DESCRIBE subs").fetchall()]
    since = ", NULL AS legal_rep_since" if "legal_rep_since" in cols else ""
    con.execute(f"""CREATE TABLE sub_chg AS SELECT s.* REPLACE (p.subject_id AS legal_rep_id{since})
        FROM subs s JOIN people p ON p.i = hash(s.subject_id || '|{seed}|rep') % {max(n_people, 1)}
        WHERE s.subject_type <> 'person' AND s.subject_id NOT IN (SELECT subject_id FROM held)
          AND {u("s.subject_id", "link")} < {shares.changed_links} AND p.subject_id IS DISTINCT FROM s.legal_rep_id""")
    opts = "(FORMAT parquet, COMPRESSION zstd)"
    con.execute(
        f"COPY (SELECT * FROM subs WHERE subject_id NOT IN (SELECT subject_id FROM held)) TO '{base / 'subjects.parquet'}' {opts}"
    )
    con.execute(f"COPY (SELECT * FROM rec_base) TO '{base / 'records.parquet'}' {opts}")
    con.execute(f"""COPY (SELECT * FROM subs WHERE subject_id IN (SELECT subject_id FROM held)
        UNION ALL BY NAME SELECT * FROM sub_chg) TO '{delta / "subjects.parquet"}' {opts}""")
    con.execute(f"""COPY (SELECT * FROM rec_new UNION ALL SELECT * FROM rec_chg UNION ALL SELECT * FROM rec_same)
        TO '{delta / "records.parquet"}' {opts}""")
    counts = {
        "new_subjects": con.execute("SELECT count(*) FROM held").fetchall()[0][0],
        "new_records": con.execute("SELECT count(*) FROM rec_new").fetchall()[0][0],
        "changed_records": con.execute("SELECT count(*) FROM rec_chg").fetchall()[0][0],
        "changed_kinds": {str(a): int(b) for a, b in sorted(kinds.items())},
        "unchanged_records": con.execute("SELECT count(*) FROM rec_same").fetchall()[0][0],
        "changed_links": con.execute("SELECT count(*) FROM sub_chg").fetchall()[0][0],
        "base_records": con.execute("SELECT count(*) FROM rec_base").fetchall()[0][0],
    }
    con.close()
    for d, day in ((base, d0), (delta, d1)):
        (d / "manifest.json").write_text(
            json.dumps({**{k: v for k, v in manifest.items() if k not in ("truth", "files")}, "export_date": day.isoformat(),
                        "files": ["subjects.parquet", "records.parquet"]}, ensure_ascii=False, indent=1),
            encoding="utf-8",
        )  # fmt: skip
    return {**counts, "base_export_date": d0.isoformat(), "delta_export_date": d1.isoformat()}
