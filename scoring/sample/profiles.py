"""样例档案画像 (sample profiles): the parameters of the synthetic archive generator, by name.

A profile is a YAML file in ``configs/sample/``; :func:`load_profile` takes its name (``realistic``,
``stress``) or a path to any profile file. Two ship with xinyi:

* ``realistic`` (the default, and the committed sample's profile) — prevalences from Jinhua's 2021-2025 plan and its neighbours (严重失信名单主体占比
  1.69% in 2020, target under 1.5%; Zhejiang's 2018 enterprise grade shares 2.3 / 76.4 / 20.0 / 1.3 %),
  most persons with few or no records and a long tail of very active ones;
* ``stress`` — many events of every kind, for tests that need them (the generator's original profile;
  its output for a given seed is unchanged). Ask for it by name: ``profile="stress"``,
  ``scoring sample --profile stress``.

A profile may carry ``targets``: the prevalences it is meant to produce, each with its tolerance band
and source; :mod:`scoring.sample.prevalence` measures a generated archive against them.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from scoring.archive.catalog import SubjectType, load_catalog
from scoring.core.config import config_dir, load_model
from scoring.core.errors import ConfigError
from scoring.features.industry import GRADES, load_industries
from scoring.sample.prevalence import MEASURES

DEFAULT_PROFILE = "realistic"
PROFILE_FOLDER = "sample"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class Process(BaseModel):
    """One record process: yearly rate at z = 0 for persons / organisations, and its shape."""

    model_config = ConfigDict(extra="forbid")
    person: float = Field(default=0.0, ge=0)
    org: float = Field(default=0.0, ge=0)
    z_effect: float = 0.0
    minor: float = Field(default=0.0, ge=0, le=1)
    serious: float = Field(default=0.0, ge=0, le=1)
    amount: tuple[float, float] | None = None  # lognormal mu, sigma


class IndustryProfile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    share: float = Field(ge=0)
    types: dict[SubjectType, float]
    shift: float = 0.0
    multipliers: dict[str, float] = {}
    agency: str


class ListExit(BaseModel):
    """How subjects leave one list: with probability ``p`` (times sigmoid(0.5 + z)), after a number
    of days drawn uniformly from [min_days, max_days)."""

    model_config = ConfigDict(extra="forbid")
    p: float = Field(ge=0, le=1)
    min_days: int = Field(ge=1)
    max_days: int = Field(ge=2)

    @model_validator(mode="after")
    def _span(self) -> ListExit:
        if self.max_days <= self.min_days:
            raise ValueError(f"max_days ({self.max_days}) must be above min_days ({self.min_days})")
        return self


class Activity(BaseModel):
    """Per-subject activity multiplier (how much a subject deals with the administration).

    Each subject's record rates are multiplied by a Gamma(shape, 1/shape) draw (mean 1, variance
    1/shape): with a small shape most subjects have few or no records and a few have very many (a
    gamma-Poisson, i.e. negative-binomial, mixture). ``None``: every subject has multiplier 1.

    ``positive``: whether positive records (volunteering, honours, donations, rewards: catalogue
    polarity positive) follow the same multiplier (``shared``) or a subject's own, independent
    engagement multiplier of the same shape (``own``). Exposure to the administration (licences,
    inspections, penalties, court cases) and civic engagement are different propensities; with one
    shared multiplier, positive records would mark the subjects most exposed to negative ones.
    """

    model_config = ConfigDict(extra="forbid")
    person_shape: float | None = Field(default=None, gt=0)
    org_shape: float | None = Field(default=None, gt=0)
    positive: Literal["shared", "own"] = "shared"
    #: shape of the own engagement multiplier of persons (``positive: own``; None: ``person_shape``)
    person_positive_shape: float | None = Field(default=None, gt=0)


class Target(BaseModel):
    """A prevalence the profile is meant to produce: its value, tolerance band and source."""

    model_config = ConfigDict(extra="forbid")
    value: float | None = None
    low: float | None = None
    high: float | None = None
    source: str = ""

    @model_validator(mode="after")
    def _band(self) -> Target:
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"low ({self.low}) is above high ({self.high})")
        if self.value is None and self.low is None and self.high is None:
            raise ValueError("a target needs a value, a low or a high bound")
        return self

    def holds(self, realised: float) -> bool:
        """Whether ``realised`` lies within [low, high] (a missing bound is open)."""
        return (self.low is None or realised >= self.low) and (self.high is None or realised <= self.high)


class SampleProfile(BaseModel):
    """One generator profile (configs/sample/<name>.yaml)."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = None
    description: str = ""
    export_date: dt.date
    history_years: int = Field(gt=0)
    drift_sd: float = Field(ge=0)
    org_person_correlation: float = Field(ge=-1, le=1)
    new_entrant_share: float = Field(ge=0, le=1)
    opt_out_share: float = Field(ge=0, le=1)
    regions: dict[str, str]
    industries: dict[str, IndustryProfile]
    government_share: float = Field(ge=0, lt=1)
    processes: dict[str, Process]
    objection_rate: float = Field(ge=0, le=1)
    objection_upheld: float = Field(ge=0, le=1)
    revocation_rate: float = Field(ge=0, le=1)
    activity: Activity | None = None
    # exits from list records (list_type in the catalogue), by record type; record types not given
    # use the generator's defaults (失信被执行人 0.6 in 30-700 days, ABN_* 0.8 in 20-400, others 0.3
    # in 365-1100)
    list_exits: dict[str, ListExit] = {}
    # shares of the true industry grades 优秀..差 (truth/organisations.parquet and the recorded
    # EVAL_INDUSTRY_GRADE follow them); None: fixed z cuts (about 10/30/35/17/8 %)
    grade_shares: dict[str, float] | None = None
    targets: dict[str, Target] = {}

    @field_validator("grade_shares")
    @classmethod
    def _shares(cls, v: dict[str, float] | None) -> dict[str, float] | None:
        if v is None:
            return v
        if set(v) != set(GRADES):
            raise ValueError(f"needs exactly the grades {'/'.join(GRADES)} (got {'/'.join(v)})")
        if any(x <= 0 for x in v.values()):
            raise ValueError("every grade share must be above 0")
        total = sum(v.values())
        if not math.isclose(total, 1.0, abs_tol=1e-6):
            raise ValueError(f"the shares must sum to 1 (they sum to {total:.6f})")
        return v

    @field_validator("industries")
    @classmethod
    def _industries(cls, v: dict[str, IndustryProfile]) -> dict[str, IndustryProfile]:
        if not v or sum(i.share for i in v.values()) <= 0:
            raise ValueError("at least one industry with a share above 0 is needed")
        return v

    @field_validator("targets")
    @classmethod
    def _targets(cls, v: dict[str, Target]) -> dict[str, Target]:
        unknown = sorted(set(v) - set(MEASURES))
        if unknown:
            raise ValueError(f"unknown target(s) {', '.join(unknown)}; known: {', '.join(MEASURES)}")
        return v


