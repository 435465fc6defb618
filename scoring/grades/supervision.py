"""分级分类监管: from model output to the grade a regulator acts on.

Order of the rules (configs/industries/<code>.yaml):

1. the band table turns the model's output (calibrated risk, or a score) into a grade: the
   industry's bands, or for target shares (``bands.kind: shares``) the bounds fitted with the model
   (:func:`scoring.grades.bands.resolve_bands`), passed as ``bands``;
2. a new entrant (registered within ``new_entrant_months``, so without history) gets
   ``new_entrant_grade``;
3. the upgrade limit: at most ``upgrade_limit`` grades better than the previous period's grade;
4. vetoes (直接定级) last, so a veto always wins: a direct grade sets it, an ``at_most`` caps it.

Each grade comes with its supervision measure (random-inspection sampling ratio and frequency) and
the reasons that decided it. These rules are for organisations only; persons are never graded.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd

from scoring.core.dates import add_months
from scoring.core.errors import ConfigError
from scoring.features.industry import GRADE_INDEX, GRADES, Bands, Industry


def new_entrants(
    industry: Industry, index: pd.Index, registered_on: pd.Series | None, as_of: dt.date | None
) -> pd.Series:
    """Organisations of ``index`` registered within ``new_entrant_months`` before ``as_of`` (all
    False when the dates are not given): they get ``new_entrant_grade``, not a band-table grade."""
    if registered_on is None or as_of is None:
        return pd.Series(False, index=index)
    since = add_months(as_of, -industry.new_entrant_months)
    reg = pd.to_datetime(registered_on.reindex(index)).dt.date
    return (reg.notna() & (reg > since)).astype(bool)


def vetoed(industry: Industry, features: pd.DataFrame, index: pd.Index | None = None) -> pd.Series:
    """Organisations (``index``, default the features' rows) that meet any of the industry's vetoes
    (直接定级): their grade is set or capped by the veto, whatever the band table says."""
    idx = features.index if index is None else index
    hit = pd.Series(False, index=idx)
    for v in industry.vetoes:
        if v.feature not in features.columns:
            raise ConfigError(f"veto {v.code} needs feature {v.feature!r}, which the feature matrix lacks")
        hit |= features[v.feature].reindex(idx).map(v.applies).fillna(False).astype(bool)
    return hit


def graded_by_bands(
    industry: Industry,
    features: pd.DataFrame,
    registered_on: pd.Series | None = None,
    as_of: dt.date | None = None,
) -> pd.Series:
    """The organisations the band table grades: not vetoed and not new entrants. Target shares
    (``bands.kind: shares``) are fitted on, and reported for, these only."""
    return ~vetoed(industry, features) & ~new_entrants(industry, features.index, registered_on, as_of)


def assign_grades(
    industry: Industry,
    model_output: pd.Series,
    features: pd.DataFrame,
    previous: pd.Series | None = None,
    registered_on: pd.Series | None = None,
    as_of: dt.date | None = None,
    bands: Bands | None = None,
) -> pd.DataFrame:
    """Grades for the organisations in ``model_output`` (index: subject_id).

    ``bands``: the band table to apply (default the industry's; for target shares, the model's
    fitted bands from :func:`scoring.grades.bands.resolve_bands`, since shares bands have no bounds
    of their own). Returns columns model_grade, grade, veto (code of the deciding veto or empty),
    reasons, upgrade_capped, new_entrant, sampling_ratio, frequency.
    """
    idx = model_output.index
    table = bands if bands is not None else industry.bands
    model_grade = model_output.map(table.grade)
    grade = model_grade.map(GRADE_INDEX).astype(int)
    reasons = pd.Series([[] for _ in idx], index=idx, dtype=object)
    new_entrant = new_entrants(industry, idx, registered_on, as_of)
    if new_entrant.any():
        grade[new_entrant] = GRADE_INDEX[industry.new_entrant_grade]
        for i in idx[new_entrant]:
            reasons[i].append(f"新设立主体（{industry.new_entrant_months}个月内）按{industry.new_entrant_grade}定级")
    capped = pd.Series(False, index=idx)
    if previous is not None:
        prev = previous.reindex(idx).map(GRADE_INDEX)
        best_allowed = prev - industry.upgrade_limit
        hit = prev.notna() & (grade < best_allowed)
        grade[hit] = best_allowed[hit].astype(int)
        capped = hit
        for i in idx[hit]:
            reasons[i].append(f"升级限制：每期最多上调{industry.upgrade_limit}级（上期{previous[i]}）")
    veto = pd.Series("", index=idx, dtype=object)
    for v in industry.vetoes:
        if v.feature not in features.columns:
            raise ConfigError(f"veto {v.code} needs feature {v.feature!r}, which the feature matrix lacks")
        hit = features[v.feature].reindex(idx).map(v.applies).fillna(False).astype(bool)
        limit = GRADE_INDEX[v.grade or v.at_most or ""]  # the config guarantees one of the two
        text = f"直接定级：{v.label_zh} → " + (v.grade if v.grade else f"最高{v.at_most}")
        for i in idx[hit]:
            # a veto never improves a grade: the result is the worse of the two
            veto[i] = veto[i] or v.code
            grade[i] = max(grade[i], limit)
            reasons[i].insert(0, text)
    out = pd.DataFrame(
        {
            "model_grade": model_grade,
            "grade": grade.map(dict(enumerate(GRADES))),
            "veto": veto,
            "reasons": reasons.map(lambda r: "；".join(r)),
            "upgrade_capped": capped,
            "new_entrant": new_entrant,
        },
        index=idx,
    )
    out["sampling_ratio"] = out["grade"].map({g: m.sampling_ratio for g, m in industry.supervision.items()})
    out["frequency"] = out["grade"].map({g: m.frequency for g, m in industry.supervision.items()})
    return out
