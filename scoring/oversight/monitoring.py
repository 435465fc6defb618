"""Monitoring between two snapshots (模型监测): stability, migration, calibration drift, champion/challenger.

Stability is computed the way optbinning's ``ScorecardMonitoring`` does, so the figures can be
cross-checked there: the score's bins come from a CART tree (``max_leaf_nodes = n_bins``,
``min_samples_leaf = min_bin_size``) fitted on the expected (reference) population's scores and
outcomes — or quantiles when there is no outcome — a value goes to bin i when
``splits[i-1] < value <= splits[i]``, and each bin contributes ``(A - E) * ln(A / E)`` (shares of
the actual and expected populations). CSI is the same sum over each feature's own bins: the card's
bins for 信义金, quantile bins of the reference population for grade models.

Alert thresholds live in ``configs/monitoring.yaml``.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict
from scipy.special import xlogy

from scoring.core.config import config_dir, load_model
from scoring.core.errors import ConfigError
from scoring.features.industry import GRADE_INDEX, GRADES


class Thresholds(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    psi_warn: float = 0.1
    psi_alert: float = 0.25
    csi_warn: float = 0.1
    csi_alert: float = 0.25
    migration_two_plus_alert: float = 0.05  # share of subjects moving two grades or more
    calibration_abs_alert: float = 0.05  # |observed - predicted| outcome rate of a grade or decile
    min_rows_for_calibration: int = 30


class MonitoringConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    psi_method: str = "cart"
    psi_n_bins: int = 20
    psi_min_bin_size: float = 0.05
    csi_n_bins: int = 10
    thresholds: Thresholds = Thresholds()


def load_monitoring_config(path: str | Path | None = None) -> MonitoringConfig:
    return load_model(MonitoringConfig, Path(path) if path else config_dir() / "monitoring.yaml")


# -- stability ----------------------------------------------------------------------------------
def score_splits(
    score_expected, y_expected=None, method: str = "cart", n_bins: int = 20, min_bin_size: float = 0.05
) -> np.ndarray:
    """Bin edges of the reference population's score (CART on the outcome, or quantiles)."""
    s = np.asarray(score_expected, float)
    if method == "cart" and y_expected is not None and len(np.unique(y_expected)) > 1:
        from sklearn.tree import DecisionTreeClassifier

        tree = DecisionTreeClassifier(max_leaf_nodes=n_bins, min_samples_leaf=min_bin_size, random_state=0)
        tree.fit(s.reshape(-1, 1), np.asarray(y_expected))
        t = tree.tree_
        return np.sort(t.threshold[t.children_left != t.children_right])
    if method not in ("cart", "quantile"):
        raise ConfigError(f"psi_method must be cart or quantile, got {method!r}")
    qs = np.quantile(s[~np.isnan(s)], np.linspace(0, 1, n_bins + 1)[1:-1])
    return np.unique(qs)


def psi_table(expected, actual, splits) -> pd.DataFrame:
    """Counts, shares and PSI per bin (optbinning's layout: Bin, Count A, Count E, Count A (%),
    Count E (%), PSI) with a Totals row."""
    splits = np.asarray(splits, float)
    ia = np.digitize(np.asarray(actual, float), splits, right=True)
    ie = np.digitize(np.asarray(expected, float), splits, right=True)
    n = len(splits) + 1
    ca, ce = np.bincount(ia, minlength=n)[:n], np.bincount(ie, minlength=n)[:n]
    edges = np.concatenate([[-np.inf], splits, [np.inf]])
    return _psi_frame([f"({edges[i]:.6g}, {edges[i + 1]:.6g}]" for i in range(n)], ca, ce)


def _psi_frame(labels, ca, ce) -> pd.DataFrame:
    pa, pe = ca / max(ca.sum(), 1), ce / max(ce.sum(), 1)
    with np.errstate(divide="ignore", invalid="ignore"):  # a bin empty on one side only: infinite, as in optbinning
        psi = np.where(pa == pe, 0.0, xlogy(pa - pe, pa / pe))
    df = pd.DataFrame({"Bin": labels, "Count A": ca, "Count E": ce, "Count A (%)": pa, "Count E (%)": pe, "PSI": psi})
    df.loc["Totals"] = ["", ca.sum(), ce.sum(), 1.0, 1.0, float(psi.sum())]
    return df


