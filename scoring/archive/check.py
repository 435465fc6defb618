"""Checking staged rows (校验): every rule of the archive format as one SQL pass per table.

Each check is a ``CASE`` producing ``reason SEP field SEP detail`` when it fails; a row's issues are
the list of those that fired, read issues (ragged / undecodable / formula cells) first. A row with
no issue is accepted. Values are compared after one normalisation: identifiers by
:func:`scoring.core.identifiers.normalise_id` (at staging), every other text with outer whitespace
and control characters trimmed (:data:`TRIM_CLASS`); a control character *inside* a value is
BAD_VALUE. Dates are strict: ``YYYY-MM-DD``, ``YYYY/MM/DD``, ``YYYYMMDD``, ``YYYY年M月D日`` (and
``YYYY-MM-DD HH:MM:SS`` from spreadsheet date-times), a real calendar date from 1900 on; anything
else (``24-03-05``, ``2024035``, ``epoch``, ``-infinity``, BC dates) is BAD_DATE.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pyarrow as pa

from scoring.archive import schema as archive
from scoring.archive.catalog import ORGANISATION_TYPES, Catalog, SubjectType
from scoring.archive.read import SEP
from scoring.core.dates import add_months
from scoring.core.identifiers import IdStatus

#: Characters trimmed from both ends of every text value (an RE2 class): whitespace (ASCII,
#: no-break, ideographic), line and paragraph separators, zero-width characters and the BOM, C0/C1
#: controls.
TRIM_CLASS = (
    r"[\x{0001}-\x{0020}\x{007f}-\x{00a0}\x{1680}\x{2000}-\x{200d}\x{2028}\x{2029}\x{202f}\x{205f}"
    r"\x{2060}\x{3000}\x{feff}]"
)
#: Years a date may have (later years are after the export date anyway).
MIN_YEAR = 1900
#: A planned list exit (a court's exit date) may lie this many years after the export date.
LIST_EXIT_YEARS = 10


def lit(s: str) -> str:
    """A SQL string literal (quotes doubled); NUL cannot occur in SQL text and is refused."""
    if "\x00" in s:
        raise ValueError("NUL in a SQL literal")
    return "'" + s.replace("'", "''") + "'"


def ident(name: str) -> str:
    """A quoted SQL identifier (a database name comes from the store's file name)."""
    return '"' + name.replace('"', '""') + '"'


def _case(expr: str, mapping: dict[str, str]) -> str:
    whens = " ".join(f"WHEN {lit(k)} THEN {lit(v)}" for k, v in mapping.items())
    return f"(CASE {expr} {whens} ELSE {expr} END)"


def _issue(reason: str, fld: str, cond: str, detail: str) -> str:
    return f"CASE WHEN {cond} THEN {lit(reason + SEP + fld + SEP)} || ({detail}) END"


def _issues_sql(items: list[str]) -> str:
    return "list_filter([_read_issue, " + ",\n  ".join(items) + "], lambda x: x IS NOT NULL)"


#: The date formats of the archive (README "The archive format"); one gate, then one parse.
DATE_GATE = (
    "[0-9]{4}(-[0-9]{1,2}-[0-9]{1,2}( [0-9]{2}:[0-9]{2}:[0-9]{2})?|/[0-9]{1,2}/[0-9]{1,2}|[0-9]{4}"
    "|年[0-9]{1,2}月[0-9]{1,2}日)"
)
DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y年%m月%d日", "%Y-%m-%d %H:%M:%S")

MACROS = [
    f"CREATE OR REPLACE TEMP MACRO nz(x) AS NULLIF(regexp_replace(x, {lit(f'^{TRIM_CLASS}+|{TRIM_CLASS}+$')}, '', 'g'), '')",
    # a control character left inside a trimmed value
    r"CREATE OR REPLACE TEMP MACRO has_ctl(x) AS regexp_matches(x, '[\x{0000}-\x{001f}\x{007f}-\x{009f}\x{200b}-\x{200f}\x{202a}-\x{202e}\x{2066}-\x{2069}]')",
    # a date in one of the formats (the year is checked against MIN_YEAR by the BAD_DATE rule)
    f"""CREATE OR REPLACE TEMP MACRO xd(x) AS CASE WHEN regexp_full_match(x, {lit(DATE_GATE)})
        THEN TRY_STRPTIME(x, [{", ".join(lit(f) for f in DATE_FORMATS)}])::DATE END""",
]

STATUS_MESSAGES = "(CASE {s} " + " ".join(f"WHEN {int(s)} THEN {lit(s.message)}" for s in IdStatus) + " END)"


def catalog_table(con: Any, catalog: Catalog) -> None:
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
    # minimum publicity periods (最短公示期) of repairable types, by severity and regime dates
    mins = [
        {
            "code": r.code,
            "severity": sev.value,
            "eff_from": dt.date(MIN_YEAR, 1, 1) if i == 0 else reg.effective_from,
            "eff_to": rule.regimes[i + 1].effective_from if i + 1 < len(rule.regimes) else dt.date(9999, 12, 31),
            "min_months": reg.periods[sev].min,
            "regime": reg.name,
        }
        for r in catalog.record_types
        if r.repairable and (rule := catalog.publicity_rules[r.publicity]).kind == "by_severity"
        for i, reg in enumerate(rule.regimes)
        for sev in r.severities
    ]
    schema = pa.schema(
        [
            ("code", pa.string()),
            ("severity", pa.string()),
            ("eff_from", pa.date32()),
            ("eff_to", pa.date32()),
            ("min_months", pa.int32()),
            ("regime", pa.string()),
        ]
    )
    con.register("cat_min_arrow", pa.Table.from_pylist(mins, schema=schema))
    con.execute("CREATE OR REPLACE TEMP TABLE cat_repair_min AS SELECT * FROM cat_min_arrow")
    con.unregister("cat_min_arrow")


def _ranks(src: str, id_key: str, doc_key: str | None, raw: list[str]) -> str:
    """Duplicate ranks without window sorts: a row is a repeat when an earlier row (lower _ord)
    has the same raw values (exact_rank), the same id (id_rank) or the same document (doc_rank).
    Ranks are 1 for the first occurrence and 2 for any later one.

    Repeats are rare, so each rank joins the rows to the small set of keys seen more than once
    (with their first occurrence). Two rows with the same raw values have the same id (or both
    none), so the raw values are compared only among the rows whose id is repeated or missing."""
    row_key = f"md5_number(CAST(ROW({', '.join(raw)}) AS VARCHAR))"
    doc_cols = [c.strip() for c in doc_key.split(",")] if doc_key else []
    doc_join = " AND ".join(f"fd.{c} = x.{c}" for c in doc_cols)
    doc_sel = ", CASE WHEN x._ord > fd.o THEN 2 ELSE 1 END AS doc_rank" if doc_key else ""
    doc_cte = (
        f""" LEFT JOIN (SELECT {doc_key}, min(_ord) AS o FROM {src} WHERE {doc_cols[-1]} IS NOT NULL
                       GROUP BY ALL HAVING count(*) > 1) fd ON {doc_join}"""
        if doc_key
        else ""
    )
    return f"""
            SELECT x.*, CASE WHEN x._ord > fr.o THEN 2 ELSE 1 END AS exact_rank,
                   CASE WHEN x._ord > fi.o THEN 2 ELSE 1 END AS id_rank{doc_sel}
            FROM {src} x
            LEFT JOIN (SELECT {id_key}, min(_ord) AS o FROM {src} WHERE {id_key} IS NOT NULL
                       GROUP BY 1 HAVING count(*) > 1) fi ON fi.{id_key} = x.{id_key}
            LEFT JOIN (
                SELECT _ord, k_row, min(_ord) OVER (PARTITION BY k_row) AS o FROM (
                    SELECT _ord, {row_key} AS k_row FROM {src}
                    WHERE {id_key} IS NULL OR {id_key} IN (
                        SELECT {id_key} FROM {src} WHERE {id_key} IS NOT NULL GROUP BY 1 HAVING count(*) > 1))
            ) fr ON fr._ord = x._ord
            {doc_cte}"""


def check_subjects(con: Any, export_date: dt.date, uscc_mode: str, uscc_allowlist: list[str]) -> None:
    """``chk_subjects``: the staged subjects with their issues and typed values."""
    stype = _case("lower(nz(subject_type))", archive.SUBJECT_TYPE_ALIASES)
    orgs = "(" + ",".join(lit(t) for t in ORGANISATION_TYPES) + ")"
    valid_types = "(" + ",".join(lit(t.value) for t in SubjectType) + ")"
    from scoring.core.identifiers import normalise_id

    allow = "[" + ",".join(lit(normalise_id(c)) for c in uscc_allowlist) + "]::VARCHAR[]"
    legacy_ok = {
        "strict": "false",
        "allowlist": f"list_contains({allow}, k_id)",
        "warn": "true",
    }[uscc_mode]
    legacy_statuses = f"({int(IdStatus.BAD_CHECK)}, {int(IdStatus.BAD_ORG_CHECK)})"
    ex = f"DATE '{export_date.isoformat()}'"
    bools = "(" + ",".join(lit(v) for v in archive.TRUE_VALUES + archive.FALSE_VALUES) + ")"
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
            "nz(region_code) IS NOT NULL AND NOT regexp_full_match(nz(region_code), '[0-9]{6}')",
            "'not 6 digits: ' || region_code",
        ),
        _issue(
            "BAD_INDUSTRY",
            "industry_code",
            "nz(industry_code) IS NOT NULL AND (k_type = 'person' OR NOT regexp_full_match(nz(industry_code), '[0-9]{4}'))",
            "'not a 4-digit class for an organisation: ' || industry_code",
        ),
        _issue(
            "BAD_DATE",
            "registered_on",
            f"nz(registered_on) IS NOT NULL AND (d_reg IS NULL OR d_reg < DATE '{MIN_YEAR}-01-01')",
            "'not a date from 1900 in YYYY-MM-DD, YYYY/MM/DD, YYYYMMDD or YYYY年M月D日: ' || registered_on",
        ),
        _issue("DATE_AFTER_EXPORT", "registered_on", f"d_reg > {ex}", f"'after export date {export_date}'"),
        _issue(
            "BAD_LINK",
            "legal_rep_id",
            "nz(_n_legal_rep_id) IS NOT NULL AND (k_type = 'person' OR _rep_status <> 0)",
            "'not a valid ID number of a person linked to an organisation'",
        ),
        _issue(
            "BAD_LINK",
            "actual_controller_id",
            "nz(_n_actual_controller_id) IS NOT NULL AND (k_type = 'person' OR _ctl_status <> 0)",
            "'not a valid ID number of a person linked to an organisation'",
        ),
        *[
            item
            for since, link in (
                ("legal_rep_since", "legal_rep_id"),
                ("actual_controller_since", "actual_controller_id"),
            )
            for item in (
                _issue(
                    "BAD_DATE",
                    since,
                    f"nz({since}) IS NOT NULL AND (xd(nz({since})) IS NULL OR xd(nz({since})) < DATE '{MIN_YEAR}-01-01')",
                    f"'not a date from 1900 in YYYY-MM-DD, YYYY/MM/DD, YYYYMMDD or YYYY年M月D日: ' || {since}",
                ),
                _issue("DATE_AFTER_EXPORT", since, f"xd(nz({since})) > {ex}", f"'after export date {export_date}'"),
                _issue(
                    "BAD_LINK",
                    since,
                    f"nz({since}) IS NOT NULL AND nz(_n_{link}) IS NULL",
                    f"'a start date without {link}'",
                ),
            )
        ],
        _issue(
            "BAD_VALUE",
            "positive_opt_out",
            f"nz(positive_opt_out) IS NOT NULL AND lower(nz(positive_opt_out)) NOT IN {bools}",
            "'not true/false: ' || positive_opt_out",
        ),
        *[
            _issue("BAD_VALUE", f, f"has_ctl(nz({f}))", "'a control character inside the value'")
            for f in ("subject_type", "name", "industry_code", "region_code", "address", "positive_opt_out")
        ],
        _issue("DUPLICATE_EXACT", "subject_id", "exact_rank > 1", "'same row seen earlier'"),
        _issue(
            "DUPLICATE_SUBJECT",
            "subject_id",
            "exact_rank = 1 AND id_rank > 1",
            "'subject id seen earlier with other values'",
        ),
    ]
    trues = "(" + ",".join(lit(v) for v in archive.TRUE_VALUES) + ")"
    con.execute(f"""
        CREATE OR REPLACE TABLE chk_subjects AS
        WITH s AS (
            SELECT *, nz(_n_subject_id) AS k_id, {stype} AS k_type, xd(nz(registered_on)) AS d_reg,
              CASE WHEN {stype} IN {orgs} AND _uscc_status IN {legacy_statuses} THEN 'legacy_uscc' END AS id_warning,
              coalesce(lower(nz(positive_opt_out)) IN {trues}, false) AS b_opt_out
            FROM stg_subjects
        ), d AS ({_ranks("s", "k_id", None, raw)}
        )
        {_typed_select(items, SUBJECT_VALUES, "d", SUBJECT_EXTRAS, SUBJECT_OPTIONAL)}
    """)


