"""The Spark feature engine (Spark 引擎): the same definitions and the one as-of rule, as Spark SQL.

Nothing here is written twice. The timeline is :func:`scoring.features.asof.timeline_select_sql` in the
Spark dialect (``add_months`` for DuckDB's ``date + to_months(n)``: both clamp to the month's end), and
the features are :func:`scoring.features.engine_duckdb.features_sql` in the Spark dialect: conditional
aggregates (``FILTER``), the integer sums of amounts of :mod:`scoring.features.exact`, the latest grade
by ``max_by`` over ``struct(event_date, record_id)``. Linked features (法定代表人/实际控制人) join the
links that hold at T (:func:`scoring.features.asof.link_valid_sql`, an equi-join on the subject with
an interval filter; never Spark's ``_joinAsOf``, which is quadratic). The collected result is finished
by :func:`scoring.features.exact.finish_amounts`, as with the other engines, so the values are the
Polars engine's bit for bit (tests/test_spark_features.py).

Spark reads the store's Parquet copy (:mod:`scoring.archive.parquet`), never the DuckDB file; the
session comes from :func:`scoring.core.spark.spark_session`. pyspark is imported only when used.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil
import tempfile
import uuid
import weakref
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from scoring.archive.catalog import Catalog
from scoring.archive.parquet import ensure_parquet
from scoring.archive.store import Store
from scoring.features.asof import TIMELINE_COLUMNS, periods_table, timeline_select_sql
from scoring.features.definitions import FeatureSet
from scoring.features.engine_duckdb import features_sql, finish

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame, SparkSession

PERIODS_DDL = (
    "record_type STRING, kind STRING, list_type BOOLEAN, negative BOOLEAN, opt_out_eligible BOOLEAN, "
    "sev_key STRING, eff_from DATE, eff_to DATE, max_months INT, min_months INT, regime STRING"
)


def periods_frame(spark: SparkSession, catalog: Catalog) -> DataFrame:
    """The catalogue's publicity table (:func:`scoring.features.asof.periods_table`) as a small Spark
    DataFrame (months as INT, the argument ``add_months`` takes)."""
    df = periods_table(catalog)
    names = [c.split(" ")[0] for c in PERIODS_DDL.split(", ")]
    rows = [tuple(_plain(v) for v in r) for r in df[names].itertuples(index=False, name=None)]
    return spark.createDataFrame(rows, schema=PERIODS_DDL)


def _plain(v: object) -> object:
    """A pandas/numpy cell as a plain Python value for Spark (NA -> None)."""
    if v is None or v is pd.NA or (isinstance(v, float) and v != v):
        return None
    if hasattr(v, "item"):
        return v.item()  # numpy scalars
    return v


def collect(spark: SparkSession, sql: str) -> pd.DataFrame:
    """Run Spark SQL and bring the result (one row per subject) back as pandas. In local mode the tasks
    write it as Parquet to a scratch folder that is read back with pyarrow: a result of millions of
    subjects never has to fit Spark's driver (``spark.driver.maxResultSize``, 1 GB by default, stops
    a ``toArrow`` of 12M organisations and persons at 100M records); on a cluster it comes back through
    Arrow (``toArrow``)."""
    df = spark.sql(sql)
    if not str(spark.sparkContext.master).startswith("local"):
        return df.toArrow().to_pandas()
    import pyarrow.parquet as pq

    scratch = spark.conf.get("spark.local.dir", None) or tempfile.gettempdir()
    out = Path(tempfile.mkdtemp(prefix="xinyi-features-", dir=scratch))
    try:
        df.write.mode("overwrite").parquet(str(out / "result"))
        return pq.read_table(out / "result").to_pandas()
    finally:
        shutil.rmtree(out, ignore_errors=True)


def compute(
    spark: SparkSession, timeline: str, links: str, population: str, fset: FeatureSet, as_of: dt.date
) -> pd.DataFrame:
    """Feature matrix at ``as_of`` from Spark relations (views: timeline, links, population(subject_id)),
    as :func:`scoring.features.engine_duckdb.compute` from DuckDB relations."""
    return finish(collect(spark, features_sql(timeline, links, population, fset, as_of, "spark")), fset)


class SparkArchive:
    """A store's Parquet copy opened in Spark: temporary views of its records' timeline (with the
    as-of intervals), links and subjects, under names of their own (several may be open at once).

    ``cache``: keep the timeline in Spark's storage (memory, then disk) after the first date, so
    features at more dates do not compute it again."""

    def __init__(self, spark: SparkSession, folder: str | Path, catalog: Catalog, cache: bool = True):
        self.spark, self.folder = spark, Path(folder)
        tag = uuid.uuid4().hex[:12]
        self.views = {k: f"xinyi_{k}_{tag}" for k in ("records", "subjects", "links", "periods", "timeline")}
        read = spark.read.parquet
        read(str(self.folder / "records")).drop("bucket").createOrReplaceTempView(self.views["records"])
        read(str(self.folder / "subjects")).drop("bucket").createOrReplaceTempView(self.views["subjects"])
        read(str(self.folder / "links")).createOrReplaceTempView(self.views["links"])
        periods_frame(spark, catalog).createOrReplaceTempView(self.views["periods"])
        sql = timeline_select_sql(self.views["records"], self.views["subjects"], self.views["periods"], "spark")
        self._timeline = spark.sql(sql).select(*TIMELINE_COLUMNS)
        if cache:
            self._timeline = self._timeline.persist()
        self._timeline.createOrReplaceTempView(self.views["timeline"])
        # a builder that goes away lets its cached timeline and views go too
        self._release = weakref.finalize(self, _release, spark, self._timeline, tuple(self.views.values()))

    def timeline(self) -> DataFrame:
        return self._timeline

    def population(self, population_sql: str) -> str:
        """A view of the population a SQL query over ``subjects`` (the store's table name) selects."""
        name = f"xinyi_population_{uuid.uuid4().hex[:12]}"
        self.spark.sql(
            f"WITH subjects AS (SELECT * FROM {self.views['subjects']}) {population_sql}"
        ).createOrReplaceTempView(name)
        return name

    def features(self, fset: FeatureSet, as_of: dt.date, population_sql: str) -> pd.DataFrame:
        """The feature matrix at ``as_of`` of the subjects ``population_sql`` selects."""
        pop = self.population(population_sql)
        try:
            return compute(self.spark, self.views["timeline"], self.views["links"], pop, fset, as_of)
        finally:
            self.spark.catalog.dropTempView(pop)

    def close(self) -> None:
        self._release()


def _release(spark: SparkSession, timeline: DataFrame, views: tuple[str, ...]) -> None:
    """Unpersist a timeline and drop its views (nothing to do once the session has stopped)."""
    with contextlib.suppress(Exception):  # the JVM may be gone at interpreter exit
        timeline.unpersist()
        for v in views:
            spark.catalog.dropTempView(v)


def open_store_copy(store: Store, catalog: Catalog, links_query: str, folder: str | Path | None = None) -> SparkArchive:
    """The store's Parquet copy (:func:`scoring.archive.parquet.ensure_parquet`: written again if the
    store has changed since; ``links_query``: the store's links, :func:`scoring.features.builder.links_sql`)
    opened in the session of :func:`scoring.core.spark.spark_session`."""
    from scoring.core.spark import spark_session

    copy = ensure_parquet(store, folder, links_query=links_query)
    return SparkArchive(spark_session(), copy.folder, catalog)