def binned_csi(expected_idx, actual_idx, labels: dict[int, str]) -> pd.DataFrame:
    """PSI over given bin indices (e.g. a card's bins of one feature, missing and specials included)."""
    keys = sorted(set(np.unique(expected_idx)) | set(np.unique(actual_idx)))
    ca = np.array([(np.asarray(actual_idx) == k).sum() for k in keys])
    ce = np.array([(np.asarray(expected_idx) == k).sum() for k in keys])
    return _psi_frame([labels.get(k, str(k)) for k in keys], ca, ce)


def csi_card(card, X_expected: pd.DataFrame, X_actual: pd.DataFrame) -> pd.DataFrame:
    """CSI of every card feature over the card's own bins (as optbinning's psi_variable_table)."""
    rows = []
    for f in card.features_:
        b = card.binnings_[f]
        labels = dict(enumerate(b.bin_labels())) | {-1: "Missing"}
        t = binned_csi(b.bin_index(X_expected[f]), b.bin_index(X_actual[f]), labels)
        rows.append({"feature": f, "csi": float(t.loc["Totals", "PSI"])})
    return pd.DataFrame(rows)


def csi_features(X_expected: pd.DataFrame, X_actual: pd.DataFrame, n_bins: int = 10) -> pd.DataFrame:
    """CSI of every feature over quantile bins of the reference population (missing its own bin)."""
    rows = []
    for f in X_expected.columns:
        e, a = X_expected[f].to_numpy(float), X_actual[f].to_numpy(float)
        splits = (
            np.unique(np.quantile(e[~np.isnan(e)], np.linspace(0, 1, n_bins + 1)[1:-1]))
            if (~np.isnan(e)).any()
            else np.array([])
        )
        ie = np.where(np.isnan(e), -1, np.digitize(e, splits, right=True))
        ia = np.where(np.isnan(a), -1, np.digitize(a, splits, right=True))
        t = binned_csi(ie, ia, {-1: "Missing"})
        rows.append({"feature": f, "csi": float(t.loc["Totals", "PSI"])})
    return pd.DataFrame(rows)


def verdict(value: float, warn: float, alert: float) -> str:
    return "alert" if value >= alert else "warn" if value >= warn else "ok"


# -- migration and calibration -------------------------------------------------------------------
def migration(previous: pd.Series, current: pd.Series) -> tuple[pd.DataFrame, dict]:
    """Grade migration matrix (previous in rows) over subjects graded in both, and its summary."""
    both = previous.dropna().index.intersection(current.dropna().index)
    p, c = previous[both], current[both]
    m = pd.crosstab(pd.Categorical(p, categories=GRADES), pd.Categorical(c, categories=GRADES), dropna=False)
    m.index.name, m.columns.name = "previous", "current"
    step = c.map(GRADE_INDEX) - p.map(GRADE_INDEX)
    n = max(len(both), 1)
    return m, {
        "subjects": int(len(both)),
        "stayed": float((step == 0).sum() / n),
        "worse": float((step > 0).sum() / n),
        "better": float((step < 0).sum() / n),
        "moved_two_plus": float((step.abs() >= 2).sum() / n),
    }


def calibration_drift(groups: pd.Series, predicted, observed, min_rows: int = 30) -> pd.DataFrame:
    """Per group (grade or score decile): rows, mean predicted probability, observed rate with its
    95% Wilson interval, and whether the prediction lies inside the interval."""
    from scoring.evaluation.metrics import wilson

    df = pd.DataFrame({"group": np.asarray(groups), "p": np.asarray(predicted, float), "y": np.asarray(observed, int)})
    rows = []
    for g, d in df.groupby("group", sort=True):
        n, k = len(d), int(d["y"].sum())
        lo, hi = wilson(k, n)
        rows.append(
            {
                "group": g,
                "rows": n,
                "predicted": float(d["p"].mean()),
                "observed": k / n if n else float("nan"),
                "ci_low": lo,
                "ci_high": hi,
                "inside_ci": bool(lo <= d["p"].mean() <= hi),
                "enough_rows": n >= min_rows,
            }
        )
    return pd.DataFrame(rows)


