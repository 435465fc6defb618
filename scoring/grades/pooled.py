"""The pooled organisation model (全市企业合并模型): the fallback for a small or rare-event industry.

Placeholder of the interface while it is being built: :func:`fit_pooled` is written on branch h/pooled.
"""

from __future__ import annotations

from typing import Any


def fit_pooled(store: Any, code: str, config: Any, sets: dict) -> Any:
    """A calibrated grader (the grade-model protocol) for industry ``code`` trained on every
    organisation of the archive; see the module docstring."""
    raise NotImplementedError("the pooled organisation model is being built on branch h/pooled")
