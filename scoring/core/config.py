"""Load YAML configuration files into typed (pydantic) objects with precise errors.

Every config in ``configs/`` goes through :func:`load_model`, so an invalid file always
fails the same way: ``<file>: <dotted.field.path>: <what is wrong>``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from scoring.core.errors import ConfigError
from scoring.core.resources import configs_dir

M = TypeVar("M", bound=BaseModel)


def config_dir(path: str | Path | None = None) -> Path:
    """Resolve the configs folder: an explicit path, ``$XINYI_CONFIGS``, the packaged or the checkout's copy."""
    return configs_dir(path)


class _UniqueKeyLoader(yaml.SafeLoader):
    """yaml.safe_load, but a key given twice in one mapping is an error (not 'the last wins')."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, (str, int, float, bool)) and key in seen:
                raise yaml.constructor.ConstructorError(None, None, f"key {key!r} is given twice", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: str | Path) -> Any:
    """Parse a YAML file; syntax errors name the file, line and column."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{p}: file not found") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: not a UTF-8 text file (byte {exc.start}); save the YAML as UTF-8") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read: {exc.strerror or exc}") from None
    if "\x00" in text:
        raise ConfigError(f"{p}: not a text file (NUL bytes); save the YAML as UTF-8 text")
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ConfigError(f"{p}:{where}: invalid YAML: {getattr(exc, 'problem', exc)}") from None


def format_validation_error(source: str | Path, exc: ValidationError) -> str:
    """Turn a pydantic ValidationError into ``file: path: message`` lines."""
    lines = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "<root>"
        msg = err["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        lines.append(f"{source}: {loc}: {msg}")
    return "\n".join(lines)


def validate_model(model: type[M], data: Any, source: str | Path, context: dict | None = None) -> M:
    """Validate already-parsed data into ``model``; raise ConfigError with precise locations."""
    try:
        return model.model_validate(data, context=context)
    except ValidationError as exc:
        raise ConfigError(format_validation_error(source, exc)) from None


def load_model(model: type[M], path: str | Path, context: dict | None = None) -> M:
    """Read a YAML file and validate it into ``model``."""
    return validate_model(model, read_yaml(path), path, context)


#: Signatures kept for the life of the process once :func:`pin_configs` was called (a running service).
_PINNED: dict[tuple, tuple] | None = None


def pin_configs() -> None:
    """Read every config once for the rest of this process: :func:`files_signature` keeps the first
    signature of each folder, so the content-keyed config caches stop re-reading files. For a
    long-running process (``scoring serve``): it serves with the configs it started with; restart it
    to apply a config change (what a publication records is its own config bundle either way)."""
    global _PINNED
    if _PINNED is None:
        _PINNED = {}


def files_signature(*folders: str | Path) -> tuple:
    """(path, sha256 of the bytes) of every YAML file in ``folders`` (or of a file given instead of a
    folder): a cache key that changes whenever a config file's content does, also when it is rewritten
    within the file system's timestamp resolution with the same size, and that differs between folders.
    After :func:`pin_configs`, the first signature of the same folders is kept."""
    if _PINNED is not None:
        key = tuple(str(f) for f in folders)
        hit = _PINNED.get(key)
        if hit is None:
            hit = _PINNED[key] = _signature(folders)
        return hit
    return _signature(folders)


def _signature(folders: tuple[str | Path, ...]) -> tuple:
    import hashlib

    out = []
    for f in folders:
        p = Path(f)
        for q in sorted(p.glob("*.yaml")) if p.is_dir() else [p]:
            try:
                data = q.read_bytes()
            except (FileNotFoundError, IsADirectoryError):
                continue
            except OSError as exc:
                raise ConfigError(f"{q}: cannot read: {exc.strerror or exc}") from None
            out.append((str(q.resolve()), hashlib.sha256(data).hexdigest()))
    return tuple(out)
