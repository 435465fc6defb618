"""Fitting an industry's grade model (行业信用评价) from the store, with the evidence behind every band.

``fit_industry`` trains :class:`~scoring.grades.model.GradeModel` on the industry's organisations at
rolling cut-offs (configs/grading.yaml) with the industry's label (the outcome, or the next expert
grade), calibrates it on a later cut-off and checks it on a hold-out cut-off:

* AUC of the risk (P(outcome), or P(较差 or 差)) and of the final grade 较差/差 on the outcome;
* per class: Brier and ECE before and after calibration, with reliability tables;
* quadratic weighted kappa against the expert grade (expert-grade label);
* per final grade: organisations, observed outcome rate and its 95% Wilson interval;
* the same figures for the baselines (expert sheet, ordinal logistic regression) on the same rows.

``grade_organisations`` is the one path from features to grades used by lists, explanations and
evidence: calibrated probabilities -> band table -> new entrant -> upgrade limit -> vetoes.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from scoring.archive.store import Store
from scoring.core.config import config_dir, load_model
from scoring.core.errors import ConfigError, DataError
from scoring.evaluation.metrics import reliability, wilson
from scoring.features.builder import FeatureBuilder
from scoring.features.industry import GRADES, Bands, Industry, load_industries
from scoring.features.training import training_set
from scoring.grades.bands import band_graded, fit_bands, resolve_bands, share_table
from scoring.grades.model import GradeModel
from scoring.grades.ordinal import OrdinalCalibrator, bad_end, rank_score
from scoring.grades.supervision import assign_grades, graded_by_bands

log = logging.getLogger(__name__)


class ExpertSheetConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    card: str  # path under configs/
    bands: Bands


class GradingConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cutoffs: list[dt.date]
    calibration_cutoff: dt.date
    holdout_cutoff: dt.date
    n_estimators: int = 150
    learning_rate: float = 0.05
    num_leaves: int = 15
    min_child_samples: int = 20
    seed: int = 0
    expert_sheet: ExpertSheetConfig | None = None


def load_grading_config(path: str | Path | None = None) -> GradingConfig:
    return load_model(GradingConfig, Path(path) if path else config_dir() / "grading.yaml")


SEARCH_SPACE: dict[str, tuple[Any, Any]] = {  # (low, high): floats for the rate, whole numbers otherwise
    "learning_rate": (0.02, 0.2),
    "num_leaves": (4, 31),
    "min_child_samples": (10, 80),
    "n_estimators": (50, 300),
}


def _datasets(store: Store, code: str, cfg: GradingConfig):
    inds = load_industries()
    if code not in inds:
        raise ConfigError(f"unknown industry {code!r}; known: {', '.join(sorted(inds))}")
    ind: Industry = inds[code]
    meta = FeatureBuilder(store, subjects="organisations", industry=code).meta.set_index("feature")
    feats = list(meta.index) if ind.features == "all" else list(ind.features)
    directions = {**meta["direction"].to_dict(), **ind.monotone}
    sets = {}
    for name, cuts in (
        ("train", cfg.cutoffs),
        ("calibration", [cfg.calibration_cutoff]),
        ("holdout", [cfg.holdout_cutoff]),
    ):
        sets[name] = training_set(store, cuts, subjects="organisations", industry=code, label=ind.label)
        if sets[name]["label"].nunique() < 2:
            raise ValueError(f"industry {code}: the {name} set has a single {ind.label} class; more data is needed")
    return ind, feats, {f: directions[f] for f in feats}, sets


def n_classes(ind: Industry) -> int:
    """5 grades for an expert-grade label, 2 (no outcome / outcome) for the outcome label."""
    return len(GRADES) if ind.label == "expert_grade" else 2


def model_output(model, ind: Industry, X: pd.DataFrame, bands: Bands | None = None) -> np.ndarray:
    """What the band table reads: risk, the 0-100 score, or the median grade index. ``bands``: the
    bands applied (default :func:`scoring.grades.bands.resolve_bands`: for target shares, the
    model's fitted risk bands)."""
    kind = (bands if bands is not None else resolve_bands(model, ind)).kind
    if kind == "ordinal":
        return model.predict_class(X)
    risk = model.predict_risk(X)
    return 100.0 * (1.0 - risk) if kind == "score" else risk


def grade_organisations(
    model,
    ind: Industry,
    X: pd.DataFrame,
    *,
    previous: pd.Series | None = None,
    registered_on: pd.Series | None = None,
    as_of: dt.date | None = None,
) -> pd.DataFrame:
    """Calibrated probabilities (``p_<class>``), ``risk`` and the rules' grade per organisation
    (``X`` indexed by subject_id), in the columns of :func:`scoring.grades.supervision.assign_grades`.
    The band table is :func:`scoring.grades.bands.resolve_bands`'s (an industry with target shares
    is graded with the bounds fitted with the model; a model without them is a ConfigError: refit)."""
    bands = resolve_bands(model, ind)
    feats = model.features_
    proba = model.predict_proba(X[feats])
    probs = pd.DataFrame(proba, index=X.index, columns=[f"p_{c}" for c in model.class_names_])
    probs["risk"] = bad_end(proba)
    out = pd.Series(model_output(model, ind, X[feats], bands), index=X.index)
    graded = assign_grades(ind, out, X, previous=previous, registered_on=registered_on, as_of=as_of, bands=bands)
    return pd.concat([probs, graded], axis=1)


def class_calibration(y, proba: np.ndarray, classes: list) -> tuple[pd.DataFrame, list[dict]]:
    """Per class (one against the rest): Brier, ECE and a reliability table by predicted deciles."""
    y = np.asarray(y, int)
    rows, tables = [], []
    for k, c in enumerate(classes):
        yk, pk = (y == k).astype(float), proba[:, k]
        table, brier, ece = reliability(yk, pk)
        rows.append(
            {
                "class": c,
                "observed_share": float(yk.mean()),
                "mean_predicted": float(pk.mean()),
                "brier": brier,
                "ece": ece,
            }
        )
        tables += [{"class": c, **r} for r in table.to_dict(orient="records")]
    return pd.DataFrame(rows), tables


def _quality(y, outcome, proba_raw: np.ndarray | None, proba: np.ndarray, classes: list, grade_index=None) -> dict:
    """Discrimination and calibration figures of one model on one labelled set."""
    from sklearn.metrics import cohen_kappa_score, roc_auc_score

    outcome = np.asarray(outcome, int)
    risk = bad_end(proba)
    per_class, _ = class_calibration(y, proba, classes)
    q = {
        "auc": float(roc_auc_score(outcome, risk)) if 0 < outcome.mean() < 1 else float("nan"),
        "brier": float(per_class["brier"].mean()),
        "ece": float(per_class["ece"].mean()),
    }
    if proba_raw is not None:
        before, _ = class_calibration(y, proba_raw, classes)
        q |= {"brier_before": float(before["brier"].mean()), "ece_before": float(before["ece"].mean())}
    else:
        q |= {"brier_before": float("nan"), "ece_before": float("nan")}
    if proba.shape[1] > 2:
        g = np.asarray(grade_index if grade_index is not None else proba.argmax(axis=1))
        q["qwk"] = float(cohen_kappa_score(np.asarray(y, int), g, weights="quadratic"))
    return q


def compare_baselines(
    model,
    cfg: GradingConfig,
    feats: list[str],
    sets: dict,
    k: int,
    predictions: dict | None = None,
    model_fit_seconds: float = float("nan"),
) -> list[dict]:
    """LightGBM (``model``, already fitted in ``model_fit_seconds``), the expert sheet and ordinal
    logistic regression on the same folds: each is calibrated with the same ordinal link on the
    calibration fold and checked on the hold-out. When a dict is passed as ``predictions`` it
    receives each model's hold-out probabilities and grade index."""
    import time

    from scoring.grades.baselines import ExpertSheet, OrdinalLogit
    from scoring.grades.ordinal import median_class

    tr, cal, hold = sets["train"], sets["calibration"], sets["holdout"]
    contenders = {"lightgbm": model}
    if cfg.expert_sheet is not None:
        contenders["expert_sheet"] = ExpertSheet(config_dir() / cfg.expert_sheet.card, cfg.expert_sheet.bands, k)
    contenders["ordinal_logistic"] = OrdinalLogit(k)
    rows = []
    for name, m in contenders.items():
        t0 = time.perf_counter()
        if name == "lightgbm":
            calib, raw = m.calibrator_, m.predict_proba(hold[feats], calibrated=False)
        else:
            m.fit(tr[feats], tr["label"])
            try:
                calib = OrdinalCalibrator(k).fit(m.margin(cal[feats]), cal["label"])
            except DataError as exc:
                # a baseline that does not rank the calibration fold (e.g. the unpenalised ordinal
                # logistic regression on a few dozen outcomes) has no figures; it does not fail the
                # fit of the industry's model, which has its own calibration check
                log.warning("%s baseline of the grade model: %s; its figures are left empty", name, exc)
                empty = {q: float("nan") for q in ("auc", "brier", "ece", "brier_before", "ece_before")}
                rows.append(
                    {
                        "model": name,
                        **empty,
                        **({"qwk": float("nan")} if k > 2 else {}),
                        "fit_seconds": time.perf_counter() - t0,
                    }
                )
                continue
            raw = m.predict_proba_raw(hold[feats])
        seconds = model_fit_seconds if name == "lightgbm" else time.perf_counter() - t0
        eta = m.margin(hold[feats])
        proba = calib.predict_proba(eta)
        gi = median_class(eta, calib.thresholds_, calib.scale_)
        if predictions is not None:
            predictions[name] = {"proba": proba, "proba_raw": raw, "grade_index": gi}
        rows.append(
            {
                "model": name,
                **_quality(hold["label"], hold["outcome"], raw, proba, model.class_names_, gi),
                "fit_seconds": seconds,
            }
        )
    return rows


def tune_industry(
    store: Store,
    code: str,
    *,
    n_trials: int = 20,
    timeout: float = 120.0,
    config: GradingConfig | None = None,
    on_trial: Callable[[int, str, dict, float | None], None] | None = None,
) -> dict:
    """Optuna search (TPE, seeded; median pruning every 25 rounds on the calibration fold's rank score:
    AUC for the outcome label, Kendall's tau for expert grades)
    within a trial and time budget. Every trial is passed to ``on_trial(number, state, params, value)`` (e.g. :func:`scoring.lineage.tracking.trial_logger`).
    The hold-out cut-off is never seen while tuning."""
    import optuna

    cfg = config or load_grading_config()
    ind, feats, dirs, sets = _datasets(store, code, cfg)
    tr, cal = sets["train"], sets["calibration"]
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial: "optuna.Trial") -> float:
        p: dict[str, Any] = {
            "learning_rate": trial.suggest_float("learning_rate", *SEARCH_SPACE["learning_rate"], log=True),
            "num_leaves": trial.suggest_int("num_leaves", *SEARCH_SPACE["num_leaves"]),
            "min_child_samples": trial.suggest_int("min_child_samples", *SEARCH_SPACE["min_child_samples"]),
            "n_estimators": trial.suggest_int("n_estimators", *SEARCH_SPACE["n_estimators"], step=25),
        }

        def prune(env) -> None:
            if (env.iteration + 1) % 25 == 0 and env.evaluation_result_list:
                trial.report(env.evaluation_result_list[0][2], env.iteration + 1)
                if trial.should_prune():
                    raise optuna.TrialPruned()

        state, value = "COMPLETE", float("nan")
        try:
            m = GradeModel(directions=dirs, n_classes=n_classes(ind), seed=cfg.seed, **p).fit(
                tr[feats], tr["label"], X_cal=cal[feats], y_cal=cal["label"], callbacks=[prune]
            )
            value = rank_score(cal["label"], m.margin(cal[feats]))
            return value
        except optuna.TrialPruned:
            state = "PRUNED"
            raise
        finally:
            if on_trial is not None:
                on_trial(trial.number, state, p, None if value != value else value)

    study = optuna.create_study(
        direction="maximize",
        sampler=optuna.samplers.TPESampler(seed=cfg.seed),
        pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=25),
    )
    study.optimize(objective, n_trials=n_trials, timeout=timeout)
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    return {
        "best_params": study.best_params if done else {},
        "best_calibration_rank_score": study.best_value if done else None,
        "trials": len(study.trials),
        "completed": len(done),
        "pruned": sum(t.state.name == "PRUNED" for t in study.trials),
    }


