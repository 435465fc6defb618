"""The data quality report (数据质量报告) of one ingest.

Rows read, accepted and quarantined by reason; 合规率 (compliance rate: accepted / read) per agency
and per record type; USCC 重错码率 (share of organisation rows whose code is wrong or duplicated);
dropped forbidden columns; examples of quarantined rows with file, row and field (IDs masked).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from scoring.archive.catalog import ORGANISATION_TYPES, Catalog
from scoring.archive.reasons import REASON_TEXT, WARNING_TEXT
from scoring.core.privacy import scrub

if TYPE_CHECKING:
    from scoring.archive.reasons import SourceFile
    from scoring.archive.store import Store


@dataclass
class QualityReport:
    batch_id: str
    export_date: str
    rows_read: int
    accepted: int
    quarantined: int
    by_table: dict[str, dict[str, int]]
    by_reason: dict[str, int]
    by_reason_any: dict[str, int]
    compliance_by_agency: list[dict]
    compliance_by_record_type: list[dict]
    uscc: dict[str, float | int]
    files: list[dict]
    examples: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    skipped_files: list[dict] = field(default_factory=list)
    duplicate_files: list[dict] = field(default_factory=list)
    other_sheets: list[dict] = field(default_factory=list)
    #: accepted rows with a warning (reason code -> rows; see reasons.WARNING_TEXT), and examples
    accepted_with_warning: dict[str, int] = field(default_factory=dict)
    warning_examples: list[dict] = field(default_factory=list)
    #: person-organisation links this ingest opens and closes (法定代表人 / 实际控制人 changes)
    links: dict[str, int] = field(default_factory=dict)

    @property
    def compliance_rate(self) -> float:
        return self.accepted / self.rows_read if self.rows_read else 1.0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["compliance_rate"] = self.compliance_rate
        return d

    def to_text(self, top: int = 10) -> str:
        """The report as text a person can read."""
        lines = [
            f"数据质量报告 · data quality report (batch {self.batch_id}, export date {self.export_date})",
            f"  rows read    {self.rows_read:>10,}",
            f"  accepted     {self.accepted:>10,}",
            f"  quarantined  {self.quarantined:>10,}",
            f"  合规率 compliance rate {self.compliance_rate:.2%}",
        ]
        for t, c in self.by_table.items():
            lines.append(
                f"  {t:<10} read {c['read']:,} · accepted {c['accepted']:,} · quarantined {c['quarantined']:,}"
            )
        if self.by_reason:
            lines.append("Quarantined by reason:")
            for r, n in sorted(self.by_reason.items(), key=lambda kv: -kv[1]):
                lines.append(f"  {r:<26} {n:>8,}  {REASON_TEXT.get(r, '')}")
        u = self.uscc
        lines.append(
            f"USCC 重错码率 {u['error_rate']:.4%} ({u['invalid'] + u['duplicated']} of {u['organisation_rows']} organisation rows;"
            f" {u['legacy_accepted']} legacy pilot codes accepted with a warning)"
        )
        for title, rows in (
            ("per agency", self.compliance_by_agency),
            ("per record type", self.compliance_by_record_type),
        ):
            worst = sorted(rows, key=lambda r: (r["rate"], -r["read"]))[:top]
            if worst:
                lines.append(f"合规率 {title} (lowest {len(worst)}):")
                for w in worst:
                    lines.append(f"  {w['key']:<28} {w['rate']:7.2%}  ({w['accepted']:,}/{w['read']:,})")
        for fi in self.files:
            if fi["dropped_forbidden_columns"]:
                lines.append(
                    f"Dropped forbidden columns from {fi['path']}: {', '.join(fi['dropped_forbidden_columns'])}"
                )
            if fi["ignored_columns"]:
                lines.append(f"Ignored unknown columns in {fi['path']}: {', '.join(fi['ignored_columns'])}")
        if self.examples:
            lines.append("Examples (file:row field reason detail):")
            for e in self.examples:
                lines.append(f"  {e['file']}:{e['row']} {e['field']} {e['reason']} {e['detail']}".rstrip())
        for f in self.skipped_files:
            lines.append(f"Skipped {f['path']}: {f['reason']}")
        for f in self.duplicate_files:
            lines.append(f"Skipped {f['path']}: same content as {f['same_as']}")
        for f in self.other_sheets:
            lines.append(f"Sheet {f['sheet']!r} of {f['path']} not read ({f['rows']} rows): {f['reason']}")
        if self.accepted_with_warning:
            lines.append("Accepted with a warning:")
            for r, n in sorted(self.accepted_with_warning.items(), key=lambda kv: -kv[1]):
                lines.append(f"  {r:<26} {n:>8,}  {WARNING_TEXT.get(r, '')}")
            for e in self.warning_examples:
                lines.append(f"  {e['file']}:{e['row']} {e['field']} {e['reason']} {e['detail']}".rstrip())
        if self.links:
            lines.append(
                f"Links (法定代表人/实际控制人): {self.links.get('opened', 0):,} opened, {self.links.get('closed', 0):,} closed"
            )
        for warning in self.warnings:
            lines.append(f"warning: {warning}")
        return "\n".join(scrub(line, newlines=False) for line in lines)

    def write(self, path: str | Path) -> Path:
        """Write the report as JSON at ``path`` and as text beside it (``.txt``)."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=2, default=str), encoding="utf-8")
        p.with_suffix(".txt").write_text(self.to_text(top=50) + "\n", encoding="utf-8")
        return p


