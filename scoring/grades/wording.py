"""The words a regulator reads: why an organisation has its industry grade, in Chinese.

One module for the reasons of 行业信用评价 (grade lists and explanations), built on the words of the
personal score (:mod:`scoring.points.wording`: values, references, record types, records), so a
feature reads the same to a citizen and to a regulator.

A **reason** states a fact and its direction against the industry reference, then its effect on the
grade score (信用得分 = 100 × (1 − 期望等级 / (等级数 − 1)), 满分100; for an outcome label
100 × (1 − 风险概率); :func:`scoring.grades.lists.score_of_probabilities`)::

    近3年合同履约次数偏少：1次，行业中位数4次（使信用得分降低3.2分，满分100）
    近1年行政处罚次数偏多：3次，行业中位数0次（使信用得分降低5.1分，满分100）
    最近纳税信用等级为D，低于行业中位数B（使信用得分降低2.0分，满分100）
    直接定级：列入拖欠农民工工资失信联合惩戒对象名单 → 差

Rules (:func:`feature_reason`):

* the direction word (偏多/偏少, 偏高/偏低, 较远/较近, 高于/低于) is true of the fact: the value
  against the industry median (``median`` of the reference), or, when the value equals the median,
  against the industry mean (``与行业中位数持平、低于行业平均0.4次``; a grade against the mean of the
  grades' values: ``为B，与行业中位数持平、高于行业平均水平M至B之间``); a list state (当前列入…名单 /
  当前未列入…) is its own direction, with the share of the industry in it;
* it agrees with the effect's sign and the feature's declared direction: a risk-raising effect
  (lower score) of a feature that ``increases_risk`` needs a value above the reference, of one that
  ``decreases_risk`` a value below it (and the reverse for a score-raising effect). TreeSHAP effects
  are relative to the model's expected value, not the median, so the two can disagree (a value
  above the median, below the mean); such a feature is left out of the reasons: never a sentence
  that reads as "more of a good thing raised the risk";
* an effect that rounds to 0.0 points is not a reason;
* grades read as letters from the feature's ``grade_values`` (D, not 1; 较差, not 2);
* a missing ratio or grade reads as having no record (近3年无已到期信用承诺, 无纳税信用等级记录), with no
  direction word; any other missing value is no reason.

The words of a list's columns and of a whole explanation (:func:`grade_explanation_text`) are here too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from scoring.archive.catalog import Catalog
from scoring.core.privacy import scrub
from scoring.features.definitions import FeatureSpec
from scoring.features.industry import Veto
from scoring.points.wording import (
    is_none,
    number,
    percent,
    quantity_words,
    record_entry,
    record_text,
    reference_words,
    value_words,
)

#: the grade score's name and scale, as every effect is shown
SCORE_ZH = "信用得分"
SCORE_MAX = 100
#: aggregation -> (word for a value above the reference, below it)
DIRECTION_WORDS = {
    "count": ("偏多", "偏少"),
    "weighted_count": ("偏多", "偏少"),
    "hours_diminishing": ("偏多", "偏少"),
    "sum_amount": ("偏高", "偏低"),
    "max_amount": ("偏高", "偏低"),
    "ratio": ("偏高", "偏低"),
    "days_since_last": ("较远", "较近"),
}
#: words saying a value is above / below its reference (grades: a better / worse grade)
HIGH_WORDS = ("偏多", "偏高", "较远", "高于")
LOW_WORDS = ("偏少", "偏低", "较近", "低于")
DIRECTION_SIGN = {"increases_risk": 1, "decreases_risk": -1}


def shown_points(effect: float) -> str:
    """An effect on the grade score as shown: one decimal, no sign (``3.2``)."""
    return f"{abs(effect):.1f}"


def is_zero_effect(effect: float) -> bool:
    """Does the effect round to 0 on the shown scale (0.0 points)? Then it is no reason."""
    return not math.isfinite(effect) or float(shown_points(effect)) == 0.0


def effect_words(effect: float) -> str:
    """``使信用得分降低3.2分，满分100`` (negative: the score goes down, the risk up)."""
    way = "提高" if effect > 0 else "降低"
    return f"使{SCORE_ZH}{way}{shown_points(effect)}分，满分{SCORE_MAX}"


def _sign(x: float) -> int:
    return (x > 0) - (x < 0)


def _finite(v: Any) -> float | None:
    if v is None:
        return None
    try:
        f = float(v)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None


@dataclass(frozen=True)
class FeatureReason:
    """One feature's reason for one organisation: the fact, its direction and its effect.

    ``position`` is +1 / -1 when the value is above / below the reference it is compared with
    (``compared_with``: ``median``, ``mean``; ``state`` for a list: listed is +1, not listed -1),
    0 when no direction is stated (a missing value);
    ``effect`` is in points of the grade score (negative: lower score, higher risk),
    ``contribution`` the model's own (log-odds) contribution it was converted from."""

    feature: str
    label_zh: str
    direction: str
    value: float | None
    value_zh: str
    reference: dict
    reference_zh: str
    compared_with: str
    position: int
    contribution: float
    effect: float
    fact: str
    text: str

    def to_dict(self) -> dict:
        return asdict(self)


