"""Feature definitions as data: ``configs/features/*.yaml``.

A feature declares its source record types, a window (1y/3y/5y or within publicity), an
aggregation, the direction it pushes risk, and Chinese and English labels. Its catalogue basis
(categories and legal bases) comes from its record types, so every column of a feature matrix can
say what law it rests on. A feature on forbidden data, or on nothing in the catalogue, fails
validation when the file loads.

Compact form: ``window`` may be a list; the feature then expands into one feature per window,
named ``<name>_<window>``, with ``{window}`` in the labels filled in (近1年 / in the last 1y ...).

Sets: ``person.yaml`` and ``organisation.yaml`` are the common sets; an industry set
(``<industry>.yaml`` with ``extends: organisation``) adds features to the organisation set.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from scoring.archive.catalog import Catalog, Polarity, SubjectType, load_catalog
from scoring.core import lawful
from scoring.core.config import config_dir, files_signature, read_yaml, validate_model
from scoring.core.dates import parse_months
from scoring.core.errors import ConfigError, NotFoundError

Agg = Literal[
    "count",
    "weighted_count",
    "sum_amount",
    "max_amount",
    "days_since_last",
    "ratio",
    "hours_diminishing",
    "active_list",
    "latest_grade",
]
Link = Literal["self", "represented_orgs", "legal_rep"]

WINDOW_LABELS = {
    "1y": ("近1年", "in the last year"),
    "3y": ("近3年", "in the last 3 years"),
    "5y": ("近5年", "in the last 5 years"),
    "publicity": ("公示期内", "within publicity"),
}
#: aggregations whose value for a subject with no counting record is 0 (days_since_last: its cap;
#: others: missing)
ZERO_WHEN_EMPTY = {"count", "weighted_count", "sum_amount", "max_amount", "hours_diminishing", "active_list"}
#: How a link re-keys records: (column of the link table holding the record's subject, column
#: holding the subject the feature describes). Link table: organisation_id, person_id.
LINK_KEYS = {"represented_orgs": ("organisation_id", "person_id"), "legal_rep": ("person_id", "organisation_id")}
LINKS = ("self",) + tuple(LINK_KEYS)


class FeatureSpec(BaseModel):
    """One feature (after window expansion)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str
    label_zh: str
    label_en: str
    records: tuple[str, ...]
    window: str = "publicity"
    agg: Agg
    direction: Literal["increases_risk", "decreases_risk"]
    severities: tuple[str, ...] = ()
    weights: dict[str, float] = Field(default_factory=dict)
    numerator: tuple[str, ...] = ()
    tiers: tuple[tuple[float | None, float], ...] = ()
    grade_values: dict[str, float] = Field(default_factory=dict)
    link: Link = "self"
    dimension: str = ""
    cap_days: int = Field(
        1825, ge=1, description="days_since_last: values are capped here, and no record gives the cap"
    )

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        import re

        if not re.fullmatch(r"[a-z][a-z0-9_]{1,63}", v):
            raise ValueError(f"feature name {v!r} must be lower_snake_case (2-64 characters)")
        return v

    @field_validator("window")
    @classmethod
    def _window(cls, v: str) -> str:
        if v != "publicity":
            parse_months(v)
        return v

    @property
    def window_months(self) -> int | None:
        return None if self.window == "publicity" else parse_months(self.window)

    @property
    def all_records(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.records + self.numerator))

    @model_validator(mode="after")
    def _shape(self) -> "FeatureSpec":
        if not self.records:
            raise ValueError(f"feature {self.name} rests on no record type; every feature needs a catalogue basis")
        if self.agg == "weighted_count" and not self.weights:
            raise ValueError(f"feature {self.name}: weighted_count needs weights per severity")
        if self.agg == "ratio" and not self.numerator:
            raise ValueError(f"feature {self.name}: ratio needs numerator record types (records is the denominator)")
        if self.agg == "hours_diminishing":
            if not self.tiers or self.tiers[-1][0] is not None:
                raise ValueError(
                    f"feature {self.name}: hours_diminishing needs tiers ending with an open tier [null, rate]"
                )
            raw = [t[0] for t in self.tiers[:-1]]
            if any(b is None or b <= 0 for b in raw):
                raise ValueError(f"feature {self.name}: tier bounds must be positive and increasing")
            bounds = [float(b) for b in raw if b is not None]
            if bounds != sorted(bounds):
                raise ValueError(f"feature {self.name}: tier bounds must be positive and increasing")
            rates = [t[1] for t in self.tiers]
            if any(r < 0 for r in rates) or rates != sorted(rates, reverse=True):
                raise ValueError(f"feature {self.name}: tier rates must be non-negative and diminishing")
        if self.agg == "latest_grade" and not self.grade_values:
            raise ValueError(f"feature {self.name}: latest_grade needs grade_values")
        if self.link != "self" and self.agg not in (
            "count",
            "weighted_count",
            "active_list",
            "sum_amount",
            "max_amount",
        ):
            raise ValueError(
                f"feature {self.name}: linked features support count, weighted_count, active_list, sum_amount, max_amount"
            )
        hits = lawful.screen(self.name, self.label_en, self.label_zh)
        if hits:
            raise ValueError(
                f"feature {self.name} rests on data that may not be used: " + "; ".join(str(h) for h in hits)
            )
        return self


