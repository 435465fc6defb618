"""基础 (core): the error hierarchy, configuration loading, bundled resources, privacy (masking and keyed pseudonyms), the lawful-data screen, identifiers (GB 11643 / GB 32100) and dates."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from scoring.core.config import config_dir, load_model
    from scoring.core.dates import add_months, parse_months
    from scoring.core.errors import (
        ConfigError,
        DataError,
        InputFileError,
        NotFittedError,
        NotFoundError,
        StoreError,
        XinyiError,
        XinyiWarning,
    )
    from scoring.core.identifiers import check_id_number, check_uscc
    from scoring.core.privacy import mask_id, pseudonym
    from scoring.core.resources import configs_dir, sample_dir

_NAMES = {
    "XinyiError": "errors",
    "ConfigError": "errors",
    "DataError": "errors",
    "InputFileError": "errors",
    "StoreError": "errors",
    "NotFoundError": "errors",
    "NotFittedError": "errors",
    "XinyiWarning": "errors",
    "load_model": "config",
    "config_dir": "config",
    "configs_dir": "resources",
    "sample_dir": "resources",
    "mask_id": "privacy",
    "pseudonym": "privacy",
    "check_id_number": "identifiers",
    "check_uscc": "identifiers",
    "add_months": "dates",
    "parse_months": "dates",
}

__all__ = [
    "XinyiWarning",
    "ConfigError",
    "DataError",
    "InputFileError",
    "NotFittedError",
    "NotFoundError",
    "StoreError",
    "XinyiError",
    "add_months",
    "check_id_number",
    "check_uscc",
    "config_dir",
    "configs_dir",
    "load_model",
    "mask_id",
    "parse_months",
    "pseudonym",
    "sample_dir",
]


def __getattr__(name: str) -> Any:
    """Import the defining module on first use (keeps ``import scoring.core`` light)."""
    if name in _NAMES:
        return getattr(importlib.import_module(f"scoring.core.{_NAMES[name]}"), name)
    raise AttributeError(f"module 'scoring.core' has no attribute {name!r}")
