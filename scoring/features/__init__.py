"""特征 (features): feature definitions with their catalogue basis, the one as-of rule (publicity periods, repair, objections), the Polars, DuckDB and Spark engines, the builder, training sets and industry configs."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scoring.features.builder import FeatureBuilder, build_features
    from scoring.features.definitions import FeatureSet, FeatureSpec, feature_set_for
    from scoring.features.industry import GRADES, Industry, load_industries
    from scoring.features.training import training_set

_NAMES = {
    "FeatureSet": "definitions",
    "FeatureSpec": "definitions",
    "feature_set_for": "definitions",
    "FeatureBuilder": "builder",
    "build_features": "builder",
    "training_set": "training",
    "Industry": "industry",
    "load_industries": "industry",
    "GRADES": "industry",
}

__all__ = [
    "FeatureBuilder",
    "FeatureSet",
    "FeatureSpec",
    "GRADES",
    "Industry",
    "build_features",
    "feature_set_for",
    "load_industries",
    "training_set",
]


def __getattr__(name: str) -> Any:
    """Import the defining module on first use (keeps ``import scoring.features`` light)."""
    if name in _NAMES:
        return getattr(importlib.import_module(f"scoring.features.{_NAMES[name]}"), name)
    raise AttributeError(f"module 'scoring.features' has no attribute {name!r}")
