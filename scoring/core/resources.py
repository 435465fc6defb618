"""Where xinyi finds its bundled configs and sample archive.

Order: an explicit path, then the environment (``XINYI_CONFIGS`` / ``XINYI_SAMPLE``), then the copy
that ships inside the installed package (``scoring/_bundled/``, put there by the build: see setup.py),
then a source checkout's top-level ``configs/`` and ``data/sample/`` (an editable install has no
bundled copy, so it reads the checkout). Nothing here is ever written to: outputs go to the work
folder a command is given.
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
        p = Path(env)
        if not p.is_dir():
            raise NotFoundError(
                f"XINYI_CONFIGS={env}: no such folder; point it at a copy of xinyi's configs or unset it"
            )
        return p
    found = _bundled("configs") or (_CHECKOUT / "configs" if (_CHECKOUT / "configs").is_dir() else None)
    if found is None:
        raise NotFoundError(
            "no configs folder: this installation carries none (scoring/_bundled/configs) and there is no "
            "checkout; reinstall xinyi from its wheel or set XINYI_CONFIGS to a copy of its configs/"
        )
    return found


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
