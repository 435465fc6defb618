"""The Polars feature engine (the embedded default: it measured fastest, see bench/README.md).

Compiles engine-neutral feature definitions (:mod:`scoring.features.definitions`) into one lazy group-by
per link kind, over record timelines from :mod:`scoring.features.asof`. Reductions are exact
(integer sums, fixed-order weighted counts; :mod:`scoring.features.exact`), so the result does not
depend on the number of threads or the order in which rows arrive.
"""

from __future__ import annotations

import datetime as dt

import polars as pl

from scoring.core.dates import add_months
from scoring.features.definitions import LINK_KEYS, LINKS, ZERO_WHEN_EMPTY, FeatureSet, FeatureSpec
from scoring.features.exact import AMOUNT_AGGS, AMOUNT_SCALE, finish_amounts, weight_terms

ID = "subject_id"


def counts_expr(as_of: dt.date) -> pl.Expr:
    """The as-of predicate over timeline columns (same as :func:`scoring.features.asof.counts_sql`)."""
    t = pl.lit(as_of)
    suspended = (
        pl.col("s_from").is_not_null() & (pl.col("s_from") <= t) & (pl.col("s_to").is_null() | (t < pl.col("s_to")))
    )
    return (
        (pl.col("t_start") <= t)
        & (pl.col("t_end").is_null() | (t < pl.col("t_end")))
        & ~suspended
        & ~pl.col("excluded")
    )


def _mask(f: FeatureSpec, as_of: dt.date, records: tuple[str, ...] | None = None) -> pl.Expr:
    m = pl.col("record_type").is_in(list(records or f.records))
    if f.severities:
        m = m & pl.col("severity").is_in(list(f.severities))
    if f.window_months is not None:
        m = m & (pl.col("event_date") > pl.lit(add_months(as_of, -f.window_months)))
    return m


def amount_units(amount: pl.Expr) -> pl.Expr:
    """An amount in exact integer units of 1/AMOUNT_SCALE (the SQL engine's formula, operation for operation)."""
    return (amount * float(AMOUNT_SCALE) + 0.5).floor().cast(pl.Int64)


def _mask_key(f: FeatureSpec, records: tuple[str, ...] | None = None) -> tuple:
    return (tuple(sorted(records or f.records)), tuple(sorted(f.severities)), f.window_months)


def prepared_columns(features, as_of: dt.date) -> dict[tuple, tuple[str, pl.Expr]]:
    """Row-level columns computed once before the group-by: each distinct mask (record types,
    severities, window) and each distinct masked value (amount, event date, severity weight)."""
    out: dict[tuple, tuple[str, pl.Expr]] = {}

    def add(key: tuple, expr: pl.Expr) -> None:
        if key not in out:
            out[key] = (f"_c{len(out)}", expr)

    for f in features:
        for recs in [f.records, f.numerator] if f.agg == "ratio" else [f.records]:
            add(("mask",) + _mask_key(f, recs), _mask(f, as_of, recs).fill_null(False))
        m = _mask(f, as_of).fill_null(False)
        if f.agg in AMOUNT_AGGS:
            add(("units",) + _mask_key(f), pl.when(m).then(amount_units(pl.col("amount"))))
        elif f.agg == "max_amount":
            add(("amount",) + _mask_key(f), pl.when(m).then(pl.col("amount")))
        elif f.agg == "days_since_last":
            add(("date",) + _mask_key(f), pl.when(m).then(pl.col("event_date")))
        elif f.agg == "weighted_count":
            for sev, _ in weight_terms(f.weights):
                add(("severity", sev) + _mask_key(f), (m & (pl.col("severity") == sev)).fill_null(False))
    return out


