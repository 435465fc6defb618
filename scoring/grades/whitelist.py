"""信易贷白名单: the organisations of an industry that a scene's rule recommends to lenders.

Seed 000: departments put creditworthy firms on a "白名单" using industry credit evaluation
results and recommend it to banks (信易贷). A whitelist is a rule of the scene, in
``configs/scenes.yaml`` under ``credit_whitelists:`` (:class:`WhitelistRule`): the lowest grade
admitted (``min_grade``), the industries it covers, no 直接定级 (``exclude_veto``) and no active
record on the listed lists (``exclude_active_lists``: veto codes of the industries' configs), and
the legal basis. The rule is applied to a published grade list's rows (:func:`whitelist`): the
threshold is the scene's, never a label on the organisation, so the whitelist has no column saying
what an organisation "is", and its 说明 sheet says so (:func:`whitelist_workbook`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from scoring.core.config import config_dir, load_model
from scoring.core.errors import ConfigError, DataError, NotFoundError
from scoring.core.workbook import Sheet, notes_sheet, workbook_bytes
from scoring.features.industry import GRADE_INDEX, GRADES, Industry, load_industries
from scoring.points.personal import Scene

#: The columns of a whitelist, in order (their Chinese names: :data:`WHITELIST_COLUMNS_ZH`).
WHITELIST_COLUMNS = (
    "subject_id",
    "name",
    "grade",
    "industry_zh",
    "industry",
    "as_of",
    "district_zh",
    "address",
    "legal_rep_masked",
    "reason_1",
    "reason_2",
    "reason_3",
)
WHITELIST_COLUMNS_ZH = {
    "subject_id": "统一社会信用代码",
    "name": "名称",
    "grade": "信用等级",
    "industry_zh": "行业",
    "industry": "行业代码",
    "as_of": "评价基准日",
    "district_zh": "所属区县",
    "address": "住所",
    "legal_rep_masked": "法定代表人",
    "reason_1": "主要原因1",
    "reason_2": "主要原因2",
    "reason_3": "主要原因3",
}
SCENE_NOTE = (
    "入选条件是本场景的规则（见上），不是对主体的信用标签；未列入本名单不表示主体失信或信用不良，"
    "金融机构应结合自身风控独立作出授信决定"
)
WHITELIST_DISCLAIMER = (
    "名单依据已发布的行业信用评价结果生成，仅用于向金融机构推荐融资对象；名单含主体信息，仅限约定用途使用，"
    "导出已登记在案（查询使用登记）；主体对评价所依据的信息有异议的，可依法申请信用异议或信用修复"
)


class WhitelistRule(BaseModel):
    """One whitelist scene (``credit_whitelists:`` in configs/scenes.yaml)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    code: str
    name_zh: str
    name_en: str = ""
    min_grade: str
    industries: tuple[str, ...] = ("*",)
    exclude_veto: bool = True
    exclude_active_lists: tuple[str, ...] = ()
    legal_basis: str = Field(min_length=4)

    @field_validator("code")
    @classmethod
    def _code(cls, v: str) -> str:
        if not re.fullmatch(r"[a-z][a-z0-9_]{1,39}", v):
            raise ValueError(f"whitelist code {v!r} must be lower_snake_case")
        return v

    @field_validator("min_grade")
    @classmethod
    def _grade(cls, v: str) -> str:
        if v not in GRADE_INDEX:
            raise ValueError(f"min_grade {v!r} is not one of {'/'.join(GRADES)}")
        return v

    @model_validator(mode="after")
    def _industries(self) -> WhitelistRule:
        if not self.industries:
            raise ValueError('industries: give ["*"] (every industry) or industry codes')
        if "*" in self.industries and len(self.industries) > 1:
            raise ValueError('industries: "*" (every industry) stands alone')
        return self

    def covers(self, industry: str) -> bool:
        """Does the rule apply to ``industry``?"""
        return "*" in self.industries or industry in self.industries

    def conditions(self, industry: Industry | None = None) -> str:
        """The rule in words (Chinese), with the industry's names of the excluded lists."""
        labels = {v.code: v.label_zh for v in industry.vetoes} if industry is not None else {}
        parts = [
            f"信用等级不低于{self.min_grade}" + ("（" + "、".join(GRADES[: GRADE_INDEX[self.min_grade] + 1]) + "）")
        ]
        if self.exclude_veto:
            parts.append("未被直接定级（一票否决）")
        if self.exclude_active_lists:
            names = [labels.get(c, c) for c in self.exclude_active_lists]
            parts.append("无下列名单的有效记录：" + "、".join(names))
        return "；".join(parts)


class _ScenesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    scenes: list[Scene]
    credit_whitelists: list[WhitelistRule] = Field(default_factory=list)


def load_whitelist_rules(path: str | Path | None = None) -> dict[str, WhitelistRule]:
    """The whitelist rules of configs/scenes.yaml (the whole file validated, person scenes too), by
    code; their industries and excluded lists checked against configs/industries."""
    p = Path(path) if path else config_dir() / "scenes.yaml"
    rules = load_model(_ScenesFile, p).credit_whitelists
    industries = load_industries()
    vetoes = {v.code for ind in industries.values() for v in ind.vetoes}
    out: dict[str, WhitelistRule] = {}
    for i, r in enumerate(rules):
        where = f"{p}: credit_whitelists.{i}"
        if r.code in out:
            raise ConfigError(f"{where}.code: {r.code!r} is given twice")
        unknown = [c for c in r.industries if c != "*" and c not in industries]
        if unknown:
            raise ConfigError(f"{where}.industries: {unknown} are not industries ({', '.join(sorted(industries))})")
        bad = [c for c in r.exclude_active_lists if c not in vetoes]
        if bad:
            raise ConfigError(
                f"{where}.exclude_active_lists: {bad} are not veto codes of configs/industries ({', '.join(sorted(vetoes))})"
            )
        out[r.code] = r
    return out