def profiles_dir(configs: str | Path | None = None) -> Path:
    """The folder of the named profiles (``configs/sample/``)."""
    return config_dir(configs) / PROFILE_FOLDER


def list_profiles(configs: str | Path | None = None) -> list[str]:
    """Names of the profiles in ``configs/sample/``."""
    d = profiles_dir(configs)
    return sorted(p.stem for p in d.glob("*.yaml")) if d.is_dir() else []


def profile_path(name_or_path: str | Path | None = None, configs: str | Path | None = None) -> Path:
    """Resolve a profile name (``realistic``) to ``configs/sample/realistic.yaml``; a path stays a path."""
    if name_or_path is None:
        name_or_path = DEFAULT_PROFILE
    if isinstance(name_or_path, str) and _NAME.match(name_or_path):
        p = profiles_dir(configs) / f"{name_or_path}.yaml"
        if not p.exists():
            known = ", ".join(list_profiles(configs)) or "none"
            raise ConfigError(
                f"{p}: no sample profile named {name_or_path!r}; known profiles: {known} (or give a path to a profile file)"
            )
        return p
    return Path(name_or_path)


def load_profile(name_or_path: str | Path | None = None, configs: str | Path | None = None) -> SampleProfile:
    """Load a profile by name (``realistic``, ``stress``) or path; invalid files fail with file and field."""
    path = profile_path(name_or_path, configs)
    prof = load_model(SampleProfile, path)
    cat = load_catalog()
    problems = [
        f"{path}: processes.{code}: not a record type of the catalogue" for code in prof.processes if code not in cat
    ]
    problems += [
        f"{path}: list_exits.{code}: not a list record type of the catalogue"
        for code in prof.list_exits
        if code not in cat or not cat[code].list_type
    ]
    for ind, ip in prof.industries.items():
        problems += [
            f"{path}: industries.{ind}.multipliers.{code}: not a record type of the catalogue"
            for code in ip.multipliers
            if code not in cat
        ]
    known = load_industries()
    problems += [
        f"{path}: industries.{ind}: no industry config named {ind!r} (known: {', '.join(sorted(known))})"
        for ind in prof.industries
        if ind not in known
    ]
    if problems:
        raise ConfigError("\n".join(problems))
    if prof.name is None:
        prof = prof.model_copy(update={"name": path.stem})
    return prof


def resolve_profile(profile: str | Path | SampleProfile | None) -> SampleProfile:
    """A profile object from a name, a path, an object, or ``None`` (the default profile)."""
    return profile if isinstance(profile, SampleProfile) else load_profile(profile)
