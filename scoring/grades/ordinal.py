"""Ordinal grades from one latent score: the cumulative-logit link.

Grades are ordered classes 0 = 优秀 .. K-1 = 差 (K = 5 for expert grades; K = 2 for an outcome label,
0 = no outcome, 1 = outcome). One latent risk score ``eta`` (higher = worse) and increasing
thresholds ``theta`` give

    P(grade <= k | eta) = sigmoid(theta_k - scale * eta),   k = 0 .. K-2

so the K probabilities are non-negative, sum to 1, and a higher ``eta`` moves probability mass
towards the worse grades (the cumulative probabilities fall): ordered by construction.

* :func:`lightgbm_objective` is the cumulative-logit loss for LightGBM with fixed thresholds (the
  trees learn ``eta``; for K = 2 it is the binary log-loss);
* :class:`OrdinalCalibrator` refits ``scale`` and ``theta`` on a held-out fold (statsmodels'
  ``OrderedModel`` with ``eta`` as its single regressor): temperature scaling for ordered classes,
  Platt scaling when K = 2. It cannot reorder subjects, so monotone constraints survive it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy.special import expit, logit


def initial_thresholds(y, n_classes: int) -> np.ndarray:
    """Thresholds that reproduce the classes' shares at eta = 0 (logits of the cumulative shares)."""
    y = np.asarray(y, int)
    counts = np.bincount(y, minlength=n_classes)[:n_classes].astype(float) + 0.5  # no empty class
    cum = np.cumsum(counts)[:-1] / counts.sum()
    return logit(cum)


def cumulative(eta, thresholds, scale: float = 1.0) -> np.ndarray:
    """P(grade <= k), k = 0 .. K-2, shape (n, K-1)."""
    return expit(np.asarray(thresholds)[None, :] - scale * np.asarray(eta, float)[:, None])


def class_probabilities(eta, thresholds, scale: float = 1.0) -> np.ndarray:
    """P(grade = k), shape (n, K); rows sum to 1."""
    c = cumulative(eta, thresholds, scale)
    n = c.shape[0]
    full = np.hstack([np.zeros((n, 1)), c, np.ones((n, 1))])
    return np.diff(full, axis=1)


def bad_end(proba: np.ndarray) -> np.ndarray:
    """Probability of the bad end: the outcome (two classes), or the two worst grades 较差 or 差."""
    proba = np.asarray(proba)
    return proba[:, -1] if proba.shape[1] == 2 else proba[:, -2:].sum(axis=1)


def median_class(eta, thresholds, scale: float = 1.0) -> np.ndarray:
    """The median grade: the first k with P(grade <= k) >= 1/2 (a non-decreasing step of eta)."""
    c = cumulative(eta, thresholds, scale)
    return (c < 0.5).sum(axis=1)


def lightgbm_objective(thresholds):
    """Cumulative-logit loss -log P(y | eta) with fixed thresholds, as a LightGBM objective.

    With F_k = sigmoid(theta_k - eta) (F_{-1} = 0, F_{K-1} = 1) the gradient in eta is
    1 - F_y - F_{y-1} and the Hessian F_y (1 - F_y) + F_{y-1} (1 - F_{y-1}) > 0.
    """
    theta = np.concatenate([[-np.inf], np.asarray(thresholds, float), [np.inf]])

    def objective(preds, data):
        y = data.get_label().astype(int)
        hi = expit(theta[y + 1] - preds)
        lo = expit(theta[y] - preds)
        grad = 1.0 - hi - lo
        hess = hi * (1 - hi) + lo * (1 - lo)
        return grad, np.maximum(hess, 1e-12)

    return objective


def rank_score(y, eta) -> float:
    """How well ``eta`` orders the labels: AUC for two classes, Kendall's tau-b for more."""
    from scipy.stats import kendalltau
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y)
    if len(np.unique(y)) < 2:
        return float("nan")
    if y.max() <= 1:
        return float(roc_auc_score(y, eta))
    return float(kendalltau(y, eta).statistic)


class OrdinalCalibrator:
    """Scale and thresholds of the cumulative-logit link, fitted by maximum likelihood on a held-out
    fold (statsmodels ``OrderedModel``). Learned state: ``scale_``, ``thresholds_``."""

    def __init__(self, n_classes: int = 5):
        self.n_classes = n_classes

    def fit(self, eta, y) -> "OrdinalCalibrator":
        from statsmodels.miscmodels.ordinal_model import OrderedModel

        y = np.asarray(y, int)
        k = int(self.n_classes)
        counts = np.bincount(y, minlength=k)
        if len(counts) > k or (counts[:k] == 0).any():
            raise ValueError(
                f"the calibration fold must hold every one of the {k} classes; counts {counts.tolist()}: "
                "use a larger calibration fold (more organisations or an extra cut-off)"
            )
        endog = pd.Categorical(y, categories=range(k), ordered=True)
        model = OrderedModel(endog, np.asarray(eta, float)[:, None], distr="logit")
        res = model.fit(method="bfgs", disp=False, maxiter=500)
        scale = float(res.params[0])
        if not scale > 0:
            raise ValueError(
                f"calibration found no positive link between the model's score and the labels (scale {scale:.4g}); "
                "the model does not rank the calibration fold"
            )
        self.scale_ = scale
        self.thresholds_ = [float(t) for t in model.transform_threshold_params(res.params)[1:-1]]
        return self

    def predict_proba(self, eta) -> np.ndarray:
        return class_probabilities(eta, self.thresholds_, self.scale_)

    def to_dict(self) -> dict:
        return {"n_classes": self.n_classes, "scale": self.scale_, "thresholds": self.thresholds_}

    @classmethod
    def from_dict(cls, d: dict) -> "OrdinalCalibrator":
        c = cls(d["n_classes"])
        c.scale_, c.thresholds_ = float(d["scale"]), [float(t) for t in d["thresholds"]]
        return c
