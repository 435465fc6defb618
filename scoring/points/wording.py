"""The words a citizen reads: 信义金 bins, records, events and whole explanations in Chinese.

One module for every citizen-facing text of the personal score, used by the explanation
(:func:`scoring.points.personal.explain_person`), the diff (:mod:`scoring.points.diff`), guidance
(:mod:`scoring.points.guidance`) and the CLI; available to a card's table too (:func:`bin_words_all`).

* **Bins in words**, from the feature's definition (:class:`~scoring.features.definitions.FeatureSpec`:
  ``agg``, ``records``, ``window``, ``label_zh``) and the bin edges: ``近3年无行政处罚记录`` /
  ``近3年行政处罚1次`` / ``近3年行政处罚2次及以上``, ``志愿服务有效时长10至20小时``,
  ``近3年无已到期信用承诺`` for a missing ratio, ``近3年最高罚款金额不足1万元或近3年无行政处罚记录``. A bin ``[a, b)`` of a
  continuous quantity reads ``a至b`` (``b`` itself belongs to the next bin); whole numbers
  (counts, days) read as exact ranges (``1至3次``).
* **Record types** by their catalogue name (``name_zh``), never by code; ID numbers masked
  (:func:`scoring.core.privacy.scrub`) in every text built from data.
* **Texts** of explanations and diffs (:func:`explanation_text`, :func:`diff_text`): plain lines, stable
  (the golden-file test compares them exactly).

The exit procedures of the lists that suspend the score are configuration
(``configs/points/explain.yaml``, :class:`ExplainConfig`, :func:`load_explain_config`), not prose in code.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from scoring.archive.catalog import SEVERITY_LABELS, Catalog, load_catalog
from scoring.core.config import config_dir, load_model
from scoring.core.errors import ConfigError
from scoring.core.privacy import scrub
from scoring.features.definitions import WINDOW_LABELS, ZERO_WHEN_EMPTY, FeatureSpec
from scoring.points.binning import MonotoneBinning

UNIT_ZH = {"yuan": "元", "hours": "小时"}
#: what happened to a record on a diff checkpoint
EVENT_ZH = {
    "appeared": "新增记录",
    "repaired": "信用修复",
    "revoked": "撤销",
    "objection_upheld": "异议成立，移除记录",
    "left_list": "移出名单",
    "list_period_ended": "名单期满",
    "publicity_ended": "公示期满",
    "objection_raised": "提出异议，核查期间暂不计入",
    "objection_rejected": "异议不成立，恢复计入",
    "left_window": "超出统计期",
    "days_passed": "距今天数增加",
    "link_started": "成为该企业的法定代表人或实际控制人（关联关系开始）",
    "link_ended": "不再担任该企业的法定代表人或实际控制人（关联关系结束）",
    "other": "其他变化",
    "suspended": "暂停计分",
    "resumed": "恢复计分",
}
STATUS_ZH = {"scored": "正常计分", "suspended": "暂停计分"}


# -- configs/points/explain.yaml -----------------------------------------------------------------
class ExitProcedure(BaseModel):
    """How a person leaves one list that suspends the score (configs/points/explain.yaml)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    obligation: str = Field(min_length=2, description="what the person must do first: 履行义务 / 履行法定义务")
    authority: str = Field(min_length=2, description="who decides the exit (谁认定、谁修复)")
    action: str = Field(min_length=2, description="the exit in one sentence (guidance's leave_list action)")
    steps: tuple[str, ...] = Field(min_length=1, description="the exit procedure, in order")
    early_exit: str = Field(description="the earliest end when the listing has a fixed end date; {date} is it")
    no_end: str = Field(description="the earliest end when the listing has no fixed end date")
    basis: str | None = Field(None, description="the rule the procedure rests on (default: the catalogue's)")

    @field_validator("early_exit")
    @classmethod
    def _has_date(cls, v: str) -> str:
        if "{date}" not in v:
            raise ValueError("early_exit must contain {date} (the listing's end date)")
        return v


