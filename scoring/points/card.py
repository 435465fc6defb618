"""The 信义金 points card: a transparent, additive 0-1000 personal score.

"信用底线、正向累积、不分等级":

* 正向累积 — every line item (a feature's bin) is worth 0 or more integer points, the worst bin of
  each feature is worth 0, and the items sum to the score;
* the best possible person has exactly ``total`` (1000) points; everyone is between 0 and 1000;
* per-feature or per-dimension caps (e.g. volunteering at most 50 of 1000), and one cap per record
  family (记录族): every feature counting the same catalogue record type shares it, so one record
  (one general penalty) cannot move the score by more than the cap; ``single_record_effect_``
  reports the largest change one added record of each type can cause;
* missing and special values of a feature with a declared direction sit in the declared order (no
  record never scores above the best bin nor below the worst);
* 不分等级 — the card produces numbers only, never a tier or grade label.

The bottom-line gate (信用底线: suspension while on a serious-dishonesty list) is applied where the
score is used, not here (see :mod:`scoring.points.gate`).

Fitting: monotone binning of each feature (:mod:`scoring.points.binning`), weight of evidence, a logistic
regression on WoE whose coefficients are constrained to be >= 0 (so points always follow the
declared risk direction), then scaling: with ``r_jk = coef_j * woe_jk`` the risk of bin k of feature
j, feature j gets ``M_j`` points in all, allocated in proportion to its risk range (largest remainder,
caps respected, sum exactly ``total``), and bin k gets ``round(M_j * (max_k r_jk - r_jk) / range_j)``.
With a declared direction the regular bins' risks are made monotone first and missing / special
risks clipped into their range. Features that end with 0 points leave the card (``features_``) and
are listed with the reason in ``evidence_`` (feature selection before fitting adds its own rows:
:mod:`scoring.points.selection`, :func:`scoring.points.personal.fit_card`).

A card prints as a table (:meth:`PointsCard.build_table`), saves to JSON and loads back exactly
(:meth:`save` / :meth:`load`), and exports as SQL, one CASE expression per feature (:meth:`to_sql`).
"""

from __future__ import annotations

import json
import math
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol, cast, overload

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, model_validator
from sklearn.base import BaseEstimator
from sklearn.utils import Tags

from scoring.core.errors import ConfigError, DataError, XinyiWarning
from scoring.core.estimator import (
    NO_DIRECTION,
    as_frame,
    canonical_directions,
    check_fitted,
    check_keys,
    is_text_or_category,
    require_columns,
)
from scoring.points.binning import MISSING, Direction, MonotoneBinning, bin_case_sql, quote_sql, value_counts

FORMAT = "xinyi.points_card/2"
FORMATS = (FORMAT, "xinyi.points_card/1")  # /1 cards (no evidence, families or record effects) still load
#: the card's evidence table: every feature it was given, scored or dropped, and why
EVIDENCE_COLUMNS = ["feature", "status", "reason", "iv", "coef", "max_points", "dimension", "families"]


def _nonneg_logistic(
    X: np.ndarray, y: np.ndarray, alpha: float, weights: np.ndarray | None = None
) -> tuple[float, np.ndarray]:
    """Logistic regression with coefficients >= 0 (free intercept), L2 penalty ``alpha``, on rows
    ``X`` with outcomes ``y`` standing for ``weights`` rows each (one row each by default): the
    distinct rows of a card's bins and their counts are the same fit as the rows themselves."""
    from scipy.optimize import minimize

    n, p = X.shape
    w = np.ones(n) if weights is None else np.asarray(weights, dtype=float)
    total = float(w.sum())
    Xa = np.hstack([np.ones((n, 1)), X])

    def loss(b: np.ndarray):
        z = Xa @ b
        # log(1 + exp(z)) - y z, stably
        ll = np.logaddexp(0.0, z) - y * z
        pr = 1.0 / (1.0 + np.exp(-z))
        g = Xa.T @ (w * (pr - y)) / total
        g[1:] += alpha * b[1:]
        return float(w @ ll) / total + 0.5 * alpha * float(b[1:] @ b[1:]), g

    rate = float(w @ y) / total
    base = np.log((rate + 1e-9) / (1 - rate + 1e-9))
    b0 = np.concatenate([[base], np.full(p, 0.5)])
    bounds = [(None, None)] + [(0.0, None)] * p
    res = minimize(loss, b0, jac=True, method="L-BFGS-B", bounds=bounds, options={"maxiter": 500})
    return float(res.x[0]), np.asarray(res.x[1:])


#: the columns of a card's joint bin counts besides one bin-index column per feature
LABEL, COUNT = "label", "n"


