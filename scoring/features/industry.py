"""Industries (行业) under industry credit evaluation (行业信用评价) and 分级分类监管.

One file per industry in ``configs/industries/<code>.yaml``: adding an industry means adding a
file. An industry maps GB/T 4754 industry classes of the archive to its regulator and declares how
its organisations are graded 优秀/良好/中等/较差/差: the vetoes (直接定级), the band table from
model output to grades, the upgrade limit, the grade of new entrants, and the supervision measures
per grade (no grade is exempt from inspection). :mod:`scoring.grades.supervision` applies these rules.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from scoring.core.config import config_dir, load_model
from scoring.core.errors import ConfigError

GRADES = ("优秀", "良好", "中等", "较差", "差")  # best to worst
GRADE_INDEX = {g: i for i, g in enumerate(GRADES)}
GRADES_EN = ("excellent", "good", "fair", "poor", "bad")


class Veto(BaseModel):
    """直接定级: when a feature meets the condition, the grade is set (``grade``) or capped
    (``at_most``), whatever the model says."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    code: str
    label_zh: str
    feature: str
    op: Literal[">=", ">", "=="] = ">="
    value: float = 1
    grade: str | None = None
    at_most: str | None = None

    @model_validator(mode="after")
    def _one(self) -> "Veto":
        if (self.grade is None) == (self.at_most is None):
            raise ValueError(f"veto {self.code}: give exactly one of grade (direct grade) or at_most (a cap)")
        for g in (self.grade, self.at_most):
            if g is not None and g not in GRADE_INDEX:
                raise ValueError(f"veto {self.code}: {g!r} is not one of {'/'.join(GRADES)}")
        return self

    def applies(self, value: float) -> bool:
        if value != value:  # missing never triggers a veto
            return False
        return {">=": value >= self.value, ">": value > self.value, "==": value == self.value}[self.op]


class Bands(BaseModel):
    """How model output maps to grades.

    * ``risk``: upper bounds of the calibrated probability of the bad end (the outcome; for a grade
      model, 较差 or 差) for 优秀..较差; higher risk: 差;
    * ``score``: lower bounds of the 0-100 score ``100 * (1 - risk)`` for 优秀..较差;
    * ``ordinal`` (expert-grade label): the median grade of the calibrated grade probabilities; no bounds;
    * ``shares``: the platform's target share of every grade (``targets``, summing to 1) among the
      organisations the band table grades (not vetoed, not new entrants); the risk bounds that give
      these shares are fitted on a reference period when the model is fitted
      (:func:`scoring.grades.bands.fit_bands`) and travel with the model as ``risk`` bands.

    ``targets`` may also be given with the other kinds: the shares produced are then reported
    against them. ``tolerance``: how far (absolute share) a grade's share may fall from its target
    before the fit and the list's summary flag it: one number for every grade, or one per grade
    (优秀..差, e.g. tighter for the small grades).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: Literal["risk", "score", "ordinal", "shares"]
    bounds: dict[str, float] = Field(default_factory=dict)
    targets: dict[str, float] = Field(default_factory=dict)
    tolerance: float | dict[str, float] = 0.02
    reference: str = ""  # fitted bands: what the bounds were fitted on (e.g. "calibration 2024-06-30")

    def tolerance_of(self, grade: str) -> float:
        """The tolerance of one grade's share (absolute)."""
        return self.tolerance[grade] if isinstance(self.tolerance, dict) else self.tolerance

    @model_validator(mode="after")
    def _monotone(self) -> "Bands":
        tol = self.tolerance if isinstance(self.tolerance, dict) else {"": self.tolerance}
        if isinstance(self.tolerance, dict) and list(self.tolerance) != list(GRADES):
            raise ValueError(f"bands.tolerance per grade must list {', '.join(GRADES)} in this order")
        if any(not 0 < v <= 0.5 for v in tol.values()):
            raise ValueError("bands.tolerance must be an absolute share greater than 0 and at most 0.5")
        if self.targets:
            if list(self.targets) != list(GRADES):
                raise ValueError(f"bands.targets must list {', '.join(GRADES)} in this order")
            if any(not 0 <= v <= 1 for v in self.targets.values()) or abs(sum(self.targets.values()) - 1) > 1e-6:
                raise ValueError("bands.targets must be shares between 0 and 1 that sum to 1")
        if self.kind in ("ordinal", "shares"):
            if self.bounds:
                raise ValueError(
                    f"bands.bounds: {self.kind} bands have no bounds "
                    + ("(the model's median grade)" if self.kind == "ordinal" else "(they are fitted from the targets)")
                )
            if self.kind == "shares" and not self.targets:
                raise ValueError("bands.targets: shares bands need the target share of every grade")
            return self
        need = list(GRADES[:-1])
        if list(self.bounds) != need:
            raise ValueError(f"bands.bounds must list {', '.join(need)} in this order (差 is the rest)")
        v = list(self.bounds.values())
        ok = all(a < b for a, b in zip(v, v[1:])) if self.kind == "risk" else all(a > b for a, b in zip(v, v[1:]))
        if not ok:
            raise ValueError(
                "bands.bounds must strictly " + ("increase (risk)" if self.kind == "risk" else "decrease (score)")
            )
        return self

    def grade(self, value: float) -> str:
        """The grade for one model output: risk, score, or (ordinal) the grade index 0 = 优秀 .. 4 = 差."""
        if self.kind == "ordinal":
            return GRADES[int(value)]
        if self.kind == "shares":
            raise ConfigError(
                "shares bands are fitted with the model (scoring.grades.bands.fit_bands); grade with the "
                "fitted model's bands, or refit the model"
            )
        for g, b in self.bounds.items():
            if (value <= b) if self.kind == "risk" else (value >= b):
                return g
        return GRADES[-1]