class ExplainConfig(BaseModel):
    """configs/points/explain.yaml: the texts shown to a suspended person."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    notice: str = ""
    until_open: str
    until_fixed: str
    exit_procedures: dict[str, ExitProcedure]

    @field_validator("until_fixed")
    @classmethod
    def _has_date(cls, v: str) -> str:
        if "{date}" not in v:
            raise ValueError("until_fixed must contain {date} (the suspension's end date)")
        return v


def load_explain_config(
    path: str | Path | None = None, catalog: Catalog | None = None, gate_types: Iterable[str] = ()
) -> ExplainConfig:
    """configs/points/explain.yaml, checked against the catalogue (list types only) and the gate
    (every list type that suspends the score has an exit procedure)."""
    p = Path(path) if path is not None else config_dir() / "points" / "explain.yaml"
    cfg = load_model(ExplainConfig, p)
    catalog = catalog or load_catalog()
    for code in cfg.exit_procedures:
        if code not in catalog or not catalog[code].list_type:
            raise ConfigError(f"{p}: exit_procedures.{code}: not a list-type record type of the catalogue")
    missing = [c for c in gate_types if c not in cfg.exit_procedures]
    if missing:
        raise ConfigError(
            f"{p}: exit_procedures: no exit procedure for {', '.join(missing)}, which suspend the score "
            "(configs/points/gate.yaml); add one so a suspended person is told how to leave the list"
        )
    return cfg


# -- numbers -----------------------------------------------------------------------------------
def number(v: float) -> str:
    """A number as people write it: no trailing zeros, at most two decimals."""
    if float(v).is_integer():
        return str(int(v))
    return f"{v:.2f}".rstrip("0").rstrip(".")


def amount(v: float, unit: str = "元") -> str:
    """An amount: ``5000元``, ``1万元``, ``2.35万元``; hours as ``12小时``."""
    if unit == "元" and abs(v) >= 10_000:
        return f"{number(round(v / 10_000, 2))}万元"
    return f"{number(round(v, 2))}{unit}"


def percent(v: float) -> str:
    return f"{number(round(v * 100, 1))}%"


# -- features ------------------------------------------------------------------------------------
def record_names(codes: Iterable[str], catalog: Catalog) -> str:
    """Record types by their catalogue names (行政处罚、合同违约), never their codes."""
    return "、".join(dict.fromkeys(catalog[c].name_zh if c in catalog else c for c in codes))


def _strip_notes(label: str) -> str:
    return re.sub(r"[(（][^)）]*[)）]", "", label).strip()


def _window_zh(spec: FeatureSpec) -> str:
    """The window words of a feature as its label uses them (近3年 / 公示期内), or nothing."""
    zh = WINDOW_LABELS.get(spec.window, ("", ""))[0]
    return zh if zh and zh in spec.label_zh else ""


def _link_zh(spec: FeatureSpec) -> str:
    return (
        "所代表企业"
        if spec.link == "represented_orgs"
        else "法定代表人或实际控制人"
        if spec.link == "legal_rep"
        else ""
    )


def _severity_zh(spec: FeatureSpec) -> str:
    return "或".join(SEVERITY_LABELS[s] for s in spec.severities)


def _insert_none(stem: str, spec: FeatureSpec, word: str = "无") -> str:
    """``近3年行政处罚`` -> ``近3年无行政处罚``: 无 (or ``word``) after the link and window words of the label."""
    for head in (_link_zh(spec) + _window_zh(spec), _window_zh(spec), _link_zh(spec)):
        if head and stem.startswith(head):
            return head + word + stem[len(head) :]
    return word + stem


def _ratio_stem(spec: FeatureSpec) -> str:
    """``近3年已到期信用承诺履约率`` -> ``近3年已到期信用承诺`` (what the ratio is of)."""
    return re.sub(r"(履约|合格|通过)?率$", "", _strip_notes(spec.label_zh))


def _count_stem(spec: FeatureSpec) -> tuple[str, str]:
    """(stem, unit) of a count's label: ``近3年行政处罚次数`` -> (近3年行政处罚, 次)."""
    label = _strip_notes(spec.label_zh)
    for suffix, cut, unit in (("次数", 2, "次"), ("案件数", 1, "件"), ("记录数", 1, "条"), ("数", 1, "项")):
        if label.endswith(suffix):
            return label[:-cut], unit
    return label, "次"


