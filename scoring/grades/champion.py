"""Which grader grades an industry: the champion by evidence (冠军模型的选择规则).

Every contender — the industry model (LightGBM, ``lightgbm``), the pooled organisation model
(``pooled_lightgbm``), the expert sheet (``expert_sheet``), ordinal logistic regression
(``ordinal_logistic``) and, on a refit, the registered champion of an earlier fit (``incumbent``) —
is checked first, then compared on the SAME hold-out:

* **checks** (:func:`sign_check`): a contender that could not be fitted or calibrated, or that ranks
  its training or calibration fold worse than random (AUC < 0.5 for the outcome label, Kendall's
  tau < 0 for expert grades), is excluded with its reason: a reversed ranking is a bug to fix, not
  a figure to report. Every exclusion is logged at warning level and shown in the evidence;
* **the rule** (:func:`choose`, configs/grading.yaml ``champion``): the metric (``auc`` of the risk
  on the outcome, or ``qwk`` against the expert grade; per label), the ``margin`` and the ``order``
  (simpler and already-trusted first; a refit's incumbent before all). Going down the order, a
  contender replaces the one chosen so far only when it beats it by at least ``margin`` on the
  hold-out; so a tie, or a gain below the margin, keeps the earlier one;
* **too little evidence**: when the hold-out holds fewer than ``min_outcomes`` outcomes (outcome
  label or AUC; for QWK: organisations graded 较差 or 差 by the experts), figures cannot tell the
  contenders apart, and the declared ``fallback`` chain decides: the first contender in it that
  passed its checks;
* **last resort**: when no contender passed, the expert sheet grades by its own score bands
  (:meth:`~scoring.grades.baselines.ExpertSheetGrader.sheet_link`), so an industry never ends
  without a grade list.

:class:`Selection` records the decision: metric, values per contender, margin, rule, outcome and
a Chinese sentence (``info_['selection']``, the list's 说明).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from scoring.grades.model import CONTENDERS_ZH
from scoring.grades.ordinal import rank_score

log = logging.getLogger(__name__)

INCUMBENT = "incumbent"
METRICS_ZH = {"auc": "AUC（风险对结局）", "qwk": "QWK（与专家等级的二次加权一致性）"}
#: contenders compared below this difference are equal (figures are rounded to 1e-12 before the margin)
EPS = 1e-12


class ChampionConfig(BaseModel):
    """configs/grading.yaml ``champion``: the rule that picks the grader of an industry."""

    model_config = ConfigDict(extra="forbid")
    metric: dict[str, str] = Field(default_factory=lambda: {"outcome": "auc", "expert_grade": "qwk"})
    margin: float = Field(default=0.01, ge=0)
    order: list[str] = Field(
        default_factory=lambda: ["expert_sheet", "ordinal_logistic", "lightgbm", "pooled_lightgbm"]
    )
    min_outcomes: int = Field(default=10, ge=1)
    fallback: list[str] = Field(default_factory=lambda: ["lightgbm", "pooled_lightgbm", "expert_sheet"])
    challengers: int = Field(default=1, ge=0)  # registered besides the champion (the first with alias challenger)

    @field_validator("metric")
    @classmethod
    def _labels(cls, v: dict[str, str]) -> dict[str, str]:
        unknown = sorted(set(v) - {"outcome", "expert_grade"})
        if unknown:
            raise ValueError(f"metric: unknown labels {unknown}; the labels are outcome and expert_grade")
        bad = sorted(m for m in v.values() if m not in METRICS_ZH)
        if bad:
            raise ValueError(f"metric: unknown metrics {bad}; choose auc or qwk")
        return v

    @field_validator("order", "fallback")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        unknown = sorted(set(v) - set(CONTENDERS_ZH))
        if unknown:
            raise ValueError(f"unknown contenders {unknown}; known: {', '.join(CONTENDERS_ZH)}")
        if len(set(v)) != len(v):
            raise ValueError(f"a contender is named twice in {v}")
        return v

    def metric_for(self, label: str) -> str:
        return self.metric.get(label, "auc")


@dataclass
class Contender:
    """One contender of an industry's championship: its grader (None when it could not be fitted),
    the reason it is excluded (empty when it passed its checks) and its hold-out figures."""

    name: str  # lightgbm, pooled_lightgbm, expert_sheet, ordinal_logistic or incumbent
    kind: str  # the contender kind (an incumbent's own kind)
    grader: Any = None
    excluded: str = ""
    excluded_zh: str = ""
    figures: dict = field(default_factory=dict)
    fit_seconds: float = float("nan")

    @property
    def zh(self) -> str:
        base = CONTENDERS_ZH.get(self.kind, self.kind)
        return f"现任冠军（{base}）" if self.name == INCUMBENT else base

    def exclude(self, reason: str, industry: str = "", zh: str = "") -> None:
        """Exclude the contender from the championship (logged at warning level); ``zh``: the reason
        in Chinese for the selection sentence (default: the reason itself)."""
        self.excluded = reason
        self.excluded_zh = zh or reason
        log.warning("%s%s excluded from the championship: %s", f"{industry}: " if industry else "", self.name, reason)


def sign_check(grader: Any, folds: dict[str, tuple[Any, Any]]) -> str:
    """Empty when ``grader`` ranks every labelled fold (name -> (X, y)) at least as well as random:
    AUC >= 0.5 (two classes) or Kendall's tau >= 0 (grades) of its margin; else the reason, naming
    the fold and the figure. A fold with a single class cannot be checked and is skipped."""
    for name, (X, y) in folds.items():
        y = np.asarray(y)
        if len(np.unique(y)) < 2:
            continue
        r = rank_score(y, grader.margin(X))
        binary = int(y.max()) <= 1
        if r != r:
            continue
        if (binary and r < 0.5) or (not binary and r < 0):
            what = "AUC" if binary else "Kendall tau"
            bound = "0.5" if binary else "0"
            return f"ranks the {name} fold worse than random ({what} {r:.3f} < {bound}): a sign error to fix"
    return ""


@dataclass(frozen=True)
class Selection:
    """The decision: which contender grades, by which rule, on which figures."""

    champion: str
    rule: Literal["margin", "fallback", "last_resort"]
    metric: str
    values: dict[str, float]
    margin: float
    order: list[str]
    ranking: list[str]  # the champion, then the challengers (best first)
    excluded: dict[str, str]
    holdout_events: int
    min_outcomes: int
    sentence: str

    def to_dict(self) -> dict:
        return {
            "champion": self.champion,
            "rule": self.rule,
            "metric": self.metric,
            "values": dict(self.values),
            "margin": self.margin,
            "order": list(self.order),
            "ranking": list(self.ranking),
            "excluded": dict(self.excluded),
            "holdout_events": self.holdout_events,
            "min_outcomes": self.min_outcomes,
            "selection": self.sentence,
        }


def _fmt(v: float) -> str:
    return "无" if v != v else f"{v:.3f}"


def choose(
    values: dict[str, float],
    cfg: ChampionConfig,
    *,
    metric: str = "auc",
    holdout_events: int,
    excluded: dict[str, str] | None = None,
    names_zh: dict[str, str] | None = None,
    incumbent: bool = False,
) -> Selection:
    """The champion among the contenders that passed their checks (``values``: name -> hold-out
    metric; ``excluded``: name -> reason), by the rule of the module docstring. ``incumbent``: an
    entry ``incumbent`` in ``values`` is the registered champion, first in the order."""
    excluded = dict(excluded or {})
    zh = {**CONTENDERS_ZH, INCUMBENT: "现任冠军", **(names_zh or {})}
    order = ([INCUMBENT] if incumbent else []) + [c for c in cfg.order if c != INCUMBENT]
    order += [c for c in values if c not in order]  # a contender the order does not name comes last
    passed = [c for c in order if c in values and c not in excluded]
    finite = [c for c in passed if not math.isnan(values[c])]
    out_zh = "；".join(f"{zh.get(c, c)}未参赛（{r}）" for c, r in excluded.items())
    tail = f"。{out_zh}" if out_zh else ""
    metric_zh = METRICS_ZH.get(metric, metric)
    if holdout_events >= cfg.min_outcomes and finite:
        best = finite[0]
        for c in finite[1:]:
            if round(values[c] - values[best], 12) >= cfg.margin - EPS:
                best = c
        ranking = [best] + sorted((c for c in finite if c != best), key=lambda c: (-values[c], order.index(c)))
        ranking += [c for c in passed if c not in ranking]
        figures = "、".join(f"{zh.get(c, c)} {_fmt(values[c])}" for c in finite)
        sentence = (
            f"留出期按{metric_zh}比较：{figures}；规则：按顺序（{'→'.join(zh.get(c, c) for c in order if c in values)}）"
            f"后者须比已选者高出至少{cfg.margin:g}方可替代；{zh.get(best, best)}入选{tail}"
        )
        return Selection(
            best, "margin", metric, dict(values), cfg.margin, order, ranking, excluded, holdout_events,
            cfg.min_outcomes, sentence,
        )  # fmt: skip
    why = (
        f"留出期仅{holdout_events}例结局（少于{cfg.min_outcomes}例），指标不足以比较"
        if holdout_events < cfg.min_outcomes
        else "留出期指标无法计算"
    )
    chain = ([INCUMBENT] if incumbent else []) + list(cfg.fallback)
    pick = next((c for c in chain if c in passed), None)
    if pick is not None:
        ranking = [pick] + [c for c in chain if c in passed and c != pick]
        ranking += [c for c in passed if c not in ranking]
        sentence = (
            f"{why}；按备选顺序（{'→'.join(zh.get(c, c) for c in chain)}）取第一个通过拟合、校准与方向检查者："
            f"{zh.get(pick, pick)}{tail}"
        )
        return Selection(
            pick, "fallback", metric, dict(values), cfg.margin, chain, ranking, excluded, holdout_events,
            cfg.min_outcomes, sentence,
        )  # fmt: skip
    sentence = f"{why}；无参赛者通过拟合、校准与方向检查，最后由专家评分表按其自身分数段定级（未经校准）{tail}"
    return Selection(
        "expert_sheet", "last_resort", metric, dict(values), cfg.margin, chain, ["expert_sheet"], excluded,
        holdout_events, cfg.min_outcomes, sentence,
    )  # fmt: skip
