"""Benchmark: point-in-time features over 10M and 100M generated records.

For each size: the archive is generated (scoring.sample.generator) if missing; DuckDB turns the records
into as-of timelines (scoring.features.asof.timeline_sql, written to Parquet with integer subject codes);
then the person set is computed for persons and the organisation set plus every industry set for
organisations (self features; about 90 columns in all) as of 2025-06-30, by

* the Polars engine (scoring.features.engine_polars; streaming from Parquet at 100M),
* the DuckDB engine (scoring.features.engine_duckdb, same definitions compiled to FILTER aggregates),
* a plain pandas groupby of the same features (the peer; 10M only: it does not fit at 100M),
* the Spark engine (scoring.features.engine_spark: the same query in the Spark dialect) in local mode
  (``XINYI_SPARK_MASTER``, default local[2] here), reading the same timeline Parquet; and the
  timeline itself computed by Spark from the archive (scoring.features.asof.timeline_sql, Spark
  dialect), checked row by row against DuckDB's,

checking that the engines agree (Spark and Polars: identical values). Each step runs in its own process so
its peak memory is its own; for Spark that includes the JVM (a child process: its RSS is sampled).

    python bench/features_bench.py                      # 10M and 100M
    python bench/features_bench.py --sizes 10000000
    python bench/features_bench.py --sizes 10000000 --engines polars,duckdb,spark --workdir /tmp/fb
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

AS_OF = dt.date(2025, 6, 30)
HERE = Path(__file__).resolve().parent


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class TreeMemory:
    """Peak RSS of this process plus its children (the JVM of a Spark session), sampled every 0.1 s."""

    def __init__(self) -> None:
        import threading

        import psutil

        self.proc, self.peak, self.peak_children = psutil.Process(), 0, 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import psutil

        while not self._stop.is_set():
            try:
                kids = sum(c.memory_info().rss for c in self.proc.children(recursive=True))
                self.peak_children = max(self.peak_children, kids)
                self.peak = max(self.peak, self.proc.memory_info().rss + kids)
            except psutil.Error:
                pass
            self._stop.wait(0.1)

    def stop(self) -> dict:
        self._stop.set()
        self._thread.join()
        return {"peak_mb": self.peak / 2**20, "jvm_peak_mb": self.peak_children / 2**20}


def bench_spark():
    """The Spark session of scoring.core.spark (local[2] unless XINYI_SPARK_MASTER says otherwise), files
    split in pieces of 16 MB so that every core gets a share of one timeline file."""
    os.environ.setdefault("XINYI_SPARK_MASTER", "local[2]")
    from scoring.core.spark import spark_session

    t0 = time.perf_counter()
    spark = spark_session()
    spark.conf.set("spark.sql.files.maxPartitionBytes", str(16 * 2**20))
    return spark, time.perf_counter() - t0


def bench_sets():
    """Self features only: person set for persons; organisation + industry additions for organisations."""
    from scoring.features.definitions import FeatureSet, load_feature_set

    person = load_feature_set("person")
    org = load_feature_set("organisation")
    extra, names = [], {f.name for f in org.features}
    for ind in ("construction", "food", "elderly_care", "medical", "travel_agency", "property_services"):
        for f in load_feature_set(ind).features:
            if f.name not in names:
                names.add(f.name)
                extra.append(f)
    keep = lambda fs: tuple(f for f in fs if f.link == "self")  # noqa: E731
    return {
        "person": FeatureSet(
            name="person",
            label_zh="",
            subject_types=person.subject_types,
            industry=None,
            features=keep(person.features),
        ),
        "organisation": FeatureSet(
            name="organisation",
            label_zh="",
            subject_types=org.subject_types,
            industry=None,
            features=keep(org.features) + tuple(extra),
        ),
    }


def step_timeline(archive: str, out: str) -> dict:
    import duckdb

    from scoring.archive.catalog import load_catalog
    from scoring.features.asof import periods_table, timeline_sql

    con = duckdb.connect()
    con.execute(f"SET threads = {os.cpu_count()}")
    con.execute("SET memory_limit = '4GB'")
    con.execute("SET preserve_insertion_order = false")
    con.register("periods_df", periods_table(load_catalog()))
    con.execute("CREATE TABLE periods AS SELECT * FROM periods_df")
    con.execute(f"""CREATE TABLE subj AS SELECT row_number() OVER () - 1 AS sid, subject_id,
                    subject_type = 'person' AS is_person FROM read_parquet('{archive}/subjects.parquet')""")
    recs = f"""(SELECT CAST(s.sid AS INTEGER) AS subject_id, s.is_person,
                CAST(substr(r.record_id, 6) AS BIGINT) AS record_id, r.record_type, r.severity,
                CAST(r.amount AS DOUBLE) AS amount, r.grade,
                CAST(r.event_date AS DATE) AS event_date, CAST(r.repaired_on AS DATE) AS repaired_on,
                CAST(r.objection_raised_on AS DATE) AS objection_raised_on,
                CAST(r.objection_resolved_on AS DATE) AS objection_resolved_on, r.objection_outcome,
                CAST(r.revoked_on AS DATE) AS revoked_on, CAST(r.list_entry_on AS DATE) AS list_entry_on,
                CAST(r.list_exit_on AS DATE) AS list_exit_on
               FROM read_parquet('{archive}/records.parquet') r JOIN subj s USING (subject_id))"""
    t0 = time.perf_counter()
    con.execute(f"""COPY (SELECT subject_id, is_person, record_id, record_type, severity, amount, grade, event_date,
                            t_start, t_end, s_from, s_to, false AS excluded FROM ({timeline_sql(recs, "periods")}))
                    TO '{out}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 1000000)""")
    n = con.execute(f"SELECT count(*) FROM read_parquet('{out}')").fetchall()[0][0]
    con.execute(f"COPY (SELECT sid AS subject_id, is_person FROM subj) TO '{out}.subjects.parquet' (FORMAT parquet)")
    sec = time.perf_counter() - t0
    return {"rows": n, "seconds": sec}


