"""The Spark engine: the same feature definitions and the one as-of rule as Spark SQL, equal to the
Polars engine bit for bit, over the store's Parquet copy (Spark local mode; one session per process)."""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import duckdb
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring.archive.ingest import ingest
from scoring.archive.parquet import ensure_parquet, export_parquet, parquet_current, read_manifest
from scoring.archive.store import open_store
from scoring.core.dates import add_months
from scoring.features.asof import months_after_sql
from scoring.features.builder import FeatureBuilder, links_sql
from scoring.features.industry import load_industries
from scoring.sample.generator import generate_sample

pytestmark = pytest.mark.spark
INDUSTRIES = sorted(load_industries())


def _same(store, as_of: dt.date, subjects: str, industry: str | None = None) -> int:
    """Spark's feature matrix is Polars' exactly (values, columns, index); the number of subjects."""
    polars = FeatureBuilder(store, subjects, industry).at(as_of).values
    spark = FeatureBuilder(store, subjects, industry, engine="spark").at(as_of)
    assert spark.engine == "spark"
    pd.testing.assert_frame_equal(spark.values, polars, check_exact=True)
    return len(polars)


def test_month_arithmetic_agrees_day_by_day(spark):
    """DuckDB's ``date + to_months(n)`` and Spark's ``add_months`` (the two spellings of the one rule)
    give scoring.core.dates.add_months on every day around month ends and leap days."""
    start = dt.date(2019, 12, 20)
    days = [start + dt.timedelta(days=i) for i in range(800)]  # through two Februaries, one of a leap year
    months = (-60, -13, -12, -1, 0, 1, 2, 3, 6, 11, 12, 13, 24, 36, 59, 60, 61, 120)
    pairs = pd.DataFrame([(d, n) for d in days for n in months], columns=["d", "n"])
    pairs["n"] = pairs["n"].astype("int32")
    want = [add_months(d, int(n)) for d, n in zip(pairs["d"], pairs["n"], strict=True)]

    con = duckdb.connect()
    con.register("pairs", pairs)
    got_duck = con.execute(f"SELECT {months_after_sql('CAST(d AS DATE)', 'n', 'duckdb')} FROM pairs").fetchall()
    sdf = spark.createDataFrame(list(pairs.itertuples(index=False, name=None)), "d DATE, n INT")
    sdf.createOrReplaceTempView("xinyi_test_pairs")
    got_spark = spark.sql(f"SELECT d, n, {months_after_sql('d', 'n', 'spark')} AS e FROM xinyi_test_pairs").collect()
    assert [r[0] for r in got_duck] == want
    assert {(r.d, r.n): r.e for r in got_spark} == {
        (d, int(n)): w for d, n, w in zip(pairs["d"], pairs["n"], want, strict=True)
    }
    assert add_months(dt.date(2024, 1, 31), 1) == dt.date(2024, 2, 29)  # the clamp the grid covers


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    profile=st.sampled_from(["realistic", "stress"]),
    seed=st.integers(0, 10_000),
    persons=st.integers(40, 80),
    organisations=st.integers(15, 25),
    as_of=st.dates(dt.date(2021, 1, 1), dt.date(2026, 6, 30)),
    industry=st.sampled_from(INDUSTRIES),
)
def test_spark_equals_polars_on_random_archives(spark, profile, seed, persons, organisations, as_of, industry):
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "archive"
        generate_sample(archive, seed=seed, persons=persons, organisations=organisations, profile=profile)
        with open_store(Path(tmp) / "store.duckdb") as store:
            ingest([archive], store)
            assert _same(store, as_of, "persons") == persons
            _same(store, as_of, "organisations")
            _same(store, as_of, "organisations", industry)


def test_spark_equals_polars_on_the_committed_sample(spark, sample_store):
    path, _ = sample_store
    with open_store(path, read_only=True) as store:
        day = dt.date(2025, 6, 30)
        persons = store.sql("SELECT count(*) AS n FROM subjects WHERE subject_type = 'person'")["n"].iloc[0]
        assert _same(store, day, "persons") == persons > 19_000
        assert _same(store, day, "organisations", "construction") > 0


