"""评估 (evaluation): metrics (KS, reliability, Brier/ECE, Wilson intervals), plots and the peer models shared by every model."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scoring.evaluation.metrics import ks_statistic, reliability, wilson
    from scoring.evaluation.peers import lightgbm_peer

_NAMES = {
    "ks_statistic": "metrics",
    "reliability": "metrics",
    "wilson": "metrics",
    "lightgbm_peer": "peers",
}

__all__ = [
    "ks_statistic",
    "lightgbm_peer",
    "reliability",
    "wilson",
]


def __getattr__(name: str) -> Any:
    """Import the defining module on first use (keeps ``import scoring.evaluation`` light)."""
    if name in _NAMES:
        return getattr(importlib.import_module(f"scoring.evaluation.{_NAMES[name]}"), name)
    raise AttributeError(f"module 'scoring.evaluation' has no attribute {name!r}")
