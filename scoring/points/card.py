"""The 信义金 points card: a transparent, additive 0-1000 personal score.

"信用底线、正向累积、不分等级":

* 正向累积 — every line item (a feature's bin) is worth 0 or more integer points, the worst bin of
  each feature is worth 0, and the items sum to the score;
* the best possible person has exactly ``total`` (1000) points; everyone is between 0 and 1000;
* per-feature or per-dimension caps (e.g. volunteering at most 50 of 1000);
* 不分等级 — the card produces numbers only, never a tier or grade label.

The bottom-line gate (信用底线: suspension while on a serious-dishonesty list) is applied where the
score is used, not here (see :mod:`scoring.points.gate`).

Fitting: monotone binning of each feature (:mod:`scoring.points.binning`), weight of evidence, a logistic
regression on WoE whose coefficients are constrained to be >= 0 (so points always follow the
declared risk direction), then scaling: with ``r_jk = coef_j * woe_jk`` the risk of bin k of feature
j, feature j gets ``M_j`` points in all, allocated in proportion to its risk range (largest remainder,
caps respected, sum exactly ``total``), and bin k gets ``round(M_j * (max_k r_jk - r_jk) / range_j)``.

A card prints as a table (:meth:`PointsCard.build_table`), saves to JSON and loads back exactly
(:meth:`save` / :meth:`load`), and exports as SQL, one CASE expression per feature (:meth:`to_sql`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, cast, overload

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, model_validator
from sklearn.base import BaseEstimator
from sklearn.utils import Tags

from scoring.core.errors import ConfigError, DataError
from scoring.core.estimator import (
    NO_DIRECTION,
    as_frame,
    canonical_directions,
    check_fitted,
    check_keys,
    is_text_or_category,
    require_columns,
)
from scoring.points.binning import MISSING, Direction, MonotoneBinning

FORMAT = "xinyi.points_card/1"


def _nonneg_logistic(X: np.ndarray, y: np.ndarray, alpha: float) -> tuple[float, np.ndarray]:
    """Logistic regression with coefficients >= 0 (free intercept), L2 penalty ``alpha``."""
    from scipy.optimize import minimize

    n, p = X.shape
    Xa = np.hstack([np.ones((n, 1)), X])

    def loss(w: np.ndarray):
        z = Xa @ w
        # log(1 + exp(z)) - y z, stably
        ll = np.logaddexp(0.0, z) - y * z
        pr = 1.0 / (1.0 + np.exp(-z))
        g = Xa.T @ (pr - y) / n
        g[1:] += alpha * w[1:]
        return ll.mean() + 0.5 * alpha * float(w[1:] @ w[1:]), g

    base = np.log((y.mean() + 1e-9) / (1 - y.mean() + 1e-9))
    w0 = np.concatenate([[base], np.full(p, 0.5)])
    bounds = [(None, None)] + [(0.0, None)] * p
    res = minimize(loss, w0, jac=True, method="L-BFGS-B", bounds=bounds, options={"maxiter": 500})
    return float(res.x[0]), np.asarray(res.x[1:])


def allocate(
    weights: Mapping[str, float],
    total: int,
    groups: Mapping[str, str] | None = None,
    caps: Mapping[str, int] | None = None,
) -> dict[str, int]:
    """Integer points per feature summing exactly to ``total``, proportional to ``weights``,
    with caps per feature or per group (a feature's group is ``groups[feature]``)."""
    groups = dict(groups or {})
    caps = dict(caps or {})
    names = [k for k in weights if weights[k] > 0]
    if not names:
        raise DataError("no feature separates risk: every coefficient or risk range is zero")
    cap_of: dict[str, list[str]] = {}
    for f in names:
        for key in [f] + ([groups[f]] if f in groups else []):
            if key in caps:
                cap_of.setdefault(key, []).append(f)
    # continuous allocation with caps (water-filling)
    fixed: dict[str, float] = {}
    while True:
        free = [f for f in names if f not in fixed]
        budget = total - sum(fixed.values())
        wsum = sum(weights[f] for f in free)
        if not free or wsum <= 0:
            break
        alloc = {f: budget * weights[f] / wsum for f in free}
        over = None
        for key, members in cap_of.items():
            live = [m for m in members if m in alloc]
            have = sum(alloc[m] for m in live) + sum(fixed.get(m, 0.0) for m in members)
            if live and have > caps[key] + 1e-9:
                over = (key, live, members)
                break
        if over is None:
            fixed.update(alloc)
            break
        key, live, members = over
        room = caps[key] - sum(fixed.get(m, 0.0) for m in members)
        lw = sum(weights[m] for m in live)
        for m in live:
            fixed[m] = room * weights[m] / lw
    if abs(sum(fixed.values()) - total) > 1e-6:
        raise ConfigError(f"caps {caps} leave no room to reach {total} points with these features")
    # integers: floor, then largest remainders, never exceeding a cap
    out = {f: int(math.floor(fixed[f] + 1e-9)) for f in names}
    left = total - sum(out.values())
    for f in sorted(names, key=lambda f: fixed[f] - out[f], reverse=True):
        if left == 0:
            break
        if all(sum(out[m] for m in cap_of[k]) + 1 <= caps[k] for k in cap_of if f in cap_of[k]):
            out[f] += 1
            left -= 1
    if left:
        raise ConfigError(f"could not place {left} points within the caps {caps}")
    return {k: out.get(k, 0) for k in weights}


class ExpertBin(BaseModel):
    model_config = ConfigDict(extra="forbid")
    below: float | None = None
    points: int


class ExpertFeature(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bins: list[ExpertBin]
    missing: int = 0


class ExpertCard(BaseModel):
    """configs/points/expert_*.yaml: a card written by hand."""

    model_config = ConfigDict(extra="forbid")
    name: str
    total: int = 1000
    features: dict[str, ExpertFeature]

    @model_validator(mode="after")
    def _rules(self) -> "ExpertCard":
        best = 0
        for f, spec in self.features.items():
            if not spec.bins or spec.bins[-1].below is not None:
                raise ValueError(f"features.{f}: the last bin must have no upper bound")
            bounds = [b.below for b in spec.bins[:-1] if b.below is not None]
            if len(bounds) != len(spec.bins) - 1 or bounds != sorted(bounds) or len(set(bounds)) != len(bounds):
                raise ValueError(f"features.{f}: bin bounds must be given and strictly increasing")
            pts = [b.points for b in spec.bins] + [spec.missing]
            if min(pts) < 0:
                raise ValueError(f"features.{f}: points must be >= 0 (正向累积)")
            best += max(pts)
        if best != self.total:
            raise ValueError(f"the best possible person would have {best} points, not {self.total}: adjust the points")
        return self


def load_expert_card(path: str | Path | None = None, features=None) -> "PointsCard":
    """Build a :class:`PointsCard` from an expert card file (default configs/points/expert_person.yaml)."""
    from scoring.core.config import config_dir, load_model

    p = Path(path) if path is not None else config_dir() / "points" / "expert_person.yaml"
    spec = load_model(ExpertCard, p)
    if features is not None:
        unknown = sorted(set(spec.features) - set(features))
        if unknown:
            from scoring.core.errors import ConfigError

            raise ConfigError(f"{p}: features: {unknown} are not in the feature set")
    return PointsCard.from_expert(spec)


class PointsCard(BaseEstimator):
    """信义金 points card (see the module docstring), a scikit-learn estimator.

    Parameters (stored as given, validated in :meth:`fit`): ``features``: the columns to score (all
    columns of X by default); ``directions``: feature -> ``increases_risk`` / ``decreases_risk`` /
    ``none`` (no declared direction, the default: the binning takes the most informative shape;
    ``auto`` is a deprecated alias of ``none``); ``dtypes``: feature -> ``numerical`` /
    ``categorical`` (a pandas category, string or text column is categorical unless declared
    numerical); ``dimensions``: feature -> dimension name; ``caps``: feature or dimension -> maximum
    points; ``basis``: feature -> catalogue basis text (shown in tables only). A key of
    ``directions``, ``dtypes``, ``dimensions`` or ``special_values`` that is not a column of X, or a
    key of ``caps`` that is neither a column nor a dimension, is a
    :class:`~scoring.core.errors.ConfigError` naming it (so a misspelt cap cannot quietly fail to apply).

    After :meth:`fit`: :meth:`predict` / :meth:`score` give the points (integers in 0..``total``),
    :meth:`items` the line items, :meth:`predict_risk` / :meth:`predict_proba` the model's probability
    of the outcome; ``score(X, y)`` with labels is the card's AUC (scikit-learn's default scoring, so
    ``cross_val_score`` ranks cards by discrimination). The card is neither a classifier nor a
    regressor: its prediction is points, higher is better. Before :meth:`fit` (or :meth:`load`) every
    use raises :class:`~scoring.core.errors.NotFittedError`.
    """

    expert_: str  # the expert card's name, on cards built by hand (:meth:`from_expert`) only

    def __init__(
        self,
        features: list[str] | None = None,
        directions: Mapping[str, str] | None = None,
        dtypes: Mapping[str, str] | None = None,
        dimensions: Mapping[str, str] | None = None,
        caps: Mapping[str, int] | None = None,
        basis: Mapping[str, str] | None = None,
        total: int = 1000,
        max_bins: int = 8,
        min_bin_share: float = 0.03,
        max_prebins: int = 20,
        alpha: float = 1e-3,
        special_values: Mapping[str, list[float]] | None = None,
    ):
        self.features = features
        self.directions = directions
        self.dtypes = dtypes
        self.dimensions = dimensions
        self.caps = caps
        self.basis = basis
        self.total = total
        self.max_bins = max_bins
        self.min_bin_share = min_bin_share
        self.max_prebins = max_prebins
        self.alpha = alpha
        self.special_values = special_values

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # missing values get a bin (and points) of their own
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        tags.target_tags.required = True  # the binary outcome the card is fitted on
        tags.target_tags.single_output = True
        return tags

    # -- fitting ---------------------------------------------------------------------------
    def _dtype_of(self, X: pd.DataFrame, f: str, declared: Mapping[str, str]) -> str:
        if f in declared:
            return declared[f]
        return "categorical" if is_text_or_category(X[f]) else "numerical"

    def fit(self, X: Any, y: Any) -> "PointsCard":
        """Bin every feature, fit the non-negative logistic regression on WoE, scale to ``total``
        points. ``y`` is the 0/1 outcome."""
        X = as_frame(X, "PointsCard")
        try:
            y = np.asarray(y, dtype=float)
        except (TypeError, ValueError):
            raise DataError("PointsCard: y must be the 0/1 outcome") from None
        if y.ndim != 1 or len(y) != len(X):
            raise DataError(f"PointsCard: X has {len(X)} rows but y has shape {y.shape}")
        if not isinstance(self.total, (int, np.integer)) or self.total < 1:
            raise ConfigError(f"PointsCard: total must be a positive whole number of points, got {self.total!r}")
        feats = list(self.features) if self.features is not None else list(X.columns)
        missing = [f for f in feats if f not in X.columns]
        if missing:
            raise DataError(f"PointsCard: X lacks the features {missing}")
        cols = list(X.columns)
        dims = dict(self.dimensions or {})
        check_keys("PointsCard", "directions", (self.directions or {}).keys(), cols)
        check_keys("PointsCard", "dtypes", (self.dtypes or {}).keys(), cols)
        check_keys("PointsCard", "dimensions", dims.keys(), cols)
        check_keys("PointsCard", "special_values", (self.special_values or {}).keys(), cols)
        check_keys(
            "PointsCard",
            "caps",
            (self.caps or {}).keys(),
            cols + sorted(set(dims.values())),
            hint=f"a cap names a feature or a dimension; dimensions: {sorted(set(dims.values()))}",
        )
        dirs = canonical_directions("PointsCard", self.directions or {})
        dts, spec = dict(self.dtypes or {}), dict(self.special_values or {})
        self.binnings_ = {}
        for f in feats:
            self.binnings_[f] = MonotoneBinning(
                f,
                cast(Literal["numerical", "categorical"], self._dtype_of(X, f, dts)),
                cast(Direction, dirs.get(f, NO_DIRECTION)),
                self.max_prebins,
                self.min_bin_share,
                self.max_bins,
                tuple(spec.get(f, ())),
            ).fit(X[f], y)
        W = np.column_stack([self.binnings_[f].transform(X[f]) for f in feats])
        self.intercept_, coef = _nonneg_logistic(W, y, self.alpha)
        self.coef_ = dict(zip(feats, coef.tolist()))
        self.features_ = feats
        self.feature_names_in_ = np.asarray(list(X.columns), dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        self._scale()
        return self

    def _bin_risks(self, f: str) -> list[tuple[str, int, float]]:
        """(label, bin index as in MonotoneBinning.bin_index, risk) for every bin incl. missing/special."""
        b = self.binnings_[f]
        c = self.coef_[f]
        out = [(lab, i, c * w) for i, (lab, w) in enumerate(zip(b.bin_labels(), b.woe_))]
        for k, (v, w) in enumerate(b.special_woe_.items()):
            out.append((f"Special {v:g}", -2 - k, c * w))
        out.append((MISSING, -1, c * b.missing_woe_))
        return out

    def _scale(self) -> None:
        risks = {f: self._bin_risks(f) for f in self.features_}

        # only bins that occur in the data bound a feature's range (an empty missing bin has no say)
        def seen(f):
            b = self.binnings_[f]
            counts = list(b.bin_n_) + [s[0] for s in b.special_stats_.values()] + [b.missing_stats_[0]]
            return [r for r, n in zip(risks[f], counts) if n > 0]

        rng = {}
        for f in self.features_:
            rs = [r for _, _, r in seen(f)]
            rng[f] = (max(rs) - min(rs)) if rs else 0.0
        groups = dict(self.dimensions or {})
        self.max_points_ = allocate(rng, self.total, groups, dict(self.caps or {}))
        self.points_ = {}
        for f in self.features_:
            rs = [r for _, _, r in seen(f)]
            hi = max(rs) if rs else 0.0
            M = self.max_points_[f]
            pts = {}
            for _lab, idx, r in risks[f]:
                if rng[f] <= 0 or M == 0:
                    p = 0
                else:
                    p = int(round(M * (hi - r) / rng[f]))
                pts[idx] = min(max(p, 0), M)
            self.points_[f] = self._monotone_points(f, pts)

    def _monotone_points(self, f: str, pts: dict[int, int]) -> dict[int, int]:
        """Points of a feature with a declared direction never move against it across its ordered bins
        (正向累积): the bins' event rates are monotone, but the smoothed WoE of two nearly equal
        neighbours can cross by a hair; such a pair shares the lower points."""
        b = self.binnings_[f]
        direction = canonical_directions("PointsCard", {f: b.direction})[f]
        if b.dtype != "numerical" or direction == NO_DIRECTION:
            return pts
        order = list(range(b.n_bins))
        vals = np.array([pts[i] for i in order])
        # increases_risk: points fall (weakly) with the bin; decreases_risk: they rise. Keep the lower
        # points of a crossing pair so that the invariant never grants points.
        fixed = (
            np.minimum.accumulate(vals) if direction == "increases_risk" else np.minimum.accumulate(vals[::-1])[::-1]
        )
        return {**pts, **{i: int(v) for i, v in zip(order, fixed)}}

    # -- scoring ---------------------------------------------------------------------------
    def _X(self, X: Any) -> pd.DataFrame:
        check_fitted(self)
        X = as_frame(X, "PointsCard")
        require_columns(X, self.features_, "PointsCard")
        return X

    def items(self, X: Any) -> pd.DataFrame:
        """Points of every line item: one column per feature; rows sum to :meth:`score`."""
        X = self._X(X)
        out = {}
        for f in self.features_:
            idx = self.binnings_[f].bin_index(X[f])
            table = self.points_[f]
            out[f] = np.array([table[i] for i in idx], dtype=np.int64)
        return pd.DataFrame(out, index=X.index)

    @overload
    def score(self, X: Any, y: None = None) -> pd.Series: ...

    @overload
    def score(self, X: Any, y: Any) -> float: ...

    def score(self, X: Any, y: Any = None) -> pd.Series | float:
        """The points of every row (a Series named ``points``); with labels ``y`` (0/1 outcome), the
        card's AUC: how well fewer points pick out the outcome (scikit-learn's default scoring)."""
        points = self.items(X).sum(axis=1).rename("points")
        if y is None:
            return points
        from sklearn.metrics import roc_auc_score

        return float(roc_auc_score(np.asarray(y, dtype=float), -points.to_numpy(float)))

    def predict(self, X: Any) -> np.ndarray:
        """The points of every row (integers in 0..``total``), as an array; :meth:`score` as a Series."""
        return self.score(X).to_numpy()

    def predict_risk(self, X: Any) -> np.ndarray:
        """The fitted model's probability of the outcome (for calibration checks)."""
        check_fitted(self)
        if getattr(self, "expert_", None):
            raise DataError(
                f"card {self.expert_!r} is an expert card: it has no model probability; "
                "calibrate its points on data instead (scoring.points.personal.points_calibration)"
            )
        X = self._X(X)
        z = self.intercept_ + sum(self.coef_[f] * self.binnings_[f].transform(X[f]) for f in self.features_)
        return 1.0 / (1.0 + np.exp(-z))

    def predict_proba(self, X: Any) -> np.ndarray:
        """(n, 2): the model's probability of no outcome and of the outcome (:meth:`predict_risk`)."""
        risk = self.predict_risk(X)
        return np.column_stack([1.0 - risk, risk])

    # -- tables ----------------------------------------------------------------------------
    def build_table(self) -> pd.DataFrame:
        """The card as a readable table: feature, bin, points, WoE, count, event rate, basis."""
        check_fitted(self)
        rows = []
        basis = dict(self.basis or {})
        for f in self.features_:
            t = self.binnings_[f].build_table()
            idx = [i for _, i, _ in self._bin_risks(f)]
            for (_, r), i in zip(t.iterrows(), idx):
                rows.append(
                    {
                        "feature": f,
                        "bin": r["bin"],
                        "points": self.points_[f][i],
                        "woe": r["woe"],
                        "count": r["count"],
                        "event_rate": r["event_rate"],
                        "basis": basis.get(f, ""),
                    }
                )
        return pd.DataFrame(rows)

    def summary(self) -> pd.DataFrame:
        """Per feature: maximum points, coefficient, IV, dimension."""
        check_fitted(self)
        dims = dict(self.dimensions or {})
        return pd.DataFrame(
            [
                {
                    "feature": f,
                    "max_points": self.max_points_[f],
                    "coef": self.coef_[f],
                    "iv": self.binnings_[f].iv_,
                    "dimension": dims.get(f, ""),
                }
                for f in self.features_
            ]
        )

    @classmethod
    def from_expert(cls, spec: ExpertCard) -> "PointsCard":
        """The same card object from hand-written points: no model behind it (``coef_`` is 0,
        :meth:`predict_risk` is unavailable); binning statistics are empty until data is seen."""
        card = cls(features=list(spec.features), total=spec.total)
        card.features_ = list(spec.features)
        card.intercept_, card.coef_, card.binnings_, card.points_, card.max_points_ = 0.0, {}, {}, {}, {}
        card.expert_ = spec.name
        card.feature_names_in_ = np.asarray(card.features_, dtype=object)
        card.n_features_in_ = len(card.features_)
        for f, fs in spec.features.items():
            splits = [b.below for b in fs.bins[:-1]]
            k = len(fs.bins)
            card.binnings_[f] = MonotoneBinning.from_dict(
                {
                    "name": f,
                    "dtype": "numerical",
                    "direction": NO_DIRECTION,
                    "max_prebins": 20,
                    "min_bin_share": 0.0,
                    "max_bins": k,
                    "special_values": [],
                    "increasing": True,
                    "splits": splits,
                    "categories": [],
                    "bin_n": [0.0] * k,
                    "bin_events": [0.0] * k,
                    "missing": [0, 0.0],
                    "special": [],
                    "total_events": 0.0,
                    "total_non_events": 0.0,
                    "n_total": 0,
                }
            )
            card.points_[f] = {i: b.points for i, b in enumerate(fs.bins)} | {-1: fs.missing}
            card.coef_[f] = 0.0
            card.max_points_[f] = max(card.points_[f].values())
        return card

    def evaluate(self, X: pd.DataFrame, y) -> "PointsCard":
        """Recount every bin's rows, events and WoE on (X, y) without changing bins or points
        (fills an expert card's table, or shows a fitted card on new data)."""
        X = self._X(X)
        y = np.asarray(y, dtype=float)
        for f in self.features_:
            b = self.binnings_[f]
            idx = b.bin_index(X[f])
            b.bin_n_ = np.bincount(idx[idx >= 0], minlength=b.n_bins).astype(float)
            b.bin_events_ = np.bincount(idx[idx >= 0], weights=y[idx >= 0], minlength=b.n_bins)
            b.missing_stats_ = (int((idx == -1).sum()), float(y[idx == -1].sum()))
            b.special_stats_ = {
                v: (int((idx == -2 - k).sum()), float(y[idx == -2 - k].sum())) for k, v in enumerate(b.special_stats_)
            }
            b.total_events_, b.total_non_events_, b.n_total_ = float(y.sum()), float(len(y) - y.sum()), int(len(y))
            b._finish()
        return self

    # -- persistence -----------------------------------------------------------------------
    def to_dict(self) -> dict:
        check_fitted(self)
        return {
            "format": FORMAT,
            "params": {
                "features": self.features,
                "directions": dict(self.directions or {}),
                "dtypes": dict(self.dtypes or {}),
                "dimensions": dict(self.dimensions or {}),
                "caps": dict(self.caps or {}),
                "basis": dict(self.basis or {}),
                "total": self.total,
                "max_bins": self.max_bins,
                "min_bin_share": self.min_bin_share,
                "max_prebins": self.max_prebins,
                "alpha": self.alpha,
                "special_values": dict(self.special_values or {}),
            },
            "features": self.features_,
            "intercept": self.intercept_,
            "coef": self.coef_,
            "expert": getattr(self, "expert_", None),
            "max_points": self.max_points_,
            "points": {f: {str(k): v for k, v in p.items()} for f, p in self.points_.items()},
            "binnings": {f: b.to_dict() for f, b in self.binnings_.items()},
            "feature_names_in": [str(c) for c in self.feature_names_in_],
        }

    @classmethod
    def from_dict(cls, d: dict) -> "PointsCard":
        if d.get("format") != FORMAT:
            raise DataError(f"not a points card file (format {d.get('format')!r}, expected {FORMAT})")
        card = cls(**d["params"])
        card.features_ = list(d["features"])
        card.intercept_ = float(d["intercept"])
        card.coef_ = {k: float(v) for k, v in d["coef"].items()}
        card.max_points_ = {k: int(v) for k, v in d["max_points"].items()}
        card.points_ = {f: {int(k): int(v) for k, v in p.items()} for f, p in d["points"].items()}
        card.binnings_ = {f: MonotoneBinning.from_dict(b) for f, b in d["binnings"].items()}
        card.feature_names_in_ = np.asarray(d.get("feature_names_in", card.features_), dtype=object)
        card.n_features_in_ = len(card.feature_names_in_)
        if d.get("expert"):
            card.expert_ = d["expert"]
        return card

    def save(self, path: str | Path) -> Path:
        """The card as JSON (no pickle); :meth:`load` gives it back exactly."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps(self.to_dict(), ensure_ascii=False, indent=1), encoding="utf-8")
        return p

    @classmethod
    def load(cls, path: str | Path) -> "PointsCard":
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

    # -- SQL -------------------------------------------------------------------------------
    def to_sql(self, table: str = "features", key: str = "subject_id") -> str:
        """A SELECT scoring every row of ``table`` inside a database: one CASE per feature."""
        check_fitted(self)
        cols = []
        for f in self.features_:
            b = self.binnings_[f]
            pts = self.points_[f]
            whens = [f"WHEN {f} IS NULL THEN {pts[-1]}"]
            for k, v in enumerate(b.special_woe_):
                whens.append(f"WHEN {f} = {v!r} THEN {pts[-2 - k]}")
            if b.dtype == "categorical":
                for i, cats in enumerate(b.categories_):
                    vals = ", ".join("'" + str(c).replace("'", "''") + "'" for c in cats)
                    whens.append(f"WHEN CAST({f} AS VARCHAR) IN ({vals}) THEN {pts[i]}")
                whens.append(f"ELSE {pts[b.n_bins - 1]}")
            else:
                for i, s in enumerate(b.splits_):
                    whens.append(f"WHEN {f} < {float(s)!r} THEN {pts[i]}")
                whens.append(f"ELSE {pts[b.n_bins - 1]}")
            cols.append(f"  CASE {' '.join(whens)} END AS {f}")
        items = ",\n".join(cols)
        total = " + ".join(self.features_)
        return f"SELECT {key}, {total} AS points, * EXCLUDE ({key}) FROM (\nSELECT {key},\n{items}\nFROM {table}\n)"
