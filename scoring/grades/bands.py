"""Band tables fitted to the platform's target shares (分级分类监管: the share of every grade).

An industry declaring ``bands: {kind: shares, targets: {...}, tolerance: ...}`` gets risk bounds
fitted when its model is fitted (:func:`fit_bands`): on a reference period (the hold-out
cut-off's organisations, features only, that the band table grades: not vetoed, not new entrants), every bound
falls where the cumulative share of the sorted calibrated risks comes closest to the cumulative
target (优秀; 优秀+良好; ...). Organisations with the same risk always share a grade (the same record
history gets the same grade), so a grade's share can only be as close to its target as the ties
allow: no other cut between distinct risks is closer to any cumulative target, and a grade whose
targets fall on one cut is empty (zero width). The fitted bands are ``risk`` bands that keep the
targets and the tolerance; they travel with the model (``model.bands_``) and :func:`resolve_bands`
returns them to grade with. :func:`share_table` reports every grade's share next to its target and
whether it is within the tolerance; vetoed organisations and new entrants are counted separately,
never in the shares.

Where a bound falls between two neighbouring distinct risks of the reference period it is placed
evenly inside the gap (midway for one bound), so organisations of a later period whose risk falls
between them are graded by the nearer side; below the lowest risk the gap reaches down to 0 and
above the highest up to 1 (probabilities).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from scoring.core.errors import ConfigError, DataError
from scoring.features.industry import GRADES, Bands, Industry


def _gap_bounds(lo: float, hi: float, m: int, *, hi_is_risk: bool) -> list[float]:
    """``m`` strictly increasing bounds evenly inside the gap from ``lo`` to ``hi`` (midway for one).
    A risk equal to a bound belongs to the lower grade, so a bound may equal ``lo`` but must stay
    below ``hi`` when ``hi`` is a risk of the reference period (``hi_is_risk``)."""
    out: list[float] = []
    for i in range(m):
        b = lo + (hi - lo) * (i + 1) / (m + 1)
        if out and b <= out[-1]:
            b = float(np.nextafter(out[-1], np.inf))
        out.append(float(b))
    if hi_is_risk and out[-1] >= hi:
        raise DataError(
            f"share bands: the reference risks {lo!r} and {hi!r} are too close to put {m} bounds between "
            "them (less than the floating-point spacing apart); the bands cannot be fitted"
        )
    return out


def fit_bands(bands: Bands, risk, eligible=None, *, reference: str = "") -> Bands:
    """The ``risk`` bands that come closest to ``bands.targets`` on the reference rows (``risk``
    where ``eligible``); bands of another kind are returned unchanged.

    For every cumulative target (优秀, 优秀+良好, 优秀+良好+中等, all but 差) the cut is the one among
    the distinct risks whose cumulative share is closest to it (the lower one when two are equally
    close); the cuts never cross, so the bounds strictly increase and a grade is empty where two
    cumulative targets choose the same cut. Raises :class:`~scoring.core.errors.DataError` when no
    reference row is left (all vetoed, new or without a risk)."""
    if bands.kind != "shares":
        return bands
    r = np.asarray(risk, float).ravel()
    if eligible is not None:
        e = np.asarray(eligible, bool).ravel()
        if len(e) != len(r):
            raise DataError(f"share bands: {len(r)} risks but {len(e)} flags of which organisations the bands grade")
        r = r[e]
    r = r[np.isfinite(r)]
    if len(r) == 0:
        raise DataError(
            "share bands: no organisation of the reference period is graded by the band table "
            "(every one vetoed, a new entrant or without a risk); the bands cannot be fitted"
        )
    values, counts = np.unique(r, return_counts=True)
    options = np.concatenate([[0.0], np.cumsum(counts) / len(r)])  # share at or below each cut
    targets = np.cumsum([bands.targets[g] for g in GRADES[:-1]])
    # cut j: the lowest j distinct risks are at or below the bound (0: none, len(values): all)
    cuts = [int(np.argmin(np.abs(options - t))) for t in targets]  # never cross: targets increase
    bounds: list[float] = []
    for j in sorted(set(cuts)):
        m = cuts.count(j)
        # the gap below the lowest risk reaches down to 0, above the highest up to 1 (probabilities)
        lo = float(values[j - 1]) if j > 0 else (0.0 if values[0] > 0 else float(values[0]) - 1.0)
        hi = float(values[j]) if j < len(values) else (1.0 if values[-1] < 1 else float(values[-1]) + 1.0)
        bounds += _gap_bounds(lo, hi, m, hi_is_risk=j < len(values))
    return Bands(
        kind="risk",
        bounds=dict(zip(GRADES[:-1], bounds)),
        targets=dict(bands.targets),
        tolerance=bands.tolerance,
        reference=reference,
    )


def resolve_bands(model: Any, industry: Industry) -> Bands:
    """The bands that grade ``industry``'s organisations with ``model``: the model's fitted bands
    (``model.bands_``) when the industry declares target shares, else the industry's own bands.

    A model without fitted bands, or fitted for other target shares than the industry's config now
    declares, is a :class:`~scoring.core.errors.ConfigError` saying to refit. The tolerance is the
    config's (it only decides what is flagged, not any grade)."""
    if industry.bands.kind != "shares":
        return industry.bands
    fitted: Bands | None = getattr(model, "bands_", None)
    if fitted is None:
        raise ConfigError(
            f"industry {industry.code}: configs/industries/{industry.code}.yaml declares target shares "
            "(bands.kind: shares) but the model carries no fitted bands; refit the model "
            f"(scoring grades fit --industry {industry.code})"
        )
    if fitted.targets != industry.bands.targets:
        raise ConfigError(
            f"industry {industry.code}: the model's bands were fitted for target shares "
            f"{fitted.targets} but configs/industries/{industry.code}.yaml now declares "
            f"{industry.bands.targets}; refit the model (scoring grades fit --industry {industry.code})"
        )
    if fitted.tolerance != industry.bands.tolerance:
        return fitted.model_copy(update={"tolerance": industry.bands.tolerance})
    return fitted


