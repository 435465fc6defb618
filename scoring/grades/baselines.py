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
from pathlib import Path
from typing import Any, overload

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils import Tags

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


def _penalised_ordinal_fit(
    Z: np.ndarray, y: np.ndarray, k: int, alpha: float, signs: list[int], maxiter: int
) -> tuple[np.ndarray, list[float]]:
    """Coefficients and thresholds of the cumulative-logit regression ``P(y <= j) = F(theta_j - Z b)``
    maximising the log-likelihood minus ``alpha/2 * |b|^2`` (L-BFGS-B; ``signs`` +1 / -1 bound a
    coefficient to be >= 0 / <= 0, 0 leaves it free). A class absent from ``y`` gets zero width (its
    two thresholds coincide; beyond the last class present, a boundary ``FAR`` logits out)."""
    from scipy.optimize import minimize
    from scipy.special import expit, log_expit

    from scoring.grades.ordinal import FAR, initial_thresholds

    present = np.flatnonzero(np.bincount(y, minlength=k) > 0)
    r = np.searchsorted(present, y)  # rank among the classes present
    m = len(present)
    n, p = Z.shape
    if m < 2:
        raise DataError(f"OrdinalLogit: the labels hold a single class ({present.tolist()}); nothing to order")
    t0 = initial_thresholds(r, m)

    def unpack(w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        b, first, d = w[:p], w[p], w[p + 1 :]
        theta = first + np.concatenate([[0.0], np.cumsum(np.exp(d))])
        return b, theta

    def loss(w: np.ndarray) -> tuple[float, np.ndarray]:
        b, theta = unpack(w)
        eta = Z @ b
        full = np.concatenate([[-np.inf], theta, [np.inf]])
        a, lo = full[r + 1] - eta, full[r] - eta  # upper and lower boundary of each row's class
        gap = full[r + 1] - full[r]  # > 0
        with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
            # log P = log F(a) + log F(-lo) + log(1 - exp(-gap)): exact in the tails
            logp = log_expit(a) + log_expit(-lo) + np.log(-np.expm1(-gap))
            inv = np.where(np.isfinite(gap), 1.0 / np.expm1(gap), 0.0)
        da = np.where(np.isfinite(a), expit(-a) + inv, 0.0)  # d log P / d upper boundary
        dlo = np.where(np.isfinite(lo), -expit(lo) - inv, 0.0)  # d log P / d lower boundary
        nll = -float(logp.sum()) + 0.5 * alpha * float(b @ b)
        g_b = Z.T @ (da + dlo) + alpha * b  # d eta = -d boundary
        g_theta = np.zeros(m - 1)
        np.add.at(g_theta, r[r < m - 1], -da[r < m - 1])
        np.add.at(g_theta, r[r > 0] - 1, -dlo[r > 0])
        g_first = g_theta.sum()
        g_d = np.array([g_theta[j + 1 :].sum() * np.exp(w[p + 1 + j]) for j in range(m - 2)])
        return nll, np.concatenate([g_b, [g_first], g_d])

    w0 = np.concatenate([np.zeros(p), [t0[0]], np.log(np.maximum(np.diff(t0), 1e-3))])
    bounds = [(0.0, None) if s > 0 else (None, 0.0) if s < 0 else (None, None) for s in signs]
    bounds += [(None, None)] * (m - 1)
    res = minimize(loss, w0, jac=True, method="L-BFGS-B", bounds=bounds, options={"maxiter": maxiter})
    b, theta = unpack(res.x)
    fitted = [float(t) for t in theta]
    thresholds = []
    for j in range(k - 1):  # boundary between class j and j + 1, as the calibrator places it
        below = int(np.searchsorted(present, j, side="right")) - 1
        if below < 0:
            thresholds.append(fitted[0] - FAR)
        elif below >= len(fitted):
            thresholds.append(fitted[-1] + FAR)
        else:
            thresholds.append(fitted[below])
    return np.asarray(b, float), thresholds


class OrdinalLogit(ClassifierMixin, BaseEstimator):
    """Cumulative-logit regression on standardised features (missing: training median; constant
    columns dropped), L2-penalised and sign-constrained. Learned state: ``features_``, ``coef_``
    (per standard deviation), ``thresholds_``, ``center_``, ``scale_``, ``signs_``.

    ``alpha``: the L2 penalty on the standardised coefficients (0: the plain maximum-likelihood fit).
    ``directions``: feature -> ``increases_risk`` (coefficient >= 0), ``decreases_risk`` (<= 0) or
    ``none`` (free), as the grade model's monotone constraints. Unpenalised and unconstrained, the
    regression overfits an industry labelled by a rare outcome (a few dozen events, some features
    that separate them, pairs of near-copies such as the sum and the maximum of the penalty amounts):
    coefficients of hundreds of opposite signs that rank the training fold well and the next cut-off
    worse than random (the sign check of :mod:`scoring.grades.champion`).
    Features must be numbers (a category or text column is a DataError naming it)."""

    def __init__(
        self, n_classes: int = 5, maxiter: int = 2000, alpha: float = 1.0, directions: dict[str, str] | None = None
    ):
        self.n_classes = n_classes
        self.maxiter = maxiter
        self.alpha = alpha
        self.directions = directions

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
        X = as_frame(X, "OrdinalLogit")
        require_numeric(X, "OrdinalLogit")
        labels = check_labels(y, "OrdinalLogit", len(X))
        if self.n_classes < 2 or labels.min() < 0 or labels.max() >= self.n_classes:
            raise DataError(f"OrdinalLogit: labels must be class indices 0 .. {self.n_classes - 1}")
        if not (isinstance(self.alpha, (int, float)) and self.alpha >= 0):
            raise ConfigError(f"OrdinalLogit: alpha (the L2 penalty) must be a number >= 0, got {self.alpha!r}")
        check_keys("OrdinalLogit", "directions", (self.directions or {}).keys(), X.columns)
        dirs = canonical_directions("OrdinalLogit", self.directions or {})
        self.feature_names_in_ = np.asarray(list(X.columns), dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        self.classes_ = np.arange(self.n_classes)
        X = X.astype(float)
        center = X.median().fillna(0.0)
        sd = X.fillna(center).std()
        self.features_ = [f for f in X.columns if sd[f] > 0]
        self.center_, self.scale_ = center[self.features_], sd[self.features_]
        sign = {"increases_risk": 1, "decreases_risk": -1}
        self.signs_ = [sign.get(dirs.get(f, NO_DIRECTION), 0) for f in self.features_]
        coef, thresholds = _penalised_ordinal_fit(
            self._design(X), labels, self.n_classes, float(self.alpha), self.signs_, int(self.maxiter)
        )
        self.coef_ = coef
        self.thresholds_ = thresholds
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
            "params": {
                "n_classes": self.n_classes,
                "maxiter": self.maxiter,
                "alpha": self.alpha,
                "directions": dict(self.directions) if self.directions is not None else None,
            },
            "features": self.features_,
            "coef": self.coef_.tolist(),
            "thresholds": self.thresholds_,
            "center": [float(v) for v in self.center_],
            "scale": [float(v) for v in self.scale_],
            "signs": list(self.signs_),
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
        m.signs_ = [int(v) for v in d.get("signs", [0] * len(m.features_))]
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


# -- the baselines as graders (the grader protocol of scoring.grades.model) --------------------
SHEET_GRADER_FORMAT = "xinyi.expert_sheet_grader/1"
LOGIT_GRADER_FORMAT = "xinyi.ordinal_logit_grader/1"
#: how the expert sheet grades when no calibration fold can calibrate it (see ExpertSheetGrader)
SHEET_BANDS_LINK = "sheet_bands"
FOLD_LINK = "calibration_fold"


def _class_names(k: int) -> list:
    from scoring.grades.ordinal import OUTCOME_CLASSES

    return list(GRADES) if k == len(GRADES) else list(OUTCOME_CLASSES) if k == 2 else list(range(k))


class _BaselineGrader:
    """What both calibrated baselines share: the grader protocol on top of ``margin`` (the latent
    risk score, higher = worse) and the ordinal link ``calibrator_`` fitted on a calibration fold."""

    FORMAT = ""
    CONTENDER = ""

    def _set_classes(self, k: int) -> None:
        self.n_classes_ = k
        self.classes_ = np.arange(k)
        self.class_names_ = _class_names(k)

    def margin(self, X: Any) -> np.ndarray:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def _raw_proba(self, X: Any) -> np.ndarray:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def _state(self) -> dict:  # pragma: no cover - every subclass defines it
        raise NotImplementedError

    def predict_proba(self, X: Any, calibrated: bool = True) -> np.ndarray:
        """Class probabilities (n, K): calibrated on the calibration fold (``calibrator_``), or
        (``calibrated=False``) the baseline's own."""
        check_fitted(self)
        if calibrated:
            return self.calibrator_.predict_proba(self.margin(X))
        return self._raw_proba(X)

    def predict_risk(self, X: Any, calibrated: bool = True) -> np.ndarray:
        """Calibrated probability of the bad end: the outcome (two classes), or 较差 or 差 (grades)."""
        from scoring.grades.ordinal import bad_end

        return bad_end(self.predict_proba(X, calibrated))

    def predict_class(self, X: Any) -> np.ndarray:
        """The median class of the calibrated distribution (0 = best); never better for a higher margin."""
        check_fitted(self)
        return median_class(self.margin(X), self.calibrator_.thresholds_, self.calibrator_.scale_)

    def predict(self, X: Any) -> np.ndarray:
        return self.predict_class(X)

    def _content_hash(self) -> str:
        """The grader's version: a hash of everything that decides its output (and its fitted bands)."""
        import hashlib

        body: dict[str, Any] = {
            "format": self.FORMAT,
            "state": self._state(),
            "calibration": self.calibrator_.to_dict(),
            "link": self.link_,
            "features": self.features_,
            "classes": self.class_names_,
        }
        if self.bands_ is not None:
            body["bands"] = self.bands_.model_dump(mode="json")
        text = json.dumps(body, sort_keys=True, ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:12]

    def refresh_version(self) -> str:
        """Recompute ``version_`` (after the fit flow set ``bands_``)."""
        self.version_ = self._content_hash()
        return self.version_

    def save(self, path: str | Path) -> Path:
        """The grader as JSON (no pickle); ``load`` gives it back exactly (its version checked)."""
        check_fitted(self)
        body = {
            "format": self.FORMAT,
            "state": self._state(),
            "n_classes": self.n_classes_,
            "classes": self.class_names_,
            "features": self.features_,
            "calibration": self.calibrator_.to_dict(),
            "link": self.link_,
            "bands": self.bands_.model_dump(mode="json") if self.bands_ is not None else None,
            "version": self.version_,
            "info": self.info_,
        }
        return _write(path, body)

    def _restore(self, d: dict, path: str | Path) -> None:
        from scoring.grades.ordinal import OrdinalCalibrator

        self._set_classes(int(d["n_classes"]))
        self.class_names_ = list(d["classes"])
        self.features_ = list(d["features"])
        self.feature_names_in_ = np.asarray(self.features_, dtype=object)
        self.n_features_in_ = len(self.features_)
        self.calibrator_ = OrdinalCalibrator.from_dict(d["calibration"])
        self.link_ = str(d.get("link", FOLD_LINK))
        self.bands_ = Bands.model_validate(d["bands"]) if d.get("bands") is not None else None
        self.info_ = dict(d.get("info") or {})
        self.version_ = self._content_hash()
        if self.version_ != d["version"]:
            raise DataError(f"{path}: the grader's content does not match its version {d['version']} (file altered?)")


class ExpertSheetGrader(_BaselineGrader, ClassifierMixin, BaseEstimator):
    """The expert sheet (专家评分表) as a calibrated grader: ``margin`` = minus the sheet's points,
    ``contributions`` = minus the points of every item (features off the sheet and ``bias``: 0), the ordinal link fitted on the
    calibration fold (:class:`~scoring.grades.ordinal.OrdinalCalibrator`) gives its probabilities.

    **Last resort.** When no calibration fold can calibrate the sheet (a single class, or no positive
    link), :meth:`fit` with ``fallback=True`` grades by the sheet's own score bands (``bands``): the
    link's thresholds sit at the bands' bounds (half a point below, the points being whole) with
    ``link_scale`` logits per point, so its median class is the sheet's own grade (two classes: 较差 or
    差 is the outcome) and its probabilities are declared, not fitted (``link_`` = ``sheet_bands``)."""

    FORMAT = SHEET_GRADER_FORMAT
    CONTENDER = "expert_sheet"

    def __init__(self, card: str | Path, bands: Bands, n_classes: int = 5, link_scale: float = 0.3):
        self.card = card
        self.bands = bands
        self.n_classes = n_classes
        self.link_scale = link_scale

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.classifier_tags.multi_class = True
        tags.target_tags.required = False
        return tags

    def sheet_link(self) -> Any:
        """The declared link of the sheet's own score bands (see the class docstring)."""
        from scoring.grades.ordinal import OrdinalCalibrator

        if self.bands.kind != "score":
            raise ConfigError("ExpertSheetGrader: the sheet's bands must be score bands (kind: score)")
        s = float(self.link_scale)
        if not s > 0:
            raise ConfigError(f"ExpertSheetGrader: link_scale must be > 0 logits per point, got {self.link_scale!r}")
        bounds = [float(self.bands.bounds[g]) for g in GRADES[:-1]]
        if self.n_classes == 2:
            bounds = [bounds[GRADE_INDEX["中等"]]]  # the outcome: below 中等 (较差 or 差)
        # P(grade <= j) = F(theta_j - s * eta), eta = -points: >= 1/2 from points >= bound_j - 1/2
        thresholds = [-s * (b - 0.5) for b in bounds]
        return OrdinalCalibrator.from_dict({"n_classes": self.n_classes, "scale": s, "thresholds": thresholds})

    def fit(
        self, X: Any, y: Any = None, *, X_cal: Any = None, y_cal: Any = None, fallback: bool = False
    ) -> "ExpertSheetGrader":
        """Load the sheet (nothing is learned from ``X``, ``y``) and calibrate its margin on
        (``X_cal``, ``y_cal``); without a calibration fold, or when it cannot calibrate and
        ``fallback`` is set, the sheet's own score bands (:meth:`sheet_link`)."""
        from scoring.grades.ordinal import OrdinalCalibrator

        X = as_frame(X, "ExpertSheetGrader")
        self.sheet_ = ExpertSheet(self.card, self.bands, self.n_classes).fit(X)
        self._set_classes(int(self.n_classes))
        # every feature it is given, as LightGBM: the list's and the vetoes' inputs; the sheet's items
        # carry its points, the others contribute 0
        self.features_ = [str(c) for c in X.columns]
        self.feature_names_in_ = np.asarray(self.features_, dtype=object)
        self.n_features_in_ = len(self.features_)
        self.info_: dict[str, Any] = {}
        self.bands_: Bands | None = None
        self.calibration_error_ = ""
        if X_cal is not None and y_cal is not None:
            try:
                self.calibrator_ = OrdinalCalibrator(self.n_classes).fit(self.margin(X_cal), y_cal)
                self.link_ = FOLD_LINK
            except DataError as exc:
                if not fallback:
                    raise
                self.calibration_error_ = str(exc)
                self.calibrator_, self.link_ = self.sheet_link(), SHEET_BANDS_LINK
        else:
            self.calibrator_, self.link_ = self.sheet_link(), SHEET_BANDS_LINK
        self.version_ = self._content_hash()
        return self

    @property
    def directions(self) -> dict[str, str]:
        """The feature directions the sheet's points table implies (for code that reads a grader's
        ``directions``, as LightGBM's and the logit's): fewer points for higher values is
        ``increases_risk``, more points ``decreases_risk``; a non-monotone item has none."""
        check_fitted(self)
        out = {}
        for f in self.sheet_.card_.features_:
            table = self.sheet_.card_.points_[f]
            pts = np.diff([table[i] for i in sorted(i for i in table if i >= 0)])
            if len(pts) and (pts <= 0).all():
                out[f] = "increases_risk"
            elif len(pts) and (pts >= 0).all():
                out[f] = "decreases_risk"
        return out

    def points(self, X: Any) -> pd.Series:
        check_fitted(self)
        return self.sheet_.points(X)

    def margin(self, X: Any) -> np.ndarray:
        """Minus the sheet's points (higher = worse)."""
        return -self.points(X).to_numpy(float)

    def _raw_proba(self, X: Any) -> np.ndarray:
        return self.sheet_.predict_proba_raw(X)

    def contributions(self, X: Any) -> pd.DataFrame:
        """Minus the points of every item, plus ``bias`` (0): each row sums exactly to :meth:`margin`."""
        check_fitted(self)
        X = as_frame(X, "ExpertSheetGrader")
        items = -self.sheet_.card_.items(X).astype(float)
        out = pd.DataFrame(0.0, index=X.index, columns=[*self.features_, "bias"])
        out[list(items.columns)] = items
        return out

    def build_table(self) -> pd.DataFrame:
        """The sheet: feature, bin, points (the card's own table)."""
        check_fitted(self)
        return self.sheet_.card_.build_table()

    def _state(self) -> dict:
        return self.sheet_.to_dict()

    @classmethod
    def load(cls, path: str | Path) -> "ExpertSheetGrader":
        d = _read(path, SHEET_GRADER_FORMAT, "an expert sheet grader")
        sheet = ExpertSheet.from_dict(d["state"])
        m = cls(sheet.card, sheet.bands, sheet.n_classes, float(d.get("link_scale", 0.3)))
        m.sheet_ = sheet
        m.calibration_error_ = ""
        m._restore(d, path)
        return m

    def save(self, path: str | Path) -> Path:
        p = super().save(path)
        body = json.loads(p.read_text(encoding="utf-8"))
        body["link_scale"] = self.link_scale
        return _write(p, body)


class OrdinalLogitGrader(_BaselineGrader, ClassifierMixin, BaseEstimator):
    """Ordinal logistic regression (有序逻辑回归, :class:`OrdinalLogit`: L2-penalised, signs from the
    feature directions) as a calibrated grader: ``margin`` = the regression's linear score,
    ``contributions`` = coefficient x standardised value per feature (``bias`` 0: a row at every
    feature's training median has margin 0), the ordinal link fitted on the calibration fold."""

    FORMAT = LOGIT_GRADER_FORMAT
    CONTENDER = "ordinal_logistic"

    def __init__(
        self, n_classes: int = 5, alpha: float = 10.0, directions: dict[str, str] | None = None, maxiter: int = 2000
    ):
        self.n_classes = n_classes
        self.alpha = alpha
        self.directions = directions
        self.maxiter = maxiter

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.classifier_tags.multi_class = True
        tags.target_tags.required = True
        return tags

    def fit(self, X: Any, y: Any, *, X_cal: Any = None, y_cal: Any = None) -> "OrdinalLogitGrader":
        """Fit the regression on (X, y) and its ordinal link on the calibration fold (a DataError when
        the fold cannot calibrate it: a single class, or no positive link)."""
        from scoring.grades.ordinal import OrdinalCalibrator

        if (X_cal is None) != (y_cal is None) or X_cal is None:
            raise DataError("OrdinalLogitGrader: pass the calibration fold X_cal, y_cal")
        X = as_frame(X, "OrdinalLogitGrader")
        self.logit_ = OrdinalLogit(self.n_classes, self.maxiter, self.alpha, self.directions).fit(X, y)
        self._set_classes(int(self.n_classes))
        # every feature it is given, as LightGBM (the list's and the vetoes' inputs); a column constant
        # in training has no coefficient and contributes 0
        self.features_ = [str(c) for c in X.columns]
        self.feature_names_in_ = np.asarray(self.features_, dtype=object)
        self.n_features_in_ = len(self.features_)
        self.info_: dict[str, Any] = {}
        self.bands_: Bands | None = None
        self.calibrator_ = OrdinalCalibrator(self.n_classes).fit(self.margin(X_cal), y_cal)
        self.link_ = FOLD_LINK
        self.version_ = self._content_hash()
        return self

    def margin(self, X: Any) -> np.ndarray:
        check_fitted(self)
        return self.logit_.margin(X)

    def _raw_proba(self, X: Any) -> np.ndarray:
        return self.logit_.predict_proba_raw(X)

    def contributions(self, X: Any) -> pd.DataFrame:
        """Coefficient x standardised value per feature, plus ``bias`` (0); rows sum to :meth:`margin`."""
        check_fitted(self)
        X = as_frame(X, "OrdinalLogitGrader")
        Z = self.logit_._design(X)
        out = pd.DataFrame(0.0, index=X.index, columns=[*self.features_, "bias"])
        out[list(self.logit_.features_)] = Z * self.logit_.coef_[None, :]
        return out

    def build_table(self) -> pd.DataFrame:
        """Per feature: coefficient per standard deviation, its sign constraint, centre and scale."""
        check_fitted(self)
        t = self.logit_.build_table()
        extra = pd.DataFrame(
            {
                "feature": self.logit_.features_,
                "sign": self.logit_.signs_,
                "center": self.logit_.center_.to_numpy(),
                "scale": self.logit_.scale_.to_numpy(),
            }
        )
        return t.merge(extra, on="feature", how="left")

    def _state(self) -> dict:
        return self.logit_.to_dict()

    @classmethod
    def load(cls, path: str | Path) -> "OrdinalLogitGrader":
        d = _read(path, LOGIT_GRADER_FORMAT, "an ordinal logit grader")
        logit = OrdinalLogit.from_dict(d["state"])
        m = cls(logit.n_classes, logit.alpha, logit.directions, logit.maxiter)
        m.logit_ = logit
        m._restore(d, path)
        return m
