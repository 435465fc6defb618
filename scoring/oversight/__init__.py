"""监测 (oversight): monitoring between snapshots (PSI/CSI, migration, calibration drift, champion/challenger), the fairness audit and the HTML model reports."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scoring.oversight.fairness import audit
    from scoring.oversight.monitoring import champion_challenger, monitor_grades, monitor_points
    from scoring.oversight.report import write_report

_NAMES = {
    "monitor_grades": "monitoring",
    "monitor_points": "monitoring",
    "champion_challenger": "monitoring",
    "audit": "fairness",
    "write_report": "report",
}

__all__ = [
    "audit",
    "champion_challenger",
    "monitor_grades",
    "monitor_points",
    "write_report",
]


def __getattr__(name: str) -> Any:
    """Import the defining module on first use (keeps ``import scoring.oversight`` light)."""
    if name in _NAMES:
        return getattr(importlib.import_module(f"scoring.oversight.{_NAMES[name]}"), name)
    raise AttributeError(f"module 'scoring.oversight' has no attribute {name!r}")