def test_parquet_copy_is_the_store_and_follows_it(tmp_path):
    """The copy holds exactly the store's rows, bucketed by subject (each subject in one bucket), says
    in its manifest which store content it is (no ID number in it), and is written again once the
    store has changed."""
    first, second = tmp_path / "a", tmp_path / "b"
    generate_sample(first, seed=5, persons=30, organisations=10, profile="stress")
    generate_sample(second, seed=6, persons=30, organisations=10, profile="stress")
    with open_store(tmp_path / "store.duckdb") as store:
        ingest([first], store)
        copy = export_parquet(store, buckets=4, links_query=links_sql(store))
        assert copy.folder == tmp_path / "store.duckdb.parquet" and parquet_current(store, copy.folder)
        con = duckdb.connect()
        recs = con.execute(
            f"SELECT subject_id, count(DISTINCT bucket) AS b, count(*) AS n FROM read_parquet("
            f"'{copy.folder}/records/*/*.parquet', hive_partitioning = true) GROUP BY subject_id"
        ).df()
        assert (recs["b"] == 1).all() and recs["n"].sum() == store.count("records") == copy.rows["records"]
        assert copy.rows["subjects"] == store.count("subjects") and copy.rows["links"] > 0
        text = (copy.folder / "manifest.json").read_text(encoding="utf-8")
        assert not any(s in text for s in store.sql("SELECT subject_id FROM subjects")["subject_id"])
        assert ensure_parquet(store, copy.folder).written is False  # current: kept

        ingest([second], store)
        assert not parquet_current(store, copy.folder)
        again = ensure_parquet(store, copy.folder)
        assert again.written and again.buckets == 4
        assert read_manifest(copy.folder)["rows"]["records"] == store.count("records")  # type: ignore[index]
        # the Spark engine reads the new copy: the records of the second archive count too
        assert (
            _same(store, dt.date(2025, 6, 30), "persons")
            == store.sql("SELECT count(*) AS n FROM subjects WHERE subject_type = 'person'")["n"].iloc[0]
        )


def test_without_java_the_spark_engine_says_what_to_install(tmp_path, sample_store):
    """No Java runtime: `--engine spark` stops with a ConfigError naming the install, no traceback."""
    path, _ = sample_store
    env = {k: v for k, v in os.environ.items() if k not in ("JAVA_HOME", "PYSPARK_PYTHON")}
    env["PATH"] = str(tmp_path)  # no java on it
    out = subprocess.run(
        [sys.executable, "-m", "scoring", "features", "--store", str(path), "--as-of", "2025-06-30"]
        + ["--engine", "spark", "--out", str(tmp_path / "f.parquet")],
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert out.returncode != 0
    err = out.stderr + out.stdout
    assert "Java runtime" in err and "openjdk-17-jre-headless" in err and "Traceback" not in err
    assert not (tmp_path / "f.parquet").exists()


def test_export_parquet_command(tmp_path):
    archive = tmp_path / "archive"
    generate_sample(archive, seed=9, persons=20, organisations=8)
    store = tmp_path / "store.duckdb"
    with open_store(store) as st_:
        ingest([archive], st_)
        ids = set(st_.sql("SELECT subject_id FROM subjects")["subject_id"])
    out = subprocess.run(
        [sys.executable, "-m", "scoring", "export-parquet", "--store", str(store), "--buckets", "3", "--json"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    assert out.returncode == 0, out.stderr
    res = json.loads(out.stdout)
    assert res["buckets"] == 3 and res["rows"]["subjects"] == len(ids)
    assert sorted(p.name for p in (tmp_path / "store.duckdb.parquet" / "records").iterdir()) == [
        "bucket=0",
        "bucket=1",
        "bucket=2",
    ]
    assert not any(i in out.stdout + out.stderr for i in ids)
