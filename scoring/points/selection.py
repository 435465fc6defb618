"""Feature selection for the 信义金 card (特征筛选): information value, stability and correlation.

Every feature is binned as the card bins it (:class:`~scoring.points.binning.MonotoneBinning`), then
dropped, with the reason recorded, when

1. its information value (IV) is below ``min_iv`` (too weak to carry points);
2. its population stability index (PSI) between the training cut-offs is above ``max_psi`` (its
   distribution moved between the cut-offs: points on it would not mean the same thing next year);
3. its weight of evidence correlates above ``max_correlation`` (absolute Pearson) with a stronger
   feature already kept: of a highly correlated pair, the one with the lower IV goes. So two
   features counting the same records (近3年行政处罚次数 and 公示期内行政处罚次数) do not both score.

:func:`select_features` returns the table (one row per feature: IV, PSI, kept, reason, the feature it
correlates with); :class:`FeatureSelector` is the same as a scikit-learn transformer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, cast

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, TransformerMixin

from scoring.core.errors import ConfigError, DataError
from scoring.core.estimator import NO_DIRECTION, as_frame, canonical_directions, check_fitted, is_text_or_category
from scoring.points.binning import Direction, MonotoneBinning

SELECTION_COLUMNS = ["feature", "iv", "psi", "kept", "reason", "correlated_with", "rho"]


def psi(expected: np.ndarray, actual: np.ndarray) -> float:
    """Population stability index of two count vectors over the same bins (+0.5 smoothing)."""
    e = (np.asarray(expected, dtype=float) + 0.5) / (np.sum(expected) + 0.5 * len(expected))
    a = (np.asarray(actual, dtype=float) + 0.5) / (np.sum(actual) + 0.5 * len(actual))
    return float(np.sum((a - e) * np.log(a / e)))


def _stability(b: MonotoneBinning, x: pd.Series, groups: np.ndarray) -> float:
    """The largest PSI between consecutive groups (cut-offs, in sorted order) of the bins of x."""
    idx = b.bin_index(x)
    codes = {v: i for i, v in enumerate(sorted(set(idx.tolist())))}
    k = len(codes)
    labels = sorted(set(groups.tolist()))
    counts = [np.bincount([codes[v] for v in idx[groups == g]], minlength=k) for g in labels]
    return max((psi(counts[i], counts[i + 1]) for i in range(len(counts) - 1)), default=0.0)


def select_features(
    X: Any,
    y: Any,
    directions: Mapping[str, str] | None = None,
    groups: Sequence[Any] | np.ndarray | pd.Series | None = None,
    *,
    features: Sequence[str] | None = None,
    min_iv: float = 0.02,
    max_psi: float = 0.25,
    max_correlation: float = 0.8,
    binning: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Which features to keep, and why each other one goes (see the module docstring).

    ``groups``: the training cut-off of every row (PSI is taken between consecutive cut-offs; none:
    no stability check). ``binning``: keyword arguments for every feature's
    :class:`~scoring.points.binning.MonotoneBinning` (as the card bins). Returns one row per
    feature, in the given order: ``feature, iv, psi, kept, reason, correlated_with, rho``."""
    X = as_frame(X, "select_features")
    yv = np.asarray(y, dtype=float)
    if len(yv) != len(X):
        raise DataError(f"select_features: X has {len(X)} rows but y has {len(yv)}")
    feats = list(features) if features is not None else list(X.columns)
    absent = [f for f in feats if f not in X.columns]
    if absent:
        raise DataError(f"select_features: X lacks the features {absent}")
    if not (0 <= min_iv and max_psi > 0 and 0 < max_correlation <= 1):
        raise ConfigError("select_features: min_iv >= 0, max_psi > 0 and 0 < max_correlation <= 1 are needed")
    dirs = canonical_directions("select_features", dict(directions or {}))
    g = None if groups is None else np.asarray(groups).astype(str)
    if g is not None and len(g) != len(X):
        raise DataError(f"select_features: groups has {len(g)} values for {len(X)} rows")
    rows: dict[str, dict[str, Any]] = {}
    woe: dict[str, np.ndarray] = {}
    for f in feats:
        dtype = "categorical" if is_text_or_category(X[f]) else "numerical"
        b = MonotoneBinning(
            f,
            cast(Literal["numerical", "categorical"], dtype),
            cast(Direction, dirs.get(f, NO_DIRECTION)),
            **dict(binning or {}),
        ).fit(X[f], yv)
        stab = _stability(b, X[f], g) if g is not None and len(set(g.tolist())) > 1 else 0.0
        rows[f] = {
            "feature": f,
            "iv": b.iv_,
            "psi": stab,
            "kept": True,
            "reason": "",
            "correlated_with": "",
            "rho": np.nan,
        }
        if b.iv_ < min_iv:
            rows[f] |= {"kept": False, "reason": f"信息值 IV {b.iv_:.3f} 低于 {min_iv:g} (too weak to carry points)"}
        elif stab > max_psi:
            rows[f] |= {
                "kept": False,
                "reason": f"稳定性指数 PSI {stab:.3f} 高于 {max_psi:g} (unstable between the training cut-offs)",
            }
        else:
            woe[f] = _card_woe(b, X[f])
    kept: list[str] = []
    for f in sorted(woe, key=lambda f: (-rows[f]["iv"], feats.index(f))):  # strongest first
        best: tuple[float, str] | None = None
        for k in kept:
            rho = _corr(woe[f], woe[k])
            if abs(rho) > max_correlation and (best is None or abs(rho) > abs(best[0])):
                best = (rho, k)
        if best is None:
            kept.append(f)
            continue
        rho, other = best
        rows[f] |= {
            "kept": False,
            "reason": (
                f"与 {other} 高度相关 (|rho| {abs(rho):.2f} > {max_correlation:g})，保留信息值较高者 "
                "(the weaker of a highly correlated pair)"
            ),
            "correlated_with": other,
            "rho": rho,
        }
    return pd.DataFrame([rows[f] for f in feats], columns=SELECTION_COLUMNS)