def _plain_records(spec: FeatureSpec, catalog: Catalog) -> str:
    """``近3年`` + ``严重`` + ``行政处罚`` (link, window, severities, catalogue names)."""
    return _link_zh(spec) + _window_zh(spec) + _severity_zh(spec) + record_names(spec.records, catalog)


def none_words(spec: FeatureSpec, catalog: Catalog) -> str:
    """What having no counting record reads as: 近3年无行政处罚记录, 近3年无已到期信用承诺."""
    if spec.agg == "ratio":
        return _insert_none(_ratio_stem(spec), spec)
    if spec.agg == "active_list":
        return f"{_link_zh(spec)}当前未列入{_list_name(spec, catalog)}"
    if spec.agg == "count":
        stem, _ = _count_stem(spec)
        words = _insert_none(stem, spec)
        return words if words.endswith("记录") else words + "记录"
    if spec.agg == "days_since_last":
        years = spec.cap_days / 365
        within = f"近{number(years)}年" if years.is_integer() else f"近{spec.cap_days}天"
        return f"{_link_zh(spec)}{within}无{_severity_zh(spec)}{record_names(spec.records, catalog)}记录"
    words = _insert_none(_plain_records(spec, catalog), spec)
    return words + "记录"


def _list_name(spec: FeatureSpec, catalog: Catalog) -> str:
    names = [re.sub("名单$", "", catalog[c].name_zh) for c in spec.records if c in catalog]
    return "、".join(dict.fromkeys(names)) + "名单"


def _unit(spec: FeatureSpec, catalog: Catalog) -> str:
    units = {catalog[c].amount.unit for c in spec.records if c in catalog and catalog[c].amount}  # type: ignore[union-attr]  # filtered on amount
    return UNIT_ZH.get(next(iter(units)), "") if len(units) == 1 else ""


def _int_range(lo: float, hi: float) -> tuple[int, int | None]:
    """Whole numbers in [lo, hi): (first, last or None for no upper end)."""
    first = 0 if lo == -np.inf else max(0, math.ceil(lo))
    last = None if hi == np.inf else math.ceil(hi) - 1
    return first, last


def _counted(stem: str, unit: str, first: int, last: int | None, none: str | None) -> str:
    """Words for whole numbers first..last of a counted thing; ``none``: how 0 reads (no record),
    None when 0 is an ordinary value (days)."""
    if last is not None and last < first:
        return f"{stem}（无此取值）"
    if first == 0 and last == 0 and none:
        return none
    if first == 0 and last is None:
        return f"{stem}不限"
    if first == 0:  # 不超过 holds 0 (no record) already
        return f"{stem}不超过{last}{unit}"
    if last is None:
        return f"{stem}{first}{unit}及以上"
    if first == last:
        return f"{stem}{first}{unit}"
    return f"{stem}{first}至{last}{unit}"


def _ranged(quantity: str, lo: float, hi: float, show, unit: str, none: str | None) -> str:
    """Words for a continuous [lo, hi): 不足b / a至b / a及以上 (``show`` writes a bound without its
    ``unit``); ``none`` is added when the bin holds 0 (no record)."""
    if lo == -np.inf and hi == np.inf:
        return f"{quantity}不限"
    if lo == -np.inf:
        text = f"{quantity}不足{show(hi)}{unit}"
        return f"{text}或{none}" if none and hi > 0 else text
    if hi == np.inf:
        return f"{quantity}{show(lo)}{unit}及以上"
    text = f"{quantity}{show(lo)}至{show(hi)}{unit}"
    return f"{text}或{none}" if none and lo <= 0 < hi else text


