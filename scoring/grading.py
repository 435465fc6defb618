"""Fitting an industry's grade model from the store, with the evidence behind every band.

``fit_industry`` trains :class:`~scoring.grade_model.GradeModel` on the industry's organisations at
rolling cut-offs (configs/grading.yaml), calibrates it on a later cut-off and checks it on a
hold-out cut-off: AUC of the risk and of P(较差 or 差), Brier and ECE before and after calibration,
and — for every grade the rules give on the hold-out — the number of organisations and the observed
outcome rate with a 95% Wilson interval, so each band has evidence behind it.
"""
from __future__ import annotations

import datetime as dt
import math
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict

from .configfile import config_dir, load_model
from .errors import ConfigError
from .features import FeatureBuilder
from .grade_model import GradeModel
from .industry import GRADES, Industry, load_industries
from .personal import reliability
from .store import Store
from .supervision import assign_grades
from .training import training_set


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


def load_grading_config(path: str | Path | None = None) -> GradingConfig:
    return load_model(GradingConfig, Path(path) if path else config_dir() / "grading.yaml")


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion k/n."""
    if n == 0:
        return (float("nan"), float("nan"))
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0.0, c - h), min(1.0, c + h))


SEARCH_SPACE = {"learning_rate": (0.02, 0.2), "num_leaves": (4, 31), "min_child_samples": (10, 80),
                "n_estimators": (50, 300)}


def _datasets(store: Store, code: str, cfg: GradingConfig):
    inds = load_industries()
    if code not in inds:
        raise ConfigError(f"unknown industry {code!r}; known: {', '.join(sorted(inds))}")
    ind: Industry = inds[code]
    if ind.label != "outcome":
        raise ConfigError(f"industry {code}: label {ind.label!r} is not supported yet; use label: outcome")
    meta = FeatureBuilder(store, subjects="organisations", industry=code).meta.set_index("feature")
    feats = list(meta.index) if ind.features == "all" else list(ind.features)
    directions = {**meta["direction"].to_dict(), **ind.monotone}
    sets = {}
    for name, cuts in (("train", cfg.cutoffs), ("calibration", [cfg.calibration_cutoff]), ("holdout", [cfg.holdout_cutoff])):
        sets[name] = training_set(store, cuts, subjects="organisations", industry=code)
        if sets[name]["label"].nunique() < 2:
            raise ValueError(f"industry {code}: the {name} set has a single outcome class; more data is needed")
    return ind, feats, {f: directions[f] for f in feats}, sets


def tune_industry(store: Store, code: str, *, n_trials: int = 20, timeout: float = 120.0,
                  config: GradingConfig | None = None, tracking_uri: str | None = None) -> dict:
    """Optuna search (TPE, seeded; median pruning on the calibration fold's AUC every 25 rounds)
    within a trial and time budget. Every trial is logged to MLflow when ``tracking_uri`` is given.
    The hold-out cut-off is never seen while tuning."""
    import optuna
    from sklearn.metrics import roc_auc_score

    from .tracking import log_run, snapshot_tags

    cfg = config or load_grading_config()
    ind, feats, dirs, sets = _datasets(store, code, cfg)
    tr, cal = sets["train"], sets["calibration"]
    tags = {**snapshot_tags(store), "xinyi.kind": "grade_model_trial", "xinyi.industry": code}
    optuna.logging.set_verbosity(optuna.logging.WARNING)

    def objective(trial: "optuna.Trial") -> float:
        p = {"learning_rate": trial.suggest_float("learning_rate", *SEARCH_SPACE["learning_rate"], log=True),
             "num_leaves": trial.suggest_int("num_leaves", *SEARCH_SPACE["num_leaves"]),
             "min_child_samples": trial.suggest_int("min_child_samples", *SEARCH_SPACE["min_child_samples"]),
             "n_estimators": trial.suggest_int("n_estimators", *SEARCH_SPACE["n_estimators"], step=25)}

        def prune(env) -> None:
            if (env.iteration + 1) % 25 == 0 and env.evaluation_result_list:
                trial.report(env.evaluation_result_list[0][2], env.iteration + 1)
                if trial.should_prune():
                    raise optuna.TrialPruned()

        state, value = "COMPLETE", float("nan")
        try:
            m = GradeModel(directions=dirs, seed=cfg.seed, **p).fit(tr[feats], tr["label"], cal[feats], cal["label"],
                                                                  callbacks=[prune])
            value = float(roc_auc_score(cal["label"], m.margin(cal[feats])))
            return value
        except optuna.TrialPruned:
            state = "PRUNED"
            raise
        finally:
            if tracking_uri:
                log_run(tracking_uri, f"xinyi-grades-{code}-tuning", f"trial-{trial.number}",
                        tags={**tags, "xinyi.trial_state": state}, params=p,
                        metrics={} if value != value else {"calibration_auc": value})

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=cfg.seed),
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=25))
    study.optimize(objective, n_trials=n_trials, timeout=timeout)
    done = [t for t in study.trials if t.state.name == "COMPLETE"]
    return {"best_params": study.best_params if done else {}, "best_calibration_auc": study.best_value if done else None,
            "trials": len(study.trials), "completed": len(done),
            "pruned": sum(t.state.name == "PRUNED" for t in study.trials)}


def fit_industry(store: Store, code: str, config: GradingConfig | None = None,
                 params: dict | None = None) -> tuple[GradeModel, dict]:
    """Fit with the config's hyper-parameters, or ``params`` (e.g. :func:`tune_industry`'s best)."""
    cfg = config or load_grading_config()
    ind, feats, dirs, sets = _datasets(store, code, cfg)
    hp = {"n_estimators": cfg.n_estimators, "learning_rate": cfg.learning_rate, "num_leaves": cfg.num_leaves,
          "min_child_samples": cfg.min_child_samples} | dict(params or {})
    model = GradeModel(directions=dirs, seed=cfg.seed, **hp)
    model.fit(sets["train"][feats], sets["train"]["label"], sets["calibration"][feats], sets["calibration"]["label"])
    return model, evidence(model, ind, sets["holdout"], feats, cfg, sets)


def evidence(model: GradeModel, ind: Industry, hold: pd.DataFrame, feats: list[str], cfg: GradingConfig,
             sets: dict) -> dict:
    from sklearn.metrics import roc_auc_score

    y = hold["label"].to_numpy()
    raw = 1 / (1 + np.exp(-model.margin(hold[feats])))
    risk = model.predict_risk(hold[feats])
    _, brier_raw, ece_raw = reliability(y, raw)
    table, brier, ece = reliability(y, risk)
    X = hold.set_index("subject_id")[feats]
    grades = assign_grades(ind, pd.Series(risk, index=X.index), X)
    bad = grades["grade"].isin(GRADES[-2:]).to_numpy()
    per_grade = []
    for g in GRADES:
        m = (grades["grade"] == g).to_numpy()
        n, k = int(m.sum()), int(y[m].sum())
        lo, hi = wilson(k, n)
        per_grade.append({"grade": g, "organisations": n, "outcomes": k, "outcome_rate": k / n if n else float("nan"),
                          "ci_low": lo, "ci_high": hi, "sampling_ratio": ind.supervision[g].sampling_ratio})
    return {
        "industry": ind.code, "train_cutoffs": [c.isoformat() for c in cfg.cutoffs],
        "calibration_cutoff": cfg.calibration_cutoff.isoformat(), "holdout_cutoff": cfg.holdout_cutoff.isoformat(),
        "rows": {k: int(len(v)) for k, v in sets.items()}, "holdout_outcome_rate": float(y.mean()),
        "auc": float(roc_auc_score(y, risk)),
        "auc_bad_grades": float(roc_auc_score(y, bad)) if 0 < bad.mean() < 1 else float("nan"),
        "brier_before": brier_raw, "ece_before": ece_raw, "brier": brier, "ece": ece,
        "reliability": table.to_dict(orient="records"), "per_grade": per_grade,
        "vetoed": int((grades["veto"] != "").sum()),
    }
