"""The as-of rule (时点规则): whether a record counts at a date T. One rule for every engine.

A record counts at T only if all of these hold:

* its event date is <= T (for list-type records, the list entry date too);
* T is inside its publicity/validity period, under the regime in force on the record's date
  (list-type records: from list entry until list exit, or entry + the default period);
* it was not repaired or revoked on or before T; a repair takes effect no earlier than the end of
  the record's minimum publicity period under its regime (最短公示期: 信用修复 may be applied for only
  after it), so an earlier repair date counts from that end (ingest accepts it with the warning
  REPAIR_BEFORE_MIN_PERIOD);
* no objection was pending at T: a pending objection suspends the record from the day it was
  raised; a rejected one restores it from the resolution date; an upheld one removes it;
* for a person who opted out of positive items (深圳条例 Art. 39), it is not such an item.

The rule is computed in two steps. :func:`timeline_sql` turns every record into an interval
``[t_start, t_end)`` with an optional suspension ``[s_from, s_to)``; it depends only on the record
and the catalogue, not on T, so it is computed once. Then a record counts at T when
``t_start <= T < t_end`` and T is not inside the suspension (:func:`counts_sql`, and the Polars
expression in :mod:`scoring.features.engine_polars`). :func:`record_counts` is the same rule written out for
a single record in plain Python; tests hold the engines to it.

The SQL is one text for every SQL engine: :func:`timeline_sql` takes a ``dialect`` (:data:`DIALECTS`:
DuckDB for the embedded store, Spark SQL for :mod:`scoring.features.engine_spark`), and only the
month arithmetic differs between them (:func:`months_after_sql`: DuckDB's ``date + to_months(n)``,
Spark's ``add_months``; both clamp to the month's end as :func:`scoring.core.dates.add_months`,
which the Spark tests check day by day). :func:`counts_sql` and :func:`link_valid_sql` are plain SQL
that both read alike.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Literal

import pandas as pd

from scoring.archive.catalog import Catalog, Polarity
from scoring.core.dates import add_months

FAR_PAST = dt.date(1900, 1, 1)
FAR_FUTURE = dt.date(9999, 12, 31)
#: Negative information is kept at most 5 years (征信业管理条例 Art. 16), except list records.
NEGATIVE_CAP_MONTHS = 60
#: the timeline columns every feature engine reads (a record with its as-of interval, see timeline_sql)
TIMELINE_COLUMNS: tuple[str, ...] = (
    "subject_id",
    "record_id",
    "record_type",
    "severity",
    "amount",
    "grade",
    "event_date",
    "t_start",
    "t_end",
    "s_from",
    "s_to",
    "excluded",
)
#: the SQL dialects the rule is written in
Dialect = Literal["duckdb", "spark"]
DIALECTS: tuple[Dialect, ...] = ("duckdb", "spark")


def months_after_sql(date: str, months: str, dialect: Dialect = "duckdb") -> str:
    """SQL: the date ``months`` calendar months after the DATE ``date``, the day clamped to the month's end
    (31 Jan + 1 month = 28/29 Feb), as :func:`scoring.core.dates.add_months`; NULL months give NULL."""
    if dialect == "spark":
        return f"add_months({date}, {months})"
    if dialect == "duckdb":
        return f"CAST({date} + to_months({months}) AS DATE)"
    raise ValueError(f"unknown SQL dialect {dialect!r}; known: {', '.join(DIALECTS)}")


def periods_table(catalog: Catalog) -> pd.DataFrame:
    """Flatten the catalogue's dated publicity rules: one row per record type, severity key and regime.

    ``sev_key`` is the severity for by-severity rules and '' otherwise; ``eff_from``/``eff_to``
    bound the event dates the row applies to (the earliest regime also covers earlier dates).
    """
    rows = []
    for rt in catalog.record_types:
        rule = catalog.publicity_rules[rt.publicity]
        base = {
            "record_type": rt.code,
            "kind": rule.kind,
            "list_type": rt.list_type,
            "negative": rt.polarity is Polarity.negative,
            "opt_out_eligible": rt.opt_out_eligible,
        }
        if rule.kind == "by_severity":
            for i, reg in enumerate(rule.regimes):
                eff_from = FAR_PAST if i == 0 else reg.effective_from
                eff_to = rule.regimes[i + 1].effective_from if i + 1 < len(rule.regimes) else FAR_FUTURE
                for sev in rt.severities:
                    p = reg.periods[sev]
                    rows.append(
                        {
                            **base,
                            "sev_key": sev.value,
                            "eff_from": eff_from,
                            "eff_to": eff_to,
                            "max_months": p.max,
                            "min_months": p.min if rt.repairable else None,
                            "regime": reg.code,
                        }
                    )
        else:
            months = rule.months if rule.kind == "fixed" else rule.default_months
            rows.append(
                {
                    **base,
                    "sev_key": "",
                    "eff_from": FAR_PAST,
                    "eff_to": FAR_FUTURE,
                    "max_months": months,
                    "min_months": None,
                    "regime": None,
                }
            )
    df = pd.DataFrame(rows)
    df["max_months"] = df["max_months"].astype("Int64")
    df["min_months"] = df["min_months"].astype("Int64")
    return df


def timeline_sql(records: str, periods: str, dialect: Dialect = "duckdb") -> str:
    """SQL adding t_start, t_end, s_from, s_to to every row of ``records``, in ``dialect`` (DuckDB or
    Spark SQL: the same text but for :func:`months_after_sql`).

    ``records`` needs the archive's record columns; ``periods`` is :func:`periods_table` (Spark:
    with integer ``max_months``/``min_months``). Unknown record types get an empty interval (they
    never count).
    """

    def plus(date: str, months: str) -> str:
        return months_after_sql(date, months, dialect)

    return f"""
    SELECT r.*,
      CASE WHEN p.list_type THEN greatest(r.event_date, coalesce(r.list_entry_on, r.event_date))
           ELSE r.event_date END AS t_start,
      least(
        CASE
          WHEN p.kind IS NULL THEN r.event_date
          WHEN p.kind = 'permanent' THEN NULL
          WHEN p.kind = 'list' THEN coalesce(r.list_exit_on,
               {plus("coalesce(r.list_entry_on, r.event_date)", "p.max_months")})
          ELSE {plus("r.event_date", "p.max_months")}
        END,
        CASE WHEN p.negative AND NOT p.list_type THEN {plus("r.event_date", str(NEGATIVE_CAP_MONTHS))} END,
        {effective_repair_sql("r", "p", dialect)},
        r.revoked_on,
        CASE WHEN r.objection_outcome = 'upheld' THEN r.objection_raised_on END
      ) AS t_end,
      CASE WHEN r.objection_raised_on IS NOT NULL AND coalesce(r.objection_outcome, '') <> 'upheld'
           THEN r.objection_raised_on END AS s_from,
      CASE WHEN r.objection_raised_on IS NOT NULL AND coalesce(r.objection_outcome, '') <> 'upheld'
           THEN r.objection_resolved_on END AS s_to,
      coalesce(p.opt_out_eligible, false) AS opt_out_eligible
    FROM {records} r
    LEFT JOIN {periods} p
      ON p.record_type = r.record_type
     AND p.sev_key = CASE WHEN p.kind = 'by_severity' THEN coalesce(r.severity, '') ELSE '' END
     AND r.event_date >= p.eff_from AND r.event_date < p.eff_to
    """


def timeline_select_sql(records: str, subjects: str, periods: str, dialect: Dialect = "duckdb", where: str = "") -> str:
    """SQL: the timeline of every record of ``records`` (:func:`timeline_sql`) with ``excluded``, true for
    a positive item of a person who opted out (``subjects.positive_opt_out``); ``where`` (over ``r``
    and ``s``) keeps some records only, before the publicity join."""
    base = (
        f"(SELECT r.*, coalesce(s.positive_opt_out, false) AS opt_out FROM {records} r JOIN {subjects} s "
        f"USING (subject_id) {where})"
    )
    return f"SELECT *, (opt_out_eligible AND opt_out) AS excluded FROM ({timeline_sql(base, periods, dialect)}) t"


def effective_repair_sql(r: str, p: str, dialect: Dialect = "duckdb") -> str:
    """SQL: the day a repair takes effect, ``repaired_on`` but no earlier than the end of the minimum
    publicity period (``p.min_months`` after the event; NULL: no minimum)."""
    return (
        f"CASE WHEN {r}.repaired_on IS NOT NULL AND {p}.min_months IS NOT NULL "
        f"THEN greatest({r}.repaired_on, {months_after_sql(f'{r}.event_date', f'{p}.min_months', dialect)}) "
        f"ELSE {r}.repaired_on END"
    )


def counts_sql(as_of: str) -> str:
    """SQL predicate over a timeline row: the record counts at ``as_of`` (a SQL date expression; the
    same text in every dialect)."""
    return (
        f"(t_start <= {as_of} AND (t_end IS NULL OR {as_of} < t_end) "
        f"AND NOT (s_from IS NOT NULL AND s_from <= {as_of} AND (s_to IS NULL OR {as_of} < s_to)))"
    )


def link_valid_sql(alias: str, as_of: str) -> str:
    """SQL predicate: the person-organisation link ``alias`` (valid_from, valid_to) holds at ``as_of``."""
    return (
        f"(({alias}.valid_from IS NULL OR {alias}.valid_from <= {as_of}) "
        f"AND ({alias}.valid_to IS NULL OR {as_of} < {alias}.valid_to))"
    )


def link_valid(link: Mapping, as_of: dt.date) -> bool:
    """Does a link (a mapping with valid_from, valid_to) hold at ``as_of``? Linked features at a date
    read the records of the subjects linked then: a later change of legal representative never
    rewrites the past."""
    start, end = _d(link.get("valid_from")), _d(link.get("valid_to"))
    return (start is None or start <= as_of) and (end is None or as_of < end)


# -- the same rule for one record, in plain Python (the reference the engines are tested against) --
def _d(v: object) -> dt.date | None:
    if v is None or (isinstance(v, float) and v != v) or v is pd.NaT:
        return None
    if isinstance(v, pd.Timestamp):
        return v.date()
    if isinstance(v, dt.datetime):
        return v.date()
    return v  # type: ignore[return-value]


def record_counts(rec: Mapping, as_of: dt.date, catalog: Catalog, opt_out: bool = False) -> bool:
    """Does this record (a mapping with the archive's record columns) count at ``as_of``?"""
    code = rec["record_type"]
    if code not in catalog:
        return False
    rt = catalog[code]
    event = _d(rec["event_date"])
    if event is None:  # no event date: the record never counts (ingest quarantines such rows)
        return False
    if opt_out and rt.opt_out_eligible:
        return False
    entry, exit_ = _d(rec.get("list_entry_on")), _d(rec.get("list_exit_on"))
    w = catalog.window(code, event, rec.get("severity") or None, list_entry_on=entry, list_exit_on=exit_)
    start = max(event, w.start) if rt.list_type else event
    if as_of < start:
        return False
    candidates: list[dt.date | None] = [w.end]
    if rt.polarity is Polarity.negative and not rt.list_type:
        candidates.append(add_months(event, NEGATIVE_CAP_MONTHS))
    raised, resolved = _d(rec.get("objection_raised_on")), _d(rec.get("objection_resolved_on"))
    outcome = rec.get("objection_outcome")
    repaired = _d(rec.get("repaired_on"))
    if repaired is not None and w.repair_from is not None:  # no repair before the minimum period ends
        repaired = max(repaired, w.repair_from)
    candidates += [repaired, _d(rec.get("revoked_on"))]
    if outcome == "upheld":
        candidates.append(raised)
    ends = [e for e in candidates if e is not None]
    if ends and as_of >= min(ends):
        return False
    if raised is not None and outcome != "upheld" and raised <= as_of and (resolved is None or as_of < resolved):
        return False
    return True
