"""The pooled organisation model (全市企业合并模型): the fallback for a small or rare-event industry.

An industry of a few hundred organisations and a handful of outcomes cannot calibrate a model of
its own (its calibration fold may hold no outcome at all). The pooled model borrows strength from
every organisation of the archive:

* **one tree ensemble for the whole city**: a :class:`~scoring.grades.model.GradeModel` (LightGBM,
  monotone constraints from the feature directions) trained on the organisations of all industries
  (and, by default, of the GB/T 4754 classes no industry claims) at the training cut-offs, with the
  industry's label (the outcome; for an expert-grade industry the next expert grade, which the
  archive records for organisations of every industry), on the common organisation feature set
  (configs/features/organisation.yaml) — the features every industry shares;
* **the industry's level as an offset, not a split**: every industry's outcome level on the
  training folds enters the boosting as a fixed offset (LightGBM ``init_score``): the industry's
  log-odds shift from the city's, shrunk towards it by empirical Bayes
  (:func:`scoring.grades.ordinal.shrunk_shifts`, a random intercept per industry whose spread is
  learnt from the *other* industries), so the trees learn how the records raise the risk within an
  industry, not which industry has the most outcomes. It is a target encoding of the industry fitted
  on the training folds only. On the committed sample and a seed-7 archive it ranks each industry's
  hold-out as well as a one-hot industry indicator or no industry term at all (hold-out AUCs within
  0.02 of either in 26 of 28 comparisons, neither consistently better), and unlike an indicator it
  needs nothing at grading time;
* **calibration with shrinkage**: the link (scale and thresholds, :class:`~scoring.grades.ordinal.OrdinalCalibrator`)
  is fitted on the pooled calibration fold, every industry's rows at their training level; the
  industry's own calibration fold then moves its level by a drift shrunk the same way (prior spread
  from the other industries' drifts). ``info_["shrinkage_weight"]`` is the weight of the industry's
  own outcomes in its level (0: the city's level, 1: its own), which falls as its outcomes fall;
  ``info_["calibration_weight"]`` the weight of its calibration fold's drift. An industry with 0-9
  outcomes in its calibration fold (or none at all) gets calibrated probabilities near the city's
  link at its shrunk level, never a calibration error.

The grader is a plain :class:`~scoring.grades.model.GradeModel` (format ``xinyi.grade_model/2``):
the industry's offsets are folded into the calibrator's thresholds (P(y <= k) = sigmoid(theta_k -
scale * (eta + offset)) = sigmoid((theta_k - scale * offset) - scale * eta)), so ``margin`` is the
trees' score of the organisation's features alone, the contributions (TreeSHAP + ``bias``) sum to it
exactly, and ``grade_population`` grades with the industry's own feature builder (the common
features are part of every industry's set). Nothing at grading time needs to know the industry.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from scoring.core.errors import ConfigError, DataError
from scoring.features.industry import GRADES, Industry, load_industries
from scoring.features.training import UNCONFIGURED, pooled_training_set
from scoring.grades.model import GradeModel
from scoring.grades.ordinal import (
    GroupShift,
    OrdinalCalibrator,
    initial_thresholds,
    lightgbm_objective,
    shifted,
    shrunk_shifts,
)

if TYPE_CHECKING:
    from scoring.archive.store import Store
    from scoring.grades.grading import GradingConfig

log = logging.getLogger(__name__)

CONTENDER = "pooled_lightgbm"
CONTENDER_ZH = "全市合并模型"
#: the base organisation feature set every industry's set extends
BASE_SET = "organisation"


def _classes(ind: Industry) -> int:
    return len(GRADES) if ind.label == "expert_grade" else 2


def _bad(y: Any, k: int) -> int:
    """Outcomes in the label's sense: the outcome (two classes), or 较差/差 (expert grades)."""
    y = np.asarray(y, int)
    return int((y == 1).sum()) if k == 2 else int((y >= len(GRADES) - 2).sum())


def pooled_features(store: Store, ind: Industry) -> tuple[list[str], dict[str, str]]:
    """The features the industry shares with every other (the base organisation set; when the
    industry lists its features, those of them in the base set) and their directions (the base
    set's, overridden by the industry's ``monotone``)."""
    from scoring.features.builder import FeatureBuilder

    meta = FeatureBuilder(store, subjects="organisations").meta.set_index("feature")
    base = list(meta.index)
    feats = base if ind.features == "all" else [f for f in ind.features if f in meta.index]
    if not feats:
        raise ConfigError(
            f"industry {ind.code}: none of its features is in the common organisation set "
            f"(configs/features/{BASE_SET}.yaml), so no pooled model can be fitted; list some of them in "
            f"configs/industries/{ind.code}.yaml features, or use features: all"
        )
    dirs = {**meta["direction"].to_dict(), **ind.monotone}
    return feats, {f: dirs[f] for f in feats}