def compile_feature(f: FeatureSpec, as_of: dt.date, cols: dict[tuple, tuple[str, pl.Expr]]) -> pl.Expr:
    """One feature as a plain aggregation over the prepared columns (amounts: their integer total in
    units, finished by :func:`scoring.features.exact.finish_amounts`)."""

    def col(kind: str, *extra, recs=None) -> pl.Expr:
        return pl.col(cols[(kind,) + extra + _mask_key(f, recs)][0])

    m = col("mask")
    if f.agg == "count":
        e = m.sum()
    elif f.agg == "weighted_count":
        # weight x (integer) count per severity, added in a fixed order: exact whatever the row order
        e = pl.lit(0.0)
        for sev, w in weight_terms(f.weights):
            e = e + col("severity", sev).sum().cast(pl.Float64) * w
    elif f.agg in AMOUNT_AGGS:
        e = col("units").sum()
    elif f.agg == "max_amount":
        e = col("amount").max()
    elif f.agg == "days_since_last":
        e = (pl.lit(as_of) - col("date").max()).dt.total_days().fill_null(f.cap_days).clip(upper_bound=f.cap_days)
    elif f.agg == "ratio":
        num = col("mask", recs=f.numerator).sum()
        den = m.sum()
        # column by column (never a division by a literal: Polars multiplies by its reciprocal)
        e = pl.when(den > 0).then(pl.min_horizontal(num.cast(pl.Float64) / den.cast(pl.Float64), pl.lit(1.0)))
    elif f.agg == "active_list":
        e = m.any().cast(pl.Int8)
    else:  # pragma: no cover - validated in FeatureSpec; latest_grade: see latest_grade()
        raise ValueError(f.agg)
    return e.cast(pl.Float64).alias(f.name)


def latest_grade(src: pl.LazyFrame, f: FeatureSpec, as_of: dt.date) -> pl.LazyFrame:
    """The value of the latest counting grade record per subject (ties: the larger record id)."""
    return (
        src.filter(_mask(f, as_of).fill_null(False))
        .sort([ID, "event_date", "record_id"])
        .group_by(ID)
        .agg(pl.col("grade").last())
        .select(
            ID,
            pl.col("grade")
            .cast(pl.String)
            .replace_strict(f.grade_values, default=None, return_dtype=pl.Float64)
            .alias(f.name),
        )
    )


def links_at(links: pl.DataFrame, as_of: dt.date) -> pl.LazyFrame:
    """The links that hold at ``as_of`` (valid_from <= as_of < valid_to, NULL: open; a links table
    without these columns holds throughout), as :func:`scoring.features.asof.link_valid_sql`."""
    lf = links.lazy()
    if "valid_from" not in links.columns:
        return lf
    t = pl.lit(as_of)
    return lf.filter(
        (pl.col("valid_from").is_null() | (pl.col("valid_from") <= t))
        & (pl.col("valid_to").is_null() | (t < pl.col("valid_to")))
    )


def compute(
    timeline: pl.DataFrame | pl.LazyFrame,
    links: pl.DataFrame,
    population: pl.DataFrame,
    fset: FeatureSet,
    as_of: dt.date,
    streaming: bool = False,
) -> pl.DataFrame:
    """Feature matrix at ``as_of``: one row per subject of ``population`` (column subject_id).

    ``streaming``: run on Polars' streaming engine, for timelines larger than memory (e.g. a
    ``pl.scan_parquet`` of 100M records).
    """
    lf = timeline.lazy().filter(counts_expr(as_of))
    out = population.lazy().select(ID)
    for link in LINKS:
        specs = [f for f in fset.features if f.link == link]
        if not specs:
            continue
        src = lf
        if link != "self":
            # re-key linked subjects' records to the subject the feature describes
            frm, to = LINK_KEYS[link]
            src = lf.join(links_at(links, as_of).select(frm, to).unique(), left_on=ID, right_on=frm)
            src = src.drop(ID).rename({to: ID})
        plain = [f for f in specs if f.agg != "latest_grade"]
        if plain:
            cols = prepared_columns(plain, as_of)
            prepared = src.with_columns([expr.alias(name) for name, expr in cols.values()])
            agg = prepared.group_by(ID).agg([compile_feature(f, as_of, cols) for f in plain])
            out = out.join(agg, on=ID, how="left")
        for f in specs:
            if f.agg == "latest_grade":
                out = out.join(latest_grade(src, f, as_of), on=ID, how="left")
    fills = [pl.col(f.name).fill_null(0.0) for f in fset.features if f.agg in ZERO_WHEN_EMPTY]
    fills += [pl.col(f.name).fill_null(float(f.cap_days)) for f in fset.features if f.agg == "days_since_last"]
    out = out.with_columns(fills).select([ID] + [f.name for f in fset.features])
    df = out.collect(engine="streaming") if streaming else out.collect()
    return df.with_columns(
        pl.Series(f.name, finish_amounts(f.agg, df[f.name].to_numpy(), f.tiers), dtype=pl.Float64)
        for f in fset.features
        if f.agg in AMOUNT_AGGS
    )
