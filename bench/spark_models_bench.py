"""Benchmark: scoring and fitting on Spark (local mode) against the embedded path, in the same run.

On one generated archive (seed 7, realistic profile) the 信义金 card is fitted (``fit_card``) and the
construction industry's LightGBM grader (the championship's ``lightgbm`` contender); then feature
rows are synthesised by sampling the real feature matrices with replacement (seeded; synthetic
keys, no identifier of the archive) and

1. card scoring: the card's Spark SQL export (``score_card_spark``) vs Python
   (``PointsCard.items`` + sum), rows/s, with the points checked equal;
2. grades + SHAP: ``grade_organisations_spark`` (mapInPandas, LightGBM ``pred_contrib`` per
   partition) vs the embedded ``graded_with_contributions``, rows/s, checked equal;
3. the card fit: counts aggregated by Spark (``fit_card_spark``) vs by pandas (``PointsCard.fit``),
   the cards checked identical; and the regression solved on the joint bin counts vs on every row.

Spark's input DataFrames are built and cached before the clock starts (the conversion from pandas
is printed separately); Spark results are materialised with the ``noop`` sink. Figures are wall
clock on a machine shared with other jobs: upper bounds on time.

    python bench/spark_models_bench.py                       # 1M card rows, 100k graded rows
    python bench/spark_models_bench.py --rows 200000 --grade-rows 20000
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd


def timed(fn, repeat: int = 1):
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def sampled(frame: pd.DataFrame, n: int, seed: int, stem: str) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    out = frame.iloc[rng.integers(0, len(frame), n)].reset_index(drop=True)
    out.index = pd.Index([f"{stem}{i:09d}" for i in range(n)], name="subject_id")
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000, help="card rows scored and fitted on")
    ap.add_argument("--grade-rows", type=int, default=100_000, help="organisation rows graded and explained")
    ap.add_argument("--persons", type=int, default=20_000)
    ap.add_argument("--organisations", type=int, default=5_000)
    ap.add_argument("--work", default=os.environ.get("XINYI_BENCH_DIR", tempfile.mkdtemp(prefix="xinyi-sparkbench-")))
    args = ap.parse_args()
    warnings.simplefilter("ignore")

    from scoring.archive.ingest import ingest
    from scoring.archive.store import open_store
    from scoring.core.spark import spark_session
    from scoring.features.industry import load_industries
    from scoring.features.training import training_set
    from scoring.grades.grading import run_championship
    from scoring.grades.lists import organisation_inputs
    from scoring.grades.spark import SHAP_PREFIX, grade_organisations_spark, graded_with_contributions
    from scoring.points.card import (
        COUNT,
        LABEL,
        FrameCounts,
        PointsCard,
        _nonneg_logistic,
        woe_of_bins,
    )
    from scoring.points.personal import fit_card, load_card_config
    from scoring.points.spark import fit_card_spark, score_card_spark
    from scoring.sample.generator import generate_sample

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    store = work / "store.duckdb"
    if not store.exists():
        generate_sample(work / "archive", seed=7, persons=args.persons, organisations=args.organisations)
        with open_store(store) as s:
            ingest([work / "archive"], s)
    as_of = "2025-12-31"
    with open_store(store, read_only=True) as s:
        card, _ = fit_card(s)
        train = training_set(s, load_card_config().cutoffs, subjects="persons")
        grader = run_championship(s, "construction").contenders["lightgbm"].grader
        org_inputs = organisation_inputs(s, grader, as_of, industry="construction")
    industry = load_industries()["construction"]
    spark = spark_session()
    cores = spark.sparkContext.defaultParallelism // 2
    figures: dict[str, float] = {}
    print(
        f"archive: {args.persons} persons, {args.organisations} organisations; Spark {spark.version} "
        f"{spark.sparkContext.master}; {os.cpu_count()} cores shared with other jobs"
    )

    # 1. card scoring ------------------------------------------------------------------------
    X = sampled(train[card.features_], args.rows, 1, "p")
    t_py, items = timed(lambda: card.items(X).assign(points=lambda d: d.sum(axis=1)))
    t_conv, sdf = timed(lambda: spark.createDataFrame(X.reset_index()).cache())
    sdf.count()

    def spark_score():
        out = score_card_spark(card, sdf)
        out.write.format("noop").mode("overwrite").save()
        return out

    t_sp, scored = timed(spark_score, repeat=2)
    got = pd.DataFrame(scored.orderBy("subject_id").toPandas()).set_index("subject_id")
    same = bool(np.array_equal(got["points"].to_numpy(np.int64), items["points"].to_numpy(np.int64)))
    print(f"\n1. card scoring, {args.rows:,} rows x {len(card.features_)} items (points equal: {same})")
    print(f"   Python items + sum        {t_py:8.2f} s  {args.rows / t_py:12,.0f} rows/s")
    print(
        f"   Spark SQL (local[{cores}])     {t_sp:8.2f} s  {args.rows / t_sp:12,.0f} rows/s  ratio {t_py / t_sp:.2f}x"
    )
    print(f"   (pandas -> Spark conversion {t_conv:.2f} s, not counted)")
    figures |= {"card_python_rows_s": args.rows / t_py, "card_spark_rows_s": args.rows / t_sp}

    # 2. grades + SHAP ----------------------------------------------------------------------
    G = sampled(org_inputs, args.grade_rows, 2, "o")
    t_emb, want = timed(lambda: graded_with_contributions(grader, industry, G))
    gdf = spark.createDataFrame(G.reset_index()).repartition(2 * cores).cache()
    gdf.count()

    def spark_grade():
        out = grade_organisations_spark(grader, industry, gdf)
        out.write.format("noop").mode("overwrite").save()
        return out

    t_gs, graded = timed(spark_grade, repeat=2)
    g = pd.DataFrame(graded.toPandas()).set_index("subject_id").loc[G.index]
    shap = [c for c in g.columns if c.startswith(SHAP_PREFIX)]
    same = bool(
        (g["grade"].to_numpy() == want["grade"].to_numpy()).all()
        and np.array_equal(g[shap].to_numpy(float), want[shap].to_numpy(float))
    )
    print(f"\n2. grades + SHAP ({grader.booster_.num_trees()} trees), {args.grade_rows:,} rows (equal: {same})")
    print(f"   embedded                  {t_emb:8.2f} s  {args.grade_rows / t_emb:12,.0f} rows/s")
    print(
        f"   mapInPandas (local[{cores}])  {t_gs:8.2f} s  {args.grade_rows / t_gs:12,.0f} rows/s  ratio {t_emb / t_gs:.2f}x"
    )
    figures |= {"grades_embedded_rows_s": args.grade_rows / t_emb, "grades_spark_rows_s": args.grade_rows / t_gs}

    # 3. the card fit -------------------------------------------------------------------------
    params = card.get_params()
    feats = list(params["features"])
    T = sampled(train[[*feats, "label"]], args.rows, 3, "t")
    t_fe, emb = timed(lambda: PointsCard(**params).fit(T[feats], T["label"]))
    tdf = spark.createDataFrame(T[[*feats, "label"]]).cache()
    tdf.count()
    t_fs, on_spark = timed(lambda: fit_card_spark(PointsCard(**params), tdf))
    identical = json.dumps(emb.to_dict(), sort_keys=True) == json.dumps(on_spark.to_dict(), sort_keys=True)
    joint = FrameCounts(T[feats], T["label"].to_numpy(float)).bin_counts(emb.binnings_)
    W = np.column_stack([woe_of_bins(emb.binnings_[f], joint[f].to_numpy()) for f in feats])
    t_agg, _ = timed(lambda: _nonneg_logistic(W, joint[LABEL].to_numpy(), emb.alpha, joint[COUNT].to_numpy()))
    Wr = np.column_stack([emb.binnings_[f].transform(T[f]) for f in feats])
    t_row, _ = timed(lambda: _nonneg_logistic(Wr, T["label"].to_numpy(float), emb.alpha))
    print(f"\n3. card fit, {args.rows:,} rows x {len(feats)} features (cards identical: {identical})")
    print(f"   embedded (pandas counts)  {t_fe:8.2f} s")
    print(f"   Spark counts (local[{cores}])  {t_fs:8.2f} s  ratio {t_fe / t_fs:.2f}x")
    print(
        f"   regression on {len(joint):,} joint bin counts {t_agg:.3f} s vs on {args.rows:,} rows {t_row:.3f} s: "
        f"{t_row / t_agg:.0f}x"
    )
    figures |= {"fit_embedded_s": t_fe, "fit_spark_s": t_fs, "solver_counts_s": t_agg, "solver_rows_s": t_row}
    print("\n" + json.dumps({k: round(v, 3) for k, v in figures.items()}))
    spark.catalog.clearCache()


if __name__ == "__main__":
    main()
