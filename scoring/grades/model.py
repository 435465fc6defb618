"""The industry grade model (行业信用评价模型): one latent risk score, ordinal by construction.

* LightGBM learns one latent risk score ``eta`` (higher = worse) under the cumulative-logit loss
  (:mod:`scoring.grades.ordinal`): ordered classes 0 = 优秀 .. 4 = 差 for expert grades, or 0/1 for the
  outcome label (where the loss is the binary log-loss);
* monotone constraints from the feature directions (``increases_risk`` -> +1, ``decreases_risk``
  -> -1, overridable per industry): more penalties can never lower the risk;
* calibration on a held-out fold refits the link's scale and thresholds (ordinal temperature /
  Platt scaling), so the class probabilities are calibrated, sum to 1 and respect the order; the
  industry's band table then gives 优秀..差 (:mod:`scoring.grades.supervision` adds the new entrant rule,
  the upgrade limit and the vetoes);
* TreeSHAP contributions from LightGBM (``pred_contrib``) sum exactly to ``eta``; one score means
  one tree ensemble to explain, not one per class;
* saved as LightGBM's text model plus JSON (no pickle), printable as a table.

This module is the model core; tuning, tracking, lists and explanations build on it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import Tags
from typing_extensions import TypeIs

from scoring.core.errors import ConfigError, DataError
from scoring.core.estimator import (
    NO_DIRECTION,
    as_frame,
    canonical_directions,
    check_fitted,
    check_keys,
    check_labels,
    require_columns,
    require_numeric,
)
from scoring.features.industry import GRADES, Bands
from scoring.grades.ordinal import (
    OUTCOME_CLASSES,
    OrdinalCalibrator,
    bad_end,
    class_probabilities,
    initial_thresholds,
    lightgbm_objective,
    median_class,
    rank_score,
)

FORMAT = "xinyi.grade_model/2"


class GradeModel(ClassifierMixin, BaseEstimator):
    """The industry grade model (see the module docstring), a scikit-learn classifier.

    Parameters are stored as given and validated in :meth:`fit`. ``directions``: feature ->
    ``increases_risk`` (+1 monotone constraint), ``decreases_risk`` (-1) or ``none`` (no direction:
    unconstrained, the default; ``auto`` is a deprecated alias of ``none``); a key that is not a column
    of X is a :class:`~scoring.core.errors.ConfigError` naming it. ``calibration_share``: the share of
    the training rows held out (stratified, seeded by ``seed``) to calibrate on when :meth:`fit` is
    given no calibration fold. ``n_jobs``: LightGBM's threads (``num_threads``; 0 or -1: all cores).
    The trees are built deterministically, so predictions do not depend on it (checked on the sample:
    1, 2 and 4 threads give bit-identical margins), but LightGBM's model text records it, so
    ``version_`` does; the default 2 keeps the versions of the models published so far.

    Labels are class indices: ``classes_`` is ``[0, 1, ..., K-1]`` (0 = best: 优秀, or no outcome) and
    ``class_names_`` their names (优秀..差, or 无/发生严重违法失信). :meth:`predict_proba` gives the calibrated
    class probabilities, :meth:`predict` (= :meth:`predict_class`) the median class, which never
    improves for a higher risk score. Features must be numbers (a category or text column is a
    :class:`~scoring.core.errors.DataError` naming it). Before :meth:`fit` (or :meth:`load`) every use
    raises :class:`~scoring.core.errors.NotFittedError`.
    """

    def __init__(
        self,
        directions: dict[str, str] | None = None,
        n_classes: int | None = None,
        n_estimators: int = 150,
        learning_rate: float = 0.05,
        num_leaves: int = 15,
        min_child_samples: int = 30,
        reg_lambda: float = 1.0,
        seed: int = 0,
        calibration_share: float = 0.25,
        n_jobs: int = 2,
    ):
        self.directions = directions
        self.n_classes = n_classes
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.min_child_samples = min_child_samples
        self.reg_lambda = reg_lambda
        self.seed = seed
        self.calibration_share = calibration_share
        self.n_jobs = n_jobs

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # LightGBM routes missing values (constrained features: imputed)
        tags.classifier_tags.multi_class = True  # ordered grades 0 .. K-1
        tags.classifier_tags.poor_score = True  # calibration needs every class in its fold: small data is poor
        tags.target_tags.required = True
        tags.target_tags.single_output = True
        return tags

    def _params(self) -> dict:
        return {
            "learning_rate": self.learning_rate,
            "num_leaves": self.num_leaves,
            "min_child_samples": self.min_child_samples,
            "lambda_l2": self.reg_lambda,
            "seed": self.seed,
            "deterministic": True,
            "force_row_wise": True,
            "num_threads": max(int(self.n_jobs), 0),  # LightGBM: 0 = OpenMP's default, all cores
            "verbose": -1,
            "monotone_constraints_method": "advanced",
        }

    def _calibration_fold(
        self, X: pd.DataFrame, y: np.ndarray
    ) -> tuple[pd.DataFrame, np.ndarray, pd.DataFrame, np.ndarray]:
        """(train X, train y, calibration X, calibration y): a stratified split seeded by ``seed``."""
        from sklearn.model_selection import train_test_split

        share = self.calibration_share
        if not (isinstance(share, (int, float)) and 0 < share < 1):
            raise ConfigError(f"GradeModel: calibration_share must be between 0 and 1, got {share!r}")
        try:
            X_tr, X_cal, y_tr, y_cal = train_test_split(X, y, test_size=share, stratify=y, random_state=self.seed)
        except ValueError as e:
            counts = np.bincount(y).tolist()
            raise DataError(
                f"GradeModel: cannot hold out a stratified calibration fold ({share:.0%} of {len(y)} rows, "
                f"class counts {counts}): {e}; pass X_cal, y_cal or more rows of every class"
            ) from None
        return X_tr, np.asarray(y_tr), X_cal, np.asarray(y_cal)

    def fit(
        self,
        X: Any,
        y: Any,
        *,
        X_cal: Any = None,
        y_cal: Any = None,
        callbacks: list | None = None,
    ) -> "GradeModel":
        """Train on (X, y) and calibrate on (``X_cal``, ``y_cal``); y holds class indices 0 (best) .. K-1.
        Without a calibration fold, ``calibration_share`` of (X, y) is held out for it (stratified,
        seeded). ``callbacks`` (LightGBM callbacks, e.g. for pruning during tuning) see the calibration
        fold's rank score (:func:`scoring.grades.ordinal.rank_score`) after every round."""
        import lightgbm as lgb

        X = as_frame(X, "GradeModel")
        require_numeric(X, "GradeModel")
        check_keys("GradeModel", "directions", (self.directions or {}).keys(), X.columns)
        dirs = canonical_directions("GradeModel", self.directions or {})
        if not isinstance(self.n_jobs, (int, np.integer)) or isinstance(self.n_jobs, bool):
            raise ConfigError(
                f"GradeModel: n_jobs must be a whole number of threads (0 or -1: all cores), got {self.n_jobs!r}"
            )
        y = check_labels(y, "GradeModel", len(X))
        if (X_cal is None) != (y_cal is None):
            raise DataError("GradeModel: pass both X_cal and y_cal (the calibration fold), or neither")
        if X_cal is None:
            X, y, X_cal, y_cal = self._calibration_fold(X, y)
        else:
            X_cal = as_frame(X_cal, "GradeModel (calibration fold)")
            require_columns(X_cal, list(X.columns), "GradeModel (calibration fold)")
            X_cal = X_cal[list(X.columns)]
            require_numeric(X_cal, "GradeModel (calibration fold)")
            y_cal = check_labels(y_cal, "GradeModel (calibration fold)", len(X_cal))
        k = int(self.n_classes or max(2, int(y.max()) + 1))
        if k < 2 or y.min() < 0 or y.max() >= k or y_cal.min() < 0 or y_cal.max() >= k:
            raise DataError(f"GradeModel: labels must be class indices 0 .. {k - 1} (n_classes={k})")
        self.n_classes_ = k
        self.classes_ = np.arange(k)
        self.class_names_ = list(GRADES) if k == len(GRADES) else list(OUTCOME_CLASSES) if k == 2 else list(range(k))
        self.features_ = list(X.columns)
        self.feature_names_in_ = np.asarray(self.features_, dtype=object)
        self.n_features_in_ = len(self.features_)
        self.monotone_ = [
            {"increases_risk": 1, "decreases_risk": -1}.get(dirs.get(f, NO_DIRECTION), 0) for f in self.features_
        ]
        # LightGBM's monotone constraints do not bind missing values, so constrained features are
        # imputed (training median) before training and prediction
        self.impute_ = {
            f: float(np.nanmedian(X[f])) if X[f].notna().any() else 0.0
            for f, mono in zip(self.features_, self.monotone_)
            if mono and X[f].isna().any()
        }
        self.thresholds_ = [float(t) for t in initial_thresholds(y, k)]
        params = self._params() | {
            "monotone_constraints": self.monotone_,
            "metric": "None",
            "objective": lightgbm_objective(self.thresholds_),
        }
        data = lgb.Dataset(self._matrix(X), label=y.astype(float), feature_name=self.features_, free_raw_data=False)
        if callbacks:
            valid = lgb.Dataset(self._matrix(X_cal), label=y_cal.astype(float), reference=data)
            self.booster_ = lgb.train(
                params,
                data,
                num_boost_round=self.n_estimators,
                valid_sets=[valid],
                valid_names=["calibration"],
                callbacks=callbacks,
                feval=lambda preds, d: ("rank", rank_score(d.get_label(), preds), True),
            )
        else:
            self.booster_ = lgb.train(params, data, num_boost_round=self.n_estimators)
        self.calibrator_ = OrdinalCalibrator(k).fit(self.margin(X_cal), y_cal)
        self.info_: dict[str, Any] = {}
        self.bands_: Bands | None = None
        self.version_ = self._content_hash()
        return self

    def _content_hash(self) -> str:
        """The model version: a hash of everything that decides its output (trees, link, imputation,
        and the fitted bands when there are any: a model without them keeps its version)."""
        import hashlib

        content: dict[str, Any] = {
            "booster": self.booster_.model_to_string(),
            "calibration": self.calibrator_.to_dict(),
            "features": self.features_,
            "impute": self.impute_,
            "classes": self.class_names_,
        }
        bands = getattr(self, "bands_", None)
        if bands is not None:
            content["bands"] = bands.model_dump(mode="json")
        body = json.dumps(content, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(body.encode("utf-8")).hexdigest()[:12]

    def refresh_version(self) -> str:
        """Recompute ``version_`` (after the fit flow set ``bands_``)."""
        self.version_ = self._content_hash()
        return self.version_

    # -- prediction ----------------------------------------------------------------------------
    def _matrix(self, X: Any) -> np.ndarray:
        check_fitted(self)
        X = as_frame(X, "GradeModel")
        require_columns(X, self.features_, "GradeModel")
        Z = X[self.features_]
        require_numeric(Z, "GradeModel")
        return Z.fillna(self.impute_).to_numpy(float)

    def margin(self, X: Any) -> np.ndarray:
        """The latent risk score (log-odds before calibration)."""
        Z = self._matrix(X)  # first: it raises NotFittedError before fit
        return np.asarray(self.booster_.predict(Z, raw_score=True))

    def predict_proba(self, X: Any, calibrated: bool = True) -> np.ndarray:
        """Class probabilities (n, K) in the order of ``classes_``: calibrated on the held-out fold,
        or (``calibrated=False``) with the training thresholds."""
        eta = self.margin(X)
        if calibrated:
            return self.calibrator_.predict_proba(eta)
        return class_probabilities(eta, self.thresholds_)

    def predict_risk(self, X: pd.DataFrame, calibrated: bool = True) -> np.ndarray:
        """Calibrated probability of the bad end: the outcome (two classes), or 较差 or 差 (grades)."""
        return bad_end(self.predict_proba(X, calibrated))

    def predict_class(self, X: Any) -> np.ndarray:
        """The median class of the calibrated distribution (0 = best); never better for a higher score."""
        return median_class(self.margin(X), self.calibrator_.thresholds_, self.calibrator_.scale_)

    def predict(self, X: Any) -> np.ndarray:
        """The class of every row: the median class (:meth:`predict_class`), an element of ``classes_``."""
        return self.predict_class(X)

    def contributions(self, X: Any) -> pd.DataFrame:
        """TreeSHAP values per feature plus ``bias``; each row sums exactly to :meth:`margin`."""
        X = as_frame(X, "GradeModel")
        Z = self._matrix(X)  # first: it raises NotFittedError before fit
        c = self.booster_.predict(Z, pred_contrib=True)
        return pd.DataFrame(c, index=X.index, columns=self.features_ + ["bias"])

    # -- tables and persistence ----------------------------------------------------------------
    def build_table(self) -> pd.DataFrame:
        """Per feature: monotone constraint and gain importance."""
        check_fitted(self)
        gain = self.booster_.feature_importance(importance_type="gain")
        return pd.DataFrame({"feature": self.features_, "monotone": self.monotone_, "gain": gain}).sort_values(
            "gain", ascending=False, ignore_index=True
        )

    def save(self, path: str | Path) -> Path:
        """LightGBM's text model and the link as JSON (no pickle); :meth:`load` gives it back exactly."""
        check_fitted(self)
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        meta = {
            "format": FORMAT,
            "params": {
                "directions": dict(self.directions or {}),
                "n_classes": self.n_classes,
                "n_estimators": self.n_estimators,
                "learning_rate": self.learning_rate,
                "num_leaves": self.num_leaves,
                "min_child_samples": self.min_child_samples,
                "reg_lambda": self.reg_lambda,
                "seed": self.seed,
                "calibration_share": self.calibration_share,
                "n_jobs": self.n_jobs,
            },
            "features": self.features_,
            "monotone": self.monotone_,
            "impute": self.impute_,
            "n_classes": self.n_classes_,
            "classes": self.class_names_,
            "thresholds": self.thresholds_,
            "calibration": self.calibrator_.to_dict(),
            "version": self.version_,
            "info": self.info_,
            "booster": self.booster_.model_to_string(),
        }
        if self.bands_ is not None:
            meta["bands"] = self.bands_.model_dump(mode="json")
        p.write_text(json.dumps(meta, ensure_ascii=False), encoding="utf-8")
        return p

    @classmethod
    def load(cls, path: str | Path) -> "GradeModel":
        import lightgbm as lgb

        d = json.loads(Path(path).read_text(encoding="utf-8"))
        if d.get("format") != FORMAT:
            raise DataError(f"{path}: not a grade model file (format {d.get('format')!r})")
        m = cls(**d["params"])
        m.features_, m.monotone_, m.impute_ = d["features"], d["monotone"], d["impute"]
        m.n_classes_, m.class_names_, m.thresholds_ = d["n_classes"], d["classes"], d["thresholds"]
        m.classes_ = np.arange(m.n_classes_)
        m.feature_names_in_ = np.asarray(m.features_, dtype=object)
        m.n_features_in_ = len(m.features_)
        m.calibrator_ = OrdinalCalibrator.from_dict(d["calibration"])
        m.booster_ = lgb.Booster(model_str=d["booster"])
        m.info_ = d.get("info", {})
        m.bands_ = Bands.model_validate(d["bands"]) if d.get("bands") is not None else None
        m.version_ = m._content_hash()
        if m.version_ != d["version"]:
            raise DataError(f"{path}: the model's content does not match its version {d['version']} (file altered?)")
        return m


#: the contenders of the championship (scoring.grades.champion) and their Chinese names
CONTENDERS_ZH = {
    "lightgbm": "行业模型",
    "pooled_lightgbm": "全市合并模型",
    "expert_sheet": "专家评分表",
    "ordinal_logistic": "有序逻辑回归",
}


@runtime_checkable
class Grader(Protocol):
    """The grader protocol: what lists, explanations, the registry, serving, justify, monitoring
    and reports use of any grader (:class:`GradeModel`, the pooled model, or the calibrated
    baselines :class:`~scoring.grades.baselines.ExpertSheetGrader` and
    :class:`~scoring.grades.baselines.OrdinalLogitGrader`)."""

    features_: list[str]
    class_names_: list
    n_classes_: int
    calibrator_: OrdinalCalibrator
    version_: str
    info_: dict[str, Any]
    bands_: Bands | None

    def margin(self, X: Any) -> np.ndarray: ...

    def predict_proba(self, X: Any, calibrated: bool = True) -> np.ndarray: ...

    def predict_risk(self, X: Any, calibrated: bool = True) -> np.ndarray: ...

    def predict_class(self, X: Any) -> np.ndarray: ...

    def contributions(self, X: Any) -> pd.DataFrame: ...

    def build_table(self) -> pd.DataFrame: ...

    def save(self, path: str | Path) -> Path: ...

    def refresh_version(self) -> str: ...


def is_grader(obj: object) -> TypeIs[Grader]:
    """Whether ``obj`` is a fitted grader of the protocol (not, e.g., a 信义金 points card)."""
    return isinstance(obj, Grader) and hasattr(obj, "calibrator_")


def grader_formats() -> dict[str, Any]:
    """File format -> the grader class that loads it."""
    from scoring.grades.baselines import ExpertSheetGrader, OrdinalLogitGrader

    return {
        FORMAT: GradeModel,
        ExpertSheetGrader.FORMAT: ExpertSheetGrader,
        OrdinalLogitGrader.FORMAT: OrdinalLogitGrader,
    }


def load_grader(path: str | Path) -> Grader:
    """Any grader from its file, by the file's ``format`` (a DataError naming the file otherwise)."""
    try:
        d = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable grader file ({exc})") from None
    fmt = d.get("format") if isinstance(d, dict) else None
    kinds = grader_formats()
    if fmt not in kinds:
        raise DataError(
            f"{path}: not a grader file (format {fmt!r}; expected one of {', '.join(sorted(kinds))}); "
            "fit one with `scoring grades fit`"
        )
    grader: Grader = kinds[fmt].load(path)
    return grader
