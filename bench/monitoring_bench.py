"""Benchmark and cross-check: xinyi's stability figures against optbinning's ScorecardMonitoring.

1. On the synthetic archive's persons, an optbinning Scorecard (BinningProcess + LogisticRegression)
   is monitored between the 2024-06-30 (expected) and 2025-06-30 (actual) cut-offs by optbinning's
   ScorecardMonitoring (psi_method="cart", 20 bins, min bin size 0.05) and by
   ``scoring.oversight.monitoring`` on the same scores and bins: system PSI per bin and in total, and CSI per
   variable, must agree.
2. Time for 1M expected + 1M actual rows x 20 variables: xinyi (splits + PSI + CSI) against
   ScorecardMonitoring.fit on the same data.

    python bench/monitoring_bench.py          # needs pip install -e .[bench]
"""

from __future__ import annotations

import json
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

warnings.filterwarnings("ignore")
ROOT = Path(__file__).resolve().parent.parent


def scorecard(X, y):
    from optbinning import BinningProcess, Scorecard
    from sklearn.linear_model import LogisticRegression

    bp = BinningProcess(list(X.columns))
    return Scorecard(binning_process=bp, estimator=LogisticRegression(max_iter=1000)).fit(X, y)


def xinyi_side(sc, Xe, ye, Xa):
    from scoring.oversight.monitoring import binned_csi, psi_table, score_splits

    se, sa = sc.score(Xe), sc.score(Xa)
    splits = score_splits(se, ye, "cart", 20, 0.05)
    system = psi_table(se, sa, splits)
    csi = {}
    for name in sc.binning_process_.get_support(names=True):
        optb = sc.binning_process_.get_binned_variable(name)
        ie = optb.transform(Xe[name], metric="indices")
        ia = optb.transform(Xa[name], metric="indices")
        csi[name] = float(binned_csi(ie, ia, {}).loc["Totals", "PSI"])
    return splits, system, csi


def optbinning_side(sc, Xe, ye, Xa, ya):
    from optbinning.scorecard import ScorecardMonitoring

    mon = ScorecardMonitoring(scorecard=sc, psi_method="cart", psi_n_bins=20, psi_min_bin_size=0.05)
    mon.fit(Xa, ya, Xe, ye)
    var = mon.psi_variable_table(style="summary")
    return mon, mon.psi_table(), dict(zip(var["Variable"], var["PSI"]))


def main() -> None:
    from scoring.archive.ingest import ingest
    from scoring.archive.store import open_store
    from scoring.features.training import training_set

    out = {}
    with tempfile.TemporaryDirectory() as d, open_store(Path(d) / "s.duckdb") as st:
        ingest([ROOT / "data" / "sample"], st)
        e = training_set(st, ["2024-06-30"], subjects="persons")
        a = training_set(st, ["2025-06-30"], subjects="persons")
    feats = [c for c in e.columns if c not in ("cutoff", "subject_id", "label", "outcome")]
    Xe, ye, Xa, ya = e[feats], e["label"].to_numpy(), a[feats], a["label"].to_numpy()
    sc = scorecard(Xe, ye)
    splits, ours, csi_ours = xinyi_side(sc, Xe, ye, Xa)
    mon, theirs, csi_theirs = optbinning_side(sc, Xe, ye, Xa, ya)
    same_splits = np.allclose(splits, mon._splits)
    psi_diff = float(np.nanmax(np.abs(ours["PSI"].iloc[:-1].to_numpy(float) - theirs["PSI"].iloc[:-1].to_numpy(float))))
    csi_diff = max(abs(csi_ours[k] - csi_theirs[k]) for k in csi_theirs)
    print("== 1. cross-check on the sample's persons (2024-06-30 -> 2025-06-30) ==")
    print(
        f"splits identical: {same_splits} ({len(splits)} splits); total PSI xinyi {ours.loc['Totals', 'PSI']:.10f} "
        f"optbinning {theirs['PSI'].iloc[-1]:.10f}; max per-bin difference {psi_diff:.2e}"
    )
    print(f"CSI of {len(csi_theirs)} variables: max difference {csi_diff:.2e}")
    out["cross_check"] = {
        "splits_identical": bool(same_splits),
        "n_splits": int(len(splits)),
        "psi_xinyi": float(ours.loc["Totals", "PSI"]),
        "psi_optbinning": float(theirs["PSI"].iloc[-1]),
        "max_bin_psi_diff": psi_diff,
        "max_csi_diff": csi_diff,
        "variables": len(csi_theirs),
    }
    # 2. timing at 1M rows
    rng = np.random.default_rng(0)
    n, k = 1_000_000, 20
    Z = rng.normal(size=(20_000, k))
    yz = (rng.random(20_000) < 1 / (1 + np.exp(-(Z[:, :5].sum(axis=1)) / 2 + 2))).astype(int)
    cols = [f"x{i}" for i in range(k)]
    sc2 = scorecard(pd.DataFrame(Z, columns=cols), yz)
    big_e = pd.DataFrame(rng.normal(size=(n, k)), columns=cols)
    big_a = pd.DataFrame(rng.normal(0.05, 1.0, size=(n, k)), columns=cols)
    y_e = (rng.random(n) < 0.1).astype(int)
    y_a = (rng.random(n) < 0.1).astype(int)
    t0 = time.perf_counter()
    xinyi_side(sc2, big_e, y_e, big_a)
    t_x = time.perf_counter() - t0
    t0 = time.perf_counter()
    optbinning_side(sc2, big_e, y_e, big_a, y_a)
    t_o = time.perf_counter() - t0
    print(f"\n== 2. 1M expected + 1M actual rows x {k} variables ==")
    print(
        f"xinyi {t_x:.1f} s, optbinning ScorecardMonitoring {t_o:.1f} s (ratio xinyi/optbinning {t_x / t_o:.2f}); "
        "both include scoring the two populations"
    )
    out["timing_1m"] = {"xinyi_s": t_x, "optbinning_s": t_o, "ratio": t_x / t_o}
    (ROOT / "bench" / "out").mkdir(exist_ok=True)
    (ROOT / "bench" / "out" / "monitoring_bench.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