def _populations(timeline: str):
    import polars as pl

    subj = pl.read_parquet(f"{timeline}.subjects.parquet")
    return {
        "person": subj.filter(pl.col("is_person")).select("subject_id"),
        "organisation": subj.filter(~pl.col("is_person")).select("subject_id"),
    }


def step_polars(timeline: str, out: str, streaming: bool) -> dict:
    import polars as pl

    from scoring.features import engine_polars

    sets, pops = bench_sets(), _populations(timeline)
    links = pl.DataFrame(
        {"organisation_id": [], "person_id": []}, schema={"organisation_id": pl.Int32, "person_id": pl.Int32}
    )
    t0 = time.perf_counter()
    n = pl.scan_parquet(timeline).select(pl.len()).collect().item()
    results = {}
    for name in ("person", "organisation"):
        lf = (
            pl.scan_parquet(timeline)
            .filter(pl.col("is_person") == (name == "person"))
            .with_columns(
                pl.col("record_type").cast(pl.Categorical),
                pl.col("severity").cast(pl.Categorical),
                pl.col("grade").cast(pl.Categorical),
            )
        )
        src = lf if streaming else lf.collect()
        results[name] = engine_polars.compute(src, links, pops[name], sets[name], AS_OF, streaming=streaming)
    sec = time.perf_counter() - t0
    for name, df in results.items():
        df.sort("subject_id").write_parquet(f"{out}.{name}.parquet")
    return {
        "rows": n,
        "seconds": sec,
        "features": sum(len(s.features) for s in sets.values()),
        "subjects": sum(len(d) for d in results.values()),
    }


