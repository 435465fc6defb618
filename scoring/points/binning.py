"""Monotone binning (单调分箱) of one feature, with weight of evidence.

Fast and simple: quantile pre-bins (or one bin per value for discrete features), then the
pool-adjacent-violators algorithm makes the event rate monotone in the declared direction (a
feature that declares none, ``direction="none"``, may also take one peak or valley, whichever
shape keeps the most information value, as optbinning's ``auto`` trend does; ``"auto"`` is still
accepted as a deprecated alias of ``"none"``), then
small bins are merged, and, if needed, the pair losing the least information value until at most
``max_bins`` remain. A bin of at least ``min_bin_share`` of the rows is big enough; a smaller one
keeps its own place only when it earns it: at least ``min_bin_events`` events and
``min_bin_non_events`` non-events, and an event rate that differs from each neighbour's at
significance ``max_pvalue`` (Fisher's exact test when a cell expects fewer than 5 rows, else the
chi-square test); the least significant pair is merged first. So a rare, informative value (a
penalty held by 1.5% of persons, with ten times the event rate) keeps its bin, while a rare value
with a handful of rows and no proven difference is merged. Pre-bins isolate every value held by at
least ``min_prebin_share`` of the rows (a point mass such as "no fine": 0), so the rare tail beside
it can become a bin. Missing values and declared special values get
bins of their own. Categorical features are ordered by event rate and binned the same way.

Weight of evidence here is the *risk* WoE: ``ln(share of events / share of non-events)``, so a
higher WoE means riskier; smoothing (+0.5) keeps empty cells finite.

Like optbinning's objects, a fitted :class:`MonotoneBinning` prints as a table
(:meth:`build_table`) and round-trips through a plain dict (:meth:`to_dict` / :meth:`from_dict`,
:meth:`save` / :meth:`load` as JSON). It is a scikit-learn transformer (``fit(X, y)`` then
``transform(X)`` gives the WoE; ``clone``, ``Pipeline`` and ``get_params`` work) of one column: X is
that column (a Series or 1-D array, transformed to 1-D) or a table of exactly one column
(transformed to one column).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, OneToOneFeatureMixin, TransformerMixin
from sklearn.utils import Tags

from scoring.core.errors import ConfigError, DataError
from scoring.core.estimator import canonical_directions, check_fitted, is_text_or_category

Direction = Literal["increases_risk", "decreases_risk", "none", "auto"]  # "auto": deprecated alias of "none"
FORMAT = "xinyi.monotone_binning/2"
FORMATS = (FORMAT, "xinyi.monotone_binning/1")  # /1 files (no event minimums or test) still load
MISSING = "Missing"


def _woe(events: np.ndarray, non_events: np.ndarray, tot_e: float, tot_ne: float) -> np.ndarray:
    return np.log(((events + 0.5) / (tot_e + 0.5)) / ((non_events + 0.5) / (tot_ne + 0.5)))


def _pvalue(e1: float, n1: float, e2: float, n2: float) -> float:
    """Two-sided p-value that two bins share one event rate: Fisher's exact test when a cell of the
    2x2 table expects fewer than 5 rows, else the chi-square test (with Yates' correction)."""
    from scipy.stats import chi2_contingency, fisher_exact

    table = np.array([[e1, n1 - e1], [e2, n2 - e2]], dtype=float)
    if table.sum(axis=0).min() <= 0 or table.sum(axis=1).min() <= 0:
        return 1.0  # a column or row of zeros: nothing tells the two apart
    expected = table.sum(axis=1, keepdims=True) * table.sum(axis=0, keepdims=True) / table.sum()
    if expected.min() < 5:
        return float(fisher_exact(np.rint(table).astype(np.int64))[1])
    return float(chi2_contingency(table, correction=True)[1])


def _pava(n: np.ndarray, e: np.ndarray, increasing: bool) -> list[list[int]]:
    """Pool adjacent violators: blocks of consecutive bins whose event rates are monotone."""
    blocks: list[list[int]] = []
    bn: list[float] = []
    be: list[float] = []
    for i in range(len(n)):
        blocks.append([i])
        bn.append(float(n[i]))
        be.append(float(e[i]))
        while len(blocks) > 1:
            r_prev, r_last = be[-2] / bn[-2], be[-1] / bn[-1]
            if (r_prev <= r_last) if increasing else (r_prev >= r_last):
                break
            last_block, last_n, last_e = blocks.pop(), bn.pop(), be.pop()
            blocks[-1].extend(last_block)
            bn[-1] += last_n
            be[-1] += last_e
    return blocks


def _shape_blocks(n: np.ndarray, e: np.ndarray, shape: str, turn: int | None) -> list[list[int]]:
    """Blocks whose event rate is ascending, descending, or rises then falls (peak) / falls then
    rises (valley) around pre-bin ``turn``."""
    if shape in ("ascending", "descending"):
        return _pava(n, e, shape == "ascending")
    assert turn is not None  # peak and valley shapes always come with their turning pre-bin
    left = _pava(n[:turn], e[:turn], shape == "peak")
    right = _pava(n[turn:], e[turn:], shape != "peak")
    return left + [[i + turn for i in b] for b in right]


def _one_column(X: Any, owner: str) -> tuple[Any, str | None, bool]:
    """The values of the one column X holds, its name (if X names it) and whether X was a table."""
    if isinstance(X, pd.DataFrame):
        if X.shape[1] != 1:
            raise DataError(
                f"{owner}: bins one feature, but X has {X.shape[1]} columns {list(X.columns)[:5]}; "
                "pass one column (or use PointsCard for several)"
            )
        return X.iloc[:, 0], str(X.columns[0]), True
    if isinstance(X, pd.Series):
        return X, None if X.name is None else str(X.name), False
    arr = np.asarray(X, dtype=object) if not isinstance(X, np.ndarray) else X
    if arr.ndim == 2:
        if arr.shape[1] != 1:
            raise DataError(f"{owner}: bins one feature, but X has {arr.shape[1]} columns; pass one column")
        return arr[:, 0], None, True
    if arr.ndim != 1:
        raise DataError(f"{owner}: X must be one column of values, got {arr.ndim} dimensions")
    return X if isinstance(X, np.ndarray) else list(X), None, False


def value_counts(x: Any, y: Any, dtype: str = "numerical") -> pd.DataFrame:
    """The aggregate a binning is fitted on: one row per distinct value of ``x`` (numbers, or for
    ``categorical`` the values' text), ``value``, ``n`` rows and ``events`` (sum of the 0/1 ``y``),
    ascending by value, the missing value (NaN / None) last. Spark counts the same table
    (:func:`scoring.points.spark.value_counts_spark`)."""
    yv = np.asarray(y, dtype=float)
    if dtype == "categorical":
        xs = pd.Series(x, dtype="object")
        v: Any = pd.Series([str(a) if pd.notna(a) else None for a in xs], dtype="object")
    else:
        v = pd.Series(np.asarray(x, dtype=float) + 0.0)  # + 0.0: -0.0 counts as 0.0
    g = pd.DataFrame({"value": v, "y": yv}).groupby("value", dropna=False, sort=True)["y"]
    out = pd.DataFrame({"n": g.size().astype(float), "events": g.sum().astype(float)}).reset_index()
    return out.sort_values("value", kind="stable", na_position="last", ignore_index=True)


def _inverted_cdf(uniq: np.ndarray, counts: np.ndarray, q: np.ndarray) -> np.ndarray:
    """``np.quantile(rows, q, method="inverted_cdf")`` of the rows that ``uniq`` (ascending) with
    ``counts`` stand for, from the counts alone (numpy's own rule: order statistic ``n q - 1``,
    rounded up unless whole)."""
    n = int(counts.sum())
    index = n * np.asarray(q, dtype=float) - 1
    previous = np.floor(index)
    pos = np.where(index - previous == 0, previous, previous + 1).astype(np.int64)
    pos[pos < 0] = 0
    return uniq[np.searchsorted(np.cumsum(counts), pos, side="right")]


SqlDialect = Literal["duckdb", "spark"]


def quote_sql(name: str, dialect: SqlDialect = "duckdb") -> str:
    """A column name quoted for ``dialect`` (DuckDB: double quotes; Spark SQL: backquotes)."""
    if dialect not in ("duckdb", "spark"):
        raise ConfigError(f"SQL dialect must be duckdb or spark, got {dialect!r}")
    return "`" + name.replace("`", "``") + "`" if dialect == "spark" else '"' + name.replace('"', '""') + '"'


def bin_case_sql(b: "MonotoneBinning", column: str, then: Any, dialect: SqlDialect = "duckdb") -> str:
    """A SQL CASE putting the (quoted) ``column`` in the bins of ``b`` exactly as
    :meth:`MonotoneBinning.bin_index` does, giving ``then(i)`` for bin index i (-1 missing, -2-k the
    k-th special value, unseen categories the last bin). A NULL or NaN is missing."""
    quote_sql("x", dialect)  # validates the dialect
    spark = dialect == "spark"

    def number(v: float) -> str:
        return f"{float(v)!r}D" if spark else repr(float(v))

    if b.dtype == "categorical":
        whens = [f"WHEN {column} IS NULL THEN {then(-1)}"]
        text = "STRING" if spark else "VARCHAR"
        for i, cats in enumerate(b.categories_):
            vals = ", ".join("'" + str(v).replace("'", "''") + "'" for v in cats)
            whens.append(f"WHEN CAST({column} AS {text}) IN ({vals}) THEN {then(i)}")
    else:
        whens = [f"WHEN {column} IS NULL OR isnan({column}) THEN {then(-1)}"]
        for k, v in enumerate(b.special_woe_):
            whens.append(f"WHEN {column} = {number(v)} THEN {then(-2 - k)}")
        for i, s in enumerate(b.splits_):
            whens.append(f"WHEN {column} < {number(s)} THEN {then(i)}")
    whens.append(f"ELSE {then(b.n_bins - 1)}")
    return f"CASE {' '.join(whens)} END"


class MonotoneBinning(OneToOneFeatureMixin, TransformerMixin, BaseEstimator):
    """Bin one feature so that its event rate is monotone in the declared direction.

    ``direction``: ``increases_risk``, ``decreases_risk`` or ``none`` (no declared direction: the
    shape, monotone either way or one peak or valley, that keeps the most information value);
    ``auto`` is a deprecated alias of ``none``. ``dtype``: ``numerical`` or ``categorical`` (a text or
    category column must be declared categorical). Parameters are stored as given and validated in
    :meth:`fit` (scikit-learn's contract). Before :meth:`fit` (or :meth:`from_dict` / :meth:`load`)
    every use raises :class:`~scoring.core.errors.NotFittedError`.
    """

    def __init__(
        self,
        name: str = "x",
        dtype: Literal["numerical", "categorical"] = "numerical",
        direction: Direction = "increases_risk",
        max_prebins: int = 20,
        min_bin_share: float = 0.05,
        max_bins: int = 8,
        special_values: Sequence[float] = (),
        prebinning: str = "tree",
        min_prebin_share: float = 0.05,
        min_bin_events: int = 3,
        min_bin_non_events: int = 3,
        max_pvalue: float | None = 0.05,
    ):
        self.name = name
        self.dtype = dtype
        self.direction = direction
        self.max_prebins = max_prebins
        self.min_bin_share = min_bin_share
        self.max_bins = max_bins
        self.special_values = special_values
        self.prebinning = prebinning
        self.min_prebin_share = min_prebin_share
        self.min_bin_events = min_bin_events
        self.min_bin_non_events = min_bin_non_events
        self.max_pvalue = max_pvalue

    def __sklearn_tags__(self) -> Tags:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # missing values get a bin of their own
        tags.input_tags.one_d_array = True
        tags.input_tags.two_d_array = True
        tags.input_tags.categorical = self.dtype == "categorical"
        tags.input_tags.string = self.dtype == "categorical"
        tags.target_tags.required = True  # supervised: the bins follow the event rate of y
        tags.target_tags.single_output = True
        return tags

    # -- fitting ---------------------------------------------------------------------------
    def _check(self) -> str:
        """Validate the parameters; returns the canonical direction."""
        if self.dtype not in ("numerical", "categorical"):
            raise ConfigError(f"{self.name}: dtype must be numerical or categorical, got {self.dtype!r}")
        if self.direction not in ("increases_risk", "decreases_risk", "none", "auto"):
            raise ConfigError(
                f"{self.name}: direction must be increases_risk, decreases_risk or none (no direction), "
                f"got {self.direction!r}"
            )
        direction = canonical_directions(f"MonotoneBinning {self.name!r}", {self.name: self.direction})[self.name]
        if not (0 <= self.min_bin_share < 0.5):
            raise ConfigError(f"{self.name}: min_bin_share must be in [0, 0.5)")
        if self.max_bins < 1 or self.max_prebins < 2:
            raise ConfigError(f"{self.name}: max_bins >= 1 and max_prebins >= 2 are needed")
        if self.min_bin_events < 0 or self.min_bin_non_events < 0:
            raise ConfigError(f"{self.name}: min_bin_events and min_bin_non_events must be >= 0")
        if self.max_pvalue is not None and not (0 < self.max_pvalue <= 1):
            raise ConfigError(f"{self.name}: max_pvalue must be in (0, 1], or None for no test")
        if self.prebinning not in ("tree", "quantile"):
            raise ConfigError(f"{self.name}: prebinning must be tree or quantile")
        return direction

    def _numbers(self, x: Any) -> np.ndarray:
        """The column as floats, or a DataError naming it when it holds text or categories."""
        if isinstance(x, pd.Series) and is_text_or_category(x):
            raise DataError(
                f"{self.name}: the column holds categories or text (e.g. {x.dropna().astype(str).unique()[:3].tolist()}); "
                "declare it categorical (dtype='categorical') or convert it to numbers"
            )
        try:
            return np.asarray(x, dtype=float)
        except (TypeError, ValueError):
            sample = [v for v in np.asarray(x, dtype=object).ravel()[:1000] if isinstance(v, str)][:3]
            raise DataError(
                f"{self.name}: the column holds text (e.g. {sample}); declare it categorical "
                "(dtype='categorical') or convert it to numbers"
            ) from None

    def fit(self, X: Any, y: Any) -> "MonotoneBinning":
        """Bin the one column of ``X`` (a Series, 1-D array or one-column table) against the 0/1 ``y``:
        :meth:`fit_counts` on the column's :func:`value_counts` (so a fit on rows and a fit on the
        same counts aggregated elsewhere, e.g. by Spark, are the same binning)."""
        self._check()
        x, column, _ = _one_column(X, f"MonotoneBinning {self.name!r}")
        try:
            y = np.asarray(y, dtype=float)
        except (TypeError, ValueError):
            raise DataError(f"{self.name}: the target must be 0/1") from None
        if y.ndim != 1 or len(y) != len(x):
            raise DataError(f"{self.name}: X has {len(x)} rows but y has shape {y.shape}")
        if not np.isin(y, (0.0, 1.0)).all():
            raise DataError(f"{self.name}: the target must be 0/1")
        values: Any = pd.Series(x, dtype="object") if self.dtype == "categorical" else self._numbers(x)
        self.fit_counts(value_counts(values, y, self.dtype))
        self.feature_names_in_ = np.asarray([column if column is not None else self.name], dtype=object)
        return self

    def fit_counts(self, counts: pd.DataFrame) -> "MonotoneBinning":
        """Bin the feature from its per-value event and non-event counts (the aggregate of
        :func:`value_counts`: one row per distinct value, ``value``, ``n`` rows, ``events``; a missing
        ``value`` is the missing bin). Only these counts are read, so the result is the same whether
        they were counted here from rows or by another engine (:mod:`scoring.points.spark`)."""
        direction = self._check()
        require = {"value", "n", "events"} - set(counts.columns)
        if require:
            raise DataError(f"{self.name}: the counts lack the columns {sorted(require)}")
        counts = counts.sort_values("value", kind="stable", na_position="last", ignore_index=True)
        n_all = counts["n"].to_numpy(float)
        e_all = counts["events"].to_numpy(float)
        if self.dtype == "categorical":
            keys = counts["value"].astype(object)
            missing = keys.isna().to_numpy()
            special = np.zeros(len(keys), dtype=bool)
            xv = np.zeros(len(keys))
        else:
            xv = counts["value"].to_numpy(float)
            missing = np.isnan(xv)
            special = np.isin(xv, np.asarray(self.special_values, dtype=float)) & ~missing
        clean = ~missing & ~special
        self.feature_names_in_ = np.asarray([self.name], dtype=object)
        self.n_features_in_ = 1
        self.total_events_ = float(e_all.sum())
        self.n_total_ = int(n_all.sum())
        self.total_non_events_ = float(self.n_total_ - self.total_events_)
        groups: Any
        if self.dtype == "categorical":
            groups, n, e = self._prebin_categorical_counts(keys[clean].astype(str), n_all[clean], e_all[clean])
        else:
            groups, n, e = self._prebin_numerical_counts(xv[clean], n_all[clean], e_all[clean])
        shapes: list[tuple[str, int | None]]
        if self.dtype == "categorical" or direction != "none":
            shapes = [
                (
                    "ascending" if self.dtype == "categorical" or direction == "increases_risk" else "descending",
                    None,
                )
            ]
        else:
            # none (features that declare no direction): monotone either way, or one peak / valley,
            # whichever binning holds the most information
            shapes = [("ascending", None), ("descending", None)]
            shapes += [(s, k) for s in ("peak", "valley") for k in range(1, len(n) - 1)]
        best: tuple[float, str, list[list[int]]] | None = None
        for shape, turn in shapes:
            blocks = self._merge_to_budget(self._merge_small(_shape_blocks(n, e, shape, turn), n, e), n, e)
            iv = sum(self._iv(n[b].sum(), e[b].sum()) for b in blocks)
            if best is None or iv > best[0] + 1e-12:
                best = (iv, shape, blocks)
        assert best is not None  # shapes is never empty
        _, self.trend_, blocks = best
        self.increasing_ = self.trend_ == "ascending"
        self._set_bins(groups, blocks, n, e)
        # missing and special bins
        self.missing_stats_ = (int(n_all[missing].sum()), float(e_all[missing].sum()))
        self.special_stats_ = (
            {
                float(v): (int(n_all[(xv == v) & special].sum()), float(e_all[(xv == v) & special].sum()))
                for v in self.special_values
            }
            if self.dtype == "numerical"
            else {}
        )
        self._finish()
        return self

    def _prebin_numerical_counts(self, uniq: np.ndarray, cn: np.ndarray, ce: np.ndarray):
        """Pre-bins [s_i, s_i+1) from the distinct values ``uniq`` (ascending), their rows ``cn`` and
        events ``ce``: one per value for discrete features, else the thresholds of a tree (or
        quantiles taken as data values, inverted CDF) above the minimum, so every pre-bin holds at
        least its split value."""
        if len(uniq) <= self.max_prebins:
            splits = uniq[1:]
        elif self.prebinning == "tree":
            splits = self._tree_splits(uniq, cn, ce)
        else:
            splits = np.unique(_inverted_cdf(uniq, cn, np.linspace(0, 1, self.max_prebins + 1)[1:-1]))
            splits = splits[splits > uniq[0]]
        if len(uniq) > self.max_prebins:
            splits = np.union1d(splits, self._mass_splits(uniq, cn))
        idx = np.searchsorted(splits, uniq, side="right")
        k = len(splits) + 1
        n = np.bincount(idx, weights=cn, minlength=k).astype(float)
        e = np.bincount(idx, weights=ce, minlength=k).astype(float)
        return splits, n, e

    def _mass_splits(self, uniq: np.ndarray, counts: np.ndarray) -> np.ndarray:
        """Splits isolating every value held by at least ``min_prebin_share`` of the rows (a point
        mass such as 0 = no fine, or 1825 = no penalty in five years): [v, next value)."""
        heavy = np.flatnonzero(counts >= max(1.0, self.min_prebin_share * float(counts.sum())))
        cuts = [uniq[i] for i in heavy if i > 0] + [uniq[i + 1] for i in heavy if i + 1 < len(uniq)]
        return np.unique(np.asarray(cuts, dtype=float))

    def _tree_splits(self, uniq: np.ndarray, cn: np.ndarray, ce: np.ndarray) -> np.ndarray:
        """Supervised pre-bins: the thresholds of a CART tree on this feature alone (as optbinning
        does), fitted on the per-value counts as sample weights: the same tree as on the rows
        themselves (a leaf of at least ``min_prebin_share`` of the rows: a weight floor of
        ``leaf - 0.5`` over whole-number weights is exactly ``leaf`` rows or more). Splits are snapped
        to data values so that bins are [s_i, s_i+1) exactly as for quantile pre-bins."""
        from sklearn.tree import DecisionTreeClassifier

        total = float(cn.sum())
        leaf = max(1, int(np.ceil(self.min_prebin_share * total)))
        ne = cn - ce
        xs = np.concatenate([uniq[ne > 0], uniq[ce > 0]])
        ys = np.concatenate([np.zeros(int((ne > 0).sum())), np.ones(int((ce > 0).sum()))])
        ws = np.concatenate([ne[ne > 0], ce[ce > 0]])
        order = np.argsort(xs, kind="stable")
        tree = DecisionTreeClassifier(
            max_leaf_nodes=self.max_prebins, min_weight_fraction_leaf=min((leaf - 0.5) / total, 0.5), random_state=0
        )
        tree.fit(xs[order].reshape(-1, 1), ys[order], sample_weight=ws[order])
        t = tree.tree_
        thresholds = np.sort(t.threshold[t.children_left != t.children_right])
        # x <= threshold goes left: the first data value above the threshold starts the next bin
        snapped = uniq[np.searchsorted(uniq, thresholds, side="right").clip(max=len(uniq) - 1)]
        return np.unique(snapped[snapped > uniq[0]])

    def _prebin_categorical_counts(self, keys: pd.Series, n: np.ndarray, e: np.ndarray):
        """One pre-bin per category (its text), ordered by smoothed event rate."""
        df = pd.DataFrame({"x": keys.to_numpy(), "n": n, "e": e})
        st = df.groupby("x").agg(count=("n", "sum"), sum=("e", "sum"))
        st["rate"] = (st["sum"] + 0.5) / (st["count"] + 1.0)
        st = st.sort_values("rate")
        return [[c] for c in st.index], st["count"].to_numpy(float), st["sum"].to_numpy(float)

    def _merge_small(self, blocks, n, e):
        """Merge bins smaller than ``min_bin_share`` that do not earn their place (see the module
        docstring): first those short of events or non-events (into the neighbour with the closer
        event rate), then, one pair at a time, the least significant pair of neighbours of which one
        is small."""
        if n.sum() == 0:
            return blocks
        floor = self.min_bin_share * self.n_total_
        while len(blocks) > 1:
            sizes = [float(n[b].sum()) for b in blocks]
            events = [float(e[b].sum()) for b in blocks]
            small = [sz < floor for sz in sizes]
            short = [
                i
                for i in range(len(blocks))
                if small[i] and (events[i] < self.min_bin_events or sizes[i] - events[i] < self.min_bin_non_events)
            ]
            if short:
                i = min(short, key=lambda k: sizes[k])
                if i == 0:
                    j = 1
                elif i == len(blocks) - 1:
                    j = i - 1
                else:
                    r = events[i] / max(sizes[i], 1)
                    rl = events[i - 1] / max(sizes[i - 1], 1)
                    rr = events[i + 1] / max(sizes[i + 1], 1)
                    j = i - 1 if abs(r - rl) <= abs(r - rr) else i + 1
            elif self.max_pvalue is not None:
                worst: tuple[float, int] | None = None
                for k in range(len(blocks) - 1):
                    if small[k] or small[k + 1]:
                        p = _pvalue(events[k], sizes[k], events[k + 1], sizes[k + 1])
                        if p > self.max_pvalue and (worst is None or p > worst[0]):
                            worst = (p, k)
                if worst is None:
                    break
                i, j = worst[1], worst[1] + 1
            else:
                break
            a, b = min(i, j), max(i, j)
            blocks[a] = blocks[a] + blocks[b]
            del blocks[b]
        return blocks

    def _iv(self, n_b: float, e_b: float) -> float:
        ne_b = n_b - e_b
        pe = (e_b + 0.5) / (self.total_events_ + 0.5)
        pn = (ne_b + 0.5) / (self.total_non_events_ + 0.5)
        return (pe - pn) * math.log(pe / pn)

    def _merge_to_budget(self, blocks, n, e):
        while len(blocks) > self.max_bins:
            best, loss = 0, float("inf")
            for i in range(len(blocks) - 1):
                a, b = blocks[i], blocks[i + 1]
                na, ea, nb, eb = n[a].sum(), e[a].sum(), n[b].sum(), e[b].sum()
                d = self._iv(na, ea) + self._iv(nb, eb) - self._iv(na + nb, ea + eb)
                if d < loss:
                    best, loss = i, d
            blocks[best] = blocks[best] + blocks[best + 1]
            del blocks[best + 1]
        return blocks

    def _set_bins(self, groups, blocks, n, e) -> None:
        self.bin_n_ = np.array([n[b].sum() for b in blocks])
        self.bin_events_ = np.array([e[b].sum() for b in blocks])
        if self.dtype == "categorical":
            self.categories_ = [sorted(sum((groups[i] for i in b), [])) for b in blocks]
            self.splits_ = np.array([])
        else:
            # the split between block k and k+1 is the pre-bin split at the end of block k
            self.splits_ = np.array([groups[b[-1]] for b in blocks[:-1]], dtype=float)
            self.categories_ = []

    def _finish(self) -> None:
        E, NE = self.total_events_, self.total_non_events_
        self.woe_ = _woe(self.bin_events_, self.bin_n_ - self.bin_events_, E, NE)
        mn, me = self.missing_stats_
        self.missing_woe_ = float(_woe(np.array([me]), np.array([mn - me]), E, NE)[0]) if mn else 0.0
        self.special_woe_ = {
            v: float(_woe(np.array([se]), np.array([sn - se]), E, NE)[0]) if sn else 0.0
            for v, (sn, se) in self.special_stats_.items()
        }

    # -- using -----------------------------------------------------------------------------
    @property
    def n_bins(self) -> int:
        check_fitted(self)
        return len(self.bin_n_)

    def bin_index(self, X: Any) -> np.ndarray:
        """Bin of each value: 0..n_bins-1 for regular bins, -1 missing, -2-k the k-th special value."""
        check_fitted(self)
        x, _, _ = _one_column(X, f"MonotoneBinning {self.name!r}")
        if self.dtype == "categorical":
            xs = pd.Series(x, dtype="object")
            lookup = {c: i for i, cats in enumerate(self.categories_) for c in cats}
            out = np.array([lookup.get(str(v), -1) if pd.notna(v) else -1 for v in xs], dtype=np.int64)
            # unseen categories go to the riskiest bin (a conservative choice), missing to missing
            unseen = (out == -1) & xs.notna().to_numpy()
            out[unseen] = self.n_bins - 1
            return out
        xv = self._numbers(x)
        out = np.searchsorted(self.splits_, xv, side="right").astype(np.int64)
        out[np.isnan(xv)] = -1
        for k, v in enumerate(self.special_woe_):
            out[xv == v] = -2 - k
        return out

    def transform(self, X: Any, metric: Literal["woe", "bins"] = "woe") -> np.ndarray:
        """WoE (``metric="woe"``) or bin index (``"bins"``, as :meth:`bin_index`) of every value;
        1-D for a column, one column (n, 1) for a one-column table."""
        _, _, table = _one_column(X, f"MonotoneBinning {self.name!r}")
        idx = self.bin_index(X)
        if metric == "bins":
            return idx[:, None] if table else idx
        woe = np.append(self.woe_, [self.missing_woe_])  # index -1 -> missing
        out = woe[np.where(idx >= 0, idx, len(woe) - 1)]
        for k, v in enumerate(self.special_woe_.values()):
            out[idx == -2 - k] = v
        return out[:, None] if table else out

    def bin_labels(self) -> list[str]:
        check_fitted(self)
        if self.dtype == "categorical":
            return ["{" + ", ".join(c) + "}" for c in self.categories_]
        edges = [-np.inf] + list(self.splits_) + [np.inf]

        def f(v: float) -> str:
            return "-inf" if v == -np.inf else "inf" if v == np.inf else f"{v:g}"

        return [f"[{f(edges[i])}, {f(edges[i + 1])})" for i in range(self.n_bins)]

    def build_table(self) -> pd.DataFrame:
        """The binning as a table: bin, count, share, non-events, events, event rate, WoE, IV."""
        check_fitted(self)
        rows = []
        E, NE = self.total_events_, self.total_non_events_
        entries = [(lab, n, e, w) for lab, n, e, w in zip(self.bin_labels(), self.bin_n_, self.bin_events_, self.woe_)]
        for v, (sn, se) in self.special_stats_.items():
            entries.append((f"Special {v:g}", sn, se, self.special_woe_[v]))
        mn, me = self.missing_stats_
        entries.append((MISSING, mn, me, self.missing_woe_))
        for lab, n, e, w in entries:
            pe = (e + 0.5) / (E + 0.5)
            pn = (n - e + 0.5) / (NE + 0.5)
            rows.append(
                {
                    "bin": lab,
                    "count": int(n),
                    "count_share": n / self.n_total_ if self.n_total_ else 0.0,
                    "non_events": int(n - e),
                    "events": int(e),
                    "event_rate": e / n if n else float("nan"),
                    "woe": w,
                    "iv": (pe - pn) * math.log(pe / pn) if n else 0.0,
                }
            )
        return pd.DataFrame(rows)

    @property
    def iv_(self) -> float:
        return float(self.build_table()["iv"].sum())

    # -- persistence -----------------------------------------------------------------------
    def to_dict(self) -> dict:
        check_fitted(self)
        names = [str(c) for c in self.feature_names_in_]
        return {
            "name": self.name,
            "dtype": self.dtype,
            "direction": self.direction,
            "max_prebins": self.max_prebins,
            "min_bin_share": self.min_bin_share,
            "max_bins": self.max_bins,
            "special_values": [float(v) for v in self.special_values],
            "prebinning": self.prebinning,
            "min_prebin_share": self.min_prebin_share,
            "min_bin_events": self.min_bin_events,
            "min_bin_non_events": self.min_bin_non_events,
            "max_pvalue": self.max_pvalue,
            "increasing": self.increasing_,
            "trend": self.trend_,
            "splits": [float(s) for s in self.splits_],
            "categories": self.categories_,
            "bin_n": self.bin_n_.tolist(),
            "bin_events": self.bin_events_.tolist(),
            "missing": list(self.missing_stats_),
            "special": [[v, list(s)] for v, s in self.special_stats_.items()],
            "total_events": self.total_events_,
            "total_non_events": self.total_non_events_,
            "n_total": self.n_total_,
        } | ({} if names == [self.name] else {"feature_names_in": names})  # only when X named it otherwise

    @classmethod
    def from_dict(cls, d: dict) -> "MonotoneBinning":
        b = cls(
            d["name"],
            d["dtype"],
            d["direction"],
            d["max_prebins"],
            d["min_bin_share"],
            d["max_bins"],
            tuple(d["special_values"]),
            d.get("prebinning", "tree"),
            d.get("min_prebin_share", 0.05),
            d.get("min_bin_events", 3),  # /1 files predate these three (their bins are stored as fitted)
            d.get("min_bin_non_events", 3),
            d.get("max_pvalue", 0.05),
        )
        b.increasing_ = d["increasing"]
        b.trend_ = d.get("trend", "ascending" if d["increasing"] else "descending")
        b.splits_ = np.array(d["splits"], dtype=float)
        b.categories_ = d["categories"]
        b.bin_n_ = np.array(d["bin_n"], dtype=float)
        b.bin_events_ = np.array(d["bin_events"], dtype=float)
        b.missing_stats_ = (int(d["missing"][0]), float(d["missing"][1]))
        b.special_stats_ = {float(v): (int(s[0]), float(s[1])) for v, s in d["special"]}
        b.total_events_, b.total_non_events_, b.n_total_ = d["total_events"], d["total_non_events"], d["n_total"]
        b.feature_names_in_ = np.asarray(d.get("feature_names_in", [d["name"]]), dtype=object)
        b.n_features_in_ = 1
        b._finish()
        return b

    def save(self, path: str | Path) -> Path:
        """The fitted binning as JSON (no pickle); :meth:`load` gives it back exactly."""
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(json.dumps({"format": FORMAT, **self.to_dict()}, ensure_ascii=False), encoding="utf-8")
        return p

    @classmethod
    def load(cls, path: str | Path) -> "MonotoneBinning":
        d = json.loads(Path(path).read_text(encoding="utf-8"))
        if d.pop("format", None) not in FORMATS:
            raise DataError(f"{path}: not a monotone binning file (expected format {FORMAT})")
        return cls.from_dict(d)
