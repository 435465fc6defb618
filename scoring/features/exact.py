"""Exact arithmetic shared by the feature engines: the same store and date give bit-identical features
in every run and with every engine (精确可复现).

Floating-point addition is not associative, and both engines add a group's rows in whatever order
their threads deliver them, so a plain ``sum`` of amounts can differ in the last bit between two
identical runs (and a bin edge can then flip a score). The engines therefore never add floats
inside a group-wise reduction:

* amounts (yuan, volunteer hours) are summed as integers in units of 1/:data:`AMOUNT_SCALE` of a yuan
  or an hour (``floor(amount * 10000 + 0.5)`` per record, the same IEEE operations in both engines);
  integer addition is exact in any order. The engines return that integer total and
  :func:`finish_amounts` (one function, called by both) divides it once and applies the tiers of
  ``hours_diminishing``. Amounts given to at most four decimals are kept exactly; totals up to
  9.2e14 yuan per subject fit (int64 units);
* a severity-weighted count is the sum of weight x count per severity (counts are integers), added
  in the fixed order of :func:`weight_terms`;
* a ratio is one division of two integer counts (column by column: Polars divides by a scalar through
  its reciprocal, so no division by a literal is left inside an engine); maxima and counts do not
  depend on the order.

Float literals reach SQL as their shortest round-trip form (:func:`sql_float`), so the SQL engines
(DuckDB, Spark) multiply by the very same doubles as the Polars engine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

#: integer units per yuan (or hour) in which amounts are summed
AMOUNT_SCALE = 10_000
#: aggregations whose engines return the integer total of :data:`AMOUNT_SCALE` units
AMOUNT_AGGS = ("sum_amount", "hours_diminishing")


def sql_float(x: float, dialect: str = "duckdb") -> str:
    """A float as a DOUBLE literal that parses back to the very same double, in DuckDB or Spark SQL
    (Spark reads a plain ``0.1`` as a DECIMAL: its double literal has the suffix ``D``)."""
    if dialect == "spark":
        return f"{float(x)!r}D"
    return f"CAST({float(x)!r} AS DOUBLE)"


def weight_terms(weights: Mapping[str, float]) -> list[tuple[str, float]]:
    """(severity, weight) pairs in the fixed order both engines add them (sorted by severity; zero
    weights dropped: they add nothing)."""
    return [(k, float(w)) for k, w in sorted(weights.items()) if float(w) != 0.0]


def amount_total(units: np.ndarray) -> np.ndarray:
    """Integer totals in units (as float64, NaN where a subject has no amount) -> yuan or hours.
    One IEEE division per subject (numpy divides exactly; the result is the double nearest to the
    exact quotient)."""
    u = np.asarray(units, dtype="float64")
    return np.where(np.isnan(u), 0.0, u) / float(AMOUNT_SCALE)


def tiered(total: np.ndarray, tiers: Sequence[tuple[float | None, float]]) -> np.ndarray:
    """Diminishing returns (递减计): each tier's span of ``total`` times its rate, added in tier order."""
    out, lo = np.zeros_like(total), 0.0
    for hi, rate in tiers:
        span = np.maximum(total - lo, 0.0)
        if hi is not None:
            span = np.minimum(span, hi - lo)
        out = out + span * rate
        lo = hi if hi is not None else lo
    return out


def finish_amounts(agg: str, units: np.ndarray, tiers: Sequence[tuple[float | None, float]] = ()) -> np.ndarray:
    """The feature value of an amount aggregation from the engine's integer total."""
    total = amount_total(units)
    return tiered(total, tiers) if agg == "hours_diminishing" else total