def step_duckdb(timeline: str, out: str) -> dict:
    import duckdb

    from scoring.features import engine_duckdb

    sets = bench_sets()
    con = duckdb.connect()
    con.execute(f"SET threads = {os.cpu_count()}")
    con.execute("SET memory_limit = '6GB'")
    con.execute(f"CREATE VIEW subj AS SELECT * FROM read_parquet('{timeline}.subjects.parquet')")
    con.execute("CREATE TABLE links (organisation_id INTEGER, person_id INTEGER)")
    t0 = time.perf_counter()
    n = con.execute(f"SELECT count(*) FROM read_parquet('{timeline}')").fetchall()[0][0]
    for name in ("person", "organisation"):
        flag = "true" if name == "person" else "false"
        con.execute(f"CREATE OR REPLACE VIEW tl AS SELECT * FROM read_parquet('{timeline}') WHERE is_person = {flag}")
        con.execute(f"CREATE OR REPLACE VIEW pop AS SELECT subject_id FROM subj WHERE is_person = {flag}")
        df = engine_duckdb.compute(con, "tl", "links", "pop", sets[name], AS_OF)
        df.sort_values("subject_id").to_parquet(f"{out}.{name}.parquet", index=False)
    return {"rows": n, "seconds": time.perf_counter() - t0}


def step_spark(timeline: str, out: str) -> dict:
    """The Spark engine on the same timeline Parquet (features only, as the Polars and DuckDB steps)."""
    mem = TreeMemory()
    from scoring.features import engine_spark

    spark, startup = bench_spark()
    sets = bench_sets()
    spark.read.parquet(f"{timeline}.subjects.parquet").createOrReplaceTempView("subj")
    spark.createDataFrame(
        [], "organisation_id INT, person_id INT, valid_from DATE, valid_to DATE"
    ).createOrReplaceTempView("links")
    t0 = time.perf_counter()
    n = spark.read.parquet(timeline).count()
    for name in ("person", "organisation"):
        flag = "true" if name == "person" else "false"
        spark.read.parquet(timeline).where(f"is_person = {flag}").createOrReplaceTempView("tl")
        spark.sql(f"SELECT subject_id FROM subj WHERE is_person = {flag}").createOrReplaceTempView("pop")
        df = engine_spark.compute(spark, "tl", "links", "pop", sets[name], AS_OF)
        df.sort_values("subject_id").to_parquet(f"{out}.{name}.parquet", index=False)
    sec = time.perf_counter() - t0
    spark.stop()
    return {"rows": n, "seconds": sec, "startup_seconds": startup, **mem.stop()}


def step_spark_timeline(archive: str, out: str) -> dict:
    """The as-of timeline computed by Spark from the archive's records (the Spark dialect of the one
    rule), written to Parquet as the DuckDB timeline step writes its own."""
    mem = TreeMemory()
    from scoring.archive.catalog import load_catalog
    from scoring.features.asof import timeline_sql
    from scoring.features.engine_spark import periods_frame

    spark, startup = bench_spark()
    periods_frame(spark, load_catalog()).createOrReplaceTempView("periods")
    spark.read.parquet(f"{archive}/records.parquet").createOrReplaceTempView("raw")
    recs = """(SELECT CAST(substr(record_id, 6) AS BIGINT) AS record_id, record_type, severity,
               CAST(amount AS DOUBLE) AS amount, grade, CAST(event_date AS DATE) AS event_date,
               CAST(repaired_on AS DATE) AS repaired_on, CAST(objection_raised_on AS DATE) AS objection_raised_on,
               CAST(objection_resolved_on AS DATE) AS objection_resolved_on, objection_outcome,
               CAST(revoked_on AS DATE) AS revoked_on, CAST(list_entry_on AS DATE) AS list_entry_on,
               CAST(list_exit_on AS DATE) AS list_exit_on FROM raw)"""
    t0 = time.perf_counter()
    tl = spark.sql(f"SELECT record_id, t_start, t_end, s_from, s_to FROM ({timeline_sql(recs, 'periods', 'spark')}) t")
    tl.write.mode("overwrite").option("compression", "zstd").parquet(out)
    sec = time.perf_counter() - t0
    n = spark.read.parquet(out).count()
    spark.stop()
    return {"rows": n, "seconds": sec, "startup_seconds": startup, **mem.stop()}


