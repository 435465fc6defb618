"""Grades and their SHAP reasons on Spark (Spark 引擎): every partition graded and explained where it lies.

:func:`grade_organisations_spark` runs :func:`graded_with_contributions` (the embedded path's own
code: :func:`scoring.grades.lists.grades_from_inputs` for probabilities, band table, new-entrant
rule, upgrade limit and vetoes 直接定级, then the grader's TreeSHAP contributions, LightGBM's
``pred_contrib``) inside ``mapInPandas`` on each partition of a Spark DataFrame of
:func:`scoring.grades.lists.organisation_inputs`. The grader travels to the executors as its saved
text (LightGBM's model string and the link as JSON, :meth:`GradeModel.save`; never a pickled
booster) and is loaded once per Python worker. Every row is graded on its own (no statistic over
the partition), so the result equals the embedded path row for row: same grades, and the same
probabilities and contributions bit for bit (the same LightGBM code on the same float64 row).

SHAP: the contributions ``shap_<feature>`` plus ``shap_bias`` (the expected value) sum to
``margin``, the raw score, up to floating-point summation order (LightGBM computes the two
separately; the difference is below 1e-9, as the explanation's ``exact`` flag states).
"""

from __future__ import annotations

import functools
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from scoring.features.industry import Industry
from scoring.grades.lists import grades_from_inputs

if TYPE_CHECKING:  # pragma: no cover
    from pyspark.sql import DataFrame

#: columns of the graded frame (after the key and the class probabilities ``p_<class>``)
GRADE_COLUMNS = [
    ("previous_grade", "string"),
    ("risk", "double"),
    ("model_grade", "string"),
    ("grade", "string"),
    ("veto", "string"),
    ("reasons", "string"),
    ("upgrade_capped", "boolean"),
    ("new_entrant", "boolean"),
    ("sampling_ratio", "double"),
    ("frequency", "string"),
    ("margin", "double"),
]
SHAP_PREFIX = "shap_"


def graded_with_contributions(model: Any, industry: Industry, inputs: pd.DataFrame) -> pd.DataFrame:
    """The graded frame of :func:`scoring.grades.lists.grades_from_inputs` (index as ``inputs``),
    the latent score ``margin`` and the SHAP contributions ``shap_<feature>`` and ``shap_bias``
    (:meth:`GradeModel.contributions`). The code both the embedded and the Spark path run."""
    graded = grades_from_inputs(model, industry, inputs)
    X = inputs[model.features_]
    margin = pd.Series(np.asarray(model.margin(X), dtype=float), index=inputs.index, name="margin")
    contrib = model.contributions(X).add_prefix(SHAP_PREFIX)
    return pd.concat([graded, margin, contrib], axis=1)


def industry_features(industry: Industry) -> list[str]:
    """The features the industry's vetoes (直接定级) read, besides the model's."""
    return [v.feature for v in industry.vetoes]


def output_columns(model: Any, key: str = "subject_id") -> list[tuple[str, str]]:
    """(name, Spark type) of every column of :func:`grade_organisations_spark`'s result for ``model``."""
    cols = [(key, "string"), GRADE_COLUMNS[0]] + [(f"p_{c}", "double") for c in model.class_names_]
    cols += GRADE_COLUMNS[1:] + [(f"{SHAP_PREFIX}{f}", "double") for f in [*model.features_, "bias"]]
    return cols


def model_text(model: Any) -> str:
    """The grader as its saved file's text (what :func:`scoring.grades.model.load_grader` reads)."""
    with tempfile.TemporaryDirectory(prefix="xinyi-grader-") as d:
        return Path(model.save(Path(d) / "grader.json")).read_text(encoding="utf-8")


@functools.lru_cache(maxsize=4)
def _grader(text: str) -> Any:
    """The grader of a saved text, loaded once per Python worker (the text is the cache key)."""
    from scoring.grades.model import load_grader

    fd, path = tempfile.mkstemp(prefix="xinyi-grader-", suffix=".json")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        return load_grader(path)
    finally:
        os.unlink(path)


def _graded_batches(text: str, industry_json: str, key: str, columns: list[str]):
    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        model = _grader(text)
        industry = Industry.model_validate_json(industry_json)
        for pdf in batches:
            if len(pdf) == 0:
                continue
            inputs = pdf.set_index(key)
            for f in model.features_:
                inputs[f] = inputs[f].astype("float64")
            out = graded_with_contributions(model, industry, inputs)
            out.index.name = key
            out = out.reset_index()
            for c in ("previous_grade", "model_grade", "grade", "veto", "reasons", "frequency"):
                out[c] = pd.Series([v if isinstance(v, str) else None for v in out[c]], dtype="object")
            yield out[columns]

    return run


def grade_organisations_spark(model: Any, industry: Industry, inputs: DataFrame, key: str = "subject_id") -> DataFrame:
    """Grade and explain every organisation of the Spark DataFrame ``inputs`` (the columns of
    :func:`scoring.grades.lists.organisation_inputs` and ``key``), partition by partition with
    ``mapInPandas``: ``key``, ``previous_grade``, ``p_<class>``, ``risk``, the grade columns of
    :func:`scoring.grades.supervision.assign_grades`, ``margin`` and the SHAP contributions
    ``shap_<feature>``, ``shap_bias``. Equal to :func:`graded_with_contributions` on the same rows."""
    from pyspark.sql import functions as F

    from scoring.grades.lists import RULE_COLUMNS

    # one type per input column whoever built the frame (an all-empty column arrives untyped)
    typed = [F.col(c).cast("string").alias(c) for c in RULE_COLUMNS if c in inputs.columns]
    typed += [F.col(f).cast("double").alias(f) for f in dict.fromkeys([*model.features_, *industry_features(industry)])]
    inputs = inputs.select(F.col(key).cast("string").alias(key), *typed)
    cols = output_columns(model, key)
    schema = ", ".join("`" + n.replace("`", "``") + f"` {t}" for n, t in cols)
    run = _graded_batches(model_text(model), industry.model_dump_json(), key, [n for n, _ in cols])
    return inputs.mapInPandas(run, schema=schema)
