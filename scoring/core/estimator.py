"""What xinyi's scikit-learn estimators share (PointsCard, GradeModel, MonotoneBinning, the calibrators
and the baselines): the fitted check, one word for "no direction", checks of keys against the
columns of X and of column types. Every failure is a :class:`~scoring.core.errors.XinyiError` whose
message names the estimator and the offending keys or columns.

**One word for "no direction"**: ``none``. A feature that declares neither ``increases_risk`` nor
``decreases_risk`` is unconstrained in the grade model and, in the points card's binning, takes the
shape that keeps the most information (monotone either way, or one peak or valley). ``auto``, the
points card's earlier word, is still accepted as a deprecated alias (a ``FutureWarning``); saved
files that carry it load unchanged.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd
from sklearn.exceptions import NotFittedError as _SklearnNotFitted
from sklearn.utils.validation import check_is_fitted

from scoring.core.errors import ConfigError, DataError, NotFittedError

NO_DIRECTION = "none"
DEPRECATED_NO_DIRECTION = "auto"
DIRECTIONS = ("increases_risk", "decreases_risk", NO_DIRECTION)


def check_fitted(estimator: Any) -> None:
    """Raise :class:`~scoring.core.errors.NotFittedError` (also scikit-learn's) unless ``estimator`` is
    fitted (scikit-learn's :func:`~sklearn.utils.validation.check_is_fitted`: a fitted attribute ending in ``_``)."""
    try:
        check_is_fitted(estimator)
    except _SklearnNotFitted:
        name = type(estimator).__name__
        raise NotFittedError(
            f"this {name} is not fitted yet: call {name}(...).fit(X, y) first, or load a saved model "
            f"({name}.load(path))"
        ) from None


def canonical_directions(owner: str, directions: Mapping[str, str]) -> dict[str, str]:
    """``directions`` with the deprecated ``auto`` replaced by ``none``; a ConfigError names any other
    word. One FutureWarning lists the features that still say ``auto``."""
    out = dict(directions)
    old = sorted(f for f, d in out.items() if d == DEPRECATED_NO_DIRECTION)
    if old:
        warnings.warn(
            f"{owner}: direction 'auto' is deprecated, say 'none' (no declared direction) for {old}",
            FutureWarning,
            stacklevel=3,
        )
        out.update(dict.fromkeys(old, NO_DIRECTION))
    bad = {f: d for f, d in out.items() if d not in DIRECTIONS}
    if bad:
        raise ConfigError(f"{owner}: directions must be increases_risk, decreases_risk or none (no direction): {bad}")
    return out


def check_keys(owner: str, what: str, keys: Iterable[Any], known: Iterable[Any], hint: str = "") -> None:
    """ConfigError naming the keys of parameter ``what`` that are not in ``known`` (the columns of X)."""
    known_set = set(known)
    unknown = sorted((k for k in keys if k not in known_set), key=str)
    if unknown:
        raise ConfigError(
            f"{owner}: {what} names {unknown}, which are not columns of X; check the spelling"
            + (f" ({hint})" if hint else "")
        )


def as_frame(X: Any, owner: str) -> pd.DataFrame:
    """X as a DataFrame: a DataFrame as it is, a 2-D array with columns ``x0``, ``x1``, ..."""
    if isinstance(X, pd.DataFrame):
        return X
    arr = np.asarray(X)
    if arr.ndim != 2:
        raise DataError(f"{owner}: X must be a table (a pandas DataFrame or a 2-D array), got {arr.ndim} dimension(s)")
    return pd.DataFrame(arr, columns=[f"x{i}" for i in range(arr.shape[1])])


def require_columns(X: pd.DataFrame, columns: Iterable[str], owner: str) -> None:
    """DataError naming the columns a fitted model reads that X lacks."""
    missing = [c for c in columns if c not in X.columns]
    if missing:
        raise DataError(f"{owner}: X lacks the columns {missing} the model was fitted on")


def is_text_or_category(s: pd.Series) -> bool:
    """Whether a column holds categories or text (pandas category, string, or object with non-numbers)."""
    dtype = s.dtype
    if isinstance(dtype, pd.CategoricalDtype) or isinstance(dtype, pd.StringDtype):
        return True
    if pd.api.types.is_string_dtype(dtype) and not pd.api.types.is_object_dtype(dtype):
        return True  # pandas' default string dtype (pandas >= 3)
    if pd.api.types.is_object_dtype(dtype):
        kind = pd.api.types.infer_dtype(s, skipna=True)
        return kind not in ("floating", "integer", "mixed-integer-float", "decimal", "boolean", "empty")
    return False


def require_numeric(X: pd.DataFrame, owner: str) -> None:
    """DataError naming the columns of X that hold categories or text, for models that need numbers."""
    bad = [c for c in X.columns if is_text_or_category(X[c])]
    if bad:
        raise DataError(
            f"{owner}: the columns {bad} hold categories or text; this model needs numbers: "
            "encode them (e.g. one-hot or ordinal codes) or leave them out"
        )


def check_labels(y: Any, owner: str, n_rows: int) -> np.ndarray:
    """y as an integer array of class indices 0, 1, ... with one label per row of X."""
    arr = np.asarray(y)
    if arr.ndim != 1 or len(arr) != n_rows:
        raise DataError(f"{owner}: y must hold one label per row of X ({n_rows} rows), got shape {arr.shape}")
    try:
        as_float = arr.astype(float)
    except (TypeError, ValueError):
        raise DataError(
            f"{owner}: y must hold class indices 0 (best), 1, ...; got values such as {arr[:3].tolist()}"
        ) from None
    if np.isnan(as_float).any() or (as_float != np.round(as_float)).any():
        raise DataError(f"{owner}: y must hold whole class indices 0 (best), 1, ... without missing values")
    return as_float.astype(int)