def woe_of_bins(b: MonotoneBinning, idx: np.ndarray) -> np.ndarray:
    """The WoE of bin indices as :meth:`MonotoneBinning.bin_index` numbers them (-1 missing, -2-k
    the k-th special value): what :meth:`MonotoneBinning.transform` gives for the values in them."""
    idx = np.asarray(idx, dtype=np.int64)
    table = np.concatenate([b.woe_, list(b.special_woe_.values())[::-1], [b.missing_woe_]])
    # index i >= 0 -> i; -1 -> last; -2-k -> n_bins + (n_special - 1 - k)
    return table[np.where(idx >= 0, idx, len(table) + idx)]


class CardCounts(Protocol):
    """Where a card is fitted from: the per-value counts of every feature, then the joint counts of
    the card's bins (:class:`FrameCounts` counts a pandas frame; :mod:`scoring.points.spark` counts
    a Spark DataFrame). Both tables are small (distinct values; distinct bin combinations)."""

    columns: list[str]

    def is_categorical(self, feature: str) -> bool: ...

    def value_counts(self, binning: MonotoneBinning) -> pd.DataFrame: ...

    def bin_counts(self, binnings: Mapping[str, MonotoneBinning]) -> pd.DataFrame: ...


class FrameCounts:
    """:class:`CardCounts` of a pandas frame ``X`` and the 0/1 outcome ``y`` (the embedded path)."""

    def __init__(self, X: pd.DataFrame, y: np.ndarray):
        self.X, self.y = X, np.asarray(y, dtype=float)
        self.columns = [str(c) for c in X.columns]

    def is_categorical(self, feature: str) -> bool:
        return is_text_or_category(self.X[feature])

    def value_counts(self, binning: MonotoneBinning) -> pd.DataFrame:
        x = self.X[binning.name]
        values: Any = pd.Series(x, dtype="object") if binning.dtype == "categorical" else binning._numbers(x)
        return value_counts(values, self.y, binning.dtype)

    def bin_counts(self, binnings: Mapping[str, MonotoneBinning]) -> pd.DataFrame:
        cols = {f: b.bin_index(self.X[f]) for f, b in binnings.items()}
        return joint_counts(pd.DataFrame(cols | {LABEL: self.y}), list(binnings))


def joint_counts(frame: pd.DataFrame, features: Sequence[str]) -> pd.DataFrame:
    """Rows of bin indices (one column per feature) and ``label`` -> the distinct rows with their
    count ``n``, in ascending order of (features..., label): the table the card's regression reads."""
    keys = [*features, LABEL]
    return ordered_joint(frame.groupby(keys, sort=True).size().rename(COUNT).reset_index(), features)


def ordered_joint(counts: pd.DataFrame, features: Sequence[str]) -> pd.DataFrame:
    """Joint bin counts (one row per distinct (bins..., label), with ``n``) in the one order and
    types the regression reads them in, whoever counted them: ascending (features..., label),
    bin indices int64, label and n float64."""
    out = counts[[*features, LABEL, COUNT]].copy()
    for f in features:
        out[f] = out[f].astype(np.int64)
    out[LABEL], out[COUNT] = out[LABEL].astype(float), out[COUNT].astype(float)
    return out.sort_values([*features, LABEL], kind="stable", ignore_index=True)


