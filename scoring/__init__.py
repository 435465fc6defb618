"""xinyi (信义): credit scoring and grading on public credit platforms (公共信用信息平台).

The stages flow one way (README, "Architecture"): :mod:`scoring.core` -> :mod:`scoring.archive`
(信用档案) -> :mod:`scoring.features` -> :mod:`scoring.evaluation` -> :mod:`scoring.points` (信义金) and
:mod:`scoring.grades` (行业信用评价) -> :mod:`scoring.lineage` and :mod:`scoring.oversight` ->
:mod:`scoring.workflows` -> :mod:`scoring.cli`. The main names are re-exported here and imported on
first use, so ``import scoring`` stays light:

* :func:`load_catalog`, :func:`open_store`, :func:`ingest` — the catalogue, the store, ingestion;
* :func:`build_features`, :func:`training_set` — point-in-time features and training sets;
* :class:`PointsCard`, :func:`fit_card`, :func:`score_persons` — the 信义金 card;
* :class:`GradeModel`, :func:`fit_industry` — industry grade models;
* :func:`justify` — re-derive a published score or grade;
* :func:`generate_sample` — a synthetic archive with a known truth.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from scoring.archive.catalog import Catalog, load_catalog
    from scoring.archive.ingest import ingest
    from scoring.archive.store import Store, open_store
    from scoring.core.errors import ConfigError, DataError, NotFittedError, NotFoundError, XinyiError
    from scoring.features.builder import FeatureBuilder, build_features
    from scoring.features.training import training_set
    from scoring.grades.grading import fit_industry
    from scoring.grades.model import GradeModel
    from scoring.lineage.justify import justify
    from scoring.points.binning import MonotoneBinning
    from scoring.points.card import PointsCard
    from scoring.points.personal import fit_card, score_persons
    from scoring.sample.generator import generate_sample

_NAMES = {
    "Catalog": "scoring.archive.catalog",
    "load_catalog": "scoring.archive.catalog",
    "ingest": "scoring.archive.ingest",
    "Store": "scoring.archive.store",
    "open_store": "scoring.archive.store",
    "XinyiError": "scoring.core.errors",
    "ConfigError": "scoring.core.errors",
    "DataError": "scoring.core.errors",
    "NotFoundError": "scoring.core.errors",
    "NotFittedError": "scoring.core.errors",
    "FeatureBuilder": "scoring.features.builder",
    "build_features": "scoring.features.builder",
    "training_set": "scoring.features.training",
    "fit_industry": "scoring.grades.grading",
    "GradeModel": "scoring.grades.model",
    "justify": "scoring.lineage.justify",
    "MonotoneBinning": "scoring.points.binning",
    "PointsCard": "scoring.points.card",
    "fit_card": "scoring.points.personal",
    "score_persons": "scoring.points.personal",
    "generate_sample": "scoring.sample.generator",
}

__all__ = [
    "__version__",
    "Catalog",
    "ConfigError",
    "DataError",
    "FeatureBuilder",
    "GradeModel",
    "MonotoneBinning",
    "NotFittedError",
    "NotFoundError",
    "PointsCard",
    "Store",
    "XinyiError",
    "build_features",
    "fit_card",
    "fit_industry",
    "generate_sample",
    "ingest",
    "justify",
    "load_catalog",
    "open_store",
    "score_persons",
    "training_set",
]


def __getattr__(name: str) -> Any:
    """Import the defining module on first use."""
    if name in _NAMES:
        return getattr(importlib.import_module(_NAMES[name]), name)
    raise AttributeError(f"module 'scoring' has no attribute {name!r}")
