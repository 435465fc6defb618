"""Industries (行业) under industry credit evaluation (行业信用评价) and 分级分类监管.

One file per industry in ``configs/industries/<code>.yaml``: adding an industry means adding a
file. An industry maps GB/T 4754 industry classes of the archive to its regulator.
"""
from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, field_validator

from .configfile import config_dir, load_model
from .errors import ConfigError


class Industry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str
    name_zh: str
    name_en: str
    regulator: str
    gbt4754: tuple[str, ...]

    @field_validator("code")
    @classmethod
    def _code(cls, v: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9_]{1,39}", v):
            raise ValueError(f"industry code {v!r} must be lower_snake_case")
        return v

    @field_validator("gbt4754")
    @classmethod
    def _classes(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [c for c in v if not re.fullmatch(r"\d{4}", c)]
        if bad or not v:
            raise ValueError(f"gbt4754 needs 4-digit GB/T 4754 classes, got {bad or 'none'}")
        return v


def load_industry(path: str | Path) -> Industry:
    p = Path(path)
    ind = load_model(Industry, p)
    if ind.code != p.stem:
        raise ConfigError(f"{p}: code: {ind.code!r} must match the file name {p.stem!r}")
    return ind


def load_industries(folder: str | Path | None = None) -> dict[str, Industry]:
    """All industries in ``configs/industries/``, by code; a class may belong to one industry only."""
    d = Path(folder) if folder is not None else config_dir() / "industries"
    out: dict[str, Industry] = {}
    owner: dict[str, str] = {}
    for p in sorted(d.glob("*.yaml")):
        ind = load_industry(p)
        for c in ind.gbt4754:
            if c in owner:
                raise ConfigError(f"{p}: gbt4754: class {c} already belongs to industry {owner[c]!r}")
            owner[c] = ind.code
        out[ind.code] = ind
    if not out:
        raise ConfigError(f"{d}: no industry files (*.yaml)")
    return out


def industry_of(gbt4754_code: str | None, industries: dict[str, Industry]) -> str | None:
    """The industry code a GB/T 4754 class belongs to, if any."""
    for ind in industries.values():
        if gbt4754_code in ind.gbt4754:
            return ind.code
    return None