def check_records(con: Any, export_date: dt.date, main: str) -> None:
    """``chk_records``: the staged records with their issues and typed values (``main``: the
    store's database, already quoted)."""
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
        items.append(
            _issue(
                "BAD_DATE",
                f,
                f"nz({f}) IS NOT NULL AND (d_{f} IS NULL OR d_{f} < DATE '{MIN_YEAR}-01-01')",
                f"'not a date from 1900 in YYYY-MM-DD, YYYY/MM/DD, YYYYMMDD or YYYY年M月D日: ' || {f}",
            )
        )
    for f in date_fields:
        if f == "list_exit_on":  # a planned exit (a court's exit date) may lie ahead
            limit = add_months(export_date, 12 * LIST_EXIT_YEARS)
            items.append(
                _issue(
                    "DATE_AFTER_EXPORT",
                    f,
                    f"d_{f} > DATE '{limit.isoformat()}'",
                    f"'more than {LIST_EXIT_YEARS} years after export date {export_date}'",
                )
            )
        else:
            items.append(_issue("DATE_AFTER_EXPORT", f, f"d_{f} > {ex}", f"'after export date {export_date}'"))
    for f in (
        "record_id",
        "record_type",
        "document_no",
        "agency",
        "severity",
        "amount",
        "grade",
        "related_record_id",
        "objection_outcome",
    ):
        items.append(_issue("BAD_VALUE", f, f"has_ctl(nz({f}))", "'a control character inside the value'"))
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
            "nz(grade) IS NOT NULL AND c.code IS NOT NULL AND NOT list_contains(c.grades, nz(grade))",
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
            SELECT *, nz(record_id) AS k_id, nz(_n_subject_id) AS k_subject, {rtype} AS k_type,
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
    # accepted with a warning (not quarantined): a repair dated before the end of the minimum
    # publicity period takes effect at that end (scoring.features.asof)
    con.execute("""
        CREATE OR REPLACE TABLE wrn_records AS
        SELECT c._ord, c._file, c._row, 'REPAIR_BEFORE_MIN_PERIOD' AS reason, 'repaired_on' AS field,
               'repaired on ' || CAST(c.repaired_on AS VARCHAR) || ', before the minimum publicity period under '
               || m.regime || ' ends on ' || CAST(CAST(c.event_date + to_months(m.min_months) AS DATE) AS VARCHAR)
               || '; counted until then' AS detail
        FROM chk_records c JOIN cat_repair_min m
          ON m.code = c.record_type AND m.severity = c.severity
         AND c.event_date >= m.eff_from AND c.event_date < m.eff_to
        WHERE len(c.issues) = 0 AND c.repaired_on < CAST(c.event_date + to_months(m.min_months) AS DATE)
    """)


