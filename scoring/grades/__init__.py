"""行业信用评价 (grades): the ordinal grade model (LightGBM under a cumulative-logit loss, calibrated), calibrated baseline graders, the champion by evidence, fitting with evidence, vetoes and supervision rules (分级分类监管), grade lists and explanations."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scoring.grades.baselines import ExpertSheet, ExpertSheetGrader, OrdinalLogit, OrdinalLogitGrader
    from scoring.grades.champion import ChampionConfig, choose
    from scoring.grades.explain import explain_organisation
    from scoring.grades.grading import fit_industry, grade_organisations, run_championship, tune_industry
    from scoring.grades.lists import grade_list, grade_population, write_grade_list
    from scoring.grades.model import GradeModel, Grader, load_grader
    from scoring.grades.ordinal import OrdinalCalibrator

_NAMES = {
    "OrdinalCalibrator": "ordinal",
    "GradeModel": "model",
    "ExpertSheet": "baselines",
    "OrdinalLogit": "baselines",
    "ExpertSheetGrader": "baselines",
    "OrdinalLogitGrader": "baselines",
    "Grader": "model",
    "load_grader": "model",
    "ChampionConfig": "champion",
    "choose": "champion",
    "run_championship": "grading",
    "fit_industry": "grading",
    "tune_industry": "grading",
    "grade_organisations": "grading",
    "grade_population": "lists",
    "grade_list": "lists",
    "write_grade_list": "lists",
    "explain_organisation": "explain",
}

__all__ = [
    "ChampionConfig",
    "ExpertSheet",
    "ExpertSheetGrader",
    "GradeModel",
    "Grader",
    "OrdinalCalibrator",
    "OrdinalLogit",
    "OrdinalLogitGrader",
    "choose",
    "explain_organisation",
    "fit_industry",
    "grade_list",
    "grade_organisations",
    "grade_population",
    "load_grader",
    "run_championship",
    "tune_industry",
    "write_grade_list",
]


def __getattr__(name: str) -> Any:
    """Import the defining module on first use (keeps ``import scoring.grades`` light)."""
    if name in _NAMES:
        return getattr(importlib.import_module(f"scoring.grades.{_NAMES[name]}"), name)
    raise AttributeError(f"module 'scoring.grades' has no attribute {name!r}")
