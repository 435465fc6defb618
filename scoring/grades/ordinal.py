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

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import expit, logit
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import Tags

from scoring.core.errors import ConfigError, DataError
from scoring.core.estimator import check_fitted, check_labels

FORMAT = "xinyi.ordinal_calibrator/1"
#: the names of the two classes of an outcome label (0: no outcome, 1: the outcome)
OUTCOME_CLASSES = ("无严重违法失信", "发生严重违法失信")


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


def _latent(X: Any, owner: str) -> tuple[np.ndarray, str]:
    """The latent score as a 1-D array (from a 1-D array, a Series or a one-column table) and its name."""
    name = "eta"
    if isinstance(X, pd.DataFrame):
        if X.shape[1] != 1:
            raise DataError(f"{owner}: X must be the one latent risk score, got {X.shape[1]} columns")
        name, X = str(X.columns[0]), X.iloc[:, 0]
    elif isinstance(X, pd.Series) and X.name is not None:
        name = str(X.name)
    try:
        arr = np.asarray(X, dtype=float)
    except (TypeError, ValueError):
        raise DataError(f"{owner}: the latent risk score must be numbers") from None
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise DataError(f"{owner}: X must be the one latent risk score (1-D, or one column), got shape {arr.shape}")
    return arr, name


#: logits between the last fitted boundary and that of a class absent beyond it (probability ~1e-13)
FAR = 30.0