# -- applying --------------------------------------------------------------------------------
#: (expression over the checked row, stored column) for each table, in store column order.
SUBJECT_VALUES = [
    ("k_id", "subject_id"),
    ("k_type", "subject_type"),
    ("nz(name)", "name"),
    ("nz(industry_code)", "industry_code"),
    ("nz(region_code)", "region_code"),
    ("d_reg", "registered_on"),
    ("nz(_n_legal_rep_id)", "legal_rep_id"),
    ("nz(_n_actual_controller_id)", "actual_controller_id"),
    ("b_opt_out", "positive_opt_out"),
    ("id_warning", "id_warning"),
]
#: typed values of the optional link start dates: used by the link history, not stored in subjects
#: (and not part of a subject row's content hash)
SUBJECT_EXTRAS = [
    ("xd(nz(legal_rep_since))", "legal_rep_since"),
    ("xd(nz(actual_controller_since))", "actual_controller_since"),
]
#: typed values of optional stored columns added later (住所): stored, and part of a row's content hash
#: only when given, so rows ingested before the column existed keep their hash
SUBJECT_OPTIONAL = [("nz(address)", "address")]
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


def _typed_select(
    items: list[str],
    values: list[tuple[str, str]],
    src: str,
    extras: list[tuple[str, str]] | None = None,
    optional: list[tuple[str, str]] | None = None,
) -> str:
    """The check tables keep lineage, issues, the typed values and their content hash only
    (``extras``: typed values outside the hash; ``optional``: in the hash only when not null)."""
    typed = ", ".join(f"{expr} AS {name}" for expr, name in values + (extras or []) + (optional or []))
    names = ", ".join(name for _, name in values)
    digest = f"md5(CAST(ROW({names}) AS VARCHAR))"
    given: list[str] = []
    for _, name in optional or []:
        given.append(name)
        with_it = f"md5(CAST(ROW({names}, {', '.join(given)}) AS VARCHAR))"
        digest = f"CASE WHEN {name} IS NULL THEN {digest} ELSE {with_it} END"
    return f"""
        SELECT *, {digest} AS content_hash FROM (
            SELECT _ord, _file, _row, _sha, {_issues_sql(items)} AS issues, {typed} FROM {src})"""
