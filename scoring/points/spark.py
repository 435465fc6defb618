"""信义金 on Spark (Spark 引擎): the card scores a Spark DataFrame as Spark SQL, and fits from counts.

* :func:`score_card_spark`: the card's own SQL export (:meth:`PointsCard.to_sql`, ``dialect="spark"``)
  run by Spark on a feature DataFrame: ``subject_id``, ``points`` and one column per line item,
  exactly the points of :meth:`PointsCard.items` / :meth:`PointsCard.score` (integers: nothing to
  round); :func:`gated_scores_spark` adds the bottom-line gate (信用底线) as
  :func:`scoring.points.personal.gated_scores` does: a suspended person has no number.
* :func:`fit_card_spark`: the card fitted on a Spark DataFrame of features and a 0/1 label. Spark
  aggregates, the driver solves: each feature's per-value event and non-event counts
  (:func:`value_counts_spark`) are binned by :meth:`MonotoneBinning.fit_counts`, then the joint
  counts of the card's bins (one row per distinct combination of bins and outcome) feed the same
  non-negative logistic regression the embedded :meth:`PointsCard.fit` uses. The embedded fit
  reads the same two tables counted by pandas (:class:`~scoring.points.card.FrameCounts`), so the
  two cards are identical (same JSON), not merely close.

The session comes from :func:`scoring.core.spark.spark_session` (the DataFrames' own session).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import TYPE_CHECKING

import pandas as pd

from scoring.core.errors import DataError
from scoring.points.binning import MonotoneBinning, bin_case_sql, quote_sql
from scoring.points.card import COUNT, LABEL, PointsCard, ordered_joint

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame

_views = itertools.count()


def _view(df: DataFrame, stem: str) -> str:
    name = f"xinyi_{stem}_{next(_views)}"
    df.createOrReplaceTempView(name)
    return name


def score_card_spark(card: PointsCard, features: DataFrame, key: str = "subject_id") -> DataFrame:
    """The card's points of every row of the Spark DataFrame ``features`` (a column ``key`` and
    the card's features): ``key``, ``points`` and one integer column per line item, by the card's
    Spark SQL export. Equal to :meth:`PointsCard.items` and :meth:`PointsCard.score` row by row."""
    return features.sparkSession.sql(card.to_sql(_view(features, "features"), key, dialect="spark"))


def gated_scores_spark(card: PointsCard, inputs: DataFrame, key: str = "subject_id") -> DataFrame:
    """:func:`scoring.points.personal.gated_scores` on Spark: ``inputs`` holds ``key``, the card's
    features and the gate columns of :func:`scoring.points.personal.person_inputs` (``suspended``,
    ``suspension_reason``, ``suspended_until``). Returns ``key``, ``status`` (scored | suspended),
    ``points`` (NULL when suspended), ``reason`` and ``suspended_until`` (NULL unless suspended)."""
    scored = _view(score_card_spark(card, inputs, key), "scored")
    gate = _view(inputs.select(key, "suspended", "suspension_reason", "suspended_until"), "gate")
    k = quote_sql(key, "spark")

    def text(col: str) -> str:  # gated_scores: a text of a suspended person, when non-empty
        return f"CASE WHEN g.suspended AND g.{col} <> '' THEN g.{col} END"

    return inputs.sparkSession.sql(
        f"SELECT s.{k}, CASE WHEN g.suspended THEN 'suspended' ELSE 'scored' END AS status, "
        "CASE WHEN g.suspended THEN NULL ELSE s.points END AS points, "
        f"{text('suspension_reason')} AS reason, {text('suspended_until')} AS suspended_until "
        f"FROM {scored} s JOIN {gate} g ON s.{k} = g.{k}"
    )


def _numeric_value(column: str):
    from pyspark.sql import functions as F

    d = F.col(column).cast("double")
    return F.when(d.isNull() | F.isnan(d), F.lit(None).cast("double")).otherwise(d + F.lit(0.0))


def _ordered_values(out: pd.DataFrame, dtype: str) -> pd.DataFrame:
    out = out[["value", "n", "events"]].copy()
    if dtype == "categorical":
        out["value"] = pd.Series([v if isinstance(v, str) else None for v in out["value"]], dtype="object")
    else:
        out["value"] = out["value"].astype(float)
    out["n"], out["events"] = out["n"].astype(float), out["events"].astype(float)
    return out.sort_values("value", kind="stable", na_position="last", ignore_index=True)


def value_counts_spark(df: DataFrame, column: str, label: str, dtype: str = "numerical") -> pd.DataFrame:
    """:func:`scoring.points.binning.value_counts` counted by Spark: one row per distinct value of
    ``column`` (NULL and NaN: the missing value; categorical: the value's text), ``value``, ``n``
    rows and ``events`` (sum of ``label``), ascending, missing last. Only this table reaches the driver."""
    return all_value_counts_spark(df, [column], label, dtype)[column]


def all_value_counts_spark(
    df: DataFrame, columns: list[str], label: str, dtype: str = "numerical"
) -> dict[str, pd.DataFrame]:
    """:func:`value_counts_spark` of several columns of one type in one Spark job (the rows are
    unpivoted to (column, value, label) and counted once): column -> its table."""
    from pyspark.sql import functions as F

    if not columns:
        return {}
    value = (lambda c: F.col(c).cast("string")) if dtype == "categorical" else _numeric_value
    pairs = F.explode(F.array(*[F.struct(F.lit(c).alias("feature"), value(c).alias("value")) for c in columns])).alias(
        "kv"
    )
    agg = (
        df.select(pairs, F.col(label).cast("double").alias("y"))
        .select("kv.feature", "kv.value", "y")
        .groupBy("feature", "value")
        .agg(F.count(F.lit(1)).cast("double").alias("n"), F.sum("y").alias("events"))
    )
    out = pd.DataFrame(agg.toPandas())
    return {c: _ordered_values(out[out["feature"] == c], dtype) for c in columns}


class SparkCounts:
    """:class:`~scoring.points.card.CardCounts` of a Spark DataFrame ``df`` with the 0/1 outcome in
    ``label``: the per-value and joint bin counts are Spark aggregations; only they are collected."""

    def __init__(self, df: DataFrame, label: str = LABEL):
        from pyspark.sql import functions as F

        if label not in df.columns:
            raise DataError(f"fit_card_spark: the DataFrame has no label column {label!r}")
        bad = df.filter(F.col(label).isNull() | ~F.col(label).cast("double").isin(0.0, 1.0)).limit(1).collect()
        if bad:
            raise DataError(f"fit_card_spark: the label {label!r} must be the 0/1 outcome (found {bad[0][label]!r})")
        self.df, self.label = df, label
        self.columns = [c for c in df.columns if c != label]
        self._types = dict(df.dtypes)
        self._counts: dict[str, pd.DataFrame] = {}

    def is_categorical(self, feature: str) -> bool:
        return self._types[feature] == "string"

    def value_counts(self, binning: MonotoneBinning) -> pd.DataFrame:
        if binning.dtype == "numerical" and self.is_categorical(binning.name):
            raise DataError(
                f"{binning.name}: the column holds text; declare it categorical (dtype='categorical') "
                "or convert it to numbers"
            )
        if binning.name not in self._counts:  # every column of this type counted in one job
            same = [c for c in self.columns if self.is_categorical(c) == (binning.dtype == "categorical")]
            if binning.name not in same:
                same = [binning.name]
            self._counts |= all_value_counts_spark(self.df, same, self.label, binning.dtype)
        return self._counts[binning.name]

    def bin_counts(self, binnings: Mapping[str, MonotoneBinning]) -> pd.DataFrame:
        from pyspark.sql import functions as F

        feats = list(binnings)
        cols = [
            F.expr(bin_case_sql(b, quote_sql(f, "spark"), str, "spark")).cast("long").alias(f)
            for f, b in binnings.items()
        ]
        agg = (
            self.df.select(*cols, F.col(self.label).cast("double").alias(LABEL))
            .groupBy(*feats, LABEL)
            .agg(F.count(F.lit(1)).cast("double").alias(COUNT))
        )
        return ordered_joint(pd.DataFrame(agg.toPandas()), feats)


def fit_card_spark(card: PointsCard, df: DataFrame, label: str = LABEL) -> PointsCard:
    """Fit ``card`` (an unfitted :class:`PointsCard` with its parameters) on the Spark DataFrame
    ``df``: its feature columns and the 0/1 outcome ``label``. Spark counts, the driver bins and
    solves on the counts (see the module docstring): the card is the one :meth:`PointsCard.fit`
    gives on the same rows as a pandas frame (same binnings, coefficients, points, JSON)."""
    return card.fit_counts(SparkCounts(df, label))
