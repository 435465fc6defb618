"""分级分类监管: from model output to the grade a regulator acts on.

Order of the rules (configs/industries/<code>.yaml):

1. the band table turns the model's output (calibrated risk, or a score) into a grade;
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
from scoring.features.industry import GRADE_INDEX, GRADES, Industry


def assign_grades(
    industry: Industry,
    model_output: pd.Series,
    features: pd.DataFrame,
    previous: pd.Series | None = None,
    registered_on: pd.Series | None = None,
    as_of: dt.date | None = None,
) -> pd.DataFrame:
    """Grades for the organisations in ``model_output`` (index: subject_id).

    Returns columns model_grade, grade, veto (code of the deciding veto or empty), reasons,
    upgrade_capped, new_entrant, sampling_ratio, frequency.
    """
    idx = model_output.index
    model_grade = model_output.map(industry.bands.grade)
    grade = model_grade.map(GRADE_INDEX).astype(int)
    reasons = pd.Series([[] for _ in idx], index=idx, dtype=object)
    new_entrant = pd.Series(False, index=idx)
    if registered_on is not None and as_of is not None:
        since = add_months(as_of, -industry.new_entrant_months)
        reg = pd.to_datetime(registered_on.reindex(idx)).dt.date
        new_entrant = reg.notna() & (reg > since)
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
