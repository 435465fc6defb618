"""Benchmark: industry grade models (行业信用评价) against their baselines, and the cost of grading
and explaining a city's organisations, all in one run.

1. On the synthetic archive (data/sample), for each industry labelled with expert grades, LightGBM
   (ordinal, one latent score), the expert score sheet and ordinal logistic regression, side by side
   on the same folds: quadratic weighted kappa against the generator's true grade at the hold-out
   cut-off, AUC of P(较差 or 差) on the outcome, ECE (mean per grade) before and after calibration,
   and training time.
2. Grading 1M organisations (rows resampled from the hold-out features): calibrated probabilities,
   bands, upgrade limit and vetoes.
3. SHAP per 100k rows: LightGBM's TreeSHAP (``pred_contrib``) and the shap package's TreeExplainer
   on the same rows, checked to agree.
4. Grade and explain 1.3M organisations: grades plus exact contributions plus the top-3 reason texts.
5. Grade shares against the platform's targets, per industry: on the fit's hold-out cut-off and
   in the grade list at the archive's export date (among the organisations the band table grades:
   not vetoed, not new entrants; those are counted apart), with the tolerance of every industry.

    python bench/grades_bench.py [--rows 1000000] [--city 1300000]
    python bench/grades_bench.py --shares-only [--store STORE.duckdb]   # section 5 only, any archive
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")
ROOT = Path(__file__).resolve().parent.parent
INDUSTRIES = ("construction", "food", "medical")


def ece_table(store, truth: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
    from sklearn.metrics import cohen_kappa_score

    from scoring.features.industry import GRADE_INDEX
    from scoring.grades.grading import fit_industry

    rows, models = [], {}
    for code in INDUSTRIES:
        pred: dict = {}
        model, ev = fit_industry(store, code, predictions=pred)
        models[code] = (model, pred["holdout"])
        hold = pred["holdout"]
        true = hold["subject_id"].map(truth["true_grade"]).map(GRADE_INDEX)
        ok = true.notna().to_numpy()
        for b in ev["baselines"]:
            gi = pred[b["model"]]["grade_index"]
            rows.append(
                {
                    "industry": code,
                    "model": b["model"],
                    "holdout_rows": int(ok.sum()),
                    "qwk_true_grade": cohen_kappa_score(true[ok].astype(int), gi[ok], weights="quadratic"),
                    "qwk_expert_grade": b["qwk"],
                    "auc_p_bad": b["auc"],
                    "ece_before": b["ece_before"],
                    "ece_after": b["ece"],
                    "fit_seconds": ev["fit_seconds"] if b["model"] == "lightgbm" else b["fit_seconds"],
                }
            )
    return pd.DataFrame(rows), models


def grading_time(model, ind, X: pd.DataFrame, n: int) -> dict:
    from scoring.grades.grading import grade_organisations

    big = X.sample(n, replace=True, random_state=0)
    big.index = [f"o{i}" for i in range(n)]
    t0 = time.perf_counter()
    g = grade_organisations(model, ind, big)
    sec = time.perf_counter() - t0
    return {"rows": n, "seconds": sec, "rows_per_s": n / sec, "grades": g["grade"].value_counts().to_dict()}


def shap_time(model, X: pd.DataFrame, n: int = 100_000) -> dict:
    import shap

    big = X.sample(n, replace=True, random_state=1)
    mat = big[model.features_].fillna(model.impute_).to_numpy(float)
    t0 = time.perf_counter()
    lgb_c = model.booster_.predict(mat, pred_contrib=True)
    t_lgb = time.perf_counter() - t0
    explainer = shap.TreeExplainer(model.booster_)
    t0 = time.perf_counter()
    sv = explainer.shap_values(mat, check_additivity=False)
    t_shap = time.perf_counter() - t0
    diff = float(np.abs(np.asarray(sv) - lgb_c[:, :-1]).max())
    base = float(np.abs(np.asarray(explainer.expected_value) - lgb_c[:, -1]).max())
    return {
        "rows": n,
        "lightgbm_pred_contrib_s": t_lgb,
        "shap_tree_explainer_s": t_shap,
        "ratio_shap_to_lgb": t_shap / t_lgb,
        "max_abs_diff": diff,
        "base_value_diff": base,
        "lgb_rows_per_s": n / t_lgb,
        "shap_rows_per_s": n / t_shap,
        "trees": model.booster_.num_trees(),
        "shap_version": shap.__version__,
    }


def city_time(model, ind, X: pd.DataFrame, labels: pd.Series, n: int) -> dict:
    """Grade and explain n organisations: grades, exact contributions and top-3 reason texts."""
    from scoring.grades.grading import grade_organisations
    from scoring.grades.lists import GradedPopulation, top_reasons

    big = X.sample(n, replace=True, random_state=2)
    big.index = [f"o{i}" for i in range(n)]
    t0 = time.perf_counter()
    g = grade_organisations(model, ind, big)
    t1 = time.perf_counter()
    contrib = model.contributions(big[model.features_])
    t2 = time.perf_counter()
    pop = GradedPopulation(ind, None, None, big, g, contrib, pd.DataFrame(index=big.index), labels)
    reasons = top_reasons(pop, model=model)
    t3 = time.perf_counter()
    assert np.allclose(contrib.sum(axis=1).to_numpy(), model.margin(big[model.features_]), atol=1e-9)
    return {
        "rows": n,
        "grade_s": t1 - t0,
        "shap_s": t2 - t1,
        "reasons_s": t3 - t2,
        "total_s": t3 - t0,
        "total_min": (t3 - t0) / 60,
        "example_reason": reasons.iloc[0].tolist(),
    }


def share_table_rows(store) -> pd.DataFrame:
    """Per industry and grade: the share among band-graded organisations on the hold-out cut-off
    and in the list at the export date, the target, the tolerance and whether both are within it."""
    from scoring.features.industry import load_industries
    from scoring.grades.bands import band_graded, resolve_bands, share_table
    from scoring.grades.grading import fit_industry
    from scoring.grades.lists import grade_population

    latest = store.con.execute("SELECT max(export_date) FROM ingest_batches").fetchall()[0][0]
    rows = []
    for code, ind in load_industries().items():
        try:
            model, ev = fit_industry(store, code)
        except Exception as exc:  # a fit that fails on this archive is reported, not hidden
            rows.append({"industry": code, "kind": ind.bands.kind, "error": f"{type(exc).__name__}: {exc}"})
            continue
        pop = grade_population(store, model, latest)
        eligible = band_graded(pop.graded)
        bands = ev["bands"]
        listed = share_table(pop.graded["model_grade"], resolve_bands(model, ind), eligible)
        for h, lst in zip(ev["shares"], listed.to_dict(orient="records")):
            rows.append(
                {
                    "industry": code,
                    "kind": ind.bands.kind,
                    "grade": h["grade"],
                    "target": h["target"],
                    "holdout_share": h["share"],
                    "list_share": lst["share"],
                    "tolerance": h["tolerance"],
                    "holdout_ok": h["within_tolerance"],
                    "list_ok": lst["within_tolerance"],
                    "holdout_graded": ev["band_graded"],
                    "holdout_vetoed": ev["vetoed"],
                    "holdout_new": ev["new_entrants"],
                    "list_graded": int(eligible.sum()),
                    "list_vetoed": int((pop.graded["veto"] != "").sum()),
                    "list_new": int(pop.graded["new_entrant"].sum()),
                    "list_capped": int(pop.graded["upgrade_capped"].sum()),
                    "bounds": " / ".join(f"{v:.3g}" for v in bands["bounds"].values()),
                }
            )
    return pd.DataFrame(rows)


def print_shares(table: pd.DataFrame, where: str) -> None:
    print(f"== 5. grade shares vs targets ({where}; shares among band-graded organisations) ==")
    for code, t in table.groupby("industry", sort=False):
        r = t.iloc[0]
        if isinstance(r.get("error"), str):
            print(f"{code} ({r['kind']}): the fit failed: {r['error']}")
            continue
        print(
            f"{code} ({r['kind']}): hold-out {int(r['holdout_graded'])} graded by the "
            f"bands + {int(r['holdout_vetoed'])} vetoed + {int(r['holdout_new'])} new; list {int(r['list_graded'])} + "
            f"{int(r['list_vetoed'])} vetoed + {int(r['list_new'])} new ({int(r['list_capped'])} upgrade-capped)"
            + (f"; fitted risk bounds {r['bounds']}" if r["bounds"] else "")
        )
        show = t[["grade", "target", "tolerance", "holdout_share", "holdout_ok", "list_share", "list_ok"]].copy()
        for c in ("target", "tolerance", "holdout_share", "list_share"):
            show[c] = (100 * show[c]).map("{:.1f}%".format)
        print(show.to_string(index=False))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--city", type=int, default=1_300_000)
    ap.add_argument("--shares-only", action="store_true", help="only section 5 (grade shares vs targets)")
    ap.add_argument("--store", type=Path, default=None, help="an ingested store (default: data/sample ingested)")
    a = ap.parse_args()
    if a.shares_only:
        from scoring.archive.ingest import ingest
        from scoring.archive.store import open_store

        with tempfile.TemporaryDirectory() as d:
            if a.store is None:
                with open_store(Path(d) / "s.duckdb") as st:
                    ingest([ROOT / "data" / "sample"], st)
            path = a.store or Path(d) / "s.duckdb"
            with open_store(path, read_only=True) as st:
                table = share_table_rows(st)
        pd.set_option("display.width", 200)
        print_shares(table, str(a.store) if a.store else "data/sample")
        return

    from scoring.archive.ingest import ingest
    from scoring.archive.store import open_store
    from scoring.features.builder import FeatureBuilder
    from scoring.features.industry import load_industries

    sample = ROOT / "data" / "sample"
    truth = pd.read_parquet(sample / "truth" / "organisations.parquet").set_index("subject_id")
    out = {}
    with tempfile.TemporaryDirectory() as d, open_store(Path(d) / "s.duckdb") as st:
        ingest([sample], st)
        table, models = ece_table(st, truth)
        pd.set_option("display.width", 200)
        print("== 1. grade models on the synthetic archive (hold-out cut-off 2025-06-30) ==")
        print(table.round(4).to_string(index=False))
        pooled = table.groupby("model")[
            ["qwk_true_grade", "qwk_expert_grade", "auc_p_bad", "ece_before", "ece_after", "fit_seconds"]
        ].mean()
        print("\nmean over industries:\n" + pooled.round(4).to_string())
        out["models"] = table.to_dict(orient="records")
        model, hold = models["construction"]
        ind = load_industries()["construction"]
        X = hold.set_index("subject_id")[model.features_]
        labels = FeatureBuilder(st, subjects="organisations", industry="construction").meta.set_index("feature")[
            "label_zh"
        ]
    print(f"\n== 2. grading {a.rows:,} organisations (construction model, resampled rows) ==")
    out["grading"] = grading_time(model, ind, X, a.rows)
    print(json.dumps(out["grading"], ensure_ascii=False))
    print("\n== 3. SHAP per 100k rows: LightGBM pred_contrib vs shap TreeExplainer ==")
    out["shap"] = shap_time(model, X)
    print(json.dumps(out["shap"]))
    print(f"\n== 4. grade and explain {a.city:,} organisations ==")
    out["city"] = city_time(model, ind, X, labels, a.city)
    print(json.dumps(out["city"], ensure_ascii=False))
    (ROOT / "bench" / "out").mkdir(exist_ok=True)
    (ROOT / "bench" / "out" / "grades_bench.json").write_text(
        json.dumps(out, ensure_ascii=False, indent=1, default=str)
    )


if __name__ == "__main__":
    main()