def timelines_agree(duck: str, spark_dir: str) -> dict:
    """Row by row: the DuckDB and Spark timelines of the same records (joined on record_id)."""
    import duckdb

    con = duckdb.connect()
    con.execute("SET memory_limit = '4GB'")
    cols = ("t_start", "t_end", "s_from", "s_to")
    differ = " OR ".join(f"d.{c} IS DISTINCT FROM s.{c}" for c in cols)
    n_duck, n_spark, joined, bad = con.execute(
        f"""SELECT (SELECT count(*) FROM read_parquet('{duck}')), (SELECT count(*) FROM read_parquet('{spark_dir}/*.parquet')),
                   count(*), count(*) FILTER (WHERE {differ})
            FROM read_parquet('{duck}') d JOIN read_parquet('{spark_dir}/*.parquet') s USING (record_id)"""
    ).fetchall()[0]
    return {"duckdb_rows": n_duck, "spark_rows": n_spark, "joined": joined, "differ": bad}


def identical(a: str, b: str) -> bool:
    """The same subjects, columns and values, bit for bit (NaN where NaN)."""
    import pandas as pd

    for name in ("person", "organisation"):
        x = pd.read_parquet(f"{a}.{name}.parquet").set_index("subject_id").sort_index()
        y = pd.read_parquet(f"{b}.{name}.parquet").set_index("subject_id").sort_index()
        y.index = y.index.astype(x.index.dtype)
        try:
            pd.testing.assert_frame_equal(x, y[x.columns].astype(x.dtypes.to_dict()), check_exact=True)
        except AssertionError:
            return False
    return True