class FeatureSetFile(BaseModel):
    """One configs/features/<set>.yaml file, before expansion."""

    model_config = ConfigDict(extra="forbid")

    set: str
    label_zh: str
    subject_types: tuple[SubjectType, ...] = ()
    extends: str | None = None
    industry: str | None = None
    features: list[dict]


class FeatureSet(BaseModel):
    """A validated, expanded feature set."""

    model_config = ConfigDict(frozen=True)

    name: str
    label_zh: str
    subject_types: tuple[SubjectType, ...]
    industry: str | None
    features: tuple[FeatureSpec, ...]

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.features]

    def __getitem__(self, name: str) -> FeatureSpec:
        for f in self.features:
            if f.name == name:
                return f
        raise NotFoundError(f"feature {name!r} is not in set {self.name!r}")

    def metadata(self, catalog: Catalog) -> pd.DataFrame:
        """One row per feature: labels, basis (categories and legal bases), direction, window."""
        rows = []
        for f in self.features:
            rts = [catalog[c] for c in f.all_records]
            rows.append(
                {
                    "feature": f.name,
                    "label_zh": f.label_zh,
                    "label_en": f.label_en,
                    "direction": f.direction,
                    "window": f.window,
                    "agg": f.agg,
                    "link": f.link,
                    "records": ",".join(f.all_records),
                    "basis": "; ".join(dict.fromkeys(f"{r.category.value} {r.category.label_zh}" for r in rts)),
                    "legal_basis": "; ".join(dict.fromkeys(r.legal_basis for r in rts)),
                    "dimension": f.dimension,
                    "set": self.name,
                }
            )
        return pd.DataFrame(rows)

    def build_table(self, catalog: Catalog) -> pd.DataFrame:
        return self.metadata(catalog)[["feature", "label_zh", "direction", "window", "agg", "basis"]]


def _expand(raw: dict) -> list[dict]:
    windows = raw.get("window", "publicity")
    if not isinstance(windows, list):
        return [raw]
    out = []
    for w in windows:
        zh, en = WINDOW_LABELS.get(str(w), (f"近{w}", f"in the last {w}"))
        item = dict(raw, window=str(w), name=f"{raw['name']}_{w}")
        item["label_zh"] = str(raw.get("label_zh", "")).replace("{window}", zh)
        item["label_en"] = str(raw.get("label_en", "")).replace("{window}", en)
        out.append(item)
    return out