def allocate(
    weights: Mapping[str, float],
    total: int,
    groups: Mapping[str, str | Sequence[str]] | None = None,
    caps: Mapping[str, int] | None = None,
) -> dict[str, int]:
    """Integer points per feature summing exactly to ``total``, proportional to ``weights``,
    with caps per feature or per group. ``groups[feature]`` is one group name or several (a feature
    belongs to its dimension and to every record family it counts); a cap on a group holds for the
    sum of its members.

    Progressive filling: every uncapped feature grows in proportion to its weight until a cap
    binds (its members stop there) or the total is reached; then floors and largest remainders,
    never exceeding a cap. A ConfigError when the caps leave no room for ``total``."""
    caps = dict(caps or {})
    names = [k for k in weights if weights[k] > 0]
    if not names:
        raise DataError("no feature separates risk: every coefficient or risk range is zero")
    member_of: dict[str, list[str]] = {}
    for f in names:
        g = (groups or {}).get(f)
        keys = [f] + ([g] if isinstance(g, str) else list(g or ()))
        member_of[f] = [k for k in dict.fromkeys(keys) if k in caps]
    cap_of: dict[str, list[str]] = {}
    for f, keys in member_of.items():
        for k in keys:
            cap_of.setdefault(k, []).append(f)
    fixed: dict[str, float] = dict.fromkeys(names, 0.0)
    growing = set(names)
    budget = float(total)
    while growing and budget > 1e-9:
        rate = sum(weights[f] for f in growing)
        step = budget / rate  # growth (per unit of weight) that would reach the total
        tight: str | None = None
        for k, members in cap_of.items():
            live = sum(weights[m] for m in members if m in growing)
            if live <= 0:
                continue
            room = (caps[k] - sum(fixed[m] for m in members)) / live
            if room < step - 1e-12:
                step, tight = max(room, 0.0), k
        for f in growing:
            fixed[f] += step * weights[f]
        budget = total - sum(fixed.values())
        if tight is None:
            break
        growing -= set(cap_of[tight])
    if abs(sum(fixed.values()) - total) > 1e-6:
        # overlapping caps can freeze too early: the nearest allocation that reaches the total
        fixed = _nearest_within_caps(names, fixed, total, cap_of, caps)
    # integers: floor, then largest remainders, never exceeding a cap
    out = {f: int(math.floor(fixed[f] + 1e-9)) for f in names}
    left = total - sum(out.values())
    for f in sorted(names, key=lambda f: fixed[f] - out[f], reverse=True):
        if left == 0:
            break
        if all(sum(out[m] for m in cap_of[k]) + 1 <= caps[k] for k in member_of[f]):
            out[f] += 1
            left -= 1
    if left:
        raise ConfigError(f"could not place {left} points within the caps {caps}")
    return {k: out.get(k, 0) for k in weights}


def _nearest_within_caps(
    names: list[str], start: dict[str, float], total: int, cap_of: dict[str, list[str]], caps: Mapping[str, int]
) -> dict[str, float]:
    """The allocation closest (sum of absolute differences) to ``start`` that meets every cap and
    sums to ``total`` (a linear programme); a ConfigError when none exists."""
    from scipy.optimize import linprog

    p = len(names)
    at = {f: i for i, f in enumerate(names)}
    # variables: x (p), d (p) with d >= |x - start|
    c = np.concatenate([np.zeros(p), np.ones(p)])
    a_ub, b_ub = [], []
    for k, members in cap_of.items():
        row = np.zeros(2 * p)
        row[[at[m] for m in members]] = 1.0
        a_ub.append(row)
        b_ub.append(float(caps[k]))
    x0 = np.array([start[f] for f in names])
    for i in range(p):
        for sign in (1.0, -1.0):
            row = np.zeros(2 * p)
            row[i], row[p + i] = sign, -1.0
            a_ub.append(row)
            b_ub.append(sign * x0[i])
    a_eq = np.concatenate([np.ones(p), np.zeros(p)])[None, :]
    res = linprog(c, A_ub=np.array(a_ub), b_ub=np.array(b_ub), A_eq=a_eq, b_eq=[float(total)], bounds=(0, None))
    if not res.success:
        raise ConfigError(f"caps {dict(caps)} leave no room to reach {total} points with these features")
    return {f: float(max(res.x[i], 0.0)) for i, f in enumerate(names)}


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


def load_expert_card(
    path: str | Path | None = None,
    features=None,
    families: Mapping[str, Sequence[str]] | None = None,
    record_steps: Mapping[str, float] | None = None,
) -> "PointsCard":
    """Build a :class:`PointsCard` from an expert card file (default configs/points/expert_person.yaml).
    ``families`` / ``record_steps`` (feature -> record types / largest change per record, as
    :func:`scoring.points.personal.card_families` gives them) fill ``single_record_effect_``."""
    from scoring.core.config import config_dir, load_model

    p = Path(path) if path is not None else config_dir() / "points" / "expert_person.yaml"
    spec = load_model(ExpertCard, p)
    if features is not None:
        unknown = sorted(set(spec.features) - set(features))
        if unknown:
            from scoring.core.errors import ConfigError

            raise ConfigError(f"{p}: features: {unknown} are not in the feature set")
    return PointsCard.from_expert(spec, families, record_steps)


class PointsCardWarning(XinyiWarning):
    """A xinyi warning about a fitted 信义金 card: an informative feature the non-negativity rule
    zeroed, or a record-family cap raised because too few families carry points."""


#: a feature whose information value reaches this but whose coefficient the non-negativity rule
#: set to 0 is reported with a :class:`PointsCardWarning` (informative, yet its effect reversed)
ZEROED_IV = 0.02
FAMILY_KEY = "records:"  # cap-group name of a record family: records:<record type>