def whitelist_rule(code: str = "xinyidai", path: str | Path | None = None) -> WhitelistRule:
    """One whitelist rule by code."""
    rules = load_whitelist_rules(path)
    if code not in rules:
        raise NotFoundError(f"no whitelist rule {code!r} in configs/scenes.yaml; known: {', '.join(sorted(rules))}")
    return rules[code]


def _industry_of(frame: pd.DataFrame) -> Industry | None:
    if "industry" not in frame.columns or not len(frame):
        return None
    codes = set(frame["industry"].astype(str))
    if len(codes) > 1:
        raise DataError(f"the rows hold several industries {sorted(codes)}: a whitelist is drawn per industry")
    return load_industries().get(codes.pop())


def _text(s: pd.Series) -> pd.Series:
    return s.astype(object).where(s.notna(), "").astype(str)


def whitelist(frame: pd.DataFrame, rule: WhitelistRule) -> pd.DataFrame:
    """The organisations of a grade list's rows (``frame``: :func:`scoring.grades.lists.grade_list`
    or the serving database's list rows) that meet ``rule``: grade at or above ``min_grade``, no
    veto (``exclude_veto``), no active record on the ``exclude_active_lists`` (the deciding veto's
    code, or any veto among the rules that decided the grade, ``rules``), with their reasons; in
    the list's order (grade, risk, code). Columns :data:`WHITELIST_COLUMNS` (those the rows have)."""
    for col in ("subject_id", "grade"):
        if col not in frame.columns:
            raise DataError(f"the rows lack the column {col!r}: give a grade list's rows")
    ind = _industry_of(frame)
    if ind is not None and not rule.covers(ind.code):
        raise DataError(f"whitelist {rule.code} covers {', '.join(rule.industries)}, not {ind.code}")
    bad = sorted(set(frame["grade"].astype(str)) - set(GRADES))
    if bad:
        raise DataError(f"grades {bad} are not {'/'.join(GRADES)}: give a grade list's rows")
    keep = frame["grade"].astype(str).map(GRADE_INDEX) <= GRADE_INDEX[rule.min_grade]
    veto = _text(frame["veto"]) if "veto" in frame.columns else pd.Series("", index=frame.index)
    if rule.exclude_veto:
        keep &= veto == ""
    if rule.exclude_active_lists:
        keep &= ~veto.isin(rule.exclude_active_lists)
        if "rules" in frame.columns and ind is not None:
            rules = _text(frame["rules"])
            for v in ind.vetoes:
                if v.code in rule.exclude_active_lists:
                    keep &= ~rules.str.contains(f"直接定级：{v.label_zh}", regex=False)
    out = frame.loc[keep]
    cols = [c for c in WHITELIST_COLUMNS if c in out.columns]
    listed = out[cols].reset_index(drop=True)
    # the list it came from: a whitelist of a whitelist keeps the first population
    listed.attrs = {**frame.attrs, "population": int(frame.attrs.get("population", len(frame)))}
    return listed


def whitelist_info(
    frame: pd.DataFrame, rule: WhitelistRule, info: Mapping[str, str] | None = None, *, listed: int | None = None
) -> dict[str, str]:
    """The 说明 items of a whitelist: the scene, its conditions and legal basis, the list it was
    drawn from (``info``: e.g. 发布编号, 导出人), the counts, and that the threshold is the scene's rule."""
    ind = _industry_of(frame)
    items = {"名单": f"{rule.name_zh}（{rule.code}）"}
    if ind is not None:
        items["行业"] = f"{ind.name_zh} ({ind.code})"
        items["监管部门"] = ind.regulator
    if frame.attrs.get("publication_id"):
        items["发布编号"] = str(frame.attrs["publication_id"])
    if "as_of" in frame.columns and len(frame):
        items["评价基准日"] = str(frame["as_of"].iloc[0])
    elif frame.attrs.get("as_of"):
        items["评价基准日"] = str(frame.attrs["as_of"])
    items |= {str(k): str(v) for k, v in (info or {}).items()}
    items |= {
        "入选条件": rule.conditions(ind),
        "评价主体数": str(frame.attrs.get("population", len(frame))),
        **({"入选主体数": str(listed)} if listed is not None else {}),
        "场景规则": SCENE_NOTE,
        "依据": rule.legal_basis,
        "免责声明": WHITELIST_DISCLAIMER,
    }
    return items


def whitelist_workbook(frame: pd.DataFrame, rule: WhitelistRule, info: Mapping[str, str] | None = None) -> bytes:
    """The whitelist of ``frame`` (a grade list's rows) under ``rule`` as an .xlsx: 白名单 (Chinese
    headers, code and name frozen and on every printed page) and 说明 (:func:`whitelist_info`)."""
    listed = whitelist(frame, rule)
    shown = listed.rename(columns=WHITELIST_COLUMNS_ZH)
    ind = _industry_of(frame)
    title = f"{ind.name_zh if ind is not None else ''}{rule.name_zh}"
    return workbook_bytes(
        [
            Sheet(
                "白名单",
                shown,
                kinds={"统一社会信用代码": "code", "行业代码": "code", "评价基准日": "date"},
                key_columns=3,
                print_title=title,
            ),
            notes_sheet(whitelist_info(frame, rule, info, listed=len(listed))),
        ]
    )