def fit_industry(
    store: Store,
    code: str,
    config: GradingConfig | None = None,
    params: dict | None = None,
    predictions: dict | None = None,
) -> tuple[GradeModel, dict]:
    """Fit with the config's hyper-parameters, or ``params`` (e.g. :func:`tune_industry`'s best);
    returns the model and its hold-out evidence (with the baselines). ``predictions``, if given,
    receives the hold-out rows (``holdout``) and every model's predictions (see :func:`compare_baselines`)."""
    import time

    cfg = config or load_grading_config()
    ind, feats, dirs, sets = _datasets(store, code, cfg)
    hp: dict[str, Any] = {
        "n_estimators": cfg.n_estimators,
        "learning_rate": cfg.learning_rate,
        "num_leaves": cfg.num_leaves,
        "min_child_samples": cfg.min_child_samples,
    } | dict(params or {})
    model = GradeModel(directions=dirs, n_classes=n_classes(ind), seed=cfg.seed, **hp)
    t0 = time.perf_counter()
    model.fit(
        sets["train"][feats],
        sets["train"]["label"],
        X_cal=sets["calibration"][feats],
        y_cal=sets["calibration"]["label"],
    )
    seconds = time.perf_counter() - t0
    # h/bands: target shares -> risk bounds fitted on the calibration fold's band-graded organisations
    reg = store.sql("SELECT subject_id, registered_on FROM subjects WHERE subject_type <> 'person'")
    reg = reg.set_index("subject_id")["registered_on"]
    cal = sets["calibration"].set_index("subject_id")
    model.bands_ = (
        fit_bands(
            ind.bands,
            model.predict_risk(cal[feats]),
            graded_by_bands(ind, cal, reg, cfg.calibration_cutoff).to_numpy(),
            reference=f"calibration {cfg.calibration_cutoff.isoformat()}",
        )
        if ind.bands.kind == "shares"
        else None
    )
    model.info_ = {
        "industry": code,
        "label": ind.label,
        "train_cutoffs": [c.isoformat() for c in cfg.cutoffs],
        "calibration_cutoff": cfg.calibration_cutoff.isoformat(),
        "holdout_cutoff": cfg.holdout_cutoff.isoformat(),
        "store_fingerprint": store.fingerprint(),
    }
    baselines = compare_baselines(model, cfg, feats, sets, n_classes(ind), predictions, seconds)
    ev = evidence(model, ind, sets["holdout"], feats, cfg, sets, baselines[0], registered_on=reg)
    ev["fit_seconds"] = seconds
    ev["baselines"] = baselines
    if predictions is not None:
        predictions["holdout"] = sets["holdout"]
    return model, ev