REASONS = {
    "single_bin": "仅一个分箱，无区分度 (one bin: the feature does not separate risk on these data)",
    "zeroed": (
        "非负约束下系数为0：控制其他特征后其作用与声明方向相反 "
        "(coefficient 0 under the non-negativity rule: its effect reverses once the other features are known)"
    ),
    "no_range": "各分箱风险相同，无分值 (every bin carries the same risk: no points)",
    "rounded": "所分分值为0：不足1分或所属上限已满 (its share rounds to 0 points, or its caps are full)",
}


class PointsCard(BaseEstimator):
    """信义金 points card (see the module docstring), a scikit-learn estimator.

    Parameters (stored as given, validated in :meth:`fit`): ``features``: the columns to score (all
    columns of X by default); ``directions``: feature -> ``increases_risk`` / ``decreases_risk`` /
    ``none`` (no declared direction, the default: the binning takes the most informative shape;
    ``auto`` is a deprecated alias of ``none``); ``dtypes``: feature -> ``numerical`` /
    ``categorical`` (a pandas category, string or text column is categorical unless declared
    numerical); ``dimensions``: feature -> dimension name; ``caps``: feature or dimension -> maximum
    points; ``basis``: feature -> catalogue basis text (shown in tables only); ``families``:
    feature -> the catalogue record types it counts (记录族: features counting the same record type
    share one cap, ``family_cap``: points, or a share of ``total`` when below 1); ``record_steps``:
    feature -> the largest change of its value one added record can cause (1 for a count, the
    largest weight for a weighted count; a feature not listed may move over its whole range);
    ``min_bin_events``, ``min_bin_non_events``, ``max_pvalue``: how small bins earn their place (see
    :mod:`scoring.points.binning`). A key of ``directions``, ``dtypes``, ``dimensions``,
    ``special_values``, ``families`` or ``record_steps`` that is not a column of X, or a key of
    ``caps`` that is neither a column nor a dimension, is a :class:`~scoring.core.errors.ConfigError`
    naming it (so a misspelt cap cannot quietly fail to apply).

    Missing and special values of a numerical feature with a declared direction sit in the declared
    order: their risk is clipped into the range of the regular bins, so having no record never
    scores above the best bin nor below the worst. Features that end with 0 points are not in the
    card (``features_``); they stay in :attr:`evidence_` with the reason, and an informative one
    (IV >= ``ZEROED_IV``) that the non-negativity rule zeroed raises a :class:`PointsCardWarning`.

    After :meth:`fit`: :meth:`predict` / :meth:`score` give the points (integers in 0..``total``),
    :meth:`items` the line items, :meth:`predict_risk` / :meth:`predict_proba` the model's probability
    of the outcome; ``score(X, y)`` with labels is the card's AUC (scikit-learn's default scoring, so
    ``cross_val_score`` ranks cards by discrimination). ``single_record_effect_``: record type -> the
    largest change in points one added record of that type can cause (an upper bound, within the
    family cap); :meth:`record_table` shows it. The card is neither a classifier nor a regressor: its
    prediction is points, higher is better. Before :meth:`fit` (or :meth:`load`) every use raises
    :class:`~scoring.core.errors.NotFittedError`.
    """

    expert_: str  # the expert card's name, on cards built by hand (:meth:`from_expert`) only
    evidence_: pd.DataFrame  # every feature given, scored or dropped, and why (EVIDENCE_COLUMNS)
    family_cap_: int | None  # the record-family cap used (raised from family_cap when it had to be)
    single_record_effect_: dict[str, int]  # record type -> largest change one added record can cause

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
        families: Mapping[str, Sequence[str]] | None = None,
        family_cap: float | None = None,
        record_steps: Mapping[str, float] | None = None,
        min_bin_events: int = 3,
        min_bin_non_events: int = 3,
        max_pvalue: float | None = 0.05,
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
        self.families = families
        self.family_cap = family_cap
        self.record_steps = record_steps
        self.min_bin_events = min_bin_events
        self.min_bin_non_events = min_bin_non_events
        self.max_pvalue = max_pvalue

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # missing values get a bin (and points) of their own
        tags.input_tags.categorical = True
        tags.input_tags.string = True
        tags.target_tags.required = True  # the binary outcome the card is fitted on
        tags.target_tags.single_output = True
        return tags

    # -- fitting ---------------------------------------------------------------------------
    def _dtype_of(self, source: CardCounts, f: str, declared: Mapping[str, str]) -> str:
        if f in declared:
            return declared[f]
        return "categorical" if source.is_categorical(f) else "numerical"

    def _family_cap_points(self) -> int | None:
        if self.family_cap is None:
            return None
        cap = float(self.family_cap)
        if not cap > 0:
            raise ConfigError(f"PointsCard: family_cap must be > 0 (points, or a share of total below 1), got {cap}")
        return int(math.floor(cap * self.total + 1e-9)) if cap < 1 else int(cap)

    def fit(self, X: Any, y: Any) -> "PointsCard":
        """Bin every feature, fit the non-negative logistic regression on WoE, scale to ``total``
        points. ``y`` is the 0/1 outcome. The fit reads only the counts of :class:`FrameCounts`
        (:meth:`fit_counts`), so a card fitted from the same counts made by Spark is this card."""
        X = as_frame(X, "PointsCard")
        try:
            y = np.asarray(y, dtype=float)
        except (TypeError, ValueError):
            raise DataError("PointsCard: y must be the 0/1 outcome") from None
        if y.ndim != 1 or len(y) != len(X):
            raise DataError(f"PointsCard: X has {len(X)} rows but y has shape {y.shape}")
        if not np.isin(y, (0.0, 1.0)).all():
            raise DataError("PointsCard: y must be the 0/1 outcome")
        return self.fit_counts(FrameCounts(X, y))

    def fit_counts(self, source: CardCounts) -> "PointsCard":
        """:meth:`fit` from a :class:`CardCounts` source: every feature binned from its per-value
        counts, the regression fitted on the joint counts of the bins (one weighted row per distinct
        combination of bins and outcome), then scaled. The source is read twice and never row by row."""
        if not isinstance(self.total, (int, np.integer)) or self.total < 1:
            raise ConfigError(f"PointsCard: total must be a positive whole number of points, got {self.total!r}")
        feats = list(self.features) if self.features is not None else list(source.columns)
        missing = [f for f in feats if f not in source.columns]
        if missing:
            raise DataError(f"PointsCard: X lacks the features {missing}")
        cols = list(source.columns)
        dims = dict(self.dimensions or {})
        check_keys("PointsCard", "directions", (self.directions or {}).keys(), cols)
        check_keys("PointsCard", "dtypes", (self.dtypes or {}).keys(), cols)
        check_keys("PointsCard", "dimensions", dims.keys(), cols)
        check_keys("PointsCard", "special_values", (self.special_values or {}).keys(), cols)
        check_keys("PointsCard", "families", (self.families or {}).keys(), cols)
        check_keys("PointsCard", "record_steps", (self.record_steps or {}).keys(), cols)
        check_keys(
            "PointsCard",
            "caps",
            (self.caps or {}).keys(),
            cols + sorted(set(dims.values())),
            hint=f"a cap names a feature or a dimension; dimensions: {sorted(set(dims.values()))}",
        )
        self._family_cap_points()  # validates
        dirs = canonical_directions("PointsCard", self.directions or {})
        dts, spec = dict(self.dtypes or {}), dict(self.special_values or {})
        binnings = {}
        for f in feats:
            binnings[f] = MonotoneBinning(
                f,
                cast(Literal["numerical", "categorical"], self._dtype_of(source, f, dts)),
                cast(Direction, dirs.get(f, NO_DIRECTION)),
                self.max_prebins,
                self.min_bin_share,
                self.max_bins,
                tuple(spec.get(f, ())),
                min_bin_events=self.min_bin_events,
                min_bin_non_events=self.min_bin_non_events,
                max_pvalue=self.max_pvalue,
            )
            binnings[f].fit_counts(source.value_counts(binnings[f]))
        joint = source.bin_counts(binnings)
        W = np.column_stack([woe_of_bins(binnings[f], joint[f].to_numpy()) for f in feats])
        w, y = joint[COUNT].to_numpy(float), joint[LABEL].to_numpy(float)
        self.intercept_, coef = _nonneg_logistic(W, y, self.alpha, w)
        self.binnings_ = binnings
        self.coef_ = dict(zip(feats, coef.tolist()))
        self.features_ = feats
        self.feature_names_in_ = np.asarray(list(source.columns), dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        self._scale()
        self._keep_scored()
        self.single_record_effect_ = self.record_effects()
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

    def _ordered(self, f: str) -> bool:
        """Whether the feature's bins follow a declared direction (numerical, increases or decreases risk)."""
        b = self.binnings_[f]
        return b.dtype == "numerical" and canonical_directions("PointsCard", {f: b.direction})[f] != NO_DIRECTION

    def _scaled_risks(self, f: str) -> tuple[dict[int, float], float, float]:
        """Risk per bin index as points are read from it, and the (lowest, highest) risk of the bins
        that occur. With a declared direction the regular bins' risks are made monotone (a crossing
        pair of smoothed WoE shares the higher risk: the lower points) and missing / special risks
        are clipped into the regular bins' range (缺失值按声明方向排序)."""
        b = self.binnings_[f]
        risks = {i: r for _, i, r in self._bin_risks(f)}
        counts = {i: float(c) for i, c in enumerate(b.bin_n_)}
        counts[-1] = float(b.missing_stats_[0])
        counts.update({-2 - k: float(s[0]) for k, s in enumerate(b.special_stats_.values())})
        regular = list(range(b.n_bins))
        if self._ordered(f) and regular:
            r = np.array([risks[i] for i in regular])
            increasing = canonical_directions("PointsCard", {f: b.direction})[f] == "increases_risk"
            r = np.maximum.accumulate(r) if increasing else np.maximum.accumulate(r[::-1])[::-1]
            risks.update({i: float(v) for i, v in zip(regular, r)})
            seen_regular = [risks[i] for i in regular if counts[i] > 0]
            if seen_regular:
                lo, hi = min(seen_regular), max(seen_regular)
                for i in risks:
                    if i < 0:
                        risks[i] = min(max(risks[i], lo), hi)
        seen = [risks[i] for i in risks if counts.get(i, 0) > 0]
        return risks, (min(seen) if seen else 0.0), (max(seen) if seen else 0.0)

    def _scale(self) -> None:
        scaled = {f: self._scaled_risks(f) for f in self.features_}
        rng = {f: hi - lo for f, (_, lo, hi) in scaled.items()}
        dims = dict(self.dimensions or {})
        fams = {f: list(v) for f, v in (self.families or {}).items() if f in rng}
        groups: dict[str, list[str]] = {
            f: ([dims[f]] if f in dims else []) + [FAMILY_KEY + t for t in fams.get(f, [])] for f in self.features_
        }
        caps = dict(self.caps or {})
        cap = self._family_cap_points()
        live = {t for f in self.features_ if rng[f] > 0 for t in fams.get(f, [])}
        self.family_cap_ = cap
        if cap is not None and live:

            def attempt(c: int) -> dict[str, int]:
                return allocate(rng, self.total, groups, caps | {FAMILY_KEY + t: c for t in live})

            try:
                self.max_points_ = attempt(cap)
            except ConfigError:
                lo_c, hi_c = cap, self.total  # smallest feasible cap: feasibility only grows with the cap
                try:
                    attempt(hi_c)
                except ConfigError:
                    raise ConfigError(
                        f"PointsCard: the caps {caps} leave no room to reach {self.total} points even without "
                        "record-family caps; raise them"
                    ) from None
                while hi_c - lo_c > 1:
                    mid = (lo_c + hi_c) // 2
                    try:
                        attempt(mid)
                        hi_c = mid
                    except ConfigError:
                        lo_c = mid
                warnings.warn(
                    f"记录族分值上限 {cap} 不足以分配 {self.total} 分：only {len(live)} record families carry points "
                    f"({', '.join(sorted(live))}), so the family cap was raised to {hi_c}",
                    PointsCardWarning,
                    stacklevel=4,
                )
                self.family_cap_ = hi_c
                self.max_points_ = attempt(hi_c)
        else:
            self.max_points_ = allocate(rng, self.total, groups, caps)
        self.points_ = {}
        for f in self.features_:
            risks, _, hi = scaled[f]
            M = self.max_points_[f]
            self.points_[f] = {
                idx: (0 if rng[f] <= 0 or M == 0 else min(max(int(round(M * (hi - r) / rng[f])), 0), M))
                for idx, r in risks.items()
            }

    def _keep_scored(self) -> None:
        """Only features with points stay in the card; the others go to :attr:`evidence_` with the
        reason (and a warning for an informative feature the non-negativity rule zeroed)."""
        dims = dict(self.dimensions or {})
        fams = dict(self.families or {})
        rows, keep, zeroed = [], [], []
        for f in self.features_:
            b = self.binnings_[f]
            iv, coef, M = b.iv_, self.coef_[f], self.max_points_[f]
            if M > 0:
                status, reason = "scored", ""
                keep.append(f)
            elif b.n_bins < 2 and b.missing_stats_[0] == 0 and not b.special_stats_:
                status, reason = "dropped", REASONS["single_bin"]
            elif coef <= 1e-8:
                status, reason = "dropped", REASONS["zeroed"]
                if iv >= ZEROED_IV:
                    zeroed.append(f"{f} (IV {iv:.3f})")
            else:
                _, lo, hi = self._scaled_risks(f)
                status, reason = "dropped", REASONS["rounded" if hi > lo else "no_range"]
            rows.append(
                {
                    "feature": f,
                    "status": status,
                    "reason": reason,
                    "iv": iv,
                    "coef": coef,
                    "max_points": M,
                    "dimension": dims.get(f, ""),
                    "families": ",".join(fams.get(f, ())),
                }
            )
        if zeroed:
            warnings.warn(
                "informative features got 0 points: the non-negativity rule (正向累积) zeroed their coefficient "
                f"because their effect reverses once the other features are known: {', '.join(zeroed)}; "
                "see the card's evidence_",
                PointsCardWarning,
                stacklevel=4,
            )
        self.evidence_ = pd.DataFrame(rows, columns=EVIDENCE_COLUMNS)
        # binnings_, coef_, points_ and max_points_ keep every fitted feature (a dropped one: 0 points
        # everywhere) for inspection; only features_ are scored, itemised and exported
        self.features_ = keep

    def add_evidence(self, rows: pd.DataFrame) -> "PointsCard":
        """Append rows for features left out before fitting (feature selection): ``feature``, ``reason``
        and any of :data:`EVIDENCE_COLUMNS`; their status is ``dropped``."""
        check_fitted(self)
        extra = pd.DataFrame(rows).assign(status="dropped").reindex(columns=EVIDENCE_COLUMNS)
        extra["max_points"] = extra["max_points"].fillna(0)
        extra = extra.fillna({"reason": "", "dimension": "", "families": ""})
        frames = [f for f in (self.evidence_, extra) if len(f)]
        if frames:
            self.evidence_ = pd.concat(frames, ignore_index=True)
            self.evidence_["max_points"] = self.evidence_["max_points"].astype(int)
        return self

    # -- one record's effect ---------------------------------------------------------------------
    def _feature_effect(self, f: str, step: float | None) -> int:
        """The largest change of feature ``f``'s points one added record can cause: with ``step``
        (the value moves up by at most ``step``), the largest difference between the bins of v and
        v + step; without, the feature's whole range of points."""
        pts = self.points_[f]
        b = self.binnings_[f]
        if step is None or b.dtype != "numerical":
            return max(pts.values()) - min(pts.values())
        edges = [-np.inf, *map(float, b.splits_), np.inf]
        best = 0
        for i in range(b.n_bins):
            for j in range(i, b.n_bins):  # v in bin i, v + step in bin j
                if edges[i] + step < edges[j + 1] and edges[j] < edges[i + 1] + step:
                    best = max(best, abs(pts[i] - pts[j]))
        others = [i for i in pts if i < 0 and (i != -1 or b.missing_stats_[0] > 0)]
        for i in others:  # special values, and missing if the feature can be missing: any move
            best = max(best, max(abs(pts[i] - v) for v in pts.values()))
        return int(best)

    def record_effects(
        self, families: Mapping[str, Sequence[str]] | None = None, record_steps: Mapping[str, float] | None = None
    ) -> dict[str, int]:
        """Record type -> the largest change in points one added record of that type can cause (a
        sound upper bound: the sum over the features counting it of :meth:`_feature_effect`).
        ``families`` / ``record_steps`` default to the card's parameters (pass them for an expert card)."""
        check_fitted(self)
        fams = dict(families if families is not None else (self.families or {}))
        steps = dict(record_steps if record_steps is not None else (self.record_steps or {}))
        out: dict[str, int] = {}
        for f in self.features_:
            effect = self._feature_effect(f, steps.get(f))
            for t in fams.get(f, ()):
                out[t] = out.get(t, 0) + effect
        return dict(sorted(out.items()))

    def record_table(self) -> pd.DataFrame:
        """Per record type (记录族): the card's features counting it, their points in all, the largest
        single-record effect and the family cap (单条记录最大影响)."""
        check_fitted(self)
        fams = dict(self.families or {})
        effects = getattr(self, "single_record_effect_", {}) or self.record_effects()
        rows = []
        for t, eff in effects.items():
            members = [f for f in self.features_ if t in fams.get(f, ())]
            rows.append(
                {
                    "record_type": t,
                    "features": ",".join(members),
                    "points": int(sum(self.max_points_[f] for f in members)),
                    "single_record_effect": int(eff),
                    "cap": getattr(self, "family_cap_", None),
                }
            )
        return pd.DataFrame(rows, columns=["record_type", "features", "points", "single_record_effect", "cap"])

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
        """Per feature of the card: maximum points, coefficient, IV, dimension, the record types it
        counts and the largest change one added record makes to its points (``record_effect``)."""
        check_fitted(self)
        dims = dict(self.dimensions or {})
        fams = dict(self.families or {})
        steps = dict(self.record_steps or {})
        return pd.DataFrame(
            [
                {
                    "feature": f,
                    "max_points": self.max_points_[f],
                    "coef": self.coef_[f],
                    "iv": self.binnings_[f].iv_,
                    "dimension": dims.get(f, ""),
                    "families": ",".join(fams.get(f, ())),
                    "record_effect": self._feature_effect(f, steps.get(f)),
                }
                for f in self.features_
            ]
        )

    @classmethod
    def from_expert(
        cls,
        spec: ExpertCard,
        families: Mapping[str, Sequence[str]] | None = None,
        record_steps: Mapping[str, float] | None = None,
    ) -> "PointsCard":
        """The same card object from hand-written points: no model behind it (``coef_`` is 0,
        :meth:`predict_risk` is unavailable); binning statistics are empty until data is seen.
        ``families`` / ``record_steps`` (as for a fitted card) give ``single_record_effect_``."""
        fams = {f: list(v) for f, v in (families or {}).items() if f in spec.features}
        steps = {f: v for f, v in (record_steps or {}).items() if f in spec.features}
        card = cls(features=list(spec.features), total=spec.total, families=fams or None, record_steps=steps or None)
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
        card.evidence_ = pd.DataFrame(
            [
                {"feature": f, "status": "scored", "reason": "", "iv": 0.0, "coef": 0.0, "max_points": m}
                | {"dimension": "", "families": ",".join(fams.get(f, ()))}
                for f, m in card.max_points_.items()
            ],
            columns=EVIDENCE_COLUMNS,
        )
        card.family_cap_ = None
        card.single_record_effect_ = card.record_effects()
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
                "families": {f: list(v) for f, v in (self.families or {}).items()},
                "family_cap": self.family_cap,
                "record_steps": dict(self.record_steps or {}),
                "min_bin_events": self.min_bin_events,
                "min_bin_non_events": self.min_bin_non_events,
                "max_pvalue": self.max_pvalue,
            },
            "features": self.features_,
            "intercept": self.intercept_,
            "coef": self.coef_,
            "expert": getattr(self, "expert_", None),
            "max_points": self.max_points_,
            "points": {f: {str(k): v for k, v in p.items()} for f, p in self.points_.items()},
            "binnings": {f: b.to_dict() for f, b in self.binnings_.items()},
            "feature_names_in": [str(c) for c in self.feature_names_in_],
            "evidence": json.loads(self.evidence_.to_json(orient="records", force_ascii=False)),
            "family_cap": self.family_cap_,
            "single_record_effect": self.single_record_effect_,
        }

    @classmethod
    def from_dict(cls, d: dict) -> "PointsCard":
        if d.get("format") not in FORMATS:
            raise DataError(f"not a points card file (format {d.get('format')!r}, expected {FORMAT})")
        params = dict(d["params"])
        for key in ("families", "record_steps"):  # saved as {} when not given
            params[key] = params.get(key) or None
        card = cls(**params)
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
        card.evidence_ = pd.DataFrame(d.get("evidence", []), columns=EVIDENCE_COLUMNS)
        if "evidence" not in d:  # a /1 card: every feature it holds is scored
            card.evidence_ = pd.DataFrame(
                [
                    {"feature": f, "status": "scored", "reason": "", "max_points": m}
                    for f, m in card.max_points_.items()
                ],
                columns=EVIDENCE_COLUMNS,
            )
        card.family_cap_ = d.get("family_cap")
        card.single_record_effect_ = {k: int(v) for k, v in d.get("single_record_effect", {}).items()}
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
    def to_sql(
        self, table: str = "features", key: str = "subject_id", dialect: Literal["duckdb", "spark"] = "duckdb"
    ) -> str:
        """A SELECT scoring every row of ``table`` inside a database: ``key``, ``points`` and one
        column per line item (one CASE per feature), exactly as :meth:`items` and :meth:`score`.
        ``dialect``: ``duckdb`` (the store's database) or ``spark`` (Spark SQL: backquoted names,
        double literals, ``STRING`` casts); the same bins and points either way. A missing value
        (NULL, or NaN in a column of doubles) is the missing bin, as in :meth:`items`."""
        check_fitted(self)
        cols = []
        for f in self.features_:
            pts = self.points_[f]
            case = bin_case_sql(self.binnings_[f], quote_sql(f, dialect), lambda i, pts=pts: str(pts[i]), dialect)
            cols.append(f"  {case} AS {quote_sql(f, dialect)}")
        items = ",\n".join(cols)
        names = [quote_sql(f, dialect) for f in self.features_]
        total = " + ".join(names) if names else "0"
        k = quote_sql(key, dialect)
        return (
            f"SELECT {k}, {total} AS points{''.join(', ' + n for n in names)} FROM (\nSELECT {k},\n{items}\n"
            f"FROM {table}\n) AS card_items"
        )
