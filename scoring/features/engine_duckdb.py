"""The DuckDB SQL feature engine: the same definitions compiled to conditional aggregates
(``FILTER`` clauses). Kept beside the Polars engine so the two can be measured on the same work
and checked to agree, bit for bit: reductions are exact (:mod:`scoring.features.exact`).

The SQL is written once for both SQL engines: :func:`features_sql` takes a ``dialect``
(:data:`scoring.features.asof.DIALECTS`), and the Spark engine (:mod:`scoring.features.engine_spark`)
runs the Spark SQL text of the very same query. The dialects differ only in a few spellings
(:func:`_days_between`, :func:`_latest_by`, double literals: :func:`scoring.features.exact.sql_float`).
"""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd

from scoring.core.dates import add_months
from scoring.features.asof import Dialect, counts_sql, link_valid_sql
from scoring.features.definitions import LINK_KEYS, LINKS, ZERO_WHEN_EMPTY, FeatureSet, FeatureSpec
from scoring.features.exact import AMOUNT_AGGS, AMOUNT_SCALE, finish_amounts, weight_terms
from scoring.features.exact import sql_float as _sql_float


def _lit(s: object) -> str:
    return "'" + str(s).replace("'", "''") + "'"


def _in(col: str, values) -> str:
    return f"{col} IN ({', '.join(_lit(v) for v in values)})"


def _mask(f: FeatureSpec, as_of: dt.date, records=None) -> str:
    parts = [_in("record_type", records or f.records)]
    if f.severities:
        parts.append(_in("severity", f.severities))
    if f.window_months is not None:
        parts.append(f"event_date > DATE '{add_months(as_of, -f.window_months)}'")
    return " AND ".join(parts)


#: the timeline columns a feature reads (besides subject_id): a linked subject's records are re-keyed with these
FEATURE_INPUTS = ("record_id", "record_type", "severity", "amount", "grade", "event_date")


def amount_units(col: str = "amount", dialect: Dialect = "duckdb") -> str:
    """An amount in exact integer units of 1/AMOUNT_SCALE (the Polars engine's formula, operation for operation)."""
    return f"CAST(floor({col} * {_sql_float(AMOUNT_SCALE, dialect)} + {_sql_float(0.5, dialect)}) AS BIGINT)"


def _days_between(later: str, earlier: str, dialect: Dialect) -> str:
    """SQL: whole days from the DATE ``earlier`` to the DATE ``later`` (Spark's ``date - date`` is an interval)."""
    return f"datediff({later}, {earlier})" if dialect == "spark" else f"{later} - {earlier}"


def _latest_by(value: str, date: str, tie: str, cond: str, dialect: Dialect) -> str:
    """SQL aggregate: ``value`` of the row with the greatest (``date``, ``tie``) among the rows where ``cond``."""
    if dialect == "spark":
        return f"max_by({value}, struct({date}, {tie})) FILTER (WHERE {cond})"
    return f"arg_max({value}, struct_pack(d := {date}, r := {tie})) FILTER (WHERE {cond})"