def _check_against_catalog(spec: FeatureSpec, catalog: Catalog, subject_types: tuple[SubjectType, ...]) -> None:
    for code in spec.all_records:
        if code not in catalog:
            raise ValueError(f"feature {spec.name}: record type {code!r} is not in the catalogue")
    rts = [catalog[c] for c in spec.all_records]
    linked = {
        "self": subject_types,
        "represented_orgs": tuple(t for t in SubjectType if t.is_organisation),
        "legal_rep": (SubjectType.person,),
    }[spec.link]
    if not any(set(r.subject_types) & set(linked) for r in rts):
        raise ValueError(f"feature {spec.name}: none of its record types applies to {[t.value for t in linked]}")
    if spec.agg == "active_list" and not all(r.list_type for r in rts):
        raise ValueError(f"feature {spec.name}: active_list needs list-type records only")
    sev = {s.value for r in rts for s in r.severities}
    bad = [s for s in list(spec.severities) + list(spec.weights) if s not in sev]
    if bad:
        raise ValueError(f"feature {spec.name}: severities {bad} do not occur in its record types")
    if spec.agg in ("sum_amount", "max_amount", "hours_diminishing") and not all(r.amount for r in rts):
        raise ValueError(f"feature {spec.name}: {spec.agg} needs record types with an amount")
    if spec.agg == "latest_grade":
        grades = {g for r in rts for g in r.grades}
        if not grades or set(spec.grade_values) - grades:
            raise ValueError(f"feature {spec.name}: grade_values must be grades of its record types ({sorted(grades)})")
    if spec.agg == "hours_diminishing" and any(r.polarity is not Polarity.positive for r in rts):
        raise ValueError(f"feature {spec.name}: hours_diminishing is for positive records")


_SETS: dict[tuple, FeatureSet] = {}


def _catalog_key(catalog: Catalog) -> str:
    import hashlib

    return hashlib.sha1(catalog.model_dump_json().encode()).hexdigest()


def load_feature_set(name: str, folder: str | Path | None = None, catalog: Catalog | None = None) -> FeatureSet:
    """Load configs/features/<name>.yaml (and the set it extends), validated against the catalogue.
    Validated sets are cached until a file in the folder or the catalogue changes."""
    d = Path(folder) if folder is not None else config_dir() / "features"
    catalog = catalog or load_catalog()
    key = (name, _catalog_key(catalog), files_signature(d))
    if key not in _SETS:
        _SETS[key] = _load_feature_set(name, d, catalog)
    return _SETS[key]


def _load_feature_set(name: str, d: Path, catalog: Catalog) -> FeatureSet:
    path = d / f"{name}.yaml"
    if not path.exists():
        known = sorted(p.stem for p in d.glob("*.yaml"))
        raise ConfigError(f"{path}: no feature set {name!r}; known sets: {', '.join(known)}")
    head = validate_model(FeatureSetFile, read_yaml(path), path)
    if head.set != name:
        raise ConfigError(f"{path}: set: {head.set!r} must match the file name {name!r}")
    base: FeatureSet | None = load_feature_set(head.extends, d, catalog) if head.extends else None
    subject_types = head.subject_types or (base.subject_types if base else ())
    if not subject_types:
        raise ConfigError(f"{path}: subject_types: needed (or extend a set that has them)")
    specs: list[FeatureSpec] = list(base.features) if base else []
    for i, raw in enumerate(head.features):
        for item in _expand(raw):
            spec = validate_model(FeatureSpec, item, f"{path}: features.{i}")
            try:
                _check_against_catalog(spec, catalog, subject_types)
            except ValueError as exc:
                raise ConfigError(f"{path}: features.{i}: {exc}") from None
            specs.append(spec)
    names = [s.name for s in specs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"{path}: duplicate feature names: {', '.join(dup)}")
    return FeatureSet(
        name=name,
        label_zh=head.label_zh,
        subject_types=subject_types,
        industry=head.industry or (base.industry if base else None),
        features=tuple(specs),
    )


def feature_set_for(
    subjects: str, industry: str | None = None, folder: str | Path | None = None, catalog: Catalog | None = None
) -> FeatureSet:
    """The set for ``persons`` / ``organisations`` (optionally an industry's extension)."""
    if subjects in ("persons", "person"):
        if industry:
            raise ConfigError("--industry applies to organisations only")
        return load_feature_set("person", folder, catalog)
    if subjects not in ("organisations", "organisation", "orgs"):
        raise ConfigError(f"subjects must be persons or organisations, got {subjects!r}")
    if industry:
        d = Path(folder) if folder is not None else config_dir() / "features"
        if (d / f"{industry}.yaml").exists():
            return load_feature_set(industry, folder, catalog)
    return load_feature_set("organisation", folder, catalog)
