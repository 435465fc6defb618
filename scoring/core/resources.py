"""Where xinyi finds its bundled configs and sample archive.

Order: an explicit path, then the environment (``XINYI_CONFIGS`` / ``XINYI_SAMPLE``), then the copy
that ships inside the installed package (``scoring/_bundled/``), then a source checkout's top-level
``configs/`` and ``data/sample/``.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

from scoring.core.errors import NotFoundError

_CHECKOUT = Path(__file__).resolve().parents[2]


def _bundled(name: str) -> Path | None:
    p = Path(str(resources.files("scoring") / "_bundled" / name))
    return p if p.is_dir() else None


def configs_dir(path: str | Path | None = None) -> Path:
    """The configs folder: ``path``, ``$XINYI_CONFIGS``, the packaged copy or the checkout's ``configs/``."""
    if path is not None:
        return Path(path)
    env = os.environ.get("XINYI_CONFIGS")
    if env:
        return Path(env)
    return _bundled("configs") or _CHECKOUT / "configs"


def sample_dir(path: str | Path | None = None) -> Path:
    """The committed sample archive: ``path``, ``$XINYI_SAMPLE``, the packaged copy or ``data/sample/``."""
    if path is not None:
        p = Path(path)
    elif os.environ.get("XINYI_SAMPLE"):
        p = Path(os.environ["XINYI_SAMPLE"])
    else:
        p = _bundled("sample") or _CHECKOUT / "data" / "sample"
    if not p.is_dir():
        raise NotFoundError(f"{p}: no sample archive here; give a folder with --sample or set XINYI_SAMPLE")
    return p