def compile_feature(f: FeatureSpec, as_of: dt.date, dialect: Dialect = "duckdb") -> str:
    """One feature as a SQL aggregate (amounts: their integer total in units, as a DOUBLE, finished by
    :func:`scoring.features.exact.finish_amounts`)."""
    m = _mask(f, as_of)
    T = f"DATE '{as_of}'"

    def sql_float(x: float) -> str:
        return _sql_float(x, dialect)

    if f.agg == "count":
        e = f"count(*) FILTER (WHERE {m})"
    elif f.agg == "weighted_count":
        # weight x (integer) count per severity, added in a fixed order: exact whatever the row order
        terms = [sql_float(0.0)] + [
            f"CAST(count(*) FILTER (WHERE {m} AND severity = {_lit(k)}) AS DOUBLE) * {sql_float(w)}"
            for k, w in weight_terms(f.weights)
        ]
        e = "(" + " + ".join(terms) + ")"
    elif f.agg in AMOUNT_AGGS:
        # the integer sum (HUGEINT) back to BIGINT first: BIGINT -> DOUBLE rounds as Polars' Int64 -> Float64
        e = f"CAST(sum({amount_units('amount', dialect)}) FILTER (WHERE {m}) AS BIGINT)"
    elif f.agg == "max_amount":
        e = f"max(amount) FILTER (WHERE {m})"
    elif f.agg == "days_since_last":
        last = _days_between(T, f"max(event_date) FILTER (WHERE {m})", dialect)
        e = f"least(coalesce({last}, {f.cap_days}), {f.cap_days})"
    elif f.agg == "ratio":
        num = f"count(*) FILTER (WHERE {_mask(f, as_of, f.numerator)})"
        den = f"count(*) FILTER (WHERE {m})"
        e = f"CASE WHEN {den} > 0 THEN least(CAST({num} AS DOUBLE) / CAST({den} AS DOUBLE), {sql_float(1.0)}) END"
    elif f.agg == "active_list":
        e = f"CAST(count(*) FILTER (WHERE {m}) > 0 AS INTEGER)"
    elif f.agg == "latest_grade":
        g = " ".join(f"WHEN {_lit(k)} THEN {sql_float(v)}" for k, v in f.grade_values.items())
        e = f"CASE {_latest_by('grade', 'event_date', 'record_id', m, dialect)} {g} END"
    else:  # pragma: no cover
        raise ValueError(f.agg)
    return f"CAST({e} AS DOUBLE) AS {f.name}"


def features_sql(
    timeline: str, links: str, population: str, fset: FeatureSet, as_of: dt.date, dialect: Dialect = "duckdb"
) -> str:
    """The feature query at ``as_of`` over SQL relations (timeline, links, population(subject_id)), in
    ``dialect``: one row per subject of the population; amount columns hold integer totals in units
    (:func:`finish`)."""
    counting = f"(SELECT * FROM {timeline} WHERE {counts_sql(f'DATE {_lit(as_of)}')} AND NOT excluded)"
    joins, selects = [], []
    for i, link in enumerate(LINKS):
        specs = [f for f in fset.features if f.link == link]
        if not specs:
            continue
        src = counting
        if link != "self":
            frm, to = LINK_KEYS[link]
            src = (
                f"(SELECT l.{to} AS subject_id, {', '.join('c.' + c for c in FEATURE_INPUTS)} FROM {counting} c "
                f"JOIN (SELECT DISTINCT {frm}, {to} FROM {links} l WHERE {link_valid_sql('l', f'DATE {_lit(as_of)}')}) l "
                f"ON l.{frm} = c.subject_id)"
            )
        aggs = ",\n      ".join(compile_feature(f, as_of, dialect) for f in specs)
        joins.append(f"LEFT JOIN (SELECT subject_id, {aggs} FROM {src} GROUP BY subject_id) a{i} USING (subject_id)")
        for f in specs:
            col = f"a{i}.{f.name}"
            fill = (
                _sql_float(0.0, dialect)
                if f.agg in ZERO_WHEN_EMPTY
                else _sql_float(f.cap_days, dialect)
                if f.agg == "days_since_last"
                else None
            )
            selects.append(f"coalesce({col}, {fill}) AS {f.name}" if fill else f"{col} AS {f.name}")
    order = {f.name: i for i, f in enumerate(fset.features)}
    selects.sort(key=lambda s: order[s.rsplit(" AS ", 1)[1]])
    return f"SELECT p.subject_id, {', '.join(selects)} FROM {population} p " + " ".join(joins)


def finish(df: pd.DataFrame, fset: FeatureSet) -> pd.DataFrame:
    """The collected result of :func:`features_sql` with its amount features finished
    (:func:`scoring.features.exact.finish_amounts`, the one function every engine calls)."""
    for f in fset.features:
        if f.agg in AMOUNT_AGGS:
            df[f.name] = finish_amounts(f.agg, df[f.name].to_numpy(dtype="float64", na_value=np.nan), f.tiers)
    return df


def compute(
    con: duckdb.DuckDBPyConnection, timeline: str, links: str, population: str, fset: FeatureSet, as_of: dt.date
) -> pd.DataFrame:
    """Feature matrix at ``as_of`` from SQL relations (timeline, links, population(subject_id))."""
    return finish(con.execute(features_sql(timeline, links, population, fset, as_of)).df(), fset)