def _stability(score_e, score_a, y_e, cfg: MonitoringConfig) -> tuple[pd.DataFrame, float]:
    splits = score_splits(score_e, y_e, cfg.psi_method, cfg.psi_n_bins, cfg.psi_min_bin_size)
    t = psi_table(score_e, score_a, splits)
    return t, float(t.loc["Totals", "PSI"])


def _alerts(psi: float, csi: pd.DataFrame, cal: pd.DataFrame | None, moved: float | None, th: Thresholds) -> list[dict]:
    out = []
    v = verdict(psi, th.psi_warn, th.psi_alert)
    if v != "ok":
        out.append({"level": v, "what": "score PSI", "value": psi})
    for _, r in csi.iterrows():
        v = verdict(r["csi"], th.csi_warn, th.csi_alert)
        if v != "ok":
            out.append({"level": v, "what": f"CSI {r['feature']}", "value": float(r["csi"])})
    if cal is not None:
        for _, r in cal[cal["enough_rows"]].iterrows():
            gap = abs(r["observed"] - r["predicted"])
            if gap > th.calibration_abs_alert and not r["inside_ci"]:
                out.append({"level": "alert", "what": f"calibration {r['group']}", "value": float(gap)})
    if moved is not None and moved > th.migration_two_plus_alert:
        out.append({"level": "alert", "what": "share moving two grades or more", "value": moved})
    return out


def outcomes_after(store, index: pd.Index, as_of: dt.date) -> np.ndarray | None:
    """The outcome (0/1) of every subject in ``index`` after ``as_of``, once the whole horizon is in
    the archive (the latest export date); None before that."""
    from scoring.core.dates import add_months
    from scoring.features.training import load_outcome, outcome_sql

    outcome = load_outcome()
    latest = store.con.execute("SELECT max(export_date) FROM ingest_batches").fetchall()[0][0]
    if latest is None or add_months(as_of, outcome.horizon_months) > latest:
        return None
    pos = set(store.sql(outcome_sql(outcome, as_of))["subject_id"])
    return index.isin(pos).astype(int)


def _observed(store, model, index: pd.Index, as_of: dt.date) -> tuple[np.ndarray | None, pd.Series | None]:
    """Once the horizon after ``as_of`` is in the archive: the outcome (0/1) of every subject, and the
    model's own bad end (the outcome, or a next expert grade of 较差/差; missing if none was issued)."""
    from scoring.features.training import expert_grade_sql, load_expert_grade

    y = outcomes_after(store, index, as_of)
    if y is None:
        return None, None
    if model.info_.get("label") != "expert_grade":
        return y, pd.Series(y, index=index)
    g = store.sql(expert_grade_sql(load_expert_grade(), as_of)).set_index("subject_id")["grade_index"]
    return y, (g.reindex(index) >= GRADE_INDEX["较差"]).where(g.reindex(index).notna())


def monitor_grades(
    store, model, *, industry: str | None, reference: dt.date, current: dt.date, config: MonitoringConfig | None = None
) -> dict:
    """Stability of the risk score and features, grade migration and calibration drift of an industry
    grade model between the reference date and the current date."""
    from scoring.grades.lists import grade_population

    cfg = config or load_monitoring_config()
    ref = grade_population(store, model, reference, industry=industry)
    cur = grade_population(store, model, current, industry=industry)
    feats = model.features_
    eta_e, eta_a = model.margin(ref.X[feats]), model.margin(cur.X[feats])
    y_e, y_label = _observed(store, model, ref.X.index, reference)
    table, psi = _stability(eta_e, eta_a, y_e, cfg)
    csi = csi_features(ref.X[feats], cur.X[feats], cfg.csi_n_bins)
    mig, mig_summary = migration(ref.graded["grade"], cur.graded["grade"])
    cal = None
    if y_label is not None:  # predicted P(bad end) against what the model was trained to predict
        seen = y_label.notna().to_numpy()
        cal = calibration_drift(
            ref.graded["grade"].map(GRADE_INDEX)[seen],
            ref.graded["risk"][seen],
            y_label[seen].astype(int),
            cfg.thresholds.min_rows_for_calibration,
        )
    if cal is not None:
        cal["group"] = cal["group"].map(dict(enumerate(GRADES)))
    return {
        "kind": "grades",
        "industry": ref.industry.code,
        "reference": reference.isoformat(),
        "current": current.isoformat(),
        "rows": {"reference": int(len(ref.X)), "current": int(len(cur.X))},
        "psi": psi,
        "psi_table": table,
        "csi": csi.sort_values("csi", ascending=False, ignore_index=True),
        "migration": mig,
        "migration_summary": mig_summary,
        "calibration": cal,
        "calibration_note": None if cal is not None else "outcomes of the reference date are not complete yet",
        "alerts": _alerts(psi, csi, cal, mig_summary["moved_two_plus"], cfg.thresholds),
    }


