"""Band tables fitted to the platform's target shares (分级分类监管: the share of every grade).

An industry declaring ``bands: {kind: shares, targets: {...}}`` gets risk bounds fitted when its
model is fitted: on a reference period (the calibration cut-off's organisations that the band table
grades: not vetoed, not new entrants), the bounds fall where the cumulative shares of the sorted
calibrated risks come closest to the cumulative targets. Organisations with the same risk always
share a grade (the same record history gets the same grade), so a grade's share can only be as
close to its target as the ties allow; :func:`share_table` reports every grade's share next to its
target and tolerance. The fitted bands are ``risk`` bands and travel with the model.
"""

from __future__ import annotations

import numpy as np

from scoring.core.errors import DataError
from scoring.features.industry import GRADES, Bands


def fit_bands(bands: Bands, risk, eligible=None, *, reference: str = "") -> Bands:
    """The ``risk`` bands that give ``bands.targets`` on the reference rows (``risk`` where
    ``eligible``); other kinds are returned unchanged."""
    if bands.kind != "shares":
        return bands
    r = np.asarray(risk, float)
    if eligible is not None:
        r = r[np.asarray(eligible, bool)]
    r = np.sort(r[np.isfinite(r)])
    if len(r) == 0:
        raise DataError("share bands: no organisation of the reference period is graded by the band table")
    values, counts = np.unique(r, return_counts=True)
    cum = np.cumsum(counts) / len(r)  # share at or below each distinct risk
    targets = np.cumsum([bands.targets[g] for g in GRADES[:-1]])
    bounds: list[float] = []
    for t in targets:
        # the distinct risk whose cumulative share is closest to the target (none: below the lowest)
        options = np.concatenate([[0.0], cum])
        j = int(np.argmin(np.abs(options - t)))
        if j == 0:
            b = float(np.nextafter(values[0], -np.inf))
        elif j == len(values):
            b = float(values[-1])
        else:
            b = float((values[j - 1] + values[j]) / 2)  # midway to the next distinct risk
        if bounds and b <= bounds[-1]:
            b = float(np.nextafter(bounds[-1], np.inf))  # an empty grade: zero width
        bounds.append(b)
    return Bands(
        kind="risk",
        bounds=dict(zip(GRADES[:-1], bounds)),
        targets=dict(bands.targets),
        tolerance=bands.tolerance,
        reference=reference,
    )
