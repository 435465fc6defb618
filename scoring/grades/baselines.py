"""Baselines an industry grade model is compared with in the same run (行业信用评价 today):

* :class:`ExpertSheet` — the hand-written 100-point sheet (configs/points/expert_organisation.yaml,
  grades from its score bands in configs/grading.yaml);
* :class:`OrdinalLogit` — ordinal (cumulative-logit) logistic regression on standardised features
  (statsmodels ``OrderedModel``).

Both expose ``margin`` (a latent risk score, higher = worse) like :class:`~scoring.grades.model.GradeModel`,
so the same :class:`~scoring.grades.ordinal.OrdinalCalibrator` turns each into calibrated grade
probabilities, and ``predict_proba_raw`` (their probabilities before calibration).

Both are scikit-learn classifiers of the class indices 0 (best) .. K-1 (``classes_``): ``clone``,
``get_params``, ``Pipeline`` and ``cross_val_score`` work; :meth:`predict_proba` is their own
(uncalibrated) probabilities, :meth:`predict` their class; they save to JSON and load back exactly.
Before ``fit`` (or ``load``) every use raises :class:`~scoring.core.errors.NotFittedError`.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any, overload

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import Tags

from scoring.core.errors import ConfigError, DataError
from scoring.core.estimator import as_frame, check_fitted, check_labels, require_columns, require_numeric
from scoring.features.industry import GRADE_INDEX, GRADES, Bands
from scoring.grades.ordinal import class_probabilities, median_class
from scoring.points.card import PointsCard, load_expert_card

EXPERT_FORMAT = "xinyi.expert_sheet/1"
LOGIT_FORMAT = "xinyi.ordinal_logit/1"


def _read(path: str | Path, fmt: str, what: str) -> dict:
    d = json.loads(Path(path).read_text(encoding="utf-8"))
    if d.get("format") != fmt:
        raise DataError(f"{path}: not {what} file (format {d.get('format')!r}, expected {fmt})")
    return d


def _write(path: str | Path, body: dict) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(json.dumps(body, ensure_ascii=False), encoding="utf-8")
    return p


class ExpertSheet(ClassifierMixin, BaseEstimator):
    """The expert score sheet: points per item, grade by score band. Learned state: ``card_``.

    ``card``: the sheet's file (configs/points/expert_*.yaml format); ``bands``: the score bands of
    its grades; ``n_classes``: 5 (grades 优秀..差) or 2 (较差 or 差 means the outcome)."""

    def __init__(self, card: str | Path, bands: Bands, n_classes: int = 5):
        self.card = card
        self.bands = bands
        self.n_classes = n_classes

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # the sheet gives missing values their own points
        tags.classifier_tags.multi_class = True
        tags.target_tags.required = False  # nothing is learned from the labels
        return tags

    def fit(self, X: Any, y: Any = None) -> "ExpertSheet":
        """Nothing is learned from data; loads the sheet and checks its features exist in ``X``."""
        if self.n_classes not in (2, len(GRADES)):
            raise ConfigError(f"ExpertSheet: n_classes must be 2 (outcome) or {len(GRADES)} (grades)")
        X = as_frame(X, "ExpertSheet")
        self.card_ = load_expert_card(self.card, features=list(X.columns))
        self.classes_ = np.arange(self.n_classes)
        self.feature_names_in_ = np.asarray(list(X.columns), dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        return self

    def points(self, X: Any) -> pd.Series:
        """The sheet's score (points) of every row."""
        check_fitted(self)
        return self.card_.score(X)

    @overload
    def score(self, X: Any, y: None = None) -> pd.Series: ...

    @overload
    def score(self, X: Any, y: Any) -> float: ...

    def score(self, X: Any, y: Any = None) -> pd.Series | float:
        """The sheet's points (:meth:`points`); with labels ``y``, the accuracy of :meth:`predict`
        (scikit-learn's default scoring of a classifier)."""
        if y is None:
            return self.points(X)
        return float(ClassifierMixin.score(self, X, y))

    def margin(self, X: Any) -> np.ndarray:
        return -self.points(X).to_numpy(float)

    def grade_index(self, X: Any) -> np.ndarray:
        return self.points(X).map(lambda s: GRADE_INDEX[self.bands.grade(s)]).to_numpy(int)

    def predict(self, X: Any) -> np.ndarray:
        """The sheet's grade index (0 = 优秀); with two classes, 1 for 较差 or 差 (the outcome)."""
        g = self.grade_index(X)
        return (g >= 3).astype(int) if self.n_classes == 2 else g

    def predict_proba_raw(self, X: Any) -> np.ndarray:
        """The sheet's own grade as certainty (one-hot); two classes: 较差 or 差 means the outcome."""
        return np.eye(self.n_classes)[self.predict(X)]

    def predict_proba(self, X: Any) -> np.ndarray:
        """The sheet's own class as certainty (:meth:`predict_proba_raw`); calibrate with
        :class:`~scoring.grades.ordinal.OrdinalCalibrator` on :meth:`margin` for probabilities."""
        return self.predict_proba_raw(X)

    def to_dict(self) -> dict:
        check_fitted(self)
        return {
            "format": EXPERT_FORMAT,
            "params": {
                "card": str(self.card),
                "bands": self.bands.model_dump(mode="json"),
                "n_classes": self.n_classes,
            },
            "sheet": self.card_.to_dict(),
            "feature_names_in": [str(c) for c in self.feature_names_in_],
        }

    @classmethod
    def from_dict(cls, d: dict) -> "ExpertSheet":
        p = d["params"]
        m = cls(p["card"], Bands.model_validate(p["bands"]), p["n_classes"])
        m.card_ = PointsCard.from_dict(d["sheet"])
        m.classes_ = np.arange(m.n_classes)
        m.feature_names_in_ = np.asarray(d["feature_names_in"], dtype=object)
        m.n_features_in_ = len(m.feature_names_in_)
        return m

    def save(self, path: str | Path) -> Path:
        """The sheet (its points and bands) as JSON (no pickle); :meth:`load` gives it back exactly."""
        return _write(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> "ExpertSheet":
        return cls.from_dict(_read(path, EXPERT_FORMAT, "an expert sheet"))


class OrdinalLogit(ClassifierMixin, BaseEstimator):
    """Cumulative-logit regression on standardised features (missing: training median; constant
    columns dropped). Learned state: ``features_``, ``coef_``, ``thresholds_``, ``center_``, ``scale_``.
    Features must be numbers (a category or text column is a DataError naming it)."""

    def __init__(self, n_classes: int = 5, maxiter: int = 2000):
        self.n_classes = n_classes
        self.maxiter = maxiter

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # missing values: the training median
        tags.classifier_tags.multi_class = True
        tags.target_tags.required = True
        return tags

    def _design(self, X: Any) -> np.ndarray:
        check_fitted(self)
        X = as_frame(X, "OrdinalLogit")
        require_columns(X, self.features_, "OrdinalLogit")
        require_numeric(X[self.features_], "OrdinalLogit")
        Z = X[self.features_].astype(float).fillna(self.center_)
        return ((Z - self.center_) / self.scale_).to_numpy(float)

    def fit(self, X: Any, y: Any) -> "OrdinalLogit":
        from statsmodels.miscmodels.ordinal_model import OrderedModel

        X = as_frame(X, "OrdinalLogit")
        require_numeric(X, "OrdinalLogit")
        labels = check_labels(y, "OrdinalLogit", len(X))
        if self.n_classes < 2 or labels.min() < 0 or labels.max() >= self.n_classes:
            raise DataError(f"OrdinalLogit: labels must be class indices 0 .. {self.n_classes - 1}")
        self.feature_names_in_ = np.asarray(list(X.columns), dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        self.classes_ = np.arange(self.n_classes)
        X = X.astype(float)
        center = X.median()
        sd = X.fillna(center).std()
        self.features_ = [f for f in X.columns if sd[f] > 0]
        self.center_, self.scale_ = center[self.features_], sd[self.features_]
        endog = pd.Categorical(labels, categories=range(self.n_classes), ordered=True)
        model = OrderedModel(endog, self._design(X), distr="logit")
        with warnings.catch_warnings():  # standard errors are not used; a singular Hessian does not matter here
            warnings.simplefilter("ignore")
            res = model.fit(method="bfgs", disp=False, maxiter=self.maxiter)
        k = len(self.features_)
        self.coef_ = np.asarray(res.params[:k], float)
        self.thresholds_ = [float(t) for t in model.transform_threshold_params(res.params)[1:-1]]
        return self

    def margin(self, X: Any) -> np.ndarray:
        return self._design(X) @ self.coef_

    def predict_proba_raw(self, X: Any) -> np.ndarray:
        return class_probabilities(self.margin(X), self.thresholds_)

    def predict_proba(self, X: Any) -> np.ndarray:
        """The regression's own class probabilities (:meth:`predict_proba_raw`)."""
        return self.predict_proba_raw(X)

    def predict(self, X: Any) -> np.ndarray:
        """The median class (0 = best) of the regression's probabilities."""
        return median_class(self.margin(X), self.thresholds_)

    def build_table(self) -> pd.DataFrame:
        check_fitted(self)
        return pd.DataFrame({"feature": self.features_, "coef_per_sd": self.coef_}).sort_values(
            "coef_per_sd", key=np.abs, ascending=False, ignore_index=True
        )

    def to_dict(self) -> dict:
        check_fitted(self)
        return {
            "format": LOGIT_FORMAT,
            "params": {"n_classes": self.n_classes, "maxiter": self.maxiter},
            "features": self.features_,
            "coef": self.coef_.tolist(),
            "thresholds": self.thresholds_,
            "center": [float(v) for v in self.center_],
            "scale": [float(v) for v in self.scale_],
            "feature_names_in": [str(c) for c in self.feature_names_in_],
        }

    @classmethod
    def from_dict(cls, d: dict) -> "OrdinalLogit":
        m = cls(**d["params"])
        m.features_ = list(d["features"])
        m.coef_ = np.asarray(d["coef"], float)
        m.thresholds_ = [float(t) for t in d["thresholds"]]
        m.center_ = pd.Series(d["center"], index=m.features_, dtype=float)
        m.scale_ = pd.Series(d["scale"], index=m.features_, dtype=float)
        m.classes_ = np.arange(m.n_classes)
        m.feature_names_in_ = np.asarray(d["feature_names_in"], dtype=object)
        m.n_features_in_ = len(m.feature_names_in_)
        return m

    def save(self, path: str | Path) -> Path:
        """The regression as JSON (no pickle); :meth:`load` gives it back exactly."""
        return _write(path, self.to_dict())

    @classmethod
    def load(cls, path: str | Path) -> "OrdinalLogit":
        return cls.from_dict(_read(path, LOGIT_FORMAT, "an ordinal logit"))