def feature_reason(
    spec: FeatureSpec,
    value: float | None,
    reference: Mapping[str, Any] | None,
    contribution: float,
    effect: float,
    catalog: Catalog,
    direction: str | None = None,
) -> FeatureReason | None:
    """The reason of one feature (see the module docstring), or None when it is no reason: a zero
    effect, or a fact whose true direction disagrees with the effect and the feature's direction.
    ``direction`` overrides the feature's declared one (the industry's ``monotone``); ``none``:
    no declared direction, the fact is stated as it is."""
    if is_zero_effect(effect):
        return None
    direction = direction or spec.direction
    d = DIRECTION_SIGN.get(direction, 0)
    need = -_sign(effect) * d  # +1: the effect needs a value above the reference; -1: below; 0: any
    ref = dict(reference or {})
    median, mean, share = (_finite(ref.get(k)) for k in ("median", "mean", "share_nonzero"))
    quantity = quantity_words(spec, catalog)
    v = _finite(value)

    def made(fact: str, value_zh: str, reference_zh: str, compared: str, position: int) -> FeatureReason:
        return FeatureReason(
            feature=spec.name,
            label_zh=spec.label_zh,
            direction=direction,
            value=v,
            value_zh=value_zh,
            reference={"median": median, "mean": mean, "share_nonzero": share},
            reference_zh=reference_zh,
            compared_with=compared,
            position=position,
            contribution=float(contribution),
            effect=float(effect),
            fact=fact,
            text=scrub(f"{fact}（{effect_words(effect)}）"),
        )

    if v is None:  # no record (a ratio without its denominator, no grade yet): no direction word
        if not is_none(spec, None):
            return None  # a value unknown for another reason says nothing a regulator can act on
        words = value_words(spec, None, catalog)
        return made(words, words, "", "", 0)
    if spec.agg == "active_list":  # a state: listed (above the usual state) or not listed (below)
        position = 1 if v > 0 else -1
        if need and position != need:
            return None
        state = quantity if v > 0 else value_words(spec, v, catalog)
        shared = f"行业内有此情形的占{percent(share)}" if share is not None else ""
        return made(f"{state}，{shared}" if shared else state, state, shared, "state", position)
    against, compared, ref_value = (median, "median", median) if median is not None else (None, "", None)
    position = _sign(v - against) if against is not None else 0
    if position == 0:  # equal to the median (or none known): compare with the mean
        if mean is None or _sign(v - mean) == 0:
            return None
        position, compared, ref_value = _sign(v - mean), "mean", mean
    if need and position != need:
        return None  # the fact's true direction contradicts the effect: not stated
    assert ref_value is not None
    own = reference_words(spec, v, catalog)
    ref_zh = reference_words(spec, ref_value, catalog)
    if spec.agg == "latest_grade" and compared == "median":
        way = "高于" if position > 0 else "低于"
        fact = f"{quantity}为{own}，{way}行业中位数{ref_zh}"
        return made(fact, own, f"行业中位数{ref_zh}", compared, position)
    if compared == "median":
        high, low = DIRECTION_WORDS.get(spec.agg, ("偏高", "偏低"))
        word = high if position > 0 else low
        shown = value_words(spec, v, catalog) if spec.agg == "days_since_last" else own
        median_zh = (
            f"行业中位数{ref_zh}" if ref_zh[:1].isdigit() or spec.agg != "days_since_last" else f"行业中位数为{ref_zh}"
        )
        fact = f"{quantity}{word}：{shown}，{median_zh}"
        return made(fact, shown, median_zh, compared, position)
    way = "高于" if position > 0 else "低于"
    state = value_words(spec, v, catalog) if is_none(spec, v) else f"{quantity}为{own}"
    head = f"{state}，" + ("与行业中位数持平、" if median is not None else "")
    if spec.agg == "latest_grade":  # the mean of grades lies between two letters: 高于行业平均水平M至B之间
        fact = f"{head}{way}行业平均水平{ref_zh}"
        return made(fact, own, f"行业平均水平{ref_zh}", compared, position)
    fact = f"{head}{way}行业平均{ref_zh}"
    return made(fact, own, f"行业平均{ref_zh}", compared, position)


