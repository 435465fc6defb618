"""Baselines an industry grade model is compared with in the same run (行业信用评价 today):

* :class:`ExpertSheet` — the hand-written 100-point sheet (configs/points/expert_organisation.yaml,
  grades from its score bands in configs/grading.yaml);
* :class:`OrdinalLogit` — ordinal (cumulative-logit) logistic regression on standardised features
  (statsmodels ``OrderedModel``).

Both expose ``margin`` (a latent risk score, higher = worse) like :class:`~scoring.grades.model.GradeModel`,
so the same :class:`~scoring.grades.ordinal.OrdinalCalibrator` turns each into calibrated grade
probabilities, and ``predict_proba_raw`` (their probabilities before calibration).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd

from scoring.features.industry import GRADE_INDEX, Bands
from scoring.grades.ordinal import class_probabilities
from scoring.points.card import load_expert_card


class ExpertSheet:
    """The expert score sheet: points per item, grade by score band. Learned state: ``card_``."""

    def __init__(self, card: str | Path, bands: Bands, n_classes: int = 5):
        self.card = card
        self.bands = bands
        self.n_classes = n_classes

    def fit(self, X: pd.DataFrame, y=None) -> "ExpertSheet":
        """Nothing is learned from data; loads the sheet and checks its features exist in ``X``."""
        self.card_ = load_expert_card(self.card, features=list(X.columns))
        return self

    def score(self, X: pd.DataFrame) -> pd.Series:
        return self.card_.score(X)

    def margin(self, X: pd.DataFrame) -> np.ndarray:
        return -self.score(X).to_numpy(float)

    def grade_index(self, X: pd.DataFrame) -> np.ndarray:
        return self.score(X).map(lambda s: GRADE_INDEX[self.bands.grade(s)]).to_numpy(int)

    def predict_proba_raw(self, X: pd.DataFrame) -> np.ndarray:
        """The sheet's own grade as certainty (one-hot); two classes: 较差 or 差 means the outcome."""
        g = self.grade_index(X)
        if self.n_classes == 2:
            g = (g >= 3).astype(int)
        return np.eye(self.n_classes)[g]


class OrdinalLogit:
    """Cumulative-logit regression on standardised features (missing: training median; constant
    columns dropped). Learned state: ``features_``, ``coef_``, ``thresholds_``, ``center_``, ``scale_``."""

    def __init__(self, n_classes: int = 5, maxiter: int = 2000):
        self.n_classes = n_classes
        self.maxiter = maxiter

    def _design(self, X: pd.DataFrame) -> np.ndarray:
        Z = X[self.features_].astype(float).fillna(self.center_)
        return ((Z - self.center_) / self.scale_).to_numpy(float)

    def fit(self, X: pd.DataFrame, y) -> "OrdinalLogit":
        from statsmodels.miscmodels.ordinal_model import OrderedModel

        X = X.astype(float)
        center = X.median()
        sd = X.fillna(center).std()
        self.features_ = [f for f in X.columns if sd[f] > 0]
        self.center_, self.scale_ = center[self.features_], sd[self.features_]
        endog = pd.Categorical(np.asarray(y, int), categories=range(self.n_classes), ordered=True)
        model = OrderedModel(endog, self._design(X), distr="logit")
        with warnings.catch_warnings():  # standard errors are not used; a singular Hessian does not matter here
            warnings.simplefilter("ignore")
            res = model.fit(method="bfgs", disp=False, maxiter=self.maxiter)
        k = len(self.features_)
        self.coef_ = np.asarray(res.params[:k], float)
        self.thresholds_ = [float(t) for t in model.transform_threshold_params(res.params)[1:-1]]
        return self

    def margin(self, X: pd.DataFrame) -> np.ndarray:
        return self._design(X) @ self.coef_

    def predict_proba_raw(self, X: pd.DataFrame) -> np.ndarray:
        return class_probabilities(self.margin(X), self.thresholds_)

    def build_table(self) -> pd.DataFrame:
        return pd.DataFrame({"feature": self.features_, "coef_per_sd": self.coef_}).sort_values(
            "coef_per_sd", key=np.abs, ascending=False, ignore_index=True
        )
