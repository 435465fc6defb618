"""Why an organisation got its grade (行业信用评价 explanation), in Chinese, with the records behind it.

The deciding veto (直接定级) comes first; then the features with the largest exact TreeSHAP
contributions to the model's risk score, each with the archive records that make up its value
(type, date, document number, agency, end of publicity). Contributions plus the base value equal the
model's score exactly, and the explanation says so.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from scoring.archive.catalog import load_catalog
from scoring.archive.store import Store
from scoring.core.errors import NotFoundError
from scoring.features.builder import prepare_views, records_behind, records_json
from scoring.grades.lists import grade_population, reason_text
from scoring.grades.model import Grader as GradeModel  # any grader of the protocol (h/champion)


def _records(store: Store, spec, subject_id: str, as_of: dt.date) -> list[dict]:
    return records_json(records_behind(store, subject_id, spec, as_of))


def explain_organisation(
    store: Store, model: GradeModel, subject_id: str, as_of, *, industry: str | None = None, top: int = 5
) -> dict:
    """The grade of one organisation as of ``as_of``: probabilities, rules applied, the veto first,
    then the top SHAP reasons, each with its records."""
    as_of = dt.date.fromisoformat(as_of) if isinstance(as_of, str) else as_of
    pop = grade_population(store, model, as_of, industry=industry, subject_ids=[subject_id])
    if subject_id not in pop.X.index:
        raise NotFoundError(f"organisation {subject_id} is not in industry {pop.industry.code}'s archive as of {as_of}")
    g: pd.Series = pop.graded.loc[subject_id]
    c = pop.contributions.loc[subject_id]
    x = pop.X.loc[subject_id]
    fset = pop.feature_set
    assert fset is not None, "a graded population carries its feature set"
    prepare_views(store, load_catalog())
    reasons: list[dict[str, Any]] = []
    if g["veto"]:
        v = next(v for v in pop.industry.vetoes if v.code == g["veto"])
        reasons.append(
            {
                "kind": "veto",
                "code": v.code,
                "text": g["reasons"].split("；")[0],
                "feature": v.feature,
                "value": float(x[v.feature]),
                "records": _records(store, fset[v.feature], subject_id, as_of),
            }
        )
    feats = [f for f in model.features_ if c[f] != 0]
    worse = g["grade"] in ("较差", "差")
    ranked = sorted(feats, key=lambda f: -(c[f] if worse else abs(c[f])))[:top]
    for f in ranked:
        val = float(x[f]) if pd.notna(x[f]) else float("nan")
        reasons.append(
            {
                "kind": "shap",
                "feature": f,
                "label_zh": pop.labels.get(f, f),
                "value": None if val != val else val,
                "contribution": float(c[f]),
                "text": reason_text(pop.labels.get(f, f), val, float(c[f])),
                "records": _records(store, fset[f], subject_id, as_of),
            }
        )
    margin = float(model.margin(pop.X.loc[[subject_id], model.features_])[0])
    probs = {k[2:]: float(g[k]) for k in pop.graded.columns if k.startswith("p_")}
    return {
        "subject": subject_id,
        "name": pop.subjects.loc[subject_id, "name"],
        "industry": pop.industry.code,
        "as_of": as_of.isoformat(),
        "grade": g["grade"],
        "model_grade": g["model_grade"],
        "probabilities": probs,
        "risk": float(g["risk"]),
        "veto": g["veto"],
        "rules": g["reasons"],
        "previous_as_of": pop.previous_as_of.isoformat(),
        "previous_grade": g["previous_grade"] if isinstance(g["previous_grade"], str) else None,
        "supervision": {
            "sampling_ratio": float(g["sampling_ratio"]),
            "frequency": g["frequency"],
            "note": pop.industry.supervision[g["grade"]].note,
        },
        "reasons": reasons,
        "shap": {
            "base_value": float(c["bias"]),
            "sum_of_contributions": float(c.drop("bias").sum()),
            "model_score": margin,
            "exact": bool(abs(float(c.sum()) - margin) < 1e-9),
        },
        "model_version": model.version_,
        "mlflow_run_id": model.info_.get("mlflow_run_id", ""),
    }