def veto_words(veto: Veto) -> str:
    """The deciding veto as its rule reads: ``直接定级：列入严重失信主体名单 → 差`` (or ``→ 最高较差``)."""
    return f"直接定级：{veto.label_zh} → " + (veto.grade if veto.grade else f"最高{veto.at_most}")


def records_words(records: Sequence[Mapping[str, Any]], catalog: Catalog) -> list[str]:
    """The records behind a reason, one line each, by their catalogue names (IDs masked); an
    evaluation result with its grade (``纳税信用等级 2025-05-01 … 等级D，计至2027-05-01``)."""
    out = []
    for r in records:
        text = record_text(record_entry(r, catalog))
        if r.get("grade"):
            head, sep, tail = text.partition("，计至")
            text = scrub(f"{head} 等级{r['grade']}{sep}{tail}")
        out.append(text)
    return out


def _pct(p: float) -> str:
    return f"{number(round(100 * p, 1))}%"


def grade_explanation_text(e: Mapping[str, Any]) -> str:
    """An organisation's grade explanation (:func:`scoring.grades.explain.explain_organisation`) as
    plain Chinese lines: the grade and its supervision measure, the score against the industry base,
    the deciding veto first, then the reasons, each with the records behind it."""
    prev = e.get("previous_grade") or "无"
    lines = [
        f"{e['name']} · {e['industry_zh']} · 评价基准日 {e['as_of']}",
        f"信用等级：{e['grade']}（模型等级{e['model_grade']}；上期{prev}）",
    ]
    s = e["score"]
    lines.append(
        f"{SCORE_ZH}：{s['score']:.1f}分（满分{SCORE_MAX}；行业基准{s['base']:.1f}分，相差{s['difference']:+.1f}分）"
    )
    sup = e["supervision"]
    measure = f"监管措施：双随机抽查比例{_pct(sup['sampling_ratio'])}，{sup['frequency']}"
    lines.append(measure + (f"（{sup['note']}）" if sup.get("note") else ""))
    lines.append("等级概率：" + "，".join(f"{k}{_pct(v)}" for k, v in e["probabilities"].items()))
    if e.get("rules"):
        lines.append(f"定级规则：{e['rules']}")
    lines += ["", "主要原因："]
    if not e["reasons"]:
        lines.append("  （无影响达0.1分的原因）")
    for n, r in enumerate(e["reasons"], 1):
        lines.append(f"  {n}. {r['text']}")
        lines += [f"      - {t}" for t in r.get("records_zh", [])]
    shown = [r for r in e["reasons"] if r["kind"] != "veto"]
    lines += [
        "",
        f"各项影响合计{s['sum_of_effects']:+.1f}分（含未列出的项目），等于{SCORE_ZH}与行业基准之差；"
        f"列出的{len(shown)}项合计{sum(r['effect'] for r in shown):+.1f}分",
        f"模型：{e.get('contender_zh') or '行业模型'}，版本{e['model_version']}",
    ]
    return scrub("\n".join(lines))
