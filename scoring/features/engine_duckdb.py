"""The DuckDB SQL feature engine: the same definitions compiled to conditional aggregates
(``FILTER`` clauses). Kept beside the Polars engine so the two can be measured on the same work
and checked to agree, bit for bit: reductions are exact (:mod:`scoring.features.exact`). A Spark engine
can compile the same definitions to Spark SQL.
"""

from __future__ import annotations

import datetime as dt

import duckdb
import numpy as np
import pandas as pd

from scoring.core.dates import add_months
from scoring.features.asof import counts_sql, link_valid_sql
from scoring.features.definitions import LINK_KEYS, LINKS, ZERO_WHEN_EMPTY, FeatureSet, FeatureSpec
from scoring.features.exact import AMOUNT_AGGS, AMOUNT_SCALE, finish_amounts, sql_float, weight_terms


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


def amount_units(col: str = "amount") -> str:
    """An amount in exact integer units of 1/AMOUNT_SCALE (the Polars engine's formula, operation for operation)."""
    return f"CAST(floor({col} * {sql_float(AMOUNT_SCALE)} + {sql_float(0.5)}) AS BIGINT)"


def compile_feature(f: FeatureSpec, as_of: dt.date) -> str:
    """One feature as a SQL aggregate (amounts: their integer total in units, as a DOUBLE, finished by
    :func:`scoring.features.exact.finish_amounts`)."""
    m = _mask(f, as_of)
    T = f"DATE '{as_of}'"
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
        e = f"CAST(sum({amount_units()}) FILTER (WHERE {m}) AS BIGINT)"
    elif f.agg == "max_amount":
        e = f"max(amount) FILTER (WHERE {m})"
    elif f.agg == "days_since_last":
        e = f"least(coalesce({T} - max(event_date) FILTER (WHERE {m}), {f.cap_days}), {f.cap_days})"
    elif f.agg == "ratio":
        num = f"count(*) FILTER (WHERE {_mask(f, as_of, f.numerator)})"
        den = f"count(*) FILTER (WHERE {m})"
        e = f"CASE WHEN {den} > 0 THEN least(CAST({num} AS DOUBLE) / CAST({den} AS DOUBLE), {sql_float(1.0)}) END"
    elif f.agg == "active_list":
        e = f"CAST(count(*) FILTER (WHERE {m}) > 0 AS INTEGER)"
    elif f.agg == "latest_grade":
        g = " ".join(f"WHEN {_lit(k)} THEN {v}" for k, v in f.grade_values.items())
        e = f"CASE arg_max(grade, struct_pack(d := event_date, r := record_id)) FILTER (WHERE {m}) {g} END"
    else:  # pragma: no cover
        raise ValueError(f.agg)
    return f"CAST({e} AS DOUBLE) AS {f.name}"


def compute(
    con: duckdb.DuckDBPyConnection, timeline: str, links: str, population: str, fset: FeatureSet, as_of: dt.date
) -> pd.DataFrame:
    """Feature matrix at ``as_of`` from SQL relations (timeline, links, population(subject_id))."""
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
                f"(SELECT l.{to} AS subject_id, c.* EXCLUDE (subject_id) FROM {counting} c "
                f"JOIN (SELECT DISTINCT {frm}, {to} FROM {links} l WHERE {link_valid_sql('l', f'DATE {_lit(as_of)}')}) l "
                f"ON l.{frm} = c.subject_id)"
            )
        aggs = ",\n      ".join(compile_feature(f, as_of) for f in specs)
        joins.append(f"LEFT JOIN (SELECT subject_id, {aggs} FROM {src} GROUP BY subject_id) a{i} USING (subject_id)")
        for f in specs:
            col = f"a{i}.{f.name}"
            fill = "0.0" if f.agg in ZERO_WHEN_EMPTY else str(float(f.cap_days)) if f.agg == "days_since_last" else None
            selects.append(f"coalesce({col}, {fill}) AS {f.name}" if fill else f"{col} AS {f.name}")
    order = {f.name: i for i, f in enumerate(fset.features)}
    selects.sort(key=lambda s: order[s.rsplit(" AS ", 1)[1]])
    sql = f"SELECT p.subject_id, {', '.join(selects)} FROM {population} p " + " ".join(joins)
    df = con.execute(sql).df()
    for f in fset.features:
        if f.agg in AMOUNT_AGGS:
            df[f.name] = finish_amounts(f.agg, df[f.name].to_numpy(dtype="float64", na_value=np.nan), f.tiers)
    return df