def evidence(
    model: GradeModel,
    ind: Industry,
    hold: pd.DataFrame,
    feats: list[str],
    cfg: GradingConfig,
    sets: dict,
    quality: dict,
    *,
    registered_on: pd.Series | None = None,
) -> dict:
    """The model's hold-out evidence; ``quality`` is its row of :func:`compare_baselines`.

    Per grade: organisations, outcomes, the outcome rate with its 95% Wilson interval, and the
    share of the band table's grade among the organisations it grades (not vetoed, not new
    entrants: these are counted separately) next to the target share and whether it is within the
    tolerance (also as ``shares``; ``bands``: the bands applied, with fitted bounds and their
    reference). New entrants are known when ``registered_on`` (subject_id -> registration date) is
    given."""
    from sklearn.metrics import roc_auc_score

    y, outcome = hold["label"].to_numpy(), hold["outcome"].to_numpy()
    X = hold.set_index("subject_id")
    proba_raw, proba = model.predict_proba(X[feats], calibrated=False), model.predict_proba(X[feats])
    before, _ = class_calibration(y, proba_raw, model.class_names_)
    after, tables = class_calibration(y, proba, model.class_names_)
    bands = resolve_bands(model, ind)
    graded = grade_organisations(model, ind, X, registered_on=registered_on, as_of=cfg.holdout_cutoff)
    eligible = band_graded(graded).to_numpy()
    shares = share_table(graded["model_grade"], bands, eligible)
    bad = graded["grade"].isin(GRADES[-2:]).to_numpy()
    per_grade = []
    for g, sh in zip(GRADES, shares.to_dict(orient="records")):
        m = (graded["grade"] == g).to_numpy()
        n, k = int(m.sum()), int(outcome[m].sum())
        lo, hi = wilson(k, n)
        per_grade.append(
            {
                "grade": g,
                "organisations": n,
                "outcomes": k,
                "outcome_rate": k / n if n else float("nan"),
                "ci_low": lo,
                "ci_high": hi,
                "mean_risk": float(graded.loc[m, "risk"].mean()) if n else float("nan"),
                "sampling_ratio": ind.supervision[g].sampling_ratio,
                "vetoed": int((m & (graded["veto"] != "").to_numpy()).sum()),
                "new_entrants": int((m & graded["new_entrant"].to_numpy(bool)).sum()),
                "band_graded": sh["band_graded"],
                "share": sh["share"],
                "target": sh["target"],
                "within_tolerance": sh["within_tolerance"],
            }
        )
    checked = [r["within_tolerance"] for r in per_grade if r["within_tolerance"] is not None]
    out = {
        "industry": ind.code,
        "label": ind.label,
        "classes": list(model.class_names_),
        "model_version": model.version_,
        "train_cutoffs": [c.isoformat() for c in cfg.cutoffs],
        "calibration_cutoff": cfg.calibration_cutoff.isoformat(),
        "holdout_cutoff": cfg.holdout_cutoff.isoformat(),
        "rows": {k: int(len(v)) for k, v in sets.items()},
        "holdout_outcome_rate": float(outcome.mean()),
        "auc": quality["auc"],
        "auc_bad_grades": float(roc_auc_score(outcome, bad)) if 0 < bad.mean() < 1 else float("nan"),
        "brier_before": quality["brier_before"],
        "ece_before": quality["ece_before"],
        "brier": quality["brier"],
        "ece": quality["ece"],
        "calibration": {"scale": model.calibrator_.scale_, "thresholds": model.calibrator_.thresholds_},
        "per_class": before.add_suffix("_before")
        .rename(columns={"class_before": "class"})
        .merge(after, on="class")
        .to_dict(orient="records"),
        "reliability": tables,
        "per_grade": per_grade,
        "vetoed": int((graded["veto"] != "").sum()),
        "new_entrants": int(graded["new_entrant"].sum()),
        "band_graded": int(eligible.sum()),
        "bands": bands.model_dump(mode="json"),
        "shares": shares.to_dict(orient="records"),
        # None: the industry declares no target shares
        "shares_within_tolerance": all(checked) if checked else None,
    }
    if "qwk" in quality:
        out["qwk_expert_grade"] = quality["qwk"]
    return out