def pooled_sets(
    store: Store, code: str, config: GradingConfig, *, include_unconfigured: bool = True
) -> dict[str, pd.DataFrame]:
    """The pooled train / calibration / hold-out frames (:func:`scoring.features.training.pooled_training_set`)
    with the label of industry ``code``."""
    ind = _industry(code)
    folds = {
        "train": config.cutoffs,
        "calibration": [config.calibration_cutoff],
        "holdout": [config.holdout_cutoff],
    }
    return {
        name: pooled_training_set(store, cuts, label=ind.label, include_unconfigured=include_unconfigured)
        for name, cuts in folds.items()
    }


def _industry(code: str) -> Industry:
    inds = load_industries()
    if code not in inds:
        raise ConfigError(f"unknown industry {code!r}; known: {', '.join(sorted(inds))}")
    return inds[code]


def _fit_with_offset(model: GradeModel, X: pd.DataFrame, y: np.ndarray, offset: np.ndarray) -> None:
    """Train ``model``'s trees with a fixed per-row offset (LightGBM ``init_score``): the steps of
    :meth:`GradeModel.fit` before its calibration (same parameters, monotone constraints, imputation
    and loss), the offset given to the training data. The offset is not part of the trees, so
    ``margin`` excludes it; the caller calibrates. (``GradeModel.fit`` takes no offset; an
    ``init_score`` keyword there would make this copy unnecessary.)"""
    import lightgbm as lgb

    from scoring.core.estimator import NO_DIRECTION, as_frame, canonical_directions, check_keys, require_numeric
    from scoring.grades.model import OUTCOME_CLASSES

    X = as_frame(X, "GradeModel")
    require_numeric(X, "GradeModel")
    check_keys("GradeModel", "directions", (model.directions or {}).keys(), X.columns)
    dirs = canonical_directions("GradeModel", model.directions or {})
    k = int(model.n_classes or 2)
    model.n_classes_ = k
    model.classes_ = np.arange(k)
    model.class_names_ = list(GRADES) if k == len(GRADES) else list(OUTCOME_CLASSES)
    model.features_ = list(X.columns)
    model.feature_names_in_ = np.asarray(model.features_, dtype=object)
    model.n_features_in_ = len(model.features_)
    model.monotone_ = [
        {"increases_risk": 1, "decreases_risk": -1}.get(dirs.get(f, NO_DIRECTION), 0) for f in model.features_
    ]
    model.impute_ = {
        f: float(np.nanmedian(X[f])) if X[f].notna().any() else 0.0
        for f, mono in zip(model.features_, model.monotone_)
        if mono and X[f].isna().any()
    }
    model.thresholds_ = [float(t) for t in initial_thresholds(y, k)]
    params = model._params() | {
        "monotone_constraints": model.monotone_,
        "metric": "None",
        "objective": lightgbm_objective(model.thresholds_),
    }
    data = lgb.Dataset(
        model._matrix(X),  # fitted attributes are set: the same imputed matrix as GradeModel.fit
        label=y.astype(float),
        init_score=offset,
        feature_name=model.features_,
        free_raw_data=False,
    )
    model.booster_ = lgb.train(params, data, num_boost_round=model.n_estimators)
    model.info_ = {}
    if not hasattr(model, "bands_"):
        model.bands_ = None  # CONTRACTS14 item 2: every grader carries its fitted bands (none yet)