def _card_woe(b: MonotoneBinning, x: pd.Series) -> np.ndarray:
    """The WoE as the card reads it: with a declared direction, missing and special values are
    clipped into the range of the regular bins that occur (:class:`~scoring.points.card.PointsCard`)."""
    w = b.transform(x)
    if b.dtype != "numerical" or canonical_directions("select_features", {b.name: b.direction})[b.name] == NO_DIRECTION:
        return w
    seen = b.woe_[b.bin_n_ > 0]
    if len(seen):
        idx = b.bin_index(x)
        w = np.where(idx < 0, np.clip(w, seen.min(), seen.max()), w)
    return w


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    sa, sb = float(np.std(a)), float(np.std(b))
    if sa == 0 or sb == 0:
        return 0.0
    return float(np.mean((a - a.mean()) * (b - b.mean())) / (sa * sb))


class FeatureSelector(TransformerMixin, BaseEstimator):
    """:func:`select_features` as a scikit-learn transformer: ``fit(X, y, groups=...)`` then
    ``transform(X)`` keeps the selected columns; ``table_`` holds every feature's IV, PSI and reason."""

    def __init__(
        self,
        directions: Mapping[str, str] | None = None,
        min_iv: float = 0.02,
        max_psi: float = 0.25,
        max_correlation: float = 0.8,
        binning: Mapping[str, Any] | None = None,
    ):
        self.directions = directions
        self.min_iv = min_iv
        self.max_psi = max_psi
        self.max_correlation = max_correlation
        self.binning = binning

    def fit(self, X: Any, y: Any, groups: Any = None) -> "FeatureSelector":
        X = as_frame(X, "FeatureSelector")
        self.table_ = select_features(
            X,
            y,
            self.directions,
            groups,
            min_iv=self.min_iv,
            max_psi=self.max_psi,
            max_correlation=self.max_correlation,
            binning=self.binning,
        )
        self.selected_ = self.table_.loc[self.table_["kept"], "feature"].tolist()
        self.feature_names_in_ = np.asarray(list(X.columns), dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        return self

    def transform(self, X: Any) -> pd.DataFrame:
        check_fitted(self)
        return as_frame(X, "FeatureSelector")[self.selected_]

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_fitted(self)
        return np.asarray(self.selected_, dtype=object)
