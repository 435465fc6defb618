"""The Polars feature engine (the embedded default: it measured fastest, see bench/README.md).

Compiles engine-neutral feature definitions (:mod:`scoring.feature_defs`) into one lazy group-by
per link kind, over record timelines from :mod:`scoring.asof`.
"""
from __future__ import annotations

import datetime as dt

import polars as pl

from .catalog import add_months
from .feature_defs import FeatureSet, FeatureSpec

ID = "subject_id"


def counts_expr(as_of: dt.date) -> pl.Expr:
    """The as-of predicate over timeline columns (same as :func:`scoring.asof.counts_sql`)."""
    t = pl.lit(as_of)
    suspended = pl.col("s_from").is_not_null() & (pl.col("s_from") <= t) & (pl.col("s_to").is_null() | (t < pl.col("s_to")))
    return (pl.col("t_start") <= t) & (pl.col("t_end").is_null() | (t < pl.col("t_end"))) & ~suspended & ~pl.col("excluded")


def _mask(f: FeatureSpec, as_of: dt.date, records: tuple[str, ...] | None = None) -> pl.Expr:
    m = pl.col("record_type").is_in(list(records or f.records))
    if f.severities:
        m = m & pl.col("severity").is_in(list(f.severities))
    if f.window_months is not None:
        m = m & (pl.col("event_date") > pl.lit(add_months(as_of, -f.window_months)))
    return m


def _tiered(total: pl.Expr, tiers) -> pl.Expr:
    out, lo = pl.lit(0.0), 0.0
    for hi, rate in tiers:
        span = (total - lo).clip(lower_bound=0.0)
        if hi is not None:
            span = span.clip(upper_bound=hi - lo)
        out = out + span * rate
        lo = hi if hi is not None else lo
    return out


def compile_feature(f: FeatureSpec, as_of: dt.date) -> pl.Expr:
    m = _mask(f, as_of)
    amount = pl.col("amount").filter(m)
    if f.agg == "count":
        e = m.sum()
    elif f.agg == "weighted_count":
        e = (pl.col("severity").replace_strict(f.weights, default=0.0, return_dtype=pl.Float64) * m).sum()
    elif f.agg == "sum_amount":
        e = amount.sum()
    elif f.agg == "max_amount":
        e = amount.max()
    elif f.agg == "days_since_last":
        e = (pl.lit(as_of) - pl.col("event_date").filter(m).max()).dt.total_days()
    elif f.agg == "ratio":
        num = _mask(f, as_of, f.numerator).sum()
        den = m.sum()
        e = pl.when(den > 0).then(pl.min_horizontal(num / den, pl.lit(1.0))).otherwise(None)
    elif f.agg == "hours_diminishing":
        e = _tiered(amount.sum().cast(pl.Float64), f.tiers)
    elif f.agg == "active_list":
        e = m.any().cast(pl.Int8)
    elif f.agg == "latest_grade":
        g = pl.col("grade").filter(m).sort_by([pl.col("event_date").filter(m), pl.col("record_id").filter(m)]).last()
        e = g.replace_strict(f.grade_values, default=None, return_dtype=pl.Float64)
    else:  # pragma: no cover - validated in FeatureSpec
        raise ValueError(f.agg)
    return e.cast(pl.Float64).alias(f.name)


def compute(timeline: pl.DataFrame | pl.LazyFrame, links: pl.DataFrame, population: pl.DataFrame,
            fset: FeatureSet, as_of: dt.date) -> pl.DataFrame:
    """Feature matrix at ``as_of``: one row per subject of ``population`` (column subject_id)."""
    lf = timeline.lazy().filter(counts_expr(as_of))
    out = population.lazy().select(ID)
    for link in ("self", "represented_orgs", "legal_rep"):
        specs = [f for f in fset.features if f.link == link]
        if not specs:
            continue
        src = lf
        if link != "self":
            # re-key linked subjects' records to the subject the feature describes
            frm, to = ("organisation_id", "person_id") if link == "represented_orgs" else ("person_id", "organisation_id")
            src = lf.join(links.lazy().select(frm, to).unique(), left_on=ID, right_on=frm).drop(ID).rename({to: ID})
        agg = src.group_by(ID).agg([compile_feature(f, as_of) for f in specs])
        out = out.join(agg, on=ID, how="left")
    from .feature_defs import ZERO_WHEN_EMPTY

    fills = [pl.col(f.name).fill_null(0.0) for f in fset.features if f.agg in ZERO_WHEN_EMPTY]
    return out.with_columns(fills).select([ID] + [f.name for f in fset.features]).collect()