class Measure(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    sampling_ratio: float = Field(gt=0, le=1, description="双随机 random-inspection sampling ratio")
    frequency: str
    note: str = ""


class Industry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str
    name_zh: str
    name_en: str
    regulator: str
    gbt4754: tuple[str, ...]
    label: Literal["outcome", "expert_grade"] = "outcome"
    features: tuple[str, ...] | Literal["all"] = "all"
    monotone: dict[str, Literal["increases_risk", "decreases_risk", "none"]] = Field(default_factory=dict)
    vetoes: tuple[Veto, ...] = ()
    bands: Bands
    upgrade_limit: int = Field(1, ge=0, le=4)
    new_entrant_grade: str = "中等"
    new_entrant_months: int = Field(12, ge=0)
    supervision: dict[str, Measure]

    @model_validator(mode="after")
    def _grades(self) -> "Industry":
        if self.bands.kind == "ordinal" and self.label != "expert_grade":
            raise ValueError(
                "bands.kind ordinal needs label: expert_grade (an outcome model has no grade probabilities)"
            )
        if self.new_entrant_grade not in GRADE_INDEX:
            raise ValueError(f"new_entrant_grade {self.new_entrant_grade!r} is not one of {'/'.join(GRADES)}")
        if list(self.supervision) != list(GRADES):
            raise ValueError(
                f"supervision must give a measure for every grade, in order: {', '.join(GRADES)} "
                "(no grade is exempt from inspection)"
            )
        ratios = [m.sampling_ratio for m in self.supervision.values()]
        if any(a > b for a, b in zip(ratios, ratios[1:])):
            raise ValueError("supervision sampling ratios must not fall from 优秀 to 差")
        return self

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
    """Load one industry file; its vetoes and features must exist in its feature set."""
    from scoring.features.definitions import feature_set_for

    p = Path(path)
    ind = load_model(Industry, p)
    if ind.code != p.stem:
        raise ConfigError(f"{p}: code: {ind.code!r} must match the file name {p.stem!r}")
    names = set(feature_set_for("organisations", ind.code).names)
    for i, v in enumerate(ind.vetoes):
        if v.feature not in names:
            raise ConfigError(f"{p}: vetoes.{i}.feature: {v.feature!r} is not a feature of the {ind.code} set")
    used = [] if ind.features == "all" else list(ind.features)
    for f in used + list(ind.monotone):
        if f not in names:
            raise ConfigError(f"{p}: {f!r} is not a feature of the {ind.code} set")
    return ind


_INDUSTRIES: dict[tuple, dict[str, Industry]] = {}


def load_industries(folder: str | Path | None = None) -> dict[str, Industry]:
    """All industries in ``configs/industries/``, by code; a class may belong to one industry only.
    Cached until a file of the industries, the feature sets or the catalogue changes."""
    from scoring.core.config import files_signature

    d = Path(folder) if folder is not None else config_dir() / "industries"
    key = files_signature(d, config_dir() / "features", config_dir() / "catalog.yaml")
    if key not in _INDUSTRIES:
        _INDUSTRIES[key] = _load_industries(d)
    return dict(_INDUSTRIES[key])


def _load_industries(d: Path) -> dict[str, Industry]:
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
