"""The record catalogue (信用信息目录): what a credit archive (信用档案) may contain.

Loaded from ``configs/catalog.yaml`` into typed objects. Each record type names its national
catalogue category (全国公共信用信息基础目录, 11 categories), the subject types it applies to, its
polarity, severity classes, legal basis, and its publicity/validity rule. Publicity rules are
versioned by effective date (2019, 2023 and 2026 regimes, SAMR penalties): the regime in force on
the record's event date decides its periods.

Loading refuses record types without a legal basis and those resting on forbidden data
(see :mod:`scoring.core.lawful`).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from scoring.core import lawful
from scoring.core.config import config_dir, load_model
from scoring.core.dates import add_months, parse_months


class Category(str, Enum):
    """The 11 categories of the national public credit information catalogue (2021 edition)."""

    C01 = "C01"
    C02 = "C02"
    C03 = "C03"
    C04 = "C04"
    C05 = "C05"
    C06 = "C06"
    C07 = "C07"
    C08 = "C08"
    C09 = "C09"
    C10 = "C10"
    C11 = "C11"

    @property
    def label_zh(self) -> str:
        return CATEGORY_LABELS[self.value]


CATEGORY_LABELS = {
    "C01": "登记注册基本信息",
    "C02": "司法裁判及执行信息",
    "C03": "行政管理信息",
    "C04": "职称和职业资格信息",
    "C05": "经营(活动)异常名录(状态)信息",
    "C06": "严重失信主体名单信息",
    "C07": "有关合同履行信息",
    "C08": "信用承诺及其履行情况信息",
    "C09": "信用评价结果信息",
    "C10": "诚信守信相关荣誉信息",
    "C11": "市场主体自愿提供的信用信息",
}


class SubjectType(str, Enum):
    """Subject types of a credit archive."""

    person = "person"  # 自然人
    enterprise = "enterprise"  # 企业
    individual_business = "individual_business"  # 个体工商户
    social_organisation = "social_organisation"  # 社会组织
    public_institution = "public_institution"  # 事业单位
    government_body = "government_body"  # 政府机构

    @property
    def label_zh(self) -> str:
        return SUBJECT_TYPE_LABELS[self.value]

    @property
    def is_organisation(self) -> bool:
        return self is not SubjectType.person


SUBJECT_TYPE_LABELS = {
    "person": "自然人",
    "enterprise": "企业",
    "individual_business": "个体工商户",
    "social_organisation": "社会组织",
    "public_institution": "事业单位",
    "government_body": "政府机构",
}
ORGANISATION_TYPES = tuple(t.value for t in SubjectType if t.is_organisation)


class Severity(str, Enum):
    """Severity class of a negative record (轻微/一般/严重)."""

    minor = "minor"
    general = "general"
    serious = "serious"

    @property
    def label_zh(self) -> str:
        return SEVERITY_LABELS[self.value]


SEVERITY_LABELS = {"minor": "轻微", "general": "一般", "serious": "严重"}


class Polarity(str, Enum):
    positive = "positive"
    negative = "negative"
    neutral = "neutral"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_enum_values=False)


class Period(_Model):
    """Publicity period of one severity class under one regime."""

    min: int = Field(description="months before repair may be applied for (最短公示期)")
    max: int = Field(description="months after which the record stops counting (最长公示期)")
    published: bool = True

    @field_validator("min", "max", mode="before")
    @classmethod
    def _months(cls, v: object) -> int:
        return parse_months(v)

    @model_validator(mode="after")
    def _order(self) -> "Period":
        if self.min > self.max:
            raise ValueError(f"min ({self.min} months) is longer than max ({self.max} months)")
        return self


class Regime(_Model):
    """A dated publicity regime, e.g. 发改办财金〔2019〕527号 from 2019-07-01."""

    code: str
    name: str
    effective_from: dt.date
    periods: dict[Severity, Period]


class PublicityRule(_Model):
    """How long a record counts. Kinds:

    * ``by_severity``: periods per severity under dated regimes (administrative penalties);
    * ``fixed``: a fixed number of months from the event date;
    * ``list``: from list entry to list exit (or entry + ``default_months`` when no exit);
    * ``permanent``: always (registration facts, titles).
    """

    kind: Literal["by_severity", "fixed", "list", "permanent"]
    label_zh: str
    months: int | None = None
    default_months: int | None = None
    regimes: list[Regime] = Field(default_factory=list)
    note: str = ""

    @field_validator("months", "default_months", mode="before")
    @classmethod
    def _months(cls, v: object) -> int | None:
        return None if v is None else parse_months(v)

    @model_validator(mode="after")
    def _shape(self) -> "PublicityRule":
        if self.kind == "by_severity":
            if not self.regimes:
                raise ValueError("a by_severity rule needs at least one regime")
            dates = [r.effective_from for r in self.regimes]
            if dates != sorted(dates) or len(set(dates)) != len(dates):
                raise ValueError("regimes must be listed in strictly increasing effective_from order")
        elif self.regimes:
            raise ValueError(f"a {self.kind} rule takes no regimes")
        if self.kind == "fixed" and self.months is None:
            raise ValueError("a fixed rule needs months")
        return self

    def regime_for(self, event_date: dt.date) -> Regime:
        """The regime in force on ``event_date``.

        Records dated before the earliest documented regime are held to that earliest regime.
        """
        chosen = self.regimes[0]
        for r in self.regimes:
            if r.effective_from <= event_date:
                chosen = r
        return chosen


class AmountSpec(_Model):
    unit: str
    required: bool = False


class RecordType(_Model):
    """One kind of record in a credit archive."""

    code: str
    name_zh: str
    name_en: str
    category: Category
    subject_types: tuple[SubjectType, ...]
    polarity: Polarity
    severities: tuple[Severity, ...] = ()
    legal_basis: str
    publicity: str
    list_type: bool = False
    requires_document: bool = True
    repairable: bool = False
    opt_out_eligible: bool = Field(
        False, description="positive item a person may ask not to be used (深圳条例 Art. 39)"
    )
    requires_consent: bool = False
    amount: AmountSpec | None = None
    grades: tuple[str, ...] = ()
    follows: str | None = None
    tags: tuple[str, ...] = ()

    @field_validator("code")
    @classmethod
    def _code(cls, v: str) -> str:
        if not re.fullmatch(r"[A-Z][A-Z0-9_]{2,39}", v):
            raise ValueError(f"code {v!r} must be 3-40 characters of A-Z, 0-9 and _, starting with a letter")
        return v

    @field_validator("subject_types", mode="before")
    @classmethod
    def _subject_shorthand(cls, v: object) -> object:
        if v == "all":
            return [t.value for t in SubjectType]
        if v == "organisations":
            return list(ORGANISATION_TYPES)
        return v

    @field_validator("legal_basis")
    @classmethod
    def _basis(cls, v: str) -> str:
        if len(v.strip()) < 4 or v.strip().lower() in {"none", "n/a", "na", "无", "暂无", "tbd", "-"}:
            raise ValueError(
                "legal_basis is missing: every record type needs the law or rule that makes it public "
                "credit information (国办发〔2020〕49号 forbids items without one)"
            )
        return v

    @model_validator(mode="after")
    def _consistent(self) -> "RecordType":
        hits = lawful.screen(self.code, self.name_en, self.name_zh, *self.tags)
        if hits:
            raise ValueError(f"record type {self.code} cannot be catalogued: " + "; ".join(str(h) for h in hits))
        applies_to_persons = SubjectType.person in self.subject_types
        if applies_to_persons and not self.requires_consent:
            needs = lawful.screen(self.code, self.name_en, self.name_zh, *self.tags, kinds=("consent_required",))
            if needs:
                raise ValueError(
                    f"record type {self.code} uses {needs[0].reason} of persons, which needs written "
                    "consent: set requires_consent: true or restrict subject_types to organisations"
                )
        if not self.subject_types:
            raise ValueError("subject_types is empty")
        if self.polarity is Polarity.negative and not self.requires_document:
            raise ValueError(
                f"record type {self.code} is negative, so it needs a legally effective document "
                "(requires_document: true)"
            )
        if self.severities and self.polarity is Polarity.positive:
            raise ValueError(f"record type {self.code} is positive and cannot have severities")
        if self.opt_out_eligible and self.polarity is not Polarity.positive:
            raise ValueError(f"record type {self.code}: only positive items can be opt-out eligible")
        if self.repairable and self.polarity is not Polarity.negative:
            raise ValueError(f"record type {self.code}: only negative records can be repaired")
        return self

    @property
    def is_list(self) -> bool:
        return self.list_type


@dataclass(frozen=True)
class Window:
    """When one record counts: [start, end), and when it may first be repaired."""

    start: dt.date
    end: dt.date | None  # None: open-ended
    repair_from: dt.date | None
    regime: str | None


class Catalog(_Model):
    """The whole record catalogue: publicity rules and record types."""

    version: str
    publicity_rules: dict[str, PublicityRule]
    record_types: list[RecordType]

    @model_validator(mode="after")
    def _links(self) -> "Catalog":
        codes = [r.code for r in self.record_types]
        dup = sorted({c for c in codes if codes.count(c) > 1})
        if dup:
            raise ValueError(f"duplicate record type codes: {', '.join(dup)}")
        for i, rt in enumerate(self.record_types):
            where = f"record_types.{i} ({rt.code})"
            rule = self.publicity_rules.get(rt.publicity)
            if rule is None:
                raise ValueError(
                    f"{where}: publicity rule {rt.publicity!r} is not defined; "
                    f"known: {', '.join(sorted(self.publicity_rules))}"
                )
            if rt.list_type != (rule.kind == "list"):
                raise ValueError(f"{where}: list_type records need a 'list' publicity rule and vice versa")
            if rule.kind == "by_severity":
                if not rt.severities:
                    raise ValueError(f"{where}: rule {rt.publicity!r} is by severity, so severities are needed")
                for reg in rule.regimes:
                    missing = [s.value for s in rt.severities if s not in reg.periods]
                    if missing:
                        raise ValueError(
                            f"{where}: regime {reg.code} of rule {rt.publicity!r} has no period for {missing}"
                        )
            if rt.follows is not None and rt.follows not in codes:
                raise ValueError(f"{where}: follows unknown record type {rt.follows!r}")
        return self

    # -- lookups ---------------------------------------------------------------------------
    @property
    def codes(self) -> list[str]:
        return [r.code for r in self.record_types]

    def __getitem__(self, code: str) -> RecordType:
        for r in self.record_types:
            if r.code == code:
                return r
        raise KeyError(f"record type {code!r} is not in the catalogue (version {self.version})")

    def __contains__(self, code: object) -> bool:
        return any(r.code == code for r in self.record_types)

    def types_for(self, subject_type: SubjectType | str) -> list[RecordType]:
        st = SubjectType(subject_type)
        return [r for r in self.record_types if st in r.subject_types]

    def rule(self, code: str) -> PublicityRule:
        return self.publicity_rules[self[code].publicity]

    # -- time ------------------------------------------------------------------------------
    def window(
        self,
        code: str,
        event_date: dt.date,
        severity: Severity | str | None = None,
        list_entry_on: dt.date | None = None,
        list_exit_on: dt.date | None = None,
    ) -> Window:
        """The publicity/validity window of one record, before repair, revocation or objection."""
        rt = self[code]
        rule = self.publicity_rules[rt.publicity]
        if rule.kind == "permanent":
            return Window(event_date, None, None, None)
        if rule.kind == "fixed":
            return Window(event_date, add_months(event_date, rule.months or 0), None, None)
        if rule.kind == "list":
            start = list_entry_on or event_date
            end = list_exit_on
            if end is None and rule.default_months is not None:
                end = add_months(start, rule.default_months)
            return Window(start, end, None, None)
        sev = Severity(severity) if severity is not None else None
        if sev is None:
            raise ValueError(f"record type {code} needs a severity to find its publicity period")
        reg = rule.regime_for(event_date)
        p = reg.periods[sev]
        return Window(
            event_date,
            add_months(event_date, p.max),
            add_months(event_date, p.min) if rt.repairable else None,
            reg.code,
        )

    # -- tables ----------------------------------------------------------------------------
    def build_table(self) -> pd.DataFrame:
        """The catalogue as a table a person can read."""
        rows = []
        for r in self.record_types:
            rule = self.publicity_rules[r.publicity]
            rows.append(
                {
                    "code": r.code,
                    "name_zh": r.name_zh,
                    "name_en": r.name_en,
                    "category": f"{r.category.value} {r.category.label_zh}",
                    "subjects": ",".join(s.value for s in r.subject_types),
                    "polarity": r.polarity.value,
                    "severities": "/".join(SEVERITY_LABELS[s.value] for s in r.severities),
                    "publicity": rule.label_zh,
                    "legal_basis": r.legal_basis,
                }
            )
        return pd.DataFrame(rows)

    def regimes_table(self) -> pd.DataFrame:
        """Every dated regime of every by-severity rule, one row per severity."""
        rows = []
        for name, rule in self.publicity_rules.items():
            for reg in rule.regimes:
                for sev, p in reg.periods.items():
                    rows.append(
                        {
                            "rule": name,
                            "regime": reg.name,
                            "effective_from": reg.effective_from,
                            "severity": SEVERITY_LABELS[sev.value],
                            "min_months": p.min,
                            "max_months": p.max,
                            "published": p.published,
                        }
                    )
        return pd.DataFrame(rows)


def load_catalog(path: str | Path | None = None) -> Catalog:
    """Load and validate ``configs/catalog.yaml`` (or the file at ``path``)."""
    p = Path(path) if path is not None else config_dir() / "catalog.yaml"
    return load_model(Catalog, p)
