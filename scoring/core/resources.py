"""Where xinyi finds its bundled configs and sample archive.

Order: an explicit path, then (configs only) the folder put in force for the current call by
:func:`using_configs` (``scoring --configs DIR``, or ``scoring justify`` re-deriving with the configs
a publication recorded), then the environment (``XINYI_CONFIGS`` / ``XINYI_SAMPLE``), then the copy
that ships inside the installed package (``scoring/_bundled/``, put there by the build: see setup.py),
then a source checkout's top-level ``configs/`` and ``data/sample/`` (an editable install has no
bundled copy, so it reads the checkout). Nothing here is ever written to: outputs go to the work
folder a command is given.

Every loader of a config goes through :func:`configs_dir` and the caches of loaded configs are keyed
by the files' content (:func:`scoring.core.config.files_signature`), so switching folders never serves
a config of another folder.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator
from contextvars import ContextVar
from importlib import resources
from pathlib import Path

from scoring.core.errors import NotFoundError

_CHECKOUT = Path(__file__).resolve().parents[2]


@functools.cache  # the installation does not change under a running process
def _bundled(name: str) -> Path | None:
    p = Path(str(resources.files("scoring") / "_bundled" / name))
    return p if p.is_dir() else None


#: The configs folder in force for the current call (:func:`using_configs`); None: the usual order.
_IN_FORCE: ContextVar[Path | None] = ContextVar("xinyi_configs_in_force", default=None)


@contextlib.contextmanager
def using_configs(folder: str | Path) -> Iterator[Path]:
    """Every config loader reads ``folder`` for the duration of the block (this thread or task
    only; nested blocks restore the outer folder on exit). ``$XINYI_CONFIGS`` is not changed."""
    p = Path(folder)
    if not p.is_dir():
        raise NotFoundError(f"{p}: no configs folder here; give a copy of xinyi's configs/ (catalog.yaml, ...)")
    token = _IN_FORCE.set(p.resolve())
    try:
        yield p
    finally:
        _IN_FORCE.reset(token)


def configs_in_force() -> Path | None:
    """The folder :func:`using_configs` put in force, if any."""
    return _IN_FORCE.get()


def configs_dir(path: str | Path | None = None) -> Path:
    """The configs folder: ``path``, the folder in force (:func:`using_configs`), ``$XINYI_CONFIGS``,
    the packaged copy or the checkout's ``configs/``."""
    if path is not None:
        return Path(path)
    forced = _IN_FORCE.get()
    if forced is not None:
        return forced
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