def _amount_number(v: float) -> str:
    """An amount in yuan without the unit: ``5000``, ``1万``, ``2.35万``."""
    return f"{number(round(v / 10_000, 2))}万" if abs(v) >= 10_000 else number(round(v, 2))


def _edges(binning: MonotoneBinning, index: int) -> tuple[float, float]:
    splits = [float(s) for s in binning.splits_]
    lo = splits[index - 1] if index > 0 else -np.inf
    hi = splits[index] if index < len(splits) else np.inf
    return lo, hi


def bin_words(spec: FeatureSpec, binning: MonotoneBinning, index: int, catalog: Catalog) -> str:
    """One bin of a feature in words (``index`` as :meth:`MonotoneBinning.bin_index`: 0.. regular
    bins, -1 missing, -2-k the k-th special value)."""
    if index == -1:
        return none_words(spec, catalog) if spec.agg in ("ratio", "latest_grade") else "无数据"
    quantity = _strip_notes(spec.label_zh)
    if index <= -2:
        value = list(binning.special_woe_)[-2 - index]
        return f"{quantity}为{number(value)}"
    if binning.dtype == "categorical":
        return f"{quantity}为" + "、".join(str(c) for c in binning.categories_[index])
    lo, hi = _edges(binning, index)
    none = none_words(spec, catalog)
    if spec.agg == "count":
        stem, unit = _count_stem(spec)
        return _counted(stem, unit, *_int_range(lo, hi), none)
    if spec.agg == "active_list":
        first, last = _int_range(lo, hi)
        if first == 0 and last == 0:
            return none
        listed = f"{_link_zh(spec)}当前列入{_list_name(spec, catalog)}"
        return listed if first >= 1 else f"{listed}或{none}"
    if spec.agg == "weighted_count":
        lightest = min(spec.weights.values()) if spec.weights else 1.0
        if lo == -np.inf and hi <= lightest:
            return none
        stem = quantity.removesuffix("次数")
        return _ranged(stem, lo, hi, number, "次", none)
    if spec.agg in ("sum_amount", "max_amount"):
        unit = _unit(spec, catalog) or "元"
        return _ranged(quantity, lo, hi, _amount_number if unit == "元" else number, unit, none)
    if spec.agg == "hours_diminishing":
        return _ranged(quantity, lo, hi, number, "小时", none)
    if spec.agg == "ratio":
        if lo == -np.inf and hi == np.inf:  # one bin for every value: having any, against none (missing)
            return _insert_none(_ratio_stem(spec), spec, "有")
        return _ranged(quantity, lo, hi, percent, "", None)  # 50%至90%: the sign on both bounds
    if spec.agg == "days_since_last":
        stem = f"最近一次{_severity_zh(spec)}{record_names(spec.records, catalog)}距今"
        first, last = _int_range(lo, hi)
        text = _counted(stem, "天", first, last, None)
        return f"{text}或{none}" if (last is None or last >= spec.cap_days) and first > 0 else text
    if spec.agg == "latest_grade":
        grades = [g for g, v in spec.grade_values.items() if lo <= v < hi]
        return f"最近{record_names(spec.records, catalog)}为" + "、".join(grades) if grades else quantity
    return _ranged(quantity, lo, hi, number, "", none if spec.agg in ZERO_WHEN_EMPTY else None)


def bin_words_all(spec: FeatureSpec, binning: MonotoneBinning, catalog: Catalog) -> dict[int, str]:
    """Every bin of a feature in words, keyed like :meth:`MonotoneBinning.bin_index` (for card tables)."""
    out = {i: bin_words(spec, binning, i, catalog) for i in range(binning.n_bins)}
    for k in range(len(binning.special_woe_)):
        out[-2 - k] = bin_words(spec, binning, -2 - k, catalog)
    out[-1] = bin_words(spec, binning, -1, catalog)
    return out


