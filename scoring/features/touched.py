"""Touched subjects (受影响主体): whose features can differ between two states of the store or two dates.

A daily delta (:mod:`scoring.workflows.delta`) recomputes only the subjects whose results may have
moved; everyone else keeps the previous publication's row. Which subjects those are follows from
the as-of rule (:mod:`scoring.features.asof`) and the feature definitions, not a guess:

* **changed** (:func:`changed_subjects`): a record of theirs was inserted or changed by one of the
  batches (the new and the replaced version: a record moved to another subject touches both), their
  subject row was inserted or changed (opt-out, registration date, industry, links), or a link of
  theirs was opened or closed;
* **linked** (:func:`linked_subjects`): the other end of any link of a changed subject (法定代表人 /
  实际控制人, every link of the history): a person's ``represented_orgs`` features read the
  organisations' records, an organisation's ``legal_rep`` features the persons'; one hop, since no
  feature reads further;
* **by time** (:func:`time_touched`), when the date moves from ``t0`` to ``t1``: a feature's value at
  T is a function of which records count at T (``t_start <= T < t_end``, outside the suspension
  ``[s_from, s_to)``), of the window mask (``event_date > T - window``), of the links valid at T and,
  for ``days_since_last``, of T itself. So a subject's feature can change between ``t0`` and ``t1``
  only if one of its records (of the feature's record types; for linked features a linked subject's)
  has ``t_start``, ``t_end``, ``s_from`` or ``s_to`` in ``(t0, t1]``, or its event date crosses a
  window edge (``(t0 - w, t1 - w]``), or one of its links starts or ends in ``(t0, t1]``, or it has a
  ``days_since_last`` feature below its cap at ``t0`` (a counting record of its types within
  ``cap_days``: that value changes every day), or (organisations) it is registered in ``(t0, t1]``
  and so enters the population. The record intervals are computed exactly (the as-of timeline) only
  for the records that can have such a date: ``t_end`` is the earliest of raw dates and of
  ``event_date``/``list_entry_on`` plus a catalogue period in months, so a range scan of the raw
  columns finds every candidate (:func:`_candidates`).

Every subject outside the union has the same feature values at ``t1`` after the batches as at
``t0`` before them (tests/test_delta.py holds this on random archives and deltas).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from scoring.archive.catalog import Catalog
from scoring.archive.store import Store
from scoring.core.dates import add_months
from scoring.features.asof import NEGATIVE_CAP_MONTHS, counts_sql, periods_table, timeline_sql
from scoring.features.builder import ids_view, prepare_views
from scoring.features.definitions import FeatureSpec

#: add_months(add_months(x, k), -k) is within this many days of x (a month end clamps the day)
_CLAMP_DAYS = 3


def _column(store: Store, sql: str, params: list | None = None) -> set[str]:
    return {str(r[0]) for r in store.con.execute(sql, params or []).fetchall() if r[0] is not None}


def changed_subjects(store: Store, batches: Sequence[str]) -> set[str]:
    """Subjects whose own data the ingest ``batches`` changed: records inserted or changed (new and
    replaced versions), subject rows inserted or changed, links opened or closed."""
    if not batches:
        return set()
    marks = ", ".join("?" for _ in batches)
    b = list(batches)
    sql = f"""
        SELECT subject_id FROM records WHERE batch_id IN ({marks})
        UNION SELECT subject_id FROM records_history WHERE superseded_batch IN ({marks})
        UNION SELECT subject_id FROM subjects WHERE batch_id IN ({marks})
        UNION SELECT subject_id FROM subjects_history WHERE superseded_batch IN ({marks})
        UNION SELECT organisation_id FROM links WHERE opened_batch IN ({marks}) OR closed_batch IN ({marks})
        UNION SELECT person_id FROM links WHERE opened_batch IN ({marks}) OR closed_batch IN ({marks})"""
    return _column(store, sql, b * 8)


def linked_subjects(store: Store, ids: Iterable[str], catalog: Catalog, on: Sequence[dt.date] = ()) -> set[str]:
    """The other ends of the links of ``ids`` (every link of the history; ``on``: only those valid on
    one of these dates)."""
    ids = set(ids)
    if not ids:
        return set()
    prepare_views(store, catalog)
    when = ""
    if on:
        days = " OR ".join(
            f"((valid_from IS NULL OR valid_from <= DATE '{d}') AND (valid_to IS NULL OR DATE '{d}' < valid_to))"
            for d in on
        )
        when = f"AND ({days})"
    with ids_view(store, sorted({str(i) for i in ids})) as name:
        return _column(
            store,
            f"""SELECT person_id FROM xinyi_links WHERE organisation_id IN (SELECT subject_id FROM {name}) {when}
            UNION SELECT organisation_id FROM xinyi_links WHERE person_id IN (SELECT subject_id FROM {name}) {when}""",
        )


def _period_months(catalog: Catalog, types: set[str]) -> list[int]:
    """Every number of months a record of ``types`` can end after its event (or list entry) date."""
    p = periods_table(catalog)
    p = p[p["record_type"].isin(sorted(types))]
    months = {int(v) for col in ("max_months", "min_months") for v in p[col].dropna()}
    return sorted(months | {NEGATIVE_CAP_MONTHS})


def _in(col: str, lo: dt.date, hi: dt.date) -> str:
    return f"({col} > DATE '{lo}' AND {col} <= DATE '{hi}')"


def _candidates(catalog: Catalog, types: set[str], lo: dt.date, hi: dt.date) -> str:
    """SQL predicate over ``records r``: the record may have t_start, t_end, s_from or s_to in
    ``(lo, hi]`` (a superset; the exact timeline decides)."""
    raw = [
        _in(f"r.{c}", lo, hi)
        for c in (
            "event_date",
            "list_entry_on",
            "list_exit_on",
            "repaired_on",
            "revoked_on",
            "objection_raised_on",
            "objection_resolved_on",
        )
    ]
    for k in _period_months(catalog, types):
        a = add_months(lo, -k) - dt.timedelta(days=_CLAMP_DAYS)
        b = add_months(hi, -k) + dt.timedelta(days=_CLAMP_DAYS)
        for c in ("r.event_date", "r.list_entry_on"):
            raw.append(f"({c} >= DATE '{a}' AND {c} <= DATE '{b}')")
    return "(" + " OR ".join(raw) + ")"


def _quoted(values: Iterable[str]) -> str:
    return ", ".join("'" + str(v).replace("'", "''") + "'" for v in sorted(set(values)))


def time_touched(
    store: Store,
    features: Sequence[FeatureSpec],
    t0: dt.date,
    t1: dt.date,
    catalog: Catalog,
    *,
    self_types: Iterable[str] = (),
    organisations: bool = False,
) -> set[str]:
    """Subjects whose values of ``features`` (of one feature set) can differ between ``t0`` and
    ``t1`` by time alone (the module docstring); ``self_types``: record types whose own counting
    matters besides the features' (the 信义金 gate's lists); ``organisations``: the set describes
    organisations, whose population grows with the registration date."""
    if t0 == t1:
        return set()
    lo, hi = min(t0, t1), max(t0, t1)
    prepare_views(store, catalog)
    own = [f for f in features if f.link == "self"]
    linked = [f for f in features if f.link != "self"]
    own_types = {t for f in own for t in f.all_records} | set(self_types)
    link_types = {t for f in linked for t in f.all_records}
    types = own_types | link_types
    out: set[str] = set()
    owners_self: set[str] = set()
    owners_linked: set[str] = set()
    if types:
        # records with a t_start, t_end, s_from or s_to in (lo, hi]: the exact timeline of the candidates
        base = f"(SELECT r.*, false AS opt_out FROM records r WHERE r.record_type IN ({_quoted(types)}) AND {_candidates(catalog, types, lo, hi)})"
        events = store.sql(
            f"""SELECT DISTINCT subject_id, record_type FROM ({timeline_sql(base, "xinyi_periods")})
            WHERE {_in("t_start", lo, hi)} OR {_in("t_end", lo, hi)} OR {_in("s_from", lo, hi)} OR {_in("s_to", lo, hi)}"""
        )
        owners_self |= set(events.loc[events["record_type"].isin(own_types), "subject_id"])
        owners_linked |= set(events.loc[events["record_type"].isin(link_types), "subject_id"])
    # window edges: the event date enters or leaves (T - window, ...] between lo and hi
    windows: dict[tuple[int, bool], set[str]] = {}
    for f in features:
        if f.window_months is not None:
            windows.setdefault((f.window_months, f.link != "self"), set()).update(f.all_records)
    for (w, is_linked), wtypes in sorted(windows.items()):
        edge = _in("event_date", add_months(lo, -w), add_months(hi, -w))
        got = _column(
            store, f"SELECT DISTINCT subject_id FROM records WHERE record_type IN ({_quoted(wtypes)}) AND {edge}"
        )
        (owners_linked if is_linked else owners_self).update(got)
    # days_since_last below its cap at lo: its value moves every day
    for f in features:
        if f.agg != "days_since_last":
            continue
        since = lo - dt.timedelta(days=f.cap_days)
        sev = f" AND r.severity IN ({_quoted(f.severities)})" if f.severities else ""
        base = f"(SELECT r.*, false AS opt_out FROM records r WHERE r.record_type IN ({_quoted(f.records)}){sev} AND r.event_date > DATE '{since}')"
        counting = counts_sql(f"DATE '{lo}'")
        out |= _column(
            store, f"SELECT DISTINCT subject_id FROM ({timeline_sql(base, 'xinyi_periods')}) WHERE {counting}"
        )
    out |= owners_self
    if linked:
        out |= linked_subjects(store, owners_linked, catalog, on=(lo, hi))
        # links starting or ending in (lo, hi]: both ends
        ends = f"{_in('valid_from', lo, hi)} OR {_in('valid_to', lo, hi)}"
        out |= _column(
            store,
            f"SELECT organisation_id FROM xinyi_links WHERE {ends} UNION SELECT person_id FROM xinyi_links WHERE {ends}",
        )
    if organisations:
        out |= _column(
            store, f"SELECT subject_id FROM subjects WHERE subject_type <> 'person' AND {_in('registered_on', lo, hi)}"
        )
    return out


def registered_between(store: Store, lo: dt.date, hi: dt.date) -> set[str]:
    """Organisations registered in ``(lo, hi]`` (a new-entrant rule ``registered_on > T - months``
    changes for them between the two dates ``T`` whose edges these are)."""
    lo, hi = min(lo, hi), max(lo, hi)
    if lo == hi:
        return set()
    return _column(
        store, f"SELECT subject_id FROM subjects WHERE subject_type <> 'person' AND {_in('registered_on', lo, hi)}"
    )
