"""信用档案 (archive): the record catalogue (信用信息目录), the archive's tables, the embedded DuckDB store, ingestion with quarantine, the data quality report and snapshots."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scoring.archive.catalog import Catalog, load_catalog
    from scoring.archive.quality import QualityReport, build_report
    from scoring.archive.store import Store, open_store

_NAMES = {
    "Catalog": "catalog",
    "load_catalog": "catalog",
    "Store": "store",
    "open_store": "store",
    "QualityReport": "quality",
    "build_report": "quality",
}

__all__ = [
    "Catalog",
    "QualityReport",
    "Store",
    "build_report",
    "load_catalog",
    "open_store",
]


def __getattr__(name: str) -> Any:
    """Import the defining module on first use (keeps ``import scoring.archive`` light)."""
    if name in _NAMES:
        return getattr(importlib.import_module(f"scoring.archive.{_NAMES[name]}"), name)
    raise AttributeError(f"module 'scoring.archive' has no attribute {name!r}")