def step_pandas(timeline: str, out: str) -> dict:
    """The peer: the same features with a plain pandas groupby (masked columns, one agg per feature)."""
    import numpy as np
    import pandas as pd

    from scoring.core.dates import add_months

    sets = bench_sets()
    subj = pd.read_parquet(f"{timeline}.subjects.parquet")
    t0 = time.perf_counter()
    df = pd.read_parquet(timeline)
    n = len(df)
    T = pd.Timestamp(AS_OF)
    for c in ("event_date", "t_start", "t_end", "s_from", "s_to"):
        df[c] = pd.to_datetime(df[c])
    counts = (
        (df["t_start"] <= T)
        & (df["t_end"].isna() | (T < df["t_end"]))
        & ~(df["s_from"].notna() & (df["s_from"] <= T) & (df["s_to"].isna() | (T < df["s_to"])))
    )
    df = df[counts.to_numpy()]
    for name in ("person", "organisation"):
        part = df[df["is_person"] == (name == "person")]
        cols, aggs = {}, {}
        for f in sets[name].features:
            m = part["record_type"].isin(f.records)
            if f.severities:
                m &= part["severity"].isin(f.severities)
            if f.window_months is not None:
                m &= part["event_date"] > pd.Timestamp(add_months(AS_OF, -f.window_months))
            if f.agg == "count":
                cols[f.name], aggs[f.name] = m.astype("int64"), "sum"
            elif f.agg == "weighted_count":
                cols[f.name], aggs[f.name] = part["severity"].map(f.weights).fillna(0.0).where(m, 0.0), "sum"
            elif f.agg in ("sum_amount", "hours_diminishing"):
                cols[f.name], aggs[f.name] = part["amount"].where(m), "sum"
            elif f.agg == "max_amount":
                cols[f.name], aggs[f.name] = part["amount"].where(m), "max"
            elif f.agg == "days_since_last":
                cols[f.name], aggs[f.name] = part["event_date"].where(m), "max"
            elif f.agg == "ratio":
                num = part["record_type"].isin(f.numerator)
                if f.window_months is not None:
                    num &= part["event_date"] > pd.Timestamp(add_months(AS_OF, -f.window_months))
                cols[f.name + "__n"], aggs[f.name + "__n"] = num.astype("int64"), "sum"
                cols[f.name], aggs[f.name] = m.astype("int64"), "sum"
            elif f.agg == "active_list":
                cols[f.name], aggs[f.name] = m.astype("int64"), "max"
            elif f.agg == "latest_grade":
                key = part["event_date"].where(m)
                cols[f.name + "__d"], aggs[f.name + "__d"] = key, "max"
                cols[f.name] = part["grade"].where(m)
        wide = pd.DataFrame(cols)
        wide["subject_id"] = part["subject_id"].to_numpy()
        g = wide.groupby("subject_id")
        res = g.agg(dict(aggs))
        for f in sets[name].features:
            if f.agg == "latest_grade":
                sub = wide[[f.name, f.name + "__d", "subject_id"]].dropna()
                sub = sub.assign(rid=part.loc[sub.index, "record_id"].to_numpy()) if len(sub) else sub.assign(rid=[])
                last = sub.sort_values([f.name + "__d", "rid"]).groupby("subject_id")[f.name].last()
                res[f.name] = last.map(f.grade_values)
            elif f.agg == "days_since_last":
                res[f.name] = (T - res[f.name]).dt.days.astype("float64").clip(upper=f.cap_days)
            elif f.agg == "ratio":
                den = res[f.name]
                res[f.name] = np.minimum(res[f.name + "__n"] / den.where(den > 0), 1.0)
            elif f.agg == "hours_diminishing":
                total, val, lo = res[f.name].fillna(0.0), 0.0, 0.0
                for hi, rate in f.tiers:
                    span = (total - lo).clip(lower=0)
                    if hi is not None:
                        span = span.clip(upper=hi - lo)
                    val = val + span * rate
                    lo = hi if hi is not None else lo
                res[f.name] = val
        pop = subj[subj["is_person"] == (name == "person")]["subject_id"]
        res = res.reindex(pop.to_numpy())
        from scoring.features.definitions import ZERO_WHEN_EMPTY

        for f in sets[name].features:
            if f.agg in ZERO_WHEN_EMPTY:
                res[f.name] = res[f.name].fillna(0.0)
            elif f.agg == "days_since_last":
                res[f.name] = res[f.name].fillna(float(f.cap_days))
        res = res[[f.name for f in sets[name].features]].astype("float64")
        res.index.name = "subject_id"
        res.reset_index().sort_values("subject_id").to_parquet(f"{out}.{name}.parquet", index=False)
    return {"rows": n, "seconds": time.perf_counter() - t0}