def monitor_points(
    store, card, *, reference: dt.date, current: dt.date, config: MonitoringConfig | None = None
) -> dict:
    """Stability of 信义金 points and the card's features, and calibration drift by points decile."""
    from scoring.features.builder import FeatureBuilder

    cfg = config or load_monitoring_config()
    b = FeatureBuilder(store, subjects="persons")
    Xe, Xa = b.at(reference).values[card.features_], b.at(current).values[card.features_]
    se, sa = card.score(Xe).to_numpy(float), card.score(Xa).to_numpy(float)
    y_e = outcomes_after(store, Xe.index, reference)
    table, psi = _stability(se, sa, y_e, cfg)
    csi = csi_card(card, Xe, Xa)
    cal = None
    if y_e is not None:
        dec = pd.qcut(pd.Series(se).rank(method="first"), 10, labels=False)
        cal = calibration_drift(
            dec,
            card.predict_risk(Xe) if not getattr(card, "expert_", None) else np.full(len(se), y_e.mean()),
            y_e,
            cfg.thresholds.min_rows_for_calibration,
        )
        cal["group"] = [f"decile {int(g) + 1}" for g in cal["group"]]
    return {
        "kind": "points",
        "reference": reference.isoformat(),
        "current": current.isoformat(),
        "rows": {"reference": int(len(Xe)), "current": int(len(Xa))},
        "psi": psi,
        "psi_table": table,
        "csi": csi.sort_values("csi", ascending=False, ignore_index=True),
        "calibration": cal,
        "calibration_note": None if cal is not None else "outcomes of the reference date are not complete yet",
        "alerts": _alerts(psi, csi, cal, None, cfg.thresholds),
    }


def champion_challenger(store, champion, challenger, *, industry: str, as_of: dt.date) -> dict:
    """Both registered versions on the same organisations and date: grade distributions, agreement,
    and — when the outcomes after ``as_of`` are complete — AUC of P(较差 or 差) and calibration."""
    from sklearn.metrics import roc_auc_score

    from scoring.grades.lists import grade_population

    a = grade_population(store, champion, as_of, industry=industry).graded
    b = grade_population(store, challenger, as_of, industry=industry).graded
    agree, _ = migration(a["grade"], b["grade"])
    agree.index.name, agree.columns.name = "champion", "challenger"
    dist = (
        pd.DataFrame({"champion": a["grade"].value_counts(), "challenger": b["grade"].value_counts()})
        .reindex(GRADES)
        .fillna(0)
    )
    out = {
        "industry": industry,
        "as_of": as_of.isoformat(),
        "organisations": int(len(a)),
        "same_grade": float((a["grade"] == b["grade"].reindex(a.index)).mean()),
        "distribution": dist,
        "agreement": agree,
        "metrics": None,
    }
    y = outcomes_after(store, a.index, as_of)
    if y is not None:
        rows = []
        for name, g in (("champion", a), ("challenger", b.reindex(a.index))):
            bad = g["grade"].isin(GRADES[-2:]).astype(int)
            rows.append(
                {
                    "model": name,
                    "auc_risk": float(roc_auc_score(y, g["risk"])),
                    "auc_bad_grades": float(roc_auc_score(y, bad)) if 0 < bad.mean() < 1 else float("nan"),
                    "mean_risk": float(g["risk"].mean()),
                    "observed_rate": float(y.mean()),
                }
            )
        out["metrics"] = pd.DataFrame(rows)
    return out