def value_words(spec: FeatureSpec, value: float | None, catalog: Catalog) -> str:
    """A person's own value of a feature in words (本人: 2次, 2.3万元, 67%)."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return none_words(spec, catalog) if spec.agg in ("ratio", "latest_grade") else "无数据"
    if spec.agg in ZERO_WHEN_EMPTY and value == 0:
        return none_words(spec, catalog)
    if spec.agg == "count":
        return f"{int(value)}{_count_stem(spec)[1]}"
    if spec.agg == "active_list":
        return "是"
    if spec.agg in ("sum_amount", "max_amount"):
        return amount(value, _unit(spec, catalog) or "元")
    if spec.agg == "hours_diminishing":
        return f"{number(round(value, 2))}小时"
    if spec.agg == "ratio":
        return percent(value)
    if spec.agg == "days_since_last":
        return none_words(spec, catalog) if value >= spec.cap_days else f"{int(value)}天"
    if spec.agg == "weighted_count":
        return f"加权{number(value)}次"
    if spec.agg == "latest_grade":
        return next((g for g, v in spec.grade_values.items() if v == value), number(value))
    return number(value)


def quantity_words(spec: FeatureSpec, catalog: Catalog) -> str:
    """What a feature's value measures, in words, without the label's notes: 近3年合同履约次数,
    最近纳税信用等级 (not ``(A=5…D=1)``), 最近一次行政处罚距今 (days since the last record)."""
    if spec.agg == "days_since_last":
        return f"{_link_zh(spec)}最近一次{_severity_zh(spec)}{record_names(spec.records, catalog)}距今"
    return _strip_notes(spec.label_zh)


def reference_words(spec: FeatureSpec, value: float, catalog: Catalog) -> str:
    """A number of a feature with its unit, 0 included (0次, 0元, 加权1.5次, 100%, B), as a reference
    such as an industry median or mean reads; a value between two grades reads ``B至A之间``."""
    if spec.agg == "count":
        return f"{number(round(value, 2))}{_count_stem(spec)[1]}"
    if spec.agg == "weighted_count":
        return f"加权{number(round(value, 2))}次"
    if spec.agg in ("sum_amount", "max_amount"):
        return amount(value, _unit(spec, catalog) or "元")
    if spec.agg == "hours_diminishing":
        return f"{number(round(value, 2))}小时"
    if spec.agg == "ratio":
        return percent(value)
    if spec.agg == "days_since_last":
        return none_words(spec, catalog) if value >= spec.cap_days else f"{number(round(value))}天"
    if spec.agg == "active_list":
        return "是" if value >= 0.5 else "否"
    if spec.agg == "latest_grade":
        exact = [g for g, v in spec.grade_values.items() if v == value]
        if exact:
            return exact[0]
        by_value = sorted(spec.grade_values.items(), key=lambda kv: kv[1])
        below = [g for g, v in by_value if v < value]
        above = [g for g, v in by_value if v > value]
        if below and above:
            return f"{below[-1]}至{above[0]}之间"
        return (above or below)[0] if (above or below) else number(value)
    return number(round(value, 2))


def is_none(spec: FeatureSpec, value: float | None) -> bool:
    """Is ``value`` the state of having no counting record (0 of a count, a missing ratio)?"""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return spec.agg in ("ratio", "latest_grade")
    if spec.agg == "days_since_last":
        return value >= spec.cap_days
    return spec.agg in ZERO_WHEN_EMPTY and value == 0


def feature_note(spec: FeatureSpec) -> str:
    """How a feature counts, when it is not a plain count (加权, 递减)."""
    if spec.agg == "weighted_count":
        return "按严重程度加权：" + "、".join(
            f"{SEVERITY_LABELS.get(k, k)}计{number(w)}次" for k, w in spec.weights.items()
        )
    if spec.agg == "hours_diminishing":
        parts, start = [], 0.0
        for bound, rate in spec.tiers:
            span = f"{number(start)}小时以后" if bound is None else f"{number(start)}至{number(bound)}小时"
            parts.append(f"{span}每小时计{number(rate)}小时")
            start = float(bound) if bound is not None else start
        return "时长递减计：" + "，".join(parts)
    return ""


# -- records -----------------------------------------------------------------------------------
def record_entry(rec: Mapping[str, Any], catalog: Catalog) -> dict:
    """A record behind an item as shown to its person: the record type in Chinese, date, document
    number, agency, severity, amount, until when it counts; every text scrubbed (IDs masked)."""
    code = str(rec.get("record_type", ""))
    rt = catalog[code] if code in catalog else None
    out: dict[str, Any] = {"record_type": code, "name_zh": rt.name_zh if rt else code}
    for k in ("event_date", "document_no", "agency", "expires_on", "via"):
        v = rec.get(k)
        if v is not None and not (isinstance(v, float) and math.isnan(v)):
            out[k] = scrub(str(v))
    sev = rec.get("severity")
    if isinstance(sev, str) and sev in SEVERITY_LABELS:
        out["severity_zh"] = SEVERITY_LABELS[sev]
    amt = rec.get("amount")
    if amt is not None and not (isinstance(amt, float) and math.isnan(amt)) and rt and rt.amount:
        out["amount_zh"] = amount(float(amt), UNIT_ZH.get(rt.amount.unit, rt.amount.unit))
    return out


def record_text(r: Mapping[str, Any]) -> str:
    """One record in a line: 行政处罚（一般） 2025-01-10 金市监罚〔2025〕1号 金华市市场监督管理局 罚款5000元，计至2028-01-10."""
    head = str(r.get("name_zh", ""))
    if r.get("severity_zh"):
        head += f"（{r['severity_zh']}）"
    bits = [head] + [str(r[k]) for k in ("event_date", "document_no", "agency") if r.get(k)]
    if r.get("amount_zh"):
        bits.append(("时长" if str(r["amount_zh"]).endswith("小时") else "金额") + str(r["amount_zh"]))
    text = " ".join(bits)
    if r.get("via"):
        text = f"所代表企业 {r['via']}：{text}"
    if "expires_on" in r:
        text += f"，计至{r['expires_on']}"
    return scrub(text)


# -- whole texts -----------------------------------------------------------------------------
def explanation_text(explanation: Mapping[str, Any], guidance: list[dict], scenes: list[dict]) -> str:
    """The explanation of one person's 信义金 as plain Chinese lines (what ``scoring points explain``
    prints). Suspended: the suspension first, its documents and how to leave the list, then the
    scenes it blocks; nothing about points. Scored: the points, only the items that carry points,
    each with its records, then guidance and scenes."""
    e = explanation
    lines = []
    if e["status"] == "suspended":
        s = e["suspension"]
        lines += [
            f"{e['subject']} · {e['as_of']} · 信义金：暂停计分",
            f"原因：{s['reason']}",
            f"暂停至：{s['until_zh']}",
            "",
            "名单及文书：",
        ]
        for item in s["lists"]:
            lines.append(f"  · {list_text(item)}")
        for item in s["lists"]:
            lines += ["", f"如何移出{item['name_zh']}（{item['obligation']}）："]
            lines += [f"  {k}. {step}" for k, step in enumerate(item["steps"], 1)]
            lines.append(f"  最早结束：{item['earliest_end_zh']}")
            lines.append(f"  依据：{item['basis']}")
        if s.get("notice"):
            lines += ["", s["notice"]]
        blocked = [sc["name_zh"] for sc in scenes if not sc["eligible"]]
        if blocked:
            lines += ["", "暂停期间不可使用：" + "、".join(blocked)]
        return scrub("\n".join(lines))
    lines += [f"{e['subject']} · {e['as_of']} · 信义金 {e['points']} / {e.get('total', 1000)} 分", ""]
    lines.append("计分项目（只列有分值的项目）：")
    for i in e["items"]:
        if i.get("none"):  # no counting record: say so, not the bin's range
            reads = i["value_zh"]
        else:
            own = i.get("value_zh") or ""
            reads = i["bin"] + (f"（本人：{own}）" if own and own not in i["bin"] else "")
        lines.append(f"  · {i['label_zh']}：{reads}，得 {i['points']} 分（满分 {i['max_points']} 分）")
        if i.get("note"):
            lines.append(f"      {i['note']}")
        for r in i["records"]:
            lines.append(f"      - {record_text(r)}")
    if guidance:
        lines += ["", "提升指引（本人可以做的）："]
        lines += [f"  +{a['points']} 分：{a['text_zh']}" for a in guidance if a.get("points") is not None]
    if scenes:
        lines += ["", "信义+场景："]
        for sc in scenes:
            verdict = "可使用" if sc["eligible"] else f"暂不可使用（{sc['why']}）"
            lines.append(f"  · {sc['name_zh']}：{verdict}")
    return scrub("\n".join(lines))


def guidance_text(g: Mapping[str, Any]) -> str:
    """Guidance as plain Chinese lines (what ``scoring points guidance`` prints): the actions with the
    points each adds; for a suspended person only how to leave each list, with its steps."""
    if g["status"] == "suspended":
        lines = [f"{g['subject']} · {g['as_of']} · 信义金：暂停计分，移出名单前不计分，也无加分事项", ""]
        for a in g["actions"]:
            lines.append(f"  · {a['text_zh']}")
            lines += [f"      {k}. {step}" for k, step in enumerate(a.get("steps", []), 1)]
        return scrub("\n".join(lines))
    lines = [f"{g['subject']} · {g['as_of']} · 信义金 {g['points']} 分", ""]
    if not g["actions"]:
        lines.append("暂无可增加分数的事项。")
    else:
        lines.append("提升指引（本人可以做的）：")
        lines += [f"  +{a['points']} 分：{a['text_zh']}" for a in g["actions"]]
    return scrub("\n".join(lines))


def list_text(item: Mapping[str, Any]) -> str:
    """A list record that suspends the score: 失信被执行人 (2026)浙07执1号 金华市中级人民法院，列入日期 2026-01-15."""
    bits = [str(item["name_zh"])] + [str(item[k]) for k in ("document_no", "agency") if item.get(k)]
    text = " ".join(bits)
    if item.get("listed_on"):
        text += f"，列入日期 {item['listed_on']}"
    return scrub(text)


def state_text(points: int | None, status: str, reason: str | None) -> str:
    """A date's state in a diff: a number when scored, the status and reason when suspended."""
    if status == "suspended":
        return f"暂停计分（{reason}）" if reason else "暂停计分"
    return f"{points} 分"


def diff_text(d: Mapping[str, Any]) -> str:
    """A diff as plain Chinese lines (what ``scoring points diff`` prints)."""
    head = (
        f"{d['subject']} · 信义金变化：{d['from']} {state_text(d['points_from'], d['status_from'], d.get('reason_from'))}"
        f" → {d['to']} {state_text(d['points_to'], d['status_to'], d.get('reason_to'))}"
    )
    lines = [head + (f"，变化 {d['change']:+d} 分" if d["change"] is not None else "")]
    if d["parts"]:
        lines += ["", "逐条记录的影响（合计等于变化）："]
        for p in d["parts"]:
            rec = f" · {record_text(p['record'])}" if p.get("record") else ""
            lines.append(f"  {p['date']}  {p['points']:+d} 分  {p['event_zh']}{rec}")
    elif d["change"] is None:
        both = d["status_from"] == d["status_to"] == "suspended"
        lines += ["", ("两端均为" if both else "有一端为") + "暂停计分，不计算分数变化。"]
    if d.get("gate_events"):
        lines += ["", "暂停计分的开始与结束："]
        for g in d["gate_events"]:
            lines.append(f"  {g['date']}  {g['event_zh']} · {record_text(g['record'])}")
    return scrub("\n".join(lines))