def child(step: str, args: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", step, *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"step {step} failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def agree(a: str, b: str) -> bool:
    import numpy as np
    import pandas as pd

    for name in ("person", "organisation"):
        x = pd.read_parquet(f"{a}.{name}.parquet").set_index("subject_id").sort_index()
        y = pd.read_parquet(f"{b}.{name}.parquet").set_index("subject_id").sort_index()
        y.index = y.index.astype(x.index.dtype)
        if x.shape != y.shape or not np.allclose(
            x.to_numpy(float), y[x.columns].to_numpy(float), equal_nan=True, rtol=1e-9
        ):
            return False
    return True


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000000,100000000")
    ap.add_argument("--workdir", default="bench/out")
    ap.add_argument("--child", nargs="+")
    ap.add_argument("--reuse-timeline", action="store_true", help="keep the timeline Parquet an earlier run wrote")
    ap.add_argument(
        "--engines",
        default=None,
        help="comma-separated subset of polars, duckdb, pandas, spark, spark_timeline (default: polars, duckdb, "
        "pandas at 10M, polars_streaming, duckdb at 100M; plus spark and spark_timeline when pyspark and Java are there)",
    )
    a = ap.parse_args()
    if a.child:
        step, rest = a.child[0], a.child[1:]
        fn = {
            "timeline": step_timeline,
            "polars": lambda t, o: step_polars(t, o, False),
            "polars_streaming": lambda t, o: step_polars(t, o, True),
            "duckdb": step_duckdb,
            "pandas": step_pandas,
            "spark": step_spark,
            "spark_timeline": step_spark_timeline,
        }[step]
        r = fn(*rest)
        r = {"step": step, "peak_mb": peak_mb(), **r}  # Spark steps: their peak with the JVM's
        print(json.dumps(r))
        return
    wd = Path(a.workdir)
    wd.mkdir(parents=True, exist_ok=True)
    results = []
    for n in [int(x) for x in a.sizes.split(",")]:
        archive = wd / f"archive_{n}"
        if not (archive / "records.parquet").exists():
            sys.path.insert(0, str(HERE))
            from archive_bench import child as gen_child

            print(f"generating {n:,} records ...", flush=True)
            gen_child("generate", [str(archive), str(n)])
        timeline = str(wd / f"timeline_{n}.parquet")
        steps = [("timeline", [str(archive), timeline])]
        engines = ["polars", "duckdb", "pandas"] if n <= 20_000_000 else ["polars_streaming", "duckdb"]
        from scoring.core.spark import spark_available

        with_spark = spark_available()
        if a.engines:
            want = a.engines.split(",")
            engines = [e for e in engines if e.split("_streaming")[0] in want]
            with_spark = "spark" in want
            spark_tl = "spark_timeline" in want
        else:
            spark_tl = with_spark
        if with_spark:
            engines.append("spark")
        if a.reuse_timeline and Path(timeline).exists() and Path(f"{timeline}.subjects.parquet").exists():
            steps = []  # the timeline of an earlier run (its step not measured again)
        steps += [(e, [timeline, str(wd / f"feat_{e}_{n}")]) for e in engines]
        if spark_tl:
            steps.append(("spark_timeline", [str(archive), str(wd / f"spark_timeline_{n}")]))
        for step, args in steps:
            r = child(step, args)
            r["size"] = n
            results.append(r)
            print(
                f"{step:<17} {n:>12,}: {r['rows']:,} records in {r['seconds']:.1f}s = {r['rows'] / r['seconds']:,.0f} records/s, "
                f"peak {r['peak_mb']:,.0f} MB"
                + (f", {r['features']} features for {r['subjects']:,} subjects" if "features" in r else "")
                + (
                    f" (JVM {r['jvm_peak_mb']:,.0f} MB; session start {r['startup_seconds']:.1f}s)"
                    if "jvm_peak_mb" in r
                    else ""
                ),
                flush=True,
            )
        if spark_tl:
            check = timelines_agree(timeline, str(wd / f"spark_timeline_{n}"))
            print(f"  spark_timeline and the DuckDB timeline: {check}")
            t_spark = next(r["seconds"] for r in results if r["size"] == n and r["step"] == "spark_timeline")
            t_duck = [r["seconds"] for r in results if r["size"] == n and r["step"] == "timeline"]
            if t_duck:
                print(f"  spark_timeline / timeline (DuckDB) time: {t_spark / t_duck[0]:.2f}x")
        first = engines[0] if engines else None
        for other in engines[1:]:
            ok = agree(str(wd / f"feat_{first}_{n}"), str(wd / f"feat_{other}_{n}"))
            print(f"  {first} and {other} agree: {ok}")
            if other == "spark":
                print(
                    f"  {first} and spark identical (bit for bit): {identical(str(wd / f'feat_{first}_{n}'), str(wd / f'feat_{other}_{n}'))}"
                )
            t_first = next(r["seconds"] for r in results if r["size"] == n and r["step"] == first)
            t_other = next(r["seconds"] for r in results if r["size"] == n and r["step"] == other)
            print(f"  {other} / {first} time: {t_other / t_first:.2f}x")
            m_first = next(r["peak_mb"] for r in results if r["size"] == n and r["step"] == first)
            m_other = next(r["peak_mb"] for r in results if r["size"] == n and r["step"] == other)
            print(f"  {other} / {first} peak memory: {m_other / m_first:.2f}x")
    (wd / "features_bench.json").write_text(json.dumps(results, indent=2))
    print(f"cpus: {os.cpu_count()}")


if __name__ == "__main__":
    main()