class OrdinalCalibrator(ClassifierMixin, BaseEstimator):
    """Scale and thresholds of the cumulative-logit link, fitted by maximum likelihood on a held-out
    fold (statsmodels ``OrderedModel``). Learned state: ``scale_``, ``thresholds_``. A class absent
    from the fold gets zero width (two equal thresholds; beyond the last class present, a boundary
    ``FAR`` logits out): its calibrated probability is what the fold supports, none.

    A scikit-learn classifier of one input, the latent risk score ``eta`` (a 1-D array or one
    column): ``fit(eta, y)`` with class indices ``y`` 0 .. ``n_classes``-1 (``classes_``),
    :meth:`predict_proba` the calibrated class probabilities, :meth:`predict` the median class.
    Before :meth:`fit` (or :meth:`from_dict` / :meth:`load`) every use raises
    :class:`~scoring.core.errors.NotFittedError`."""

    def __init__(self, n_classes: int = 5):
        self.n_classes = n_classes

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.one_d_array = True
        tags.classifier_tags.multi_class = True
        tags.target_tags.required = True
        return tags

    def fit(self, X: Any, y: Any) -> "OrdinalCalibrator":
        from statsmodels.miscmodels.ordinal_model import OrderedModel

        eta, name = _latent(X, "OrdinalCalibrator")
        k = int(self.n_classes)
        if k < 2:
            raise ConfigError(f"OrdinalCalibrator: n_classes must be at least 2, got {self.n_classes!r}")
        y = check_labels(y, "OrdinalCalibrator", len(eta))
        counts = np.bincount(y, minlength=k) if (y >= 0).all() else np.array([-1])
        present = np.flatnonzero(counts[:k] > 0) if len(counts) == k else np.array([], dtype=int)
        if len(counts) > k or len(present) < 2:
            raise DataError(
                f"the calibration fold must hold at least two of the {k} classes; counts {counts.tolist()}: "
                "use a larger calibration fold (more organisations or an extra cut-off)"
            )
        # a class absent from the fold (a rare grade such as 差 on a small industry) gets the width the
        # fold gives it, none: the likelihood is fitted on the classes present and the absent class's
        # boundary coincides with its neighbour's (beyond the last class present: far out)
        rank = np.searchsorted(present, y)
        endog = pd.Categorical(rank, categories=range(len(present)), ordered=True)
        model = OrderedModel(endog, eta[:, None], distr="logit")
        res = model.fit(method="bfgs", disp=False, maxiter=500)
        scale = float(res.params[0])
        if not scale > 0:
            raise DataError(
                f"calibration found no positive link between the model's score and the labels (scale {scale:.4g}); "
                "the model does not rank the calibration fold"
            )
        fitted = [float(t) for t in model.transform_threshold_params(res.params)[1:-1]]
        thresholds = []
        for j in range(k - 1):  # boundary between class j and j + 1: P(y <= j)
            below = int(np.searchsorted(present, j, side="right")) - 1  # last present class <= j
            if below < 0:
                thresholds.append(fitted[0] - FAR)
            elif below >= len(fitted):
                thresholds.append(fitted[-1] + FAR)
            else:
                thresholds.append(fitted[below])
        self.thresholds_ = thresholds
        self.scale_ = scale
        self._set_fitted_shape(name)
        return self

    def _set_fitted_shape(self, name: str = "eta") -> None:
        self.classes_ = np.arange(int(self.n_classes))
        self.feature_names_in_ = np.asarray([name], dtype=object)
        self.n_features_in_ = 1

    def predict_proba(self, X: Any) -> np.ndarray:
        """Calibrated class probabilities (n, K) of the latent score(s) ``X``."""
        check_fitted(self)
        return class_probabilities(_latent(X, "OrdinalCalibrator")[0], self.thresholds_, self.scale_)

    def predict(self, X: Any) -> np.ndarray:
        """The median class (0 = best) of the calibrated distribution."""
        check_fitted(self)
        return median_class(_latent(X, "OrdinalCalibrator")[0], self.thresholds_, self.scale_)

    def to_dict(self) -> dict:
        check_fitted(self)
        return {"n_classes": self.n_classes, "scale": self.scale_, "thresholds": self.thresholds_}

    @classmethod
    def from_dict(cls, d: dict) -> "OrdinalCalibrator":
        c = cls(d["n_classes"])
        c.scale_, c.thresholds_ = float(d["scale"]), [float(t) for t in d["thresholds"]]
        c._set_fitted_shape(str(d.get("feature_names_in", ["eta"])[0]))
        return c

    def save(self, path: str | Path) -> Path:
        """The link as JSON (no pickle); :meth:`load` gives it back exactly."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        body = {"format": FORMAT, **self.to_dict(), "feature_names_in": [str(c) for c in self.feature_names_in_]}
        p.write_text(json.dumps(body), encoding="utf-8")
        return p

    @classmethod
    def load(cls, path: str | Path) -> "OrdinalCalibrator":
        d = json.loads(Path(path).read_text(encoding="utf-8"))
        if d.get("format") != FORMAT:
            raise DataError(f"{path}: not an ordinal calibrator file (expected format {FORMAT})")
        return cls.from_dict(d)


# -- an industry's level shrunk towards the pooled one (全市合并模型的行业水平收缩) ------------------------


@dataclass(frozen=True)
class GroupShift:
    """One group's (industry's) location shift of the latent score under a fixed link.

    ``shift``: the shrunk shift (the posterior mode under a normal prior N(0, ``prior_sd``²) around the
    pooled level); ``mle``: the group's own maximum-likelihood shift (None when its rows all sit in
    the best or all in the worst class, where the likelihood has no maximum); ``weight``: how much
    the group's own data counts, information / (information + 1 / prior_sd²) at the shrunk shift
    (0: the pooled level, 1: the group's own); ``information``: the Fisher information of the
    group's rows about its shift; ``rows``: the group's rows."""

    shift: float
    mle: float | None
    weight: float
    information: float
    rows: int


def _shift_terms(eta: np.ndarray, y: np.ndarray, theta: np.ndarray, scale: float, shift: float):
    """Loss -log P(y | scale * (eta + shift)), its first and second derivatives in ``shift``."""
    bounds = np.concatenate([[-np.inf], theta, [np.inf]])
    z = scale * (eta + shift)
    hi, lo = expit(bounds[y + 1] - z), expit(bounds[y] - z)
    p = np.clip(hi - lo, 1e-300, None)
    grad = scale * float(np.sum(1.0 - hi - lo))
    hess = scale**2 * float(np.sum(hi * (1 - hi) + lo * (1 - lo)))
    return float(-np.log(p).sum()), grad, hess


def _mode(eta: np.ndarray, y: np.ndarray, theta: np.ndarray, scale: float, precision: float) -> tuple[float, float]:
    """The shift minimising loss + precision * shift² / 2 (Newton with step halving; the objective
    is convex) and the information (second derivative of the loss) there."""
    d = 0.0
    for _ in range(100):
        f, g, h = _shift_terms(eta, y, theta, scale, d)
        f, g, h = f + 0.5 * precision * d * d, g + precision * d, h + precision
        step = float(np.clip(g / max(h, 1e-12), -5.0, 5.0))
        t = 1.0
        while t > 1e-6:
            if _shift_terms(eta, y, theta, scale, d - t * step)[0] + 0.5 * precision * (d - t * step) ** 2 <= f:
                break
            t /= 2
        d -= t * step
        if abs(t * step) < 1e-10:
            break
    return d, _shift_terms(eta, y, theta, scale, d)[2]


def shrunk_shifts(
    eta: Any,
    y: Any,
    groups: Any,
    thresholds: Any,
    scale: float = 1.0,
    *,
    prior_sd: float | None = None,
    exclude: Iterable[str] = (),
) -> tuple[dict[str, GroupShift], float]:
    """Every group's location shift of the latent score under the link (``thresholds``, ``scale``),
    shrunk towards 0 (the pooled level) by empirical Bayes: P(y <= k) = sigmoid(theta_k - scale *
    (eta + shift_g)), shift_g ~ N(0, prior_sd²) (a random intercept per group).

    ``prior_sd`` (the spread of the groups' true levels around the pooled one) is estimated, when not
    given, by maximising the groups' marginal likelihood (Laplace's approximation of the integral
    over each group's shift; groups without any outcome count too), leaving out the groups in
    ``exclude`` (e.g. the industry whose level is being estimated, so its own few outcomes do not
    also set how far it may move); with fewer than two groups to estimate it from, every group keeps
    its own level (weight 1). A group with few outcomes carries little information about its shift,
    so its weight is small and its level stays near the pooled one; a group with no outcome at all
    still gets a finite shift. Returns the shifts by group and the prior standard deviation used."""
    from scipy.optimize import minimize_scalar

    eta = np.asarray(eta, float)
    y = np.asarray(y, int)
    g = np.asarray(groups).astype(str)
    theta = np.asarray(thresholds, float)
    k = len(theta) + 1
    if not (len(eta) == len(y) == len(g)):
        raise DataError("shrunk_shifts: eta, y and groups must have the same length")
    if len(y) and (y.min() < 0 or y.max() >= k):
        raise DataError(f"shrunk_shifts: labels must be class indices 0 .. {k - 1}")
    if not scale > 0:
        raise DataError(f"shrunk_shifts: the link's scale must be positive, got {scale!r}")
    names = sorted(set(g.tolist()))
    rows = {name: g == name for name in names}
    own: dict[str, tuple[float | None, float]] = {}
    for name, m in rows.items():
        yy = y[m]
        own[name] = (None, 0.0) if (yy == 0).all() or (yy == k - 1).all() else _mode(eta[m], yy, theta, scale, 0.0)
    left_out = set(exclude)
    prior = [name for name in names if name not in left_out]
    if prior_sd is None:
        if len(prior) < 2:
            prior_sd = float("inf")
        else:

            def neg_marginal(log_tau2: float) -> float:
                tau2 = float(np.exp(log_tau2))
                total = 0.0
                for name in prior:
                    m = rows[name]
                    d, info = _mode(eta[m], y[m], theta, scale, 1.0 / tau2)
                    loss = _shift_terms(eta[m], y[m], theta, scale, d)[0]
                    total += loss + d * d / (2 * tau2) + 0.5 * np.log(tau2) + 0.5 * np.log(info + 1.0 / tau2)
                return total

            res = minimize_scalar(neg_marginal, bounds=(np.log(1e-6), np.log(25.0)), method="bounded")
            prior_sd = float(np.sqrt(np.exp(res.x)))
    if not prior_sd > 0:
        raise DataError(f"shrunk_shifts: prior_sd must be positive, got {prior_sd!r}")
    precision = 0.0 if np.isinf(prior_sd) else 1.0 / prior_sd**2
    out: dict[str, GroupShift] = {}
    for name, m in rows.items():
        mle, info = own[name]
        if precision == 0.0:
            if mle is None:
                raise DataError(
                    f"shrunk_shifts: group {name!r} has all its rows in one end class and there is no other "
                    "group to shrink it towards"
                )
            d, weight = mle, 1.0
        else:
            d, info = _mode(eta[m], y[m], theta, scale, precision)
            weight = info / (info + precision)
        out[name] = GroupShift(float(d), mle, float(weight), float(info), int(m.sum()))
    return out, float(prior_sd)


def shifted(calibrator: OrdinalCalibrator, shift: float) -> OrdinalCalibrator:
    """The calibrator of the latent score ``eta`` whose link is that of ``calibrator`` at ``eta +
    shift``: the thresholds move by ``-scale * shift``, the scale stays (the order of subjects too)."""
    check_fitted(calibrator)
    c = OrdinalCalibrator.from_dict(calibrator.to_dict())
    c.thresholds_ = [float(t - calibrator.scale_ * shift) for t in calibrator.thresholds_]
    return c
