"""Why an organisation got its grade (行业信用评价 explanation), in Chinese, with the records behind it.

The deciding veto (直接定级) comes first, by its Chinese label; then the features with the largest
effects, each stating its fact against the industry reference (行业中位数: ``model.info_['reference']``,
which fitted models carry) with the archive records that make up its value (type, date, document
number, agency, end of publicity). Effects are points of the grade score 100 × (1 − risk), converted
exactly from the grader's contributions (:func:`scoring.grades.lists.score_effects`): they sum to the
score's difference from the industry base, and the explanation says so. The words are those of
:mod:`scoring.grades.wording`; :func:`scoring.grades.wording.grade_explanation_text` prints it.

The result is machine-readable (codes: ``industry``, ``veto``, ``feature``, ``record_type``) and
carries the Chinese texts beside them (``industry_zh``, ``veto_zh``, ``text``, ``records_zh``).
Only the grader protocol is used (``features_``, ``contributions``, ``margin``, ``calibrator_``,
``predict_proba``, ``info_``, ``version_``, ``class_names_``), so any champion explains the same way.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pandas as pd

from scoring.archive.catalog import load_catalog
from scoring.archive.store import Store
from scoring.core.errors import NotFoundError
from scoring.features.builder import prepare_views, records_behind, records_json
from scoring.grades.lists import deciding_veto, grade_population, organisation_reasons, score_effects
from scoring.grades.wording import records_words, veto_words


def _records(store: Store, spec, subject_id: str, as_of: dt.date) -> list[dict]:
    """The records behind a feature; an evaluation result (纳税信用等级, 行业信用评价结果) with its grade."""
    recs = records_json(records_behind(store, subject_id, spec, as_of))
    if spec.agg == "latest_grade" and recs:
        marks = ", ".join("?" for _ in spec.records)
        rows = store.sql(
            "SELECT record_type, event_date, document_no, grade FROM records "
            f"WHERE subject_id = ? AND record_type IN ({marks}) AND grade IS NOT NULL",
            [subject_id, *spec.records],
        )
        grade = {
            (r.record_type, pd.Timestamp(r.event_date).date().isoformat(), r.document_no): r.grade
            for r in rows.itertuples()
        }
        for rec in recs:
            g = grade.get((rec.get("record_type"), rec.get("event_date"), rec.get("document_no")))
            if g is not None:
                rec["grade"] = g
    return recs


def explain_organisation(
    store: Store, model, subject_id: str, as_of, *, industry: str | None = None, top: int = 5
) -> dict:
    """The grade of one organisation as of ``as_of``: probabilities, rules applied, the veto first,
    then the top reasons (facts against the industry reference, effects in points of the grade
    score), each with its records."""
    as_of = dt.date.fromisoformat(as_of) if isinstance(as_of, str) else as_of
    pop = grade_population(store, model, as_of, industry=industry, subject_ids=[subject_id])
    if subject_id not in pop.X.index:
        raise NotFoundError(f"organisation {subject_id} is not in industry {pop.industry.code}'s archive as of {as_of}")
    g: pd.Series = pop.graded.loc[subject_id]
    c = pop.contributions.loc[subject_id]
    x = pop.X.loc[subject_id]
    fset = pop.feature_set
    assert fset is not None, "a graded population carries its feature set"
    catalog = load_catalog()
    prepare_views(store, catalog)
    effects = score_effects(model, pop.contributions)
    reasons: list[dict[str, Any]] = []
    veto = deciding_veto(pop, subject_id)
    if veto is not None:
        recs = _records(store, fset[veto.feature], subject_id, as_of)
        reasons.append(
            {
                "kind": "veto",
                "code": veto.code,
                "label_zh": veto.label_zh,
                "text": veto_words(veto),
                "feature": veto.feature,
                "value": float(x[veto.feature]),
                "records": recs,
                "records_zh": records_words(recs, catalog),
            }
        )
    assert pop.reference is not None, "a graded population carries its industry reference"
    for r in organisation_reasons(pop, subject_id, effects, fset, catalog, pop.reference, top):
        recs = _records(store, fset[r.feature], subject_id, as_of)
        reasons.append({"kind": "shap", **r.to_dict(), "records": recs, "records_zh": records_words(recs, catalog)})
    e = effects.loc[subject_id]
    feats = [f for f in effects.columns if f not in ("score", "base_score")]
    margin = float(model.margin(pop.X.loc[[subject_id], model.features_])[0])
    probs = {k[2:]: float(g[k]) for k in pop.graded.columns if k.startswith("p_")}
    return {
        "subject": subject_id,
        "name": pop.subjects.loc[subject_id, "name"],
        "industry": pop.industry.code,
        "industry_zh": pop.industry.name_zh,
        "as_of": as_of.isoformat(),
        "grade": g["grade"],
        "model_grade": g["model_grade"],
        "probabilities": probs,
        "risk": float(g["risk"]),
        "veto": g["veto"],
        "veto_zh": veto.label_zh if veto is not None else "",
        "rules": g["reasons"],
        "previous_as_of": pop.previous_as_of.isoformat(),
        "previous_grade": g["previous_grade"] if isinstance(g["previous_grade"], str) else None,
        "supervision": {
            "sampling_ratio": float(g["sampling_ratio"]),
            "frequency": g["frequency"],
            "note": pop.industry.supervision[g["grade"]].note,
        },
        "reasons": reasons,
        "reference_source": pop.reference_source,
        "score": {
            "what": "信用得分 = 100 × (1 − 期望等级 ÷ (等级数 − 1))，满分100（两类时即100 × (1 − 风险概率)）；各项影响之和等于信用得分与行业基准得分之差",
            "score": float(e["score"]),
            "base": float(e["base_score"]),
            "difference": float(e["score"] - e["base_score"]),
            "sum_of_effects": float(e[feats].sum()),
        },
        "shap": {
            "base_value": float(c["bias"]),
            "sum_of_contributions": float(c.drop("bias").sum()),
            "model_score": margin,
            "exact": bool(abs(float(c.sum()) - margin) < 1e-9),
        },
        "model_version": model.version_,
        "contender": model.info_.get("contender", ""),
        "contender_zh": model.info_.get("contender_zh", ""),
        "mlflow_run_id": model.info_.get("mlflow_run_id", ""),
    }
