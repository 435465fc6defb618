"""The platform's jurisdiction (管辖区域): region codes (GB/T 2260, 6 digits) and their 区县名, from
``configs/regions.yaml``. The serving database shows an organisation's district with it; regulators'
region scopes are these codes."""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, field_validator

from scoring.core.config import files_signature, load_model
from scoring.core.resources import configs_dir

FILE = "regions.yaml"
_CODE = re.compile(r"[0-9]{6}")


class Regions(BaseModel):
    """configs/regions.yaml: ``jurisdiction`` (the platform's city) and ``regions`` (code -> name)."""

    model_config = ConfigDict(extra="forbid")

    jurisdiction: str = ""
    regions: dict[str, str]

    @field_validator("regions", mode="before")
    @classmethod
    def _codes(cls, v: object) -> object:
        if not isinstance(v, dict) or not v:
            raise ValueError("give the jurisdiction's districts as region code (6 digits, quoted) -> 区县名")
        for code, name in v.items():
            if not isinstance(code, str) or not _CODE.fullmatch(code):
                raise ValueError(
                    f'region code {code!r} is not a 6-digit GB/T 2260 code; write it quoted, e.g. "330702": 婺城区'
                )
            if not isinstance(name, str) or not name.strip():
                raise ValueError(f"region {code}: give its name (区县名), e.g. 婺城区")
        return v


_CACHE: dict[tuple, Regions] = {}


def _load(path: str | Path | None = None) -> Regions:
    p = Path(path) if path is not None else configs_dir() / FILE
    key = files_signature(p)
    if key not in _CACHE:
        _CACHE[key] = load_model(Regions, p)
    return _CACHE[key]


def load_regions(path: str | Path | None = None) -> dict[str, str]:
    """region_code -> 区县名 of the platform's jurisdiction (``configs/regions.yaml``, validated: a
    :class:`~scoring.core.errors.ConfigError` names the file, the entry and what to write)."""
    return dict(_load(path).regions)


def jurisdiction(path: str | Path | None = None) -> str:
    """The platform's city (管辖区域), e.g. 金华市."""
    return _load(path).jurisdiction


def district(code: object, path: str | Path | None = None) -> str:
    """The 区县名 of a region code; the code itself when the jurisdiction does not name it."""
    c = "" if code is None else str(code)
    return load_regions(path).get(c, c)
