"""行业信用评价 (grades): the ordinal grade model (LightGBM under a cumulative-logit loss, calibrated), baselines, fitting with evidence, vetoes and supervision rules (分级分类监管), grade lists and explanations."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scoring.grades.baselines import ExpertSheet, OrdinalLogit
    from scoring.grades.explain import explain_organisation
    from scoring.grades.grading import fit_industry, grade_organisations, tune_industry
    from scoring.grades.lists import grade_list, grade_population, write_grade_list
    from scoring.grades.model import GradeModel
    from scoring.grades.ordinal import OrdinalCalibrator

_NAMES = {
    "OrdinalCalibrator": "ordinal",
    "GradeModel": "model",
    "ExpertSheet": "baselines",
    "OrdinalLogit": "baselines",
    "fit_industry": "grading",
    "tune_industry": "grading",
    "grade_organisations": "grading",
    "grade_population": "lists",
    "grade_list": "lists",
    "write_grade_list": "lists",
    "explain_organisation": "explain",
}

__all__ = [
    "ExpertSheet",
    "GradeModel",
    "OrdinalCalibrator",
    "OrdinalLogit",
    "explain_organisation",
    "fit_industry",
    "grade_list",
    "grade_organisations",
    "grade_population",
    "tune_industry",
    "write_grade_list",
]


def __getattr__(name: str) -> Any:
    """Import the defining module on first use (keeps ``import scoring.grades`` light)."""
    if name in _NAMES:
        return getattr(importlib.import_module(f"scoring.grades.{_NAMES[name]}"), name)
    raise AttributeError(f"module 'scoring.grades' has no attribute {name!r}")