def _rows(con, sql: str) -> list[dict]:
    cur = con.execute(sql)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]


def build_report(
    con: Any,
    sources: list[SourceFile],
    export_date: dt.date,
    batch_id: str,
    catalog: Catalog,
    n_examples: int,
    notes: dict[str, list[dict]] | None = None,
) -> QualityReport:
    """Compute the report from the checked staging tables of an ingest in progress."""
    reason = "split_part(issues[1], chr(31), 1)"
    by_table = {}
    for t in ("subjects", "records"):
        read, acc = con.execute(f"SELECT count(*), count(*) FILTER (WHERE len(issues) = 0) FROM chk_{t}").fetchall()[0]
        by_table[t] = {"read": int(read), "accepted": int(acc), "quarantined": int(read - acc)}
    both = "(SELECT issues, _file, _row, 'subjects' AS t FROM chk_subjects UNION ALL SELECT issues, _file, _row, 'records' FROM chk_records)"
    by_reason = {
        r: int(n)
        for r, n in con.execute(
            f"SELECT {reason}, count(*) FROM {both} WHERE len(issues) > 0 GROUP BY 1 ORDER BY 2 DESC"
        ).fetchall()
    }
    by_reason_any = {
        r: int(n)
        for r, n in con.execute(
            f"""SELECT r, count(DISTINCT (t, _file, _row)) FROM (
              SELECT t, _file, _row, split_part(unnest(issues), chr(31), 1) AS r FROM {both}) GROUP BY 1 ORDER BY 2 DESC"""
        ).fetchall()
    }
    agency = _rows(
        con,
        """
        SELECT coalesce(agency, '(missing)') AS key, count(*) AS read, count(*) FILTER (WHERE len(issues) = 0) AS accepted
        FROM chk_records GROUP BY 1 ORDER BY 1""",
    )
    rtype = _rows(
        con,
        """
        SELECT coalesce(record_type, '(missing)') AS key, count(*) AS read, count(*) FILTER (WHERE len(issues) = 0) AS accepted
        FROM chk_records GROUP BY 1 ORDER BY 1""",
    )
    for rows in (agency, rtype):
        for r in rows:
            r["key"] = scrub(str(r["key"]), newlines=False)
            r["read"], r["accepted"] = int(r["read"]), int(r["accepted"])
            r["rate"] = r["accepted"] / r["read"] if r["read"] else 1.0
    orgs = "(" + ",".join(f"'{t}'" for t in ORGANISATION_TYPES) + ")"
    n_org, invalid, dup, legacy = con.execute(f"""
        SELECT count(*),
               count(*) FILTER (WHERE list_contains(list_transform(issues, lambda x: split_part(x, chr(31), 1)), 'BAD_USCC')),
               count(*) FILTER (WHERE list_contains(list_transform(issues, lambda x: split_part(x, chr(31), 1)), 'DUPLICATE_SUBJECT')),
               count(*) FILTER (WHERE len(issues) = 0 AND id_warning = 'legacy_uscc')
        FROM chk_subjects WHERE subject_type IN {orgs}""").fetchall()[0]
    uscc = {
        "organisation_rows": int(n_org),
        "invalid": int(invalid),
        "duplicated": int(dup),
        "legacy_accepted": int(legacy),
        "error_rate": (invalid + dup) / n_org if n_org else 0.0,
    }
    examples = [
        {
            "table": r["t"],
            "file": scrub(Path(r["_file"]).name, newlines=False),
            "row": int(r["_row"]),
            "reason": r["reason"],
            "field": r["field"],
            "detail": scrub(r["detail"] or "", newlines=False),
        }
        for r in _rows(
            con,
            f"""
            SELECT t, _file, _row, {reason} AS reason, split_part(issues[1], chr(31), 2) AS field,
                   split_part(issues[1], chr(31), 3) AS detail
            FROM {both} WHERE len(issues) > 0 ORDER BY t DESC, _file, _row LIMIT {int(n_examples)}""",
        )
    ]
    warned_rows = "(SELECT _file, _row, reason, field, detail FROM wrn_records UNION ALL SELECT _file, _row, reason, field, detail FROM wrn_subjects)"
    accepted_with_warning = {
        r: int(n)
        for r, n in con.execute(f"SELECT reason, count(*) FROM {warned_rows} GROUP BY 1 ORDER BY 2 DESC, 1").fetchall()
    }
    warning_examples = [
        {
            "file": scrub(Path(r["_file"]).name, newlines=False),
            "row": int(r["_row"]),
            "reason": r["reason"],
            "field": r["field"],
            "detail": scrub(r["detail"] or "", newlines=False),
        }
        for r in _rows(con, f"SELECT * FROM {warned_rows} ORDER BY _file, _row, reason LIMIT {int(n_examples)}")
    ]
    links = {
        k: int(v)
        for k, v in zip(
            ("opened", "closed"),
            con.execute(
                "SELECT count(*) FILTER (WHERE op = 'open'), count(*) FILTER (WHERE op = 'close') FROM lnk_plan"
            ).fetchall()[0],
        )
    }
    warnings = []
    if legacy:
        warnings.append(f"{legacy} organisation(s) accepted with a legacy pilot USCC that fails the GB 32100 check")
    files = [
        {
            "path": scrub(Path(s.label).name, newlines=False),
            "sheet": scrub(s.sheet, newlines=False) if s.sheet is not None else None,
            "encoding": s.encoding,
            "table": s.table,
            "format": s.kind,
            "sha256": s.sha256,
            "dropped_forbidden_columns": [scrub(c, newlines=False) for c in s.dropped_forbidden],
            "ignored_columns": [scrub(c, newlines=False) for c in s.ignored],
        }
        for s in sources
    ]
    notes = notes or {}
    for sheet in notes.get("other_sheets", []):
        if sheet.get("rows"):
            warnings.append(
                f"sheet {sheet['sheet']!r} of {Path(str(sheet['path'])).name} holds {sheet['rows']} rows but no "
                "archive table (not read): give it a record_type or subject_type column"
            )
    read = sum(v["read"] for v in by_table.values())
    acc = sum(v["accepted"] for v in by_table.values())
    return QualityReport(
        batch_id=batch_id,
        export_date=export_date.isoformat(),
        rows_read=read,
        accepted=acc,
        quarantined=read - acc,
        by_table=by_table,
        by_reason=by_reason,
        by_reason_any=by_reason_any,
        compliance_by_agency=agency,
        compliance_by_record_type=rtype,
        uscc=uscc,
        files=files,
        examples=examples,
        warnings=warnings,
        skipped_files=list(notes.get("skipped_files", [])),
        duplicate_files=list(notes.get("duplicate_files", [])),
        other_sheets=list(notes.get("other_sheets", [])),
        accepted_with_warning=accepted_with_warning,
        warning_examples=warning_examples,
        links=links,
    )


