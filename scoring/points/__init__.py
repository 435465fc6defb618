"""信义金 (points): monotone binning, the additive points card, the bottom-line gate (信用底线), scoring, explanations, exact score diffs and guidance for persons."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scoring.points.binning import MonotoneBinning
    from scoring.points.card import PointsCard, PointsCardWarning, load_expert_card
    from scoring.points.diff import diff_person
    from scoring.points.gate import GateConfig, load_gate, suspensions
    from scoring.points.personal import explain_person, fit_card, load_expert_person_card, score_persons
    from scoring.points.selection import FeatureSelector, select_features

_NAMES = {
    "MonotoneBinning": "binning",
    "PointsCard": "card",
    "PointsCardWarning": "card",
    "FeatureSelector": "selection",
    "select_features": "selection",
    "load_expert_card": "card",
    "load_expert_person_card": "personal",
    "GateConfig": "gate",
    "load_gate": "gate",
    "suspensions": "gate",
    "fit_card": "personal",
    "score_persons": "personal",
    "explain_person": "personal",
    "diff_person": "diff",
}

__all__ = [
    "FeatureSelector",
    "GateConfig",
    "MonotoneBinning",
    "PointsCard",
    "PointsCardWarning",
    "diff_person",
    "explain_person",
    "fit_card",
    "load_expert_card",
    "load_expert_person_card",
    "load_gate",
    "score_persons",
    "select_features",
    "suspensions",
]


def __getattr__(name: str) -> Any:
    """Import the defining module on first use (keeps ``import scoring.points`` light)."""
    if name in _NAMES:
        return getattr(importlib.import_module(f"scoring.points.{_NAMES[name]}"), name)
    raise AttributeError(f"module 'scoring.points' has no attribute {name!r}")