def band_graded(graded: pd.DataFrame) -> pd.Series:
    """Which organisations of a graded frame (columns ``veto`` and, when known, ``new_entrant``)
    the band table grades: not vetoed and not a new entrant. The target shares apply to these."""
    mask = graded["veto"].fillna("").astype(str) == ""
    if "new_entrant" in graded.columns:
        mask &= ~graded["new_entrant"].fillna(False).astype(bool)
    return mask


def share_table(grades, bands: Bands | None, eligible=None) -> pd.DataFrame:
    """Per grade 优秀..差: organisations graded by the band table (``grades`` where ``eligible``),
    their share, the target, the difference and whether it is within the tolerance (targets and
    tolerance from ``bands``; no bands or no targets: those columns are empty)."""
    g = pd.Series(np.asarray(grades, dtype=object))
    if eligible is not None:
        g = g[np.asarray(eligible, bool)]
    n = int(len(g))
    counts = g.value_counts().reindex(list(GRADES), fill_value=0)
    targets = bands.targets if bands is not None else {}
    rows = []
    for grade in GRADES:
        k = int(counts[grade])
        share = k / n if n else float("nan")
        target = targets.get(grade, float("nan"))
        diff = share - target
        rows.append(
            {
                "grade": grade,
                "band_graded": k,
                "share": share,
                "target": target,
                "difference": diff,
                "tolerance": bands.tolerance_of(grade) if bands is not None and targets else float("nan"),
                # None: no target to compare with
                "within_tolerance": (
                    bool(abs(diff) <= bands.tolerance_of(grade) + 1e-12) if bands is not None and diff == diff else None
                ),
            }
        )
    return pd.DataFrame(rows)


def bands_text(bands: Bands) -> str:
    """The bands in a sentence for a list's 说明 and a report (Chinese): the kind, the bounds with
    their reference, the target shares and the tolerance."""
    kind = {
        "risk": "风险概率上限",
        "score": "100分制得分下限",
        "ordinal": "校准后等级概率的中位等级（无分界值）",
        "shares": "目标占比（分界值随模型拟合）",
    }[bands.kind]
    parts = [kind]
    if bands.bounds:
        fmt = "{:.4g}" if bands.kind == "risk" else "{:g}"
        parts.append(
            "、".join(
                f"{g}≤{fmt.format(b)}" if bands.kind == "risk" else f"{g}≥{fmt.format(b)}"
                for g, b in bands.bounds.items()
            )
            + f"，其余{GRADES[-1]}"
        )
    if bands.reference:
        parts.append(f"分界值拟合于{bands.reference.replace('calibration', '校准期').replace('hold-out', '留出期')}")
    if bands.targets:
        parts.append(
            "目标占比 "
            + "、".join(f"{g}{100 * v:.1f}%±{100 * bands.tolerance_of(g):.1f}" for g, v in bands.targets.items())
            + "（±为允许偏差，百分点；按分级表定级的主体计，不含直接定级与新设主体）"
        )
    return "；".join(parts)
