"""What a registered model takes and gives: the published output, nothing less.

A registered 信义金 card reads the card's features *and the person's bottom-line gate state* as of
the date (:func:`scoring.points.personal.person_inputs`) and gives ``status``, ``points`` (empty when
suspended: a suspended person never gets a number), ``reason`` and ``suspended_until`` — exactly the
rows ``scoring points score --publish`` publishes (:func:`scoring.lineage.publish.score_rows`).

A registered industry grade model reads the features (the model's and the vetoes'), the previous
period's grade, the registration date and the grading date
(:func:`scoring.grades.lists.organisation_inputs`) and gives the grade after the band table, the
new-entrant rule, the upgrade limit and the vetoes (直接定级), with the Chinese grade labels
(优秀/良好/中等/较差/差), the calibrated probabilities, the risk, the deciding veto, the rules that
decided and the supervision measure — exactly what ``scoring grades list --publish`` publishes
(:func:`scoring.lineage.publish.grade_rows`). The industry's rules travel with the model (the
industry configuration as validated at registration), so a served model does not read configs.

:func:`model_input` builds the exact input frame for a store and a date (index: subject_id; the
index never reaches MLflow, so no identifier does), :func:`signature` describes both sides, and
:func:`load_scorer` is what the models-from-code file (:mod:`scoring.lineage.model_code`) calls.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from mlflow.models import ModelSignature

    from scoring.archive.store import Store
    from scoring.features.industry import Industry
    from scoring.grades.model import Grader
    from scoring.points.card import PointsCard

MODEL_ARTIFACT = "model"
INDUSTRY_ARTIFACT = "industry"
KINDS = ("card", "grade")

POINTS_OUTPUT = ("status", "points", "reason", "suspended_until")


def grade_output_columns(model: Grader) -> list[str]:
    return [
        "previous_grade",
        *(f"p_{c}" for c in model.class_names_),
        "risk",
        "model_grade",
        "grade",
        "veto",
        "reasons",
        "upgrade_capped",
        "new_entrant",
        "sampling_ratio",
        "frequency",
    ]


def model_input(
    store: Store,
    model: PointsCard | Grader,
    as_of: dt.date | str,
    *,
    industry: str | None = None,
    period_months: int = 12,
    subject_ids: list[str] | None = None,
) -> pd.DataFrame:
    """The exact pyfunc input of ``model`` (a card or a grade model) for ``store`` as of ``as_of``:
    one row per person (card) or per organisation of the industry (grade model), index subject_id."""
    from scoring.grades.lists import organisation_inputs
    from scoring.grades.model import is_grader
    from scoring.points.personal import person_inputs

    if is_grader(model):
        return organisation_inputs(
            store, model, as_of, industry=industry, period_months=period_months, subject_ids=subject_ids
        )
    X = person_inputs(store, model, as_of)
    return X if subject_ids is None else X.loc[X.index.intersection(subject_ids)]


def predict(model: PointsCard | Grader, inputs: pd.DataFrame, industry: Industry | None = None) -> pd.DataFrame:
    """What the registered model gives for ``inputs`` (computed here, in process)."""
    from scoring.grades.model import is_grader

    if is_grader(model):
        from scoring.grades.lists import grades_from_inputs, model_industry

        ind = industry or model_industry(model, None)
        return grades_from_inputs(model, ind, inputs)[grade_output_columns(model)]
    from scoring.points.personal import gated_scores

    return gated_scores(model, inputs)[list(POINTS_OUTPUT)]


def signature(model: PointsCard | Grader, industry: Industry | None = None) -> ModelSignature:
    """The model's signature: the columns of :func:`model_input` in, of :func:`predict` out."""
    from mlflow.models import ModelSignature
    from mlflow.types.schema import ColSpec, Schema

    from scoring.grades.lists import input_features, model_industry
    from scoring.grades.model import is_grader

    def cols(spec: list[tuple[str, str, bool]]) -> Schema:
        return Schema([ColSpec(t, n, required=r) for n, t, r in spec])

    if is_grader(model):
        ind = industry or model_industry(model, None)
        inputs = [(f, "double", True) for f in input_features(model, ind)]
        inputs += [("previous_grade", "string", False), ("registered_on", "string", False), ("as_of", "string", True)]
        outputs = [("previous_grade", "string", False), *((f"p_{c}", "double", True) for c in model.class_names_)]
        outputs += [
            ("risk", "double", True),
            *((c, "string", True) for c in ("model_grade", "grade", "veto", "reasons")),
        ]
        outputs += [("upgrade_capped", "boolean", True), ("new_entrant", "boolean", True)]
        outputs += [("sampling_ratio", "double", True), ("frequency", "string", True)]
    else:
        inputs = [(f, "double", True) for f in model.features_]
        inputs += [("suspended", "boolean", True), ("suspension_reason", "string", False)]
        inputs += [("suspended_until", "string", False)]
        outputs = [("status", "string", True), ("points", "long", False), ("reason", "string", False)]
        outputs += [("suspended_until", "string", False)]
    return ModelSignature(inputs=cols(inputs), outputs=cols(outputs))


def industry_config(industry: Industry) -> dict[str, Any]:
    """The industry's rules as carried by a registered grade model (JSON-ready)."""
    return industry.model_dump(mode="json")


def load_scorer(
    artifacts: Mapping[str, str], config: Mapping[str, Any] | None
) -> Callable[[pd.DataFrame], pd.DataFrame]:
    """The prediction function of a logged model: from its artifacts (the card / grade model JSON,
    the industry's rules) and its model config (``kind``)."""
    from scoring.core.errors import ConfigError

    kind = (config or {}).get("kind")
    if kind == "card":
        from scoring.points.card import PointsCard

        card = PointsCard.load(artifacts[MODEL_ARTIFACT])
        return lambda X: predict(card, X)
    if kind == "grade":
        from scoring.features.industry import Industry
        from scoring.grades.model import load_grader

        model = load_grader(artifacts[MODEL_ARTIFACT])
        ind = Industry.model_validate(json.loads(Path(artifacts[INDUSTRY_ARTIFACT]).read_text(encoding="utf-8")))
        return lambda X: predict(model, X, ind)
    raise ConfigError(f"model config: kind must be one of {', '.join(KINDS)}, got {kind!r}")