def quarantine_listing(store: Store, reason: str | None = None, limit: int = 50) -> list[dict]:
    """Quarantined rows for display (``scoring quarantine``): file name, row, reason, field and
    detail, with the original values; ID numbers masked and control characters removed from
    every value."""
    from scoring.core.errors import DataError

    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise DataError(f"--limit must be a whole number of rows, 0 or more (got {limit!r})")
    where = "WHERE reason = ?" if reason else ""
    cur = store.con.execute(
        f"SELECT table_name, source_file, source_row, reason, field, detail, original FROM quarantine {where} "
        "ORDER BY table_name DESC, source_file, source_row LIMIT ?",
        [reason, limit] if reason else [limit],
    )
    names = [d[0] for d in cur.description]
    out = []
    for row in cur.fetchall():
        r = dict(zip(names, row))
        original = json.loads(r["original"]) if isinstance(r["original"], str) else (r["original"] or {})
        out.append(
            {
                "table_name": r["table_name"],
                "source_file": scrub(Path(str(r["source_file"])).name, newlines=False),
                "source_row": int(r["source_row"]),
                "reason": r["reason"],
                "field": r["field"],
                "detail": scrub(r["detail"] or "", newlines=False),
                "original": {
                    k: (scrub(str(v), newlines=False) if v is not None else None) for k, v in original.items()
                },
            }
        )
    return out