def fit_pooled(
    store: Store,
    code: str,
    config: GradingConfig,
    sets: dict,
    *,
    pooled: dict[str, pd.DataFrame] | None = None,
    include_unconfigured: bool = True,
    industry_offset: bool = True,
) -> GradeModel:
    """A calibrated grader (the grade-model protocol) for industry ``code`` trained on every
    organisation of the archive; see the module docstring.

    ``sets``: the industry's {"train", "calibration", "holdout"} frames (``grading._datasets``); its
    calibration fold moves the industry's level. ``pooled``: the pooled frames (:func:`pooled_sets`),
    built when not given. ``industry_offset=False`` drops the training offset (the industry's level
    then comes from the calibration alone). A :class:`~scoring.core.errors.DataError` only when the
    pooled calibration fold itself cannot be calibrated (the pooled model does not rank it)."""
    ind = _industry(code)
    k = _classes(ind)
    feats, dirs = pooled_features(store, ind)
    P = pooled if pooled is not None else pooled_sets(store, code, config, include_unconfigured=include_unconfigured)
    tr, cal_pool = P["train"], P["calibration"]
    if not include_unconfigured:
        tr = tr[tr["industry"] != UNCONFIGURED]
        cal_pool = cal_pool[cal_pool["industry"] != UNCONFIGURED]
    own_cal = sets["calibration"]
    missing = [f for f in feats if f not in own_cal.columns]
    if missing:
        raise DataError(f"industry {code}: its calibration fold lacks the common features {missing}; rebuild its sets")
    if (tr["label"].nunique() < 2) or (cal_pool["label"].nunique() < 2):
        raise DataError(
            f"pooled model for {code}: the archive's organisations hold a single {ind.label} class in the "
            "training or calibration fold; the pooled data cannot be calibrated either"
        )
    y_tr = tr["label"].to_numpy(int)
    # the industry's level on the training folds: a log-odds shift per industry, shrunk to the city's
    # level; how far an industry's level may move is learnt from the other industries
    train_shifts, train_sd = (
        shrunk_shifts(np.zeros(len(tr)), y_tr, tr["industry"], initial_thresholds(y_tr, k), 1.0, exclude=[code])
        if industry_offset
        else ({}, 0.0)
    )
    off_tr = tr["industry"].map({g: s.shift for g, s in train_shifts.items()}).fillna(0.0).to_numpy(float)

    model = GradeModel(
        directions=dirs,
        n_classes=k,
        n_estimators=config.n_estimators,
        learning_rate=config.learning_rate,
        num_leaves=config.num_leaves,
        min_child_samples=config.min_child_samples,
        seed=config.seed,
    )
    if industry_offset:
        _fit_with_offset(model, tr[feats], y_tr, off_tr)
    else:
        model.fit(tr[feats], y_tr, X_cal=cal_pool[feats], y_cal=cal_pool["label"].to_numpy(int))

    # the city's link on the pooled calibration fold, the industry's own rows from its sets
    others = cal_pool[cal_pool["industry"] != code]
    cal = pd.concat(
        [
            others[["industry", "label", *feats]],
            own_cal[["label", *feats]].assign(industry=code)[["industry", "label", *feats]],
        ],
        ignore_index=True,
    )
    y_cal = cal["label"].to_numpy(int)
    level = {g: s.shift for g, s in train_shifts.items()}
    eta_cal = model.margin(cal[feats]) + cal["industry"].map(level).fillna(0.0).to_numpy(float)
    try:
        link = OrdinalCalibrator(k).fit(eta_cal, y_cal)
    except DataError as exc:
        raise DataError(f"pooled model for {code}: the pooled calibration fold cannot be calibrated: {exc}") from None
    cal_shifts, cal_sd = shrunk_shifts(eta_cal, y_cal, cal["industry"], link.thresholds_, link.scale_, exclude=[code])
    none = GroupShift(0.0, None, 0.0, 0.0, 0)
    own_train, own_shift = train_shifts.get(code, none), cal_shifts.get(code, none)
    offset = own_train.shift + own_shift.shift
    model.calibrator_ = shifted(link, offset)
    model.version_ = model._content_hash()

    y_own = own_cal["label"].to_numpy(int)
    n_tr_own = int((tr["industry"] == code).sum())
    weight = own_train.weight if industry_offset else own_shift.weight
    model.info_ = {
        "industry": code,
        "label": ind.label,
        "train_cutoffs": [c.isoformat() for c in config.cutoffs],
        "calibration_cutoff": config.calibration_cutoff.isoformat(),
        "holdout_cutoff": config.holdout_cutoff.isoformat(),
        "store_fingerprint": store.fingerprint(),
        "contender": CONTENDER,
        "contender_zh": CONTENDER_ZH,
        "feature_set": BASE_SET,
        "pooled_industries": {str(g): int(n) for g, n in tr["industry"].value_counts().sort_index().items()},
        "pooled_rows": int(len(tr)),
        "pooled_outcomes": _bad(y_tr, k),
        "pooled_calibration_rows": int(len(cal)),
        "pooled_calibration_outcomes": _bad(y_cal, k),
        "industry_rows": n_tr_own,
        "industry_outcomes": _bad(tr.loc[tr["industry"] == code, "label"], k),
        "industry_calibration_rows": int(len(own_cal)),
        "industry_calibration_outcomes": _bad(y_own, k),
        "shrinkage_weight": weight,
        "calibration_weight": own_shift.weight,
        "calibration_prior_sd": cal_sd,
        "calibration_shift": own_shift.shift,
        "calibration_shift_own": own_shift.mle,
        "training_offset": own_train.shift,
        "training_offsets": {str(g): s.shift for g, s in train_shifts.items()},
        "training_offset_weight": own_train.weight if industry_offset else 0.0,
        "training_offset_prior_sd": train_sd,
        "industry_offset": offset,
        "pooled_link": link.to_dict(),
        "selection": (
            f"{ind.name_zh}校准样本{len(own_cal)}家、结果{_bad(y_own, k)}起，采用全市合并模型"
            f"（全市{len(tr)}条训练样本、{_bad(y_tr, k)}起结果），行业水平按经验贝叶斯权重{weight:.2f}"
            "向全市水平收缩"
        ),
    }
    log.info(
        "pooled model for %s: %d pooled rows (%d outcomes), industry calibration fold %d rows (%d outcomes), "
        "shrinkage weight %.3f (calibration %.3f)",
        code,
        len(tr),
        _bad(y_tr, k),
        len(own_cal),
        _bad(y_own, k),
        weight,
        own_shift.weight,
    )
    return model
