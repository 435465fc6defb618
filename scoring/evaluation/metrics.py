"""Evaluation metrics shared by the points card, the grade models and monitoring.

KS statistic, reliability table with Brier score and expected calibration error (ECE), and the Wilson
score interval of a proportion.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


def ks_statistic(y: np.ndarray, risk: np.ndarray) -> float:
    order = np.argsort(-risk)
    ys = np.asarray(y)[order]
    cb = np.cumsum(ys) / max(ys.sum(), 1)
    cg = np.cumsum(1 - ys) / max((1 - ys).sum(), 1)
    return float(np.max(np.abs(cb - cg)))


def reliability(y: np.ndarray, p: np.ndarray, bins: int = 10) -> tuple[pd.DataFrame, float, float]:
    """Reliability table by predicted-risk deciles, Brier score and expected calibration error."""
    y, p = np.asarray(y, float), np.asarray(p, float)
    q = pd.qcut(pd.Series(p).rank(method="first"), bins, labels=False)
    t = (
        pd.DataFrame({"bin": q, "p": p, "y": y})
        .groupby("bin")
        .agg(n=("y", "size"), predicted=("p", "mean"), observed=("y", "mean"))
    )
    ece = float((t["n"] * (t["predicted"] - t["observed"]).abs()).sum() / t["n"].sum())
    brier = float(np.mean((p - y) ** 2))
    return t.reset_index(), brier, ece


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a proportion k/n."""
    if n == 0:
        return (float("nan"), float("nan"))
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    # exact ends when no or every subject had the outcome (c - h is 0 or c + h is 1 up to rounding)
    return (0.0 if k == 0 else max(0.0, c - h), 1.0 if k == n else min(1.0, c + h))
