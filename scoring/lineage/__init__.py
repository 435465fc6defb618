"""溯源 (lineage): MLflow tracking and registry, published outputs with their snapshot, and justification (re-derivation of a published score or grade)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scoring.lineage.justify import verify_publication
    from scoring.lineage.publish import published_result
    from scoring.lineage.registry import load_registered, register_next, resolve, set_alias
    from scoring.lineage.tracking import default_tracking_uri

_NAMES = {
    "register_next": "registry",
    "load_registered": "registry",
    "resolve": "registry",
    "set_alias": "registry",
    "default_tracking_uri": "tracking",
    "published_result": "publish",
    "verify_publication": "justify",
}

__all__ = [
    "default_tracking_uri",
    "load_registered",
    "published_result",
    "register_next",
    "resolve",
    "set_alias",
    "verify_publication",
]


def __getattr__(name: str) -> Any:
    """Import the defining module on first use (keeps ``import scoring.lineage`` light)."""
    if name in _NAMES:
        return getattr(importlib.import_module(f"scoring.lineage.{_NAMES[name]}"), name)
    raise AttributeError(f"module 'scoring.lineage' has no attribute {name!r}")
