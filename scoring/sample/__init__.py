"""样例档案 (sample): the synthetic archive generator with a known truth, and planted errors."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scoring.sample.generator import generate_sample
    from scoring.sample.prevalence import measure
    from scoring.sample.profiles import SampleProfile, list_profiles, load_profile

_NAMES = {
    "generate_sample": "generator",
    "SampleProfile": "profiles",
    "list_profiles": "profiles",
    "load_profile": "profiles",
    "measure": "prevalence",
}

__all__ = [
    "SampleProfile",
    "generate_sample",
    "list_profiles",
    "load_profile",
    "measure",
]


def __getattr__(name: str) -> Any:
    """Import the defining module on first use (keeps ``import scoring.sample`` light)."""
    if name in _NAMES:
        return getattr(importlib.import_module(f"scoring.sample.{_NAMES[name]}"), name)
    raise AttributeError(f"module 'scoring.sample' has no attribute {name!r}")
