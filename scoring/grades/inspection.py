"""双随机抽查计划: a seeded, reproducible random draw of organisations per credit grade.

"双随机、一公开": inspectors and the inspected are drawn at random, the results made public. Under
信用分级分类监管 the draw is stratified by grade at the sampling ratio the industry sets for each grade
(``supervision`` in configs/industries/<code>.yaml, :class:`scoring.features.industry.Measure`): a
stratum of ``n`` organisations at ratio ``r`` gives ``ceil(r * n)`` of them (:func:`stratum_size`),
so no grade is exempt: a non-empty grade with a ratio above 0 always gives at least one.

Reproducible: within each grade the organisations are sorted by their 统一社会信用代码 and drawn by a
numpy ``Generator`` seeded with the plan's seed and the grade (``SeedSequence([seed, grade index])``),
so the same seed and the same population give the same plan, and one grade's draw does not depend on
the other grades' members. An organisation whose grade changes moves to its new grade's stratum.
The plan id is a hash of the inputs (industry, region, period, the population with its grades, the
ratios) and the seed.

Grades are used for supervision intensity, not as a punishment in themselves; the plan says so.
Saving and loading plans is the serving layer's (:mod:`scoring.serving.plans`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from scoring.core.errors import ConfigError, DataError
from scoring.core.workbook import Sheet, notes_sheet, workbook_bytes
from scoring.features.industry import GRADE_INDEX, GRADES, Industry, Measure

#: The columns of a plan's selections (抽查名单).
SELECTION_COLUMNS = (
    "subject_id",
    "name",
    "grade",
    "district_zh",
    "address",
    "legal_rep_masked",
    "reason_zh",
    "draw_order",
)
#: The columns of a plan's strata (各等级抽查比例).
STRATA_COLUMNS = ("grade", "population", "sampling_ratio", "selected", "frequency", "reason_zh")
SELECTIONS_ZH = {
    "draw_order": "抽取序号",
    "subject_id": "统一社会信用代码",
    "name": "名称",
    "grade": "信用等级",
    "district_zh": "所属区县",
    "address": "住所",
    "legal_rep_masked": "法定代表人",
    "reason_zh": "抽取依据",
}
STRATA_ZH = {
    "grade": "信用等级",
    "population": "主体数",
    "sampling_ratio": "抽查比例",
    "selected": "抽取主体数",
    "frequency": "检查频次",
    "reason_zh": "抽取依据",
}
#: The legal basis of a 双随机 plan (说明 sheet).
PLAN_BASIS = (
    "《国务院办公厅关于推广随机抽查规范事中事后监管的通知》（国办发〔2015〕58号）；"
    "《国务院关于在市场监管领域全面推行部门联合“双随机、一公开”监管的意见》（国发〔2019〕5号）："
    "对不同信用等级的主体采取差异化的抽查比例和频次；"
    "《国务院办公厅关于加快推进社会信用体系建设构建以信用为基础的新型监管机制的指导意见》（国办发〔2019〕35号）"
)
PLAN_DISCLAIMER = (
    "抽查对象按信用等级分层随机抽取，任何等级均不免检；信用等级仅用于确定监管频次与力度，"
    "不作为对主体的处罚或信用标签；计划含主体信息，仅限监管工作使用，抽取及其随机种子已登记在案（查询使用登记）"
)
_PERIOD = re.compile(r"^\d{4}(?:H[12]|Q[1-4]|-(?:0[1-9]|1[0-2]))?$")


def stratum_size(n: int, ratio: float) -> int:
    """How many of a stratum of ``n`` organisations a plan draws at ``ratio``: ``ceil(ratio * n)``
    (0.1 * 30 is 3, not 4: the product is rounded to 9 decimals first), at most ``n``."""
    if n <= 0 or ratio <= 0:
        return 0
    return min(n, math.ceil(round(ratio * n, 9)))


def ratios_of(industry: Industry) -> dict[str, Measure]:
    """The industry's sampling ratio, frequency and note per grade (its ``supervision`` config)."""
    return dict(industry.supervision)


def _pct(ratio: float) -> str:
    v = 100 * ratio
    return f"{v:.0f}%" if abs(v - round(v)) < 1e-9 else f"{v:.1f}%"


def stratum_reason(grade: str, ratio: float, frequency: str = "", note: str = "") -> str:
    """Why an organisation of ``grade`` is in the plan, e.g.
    ``中等等级主体按25%比例随机抽取（每年抽查1-2次）``; at ratio 1 ``差等级主体全部纳入检查（…）``."""
    extra = "；".join(x for x in (frequency, note) if x)
    head = f"{grade}等级主体全部纳入检查" if ratio >= 1 else f"{grade}等级主体按{_pct(ratio)}比例随机抽取"
    return head + (f"（{extra}）" if extra else "")


def _measures(ratios: Mapping[str, float | Measure], frame: pd.DataFrame) -> dict[str, tuple[float, str, str]]:
    """(ratio, frequency, note) per grade; a frequency not given comes from the rows' ``frequency``."""
    unknown = sorted(set(map(str, ratios)) - set(GRADES))
    if unknown:
        raise ConfigError(f"sampling ratios: {unknown} are not grades ({'/'.join(GRADES)})")
    freq_of: dict[str, str] = {}
    if "frequency" in frame.columns and len(frame):
        for g, f in frame.groupby("grade", observed=True)["frequency"].first().items():
            freq_of[str(g)] = "" if pd.isna(f) else str(f)
    out: dict[str, tuple[float, str, str]] = {}
    for g in GRADES:
        m = ratios.get(g)
        if m is None:
            out[g] = (0.0, freq_of.get(g, ""), "")
        elif isinstance(m, Measure):
            out[g] = (float(m.sampling_ratio), m.frequency, m.note)
        else:
            out[g] = (float(m), freq_of.get(g, ""), "")
        r = out[g][0]
        if not (0 <= r <= 1) or math.isnan(r):
            raise ConfigError(f"sampling ratio of {g}: {r!r} must be a share between 0 and 1")
    return out


@dataclass
class Plan:
    """A 双随机 plan: who is inspected (``selections``, one row per organisation drawn, with the
    reason of its stratum and its draw order) and how each grade was drawn (``strata``)."""

    plan_id: str
    industry: str
    industry_zh: str
    region: str | None
    period: str
    seed: int
    population: int
    selections: pd.DataFrame
    strata: pd.DataFrame
    as_of: str = ""
    publication_id: str | None = None
    drawn_by: str | None = None
    drawn_at: dt.datetime | None = None
    region_zh: str | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def selected(self) -> int:
        return int(len(self.selections))

    def info(self) -> dict[str, str]:
        """The plan's 说明 items."""
        region = "全部辖区" if not self.region else f"{self.region_zh or self.region}（{self.region}）"
        items = {
            "计划编号": self.plan_id,
            "行业": f"{self.industry_zh} ({self.industry})",
            "区域": region,
            "抽查期间": self.period,
            "随机种子": str(self.seed),
        }
        if self.publication_id:
            items["依据名单发布编号"] = self.publication_id
        if self.as_of:
            items["评价基准日"] = self.as_of
        if self.drawn_by:
            items["抽取人"] = self.drawn_by
        if self.drawn_at:
            items["抽取时间"] = self.drawn_at.strftime("%Y-%m-%d %H:%M:%S")
        items |= {
            "主体总数": str(self.population),
            "抽取主体数": str(self.selected),
            "抽取方法": (
                "按信用等级分层；每一等级内按统一社会信用代码排序后，以随机种子与等级序号生成的随机数"
                "（numpy SeedSequence/Generator）无放回抽取 ceil(抽查比例×主体数) 户；同一种子、同一名单得到同一计划"
            ),
            **self.extra,
            "依据": PLAN_BASIS,
            "免责声明": PLAN_DISCLAIMER,
        }
        return items

    def to_dict(self) -> dict[str, object]:
        """The plan as JSON-ready data (the service's API): its fields, strata and selections."""
        return {
            "plan_id": self.plan_id,
            "industry": self.industry,
            "industry_zh": self.industry_zh,
            "region": self.region,
            "region_zh": self.region_zh,
            "period": self.period,
            "seed": self.seed,
            "as_of": self.as_of,
            "publication_id": self.publication_id,
            "drawn_by": self.drawn_by,
            "drawn_at": self.drawn_at.isoformat() if self.drawn_at else None,
            "population": self.population,
            "selected": self.selected,
            "strata": [
                {k: (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()}
                for r in self.strata.to_dict(orient="records")
            ],
            "selections": [
                {k: (v.item() if isinstance(v, np.generic) else v) for k, v in r.items()}
                for r in self.selections.to_dict(orient="records")
            ],
        }

    def sheets(self) -> list[Sheet]:
        title = f"{self.industry_zh}双随机抽查计划 {self.period}（计划编号 {self.plan_id}）"
        sel = self.selections[list(SELECTIONS_ZH)].rename(columns=SELECTIONS_ZH)
        strata = self.strata[list(STRATA_COLUMNS)].rename(columns=STRATA_ZH)
        return [
            Sheet(
                "抽查名单",
                sel,
                kinds={"抽取序号": "int", "统一社会信用代码": "code"},
                key_columns=4,
                print_title=title,
            ),
            Sheet(
                "各等级抽查比例",
                strata,
                kinds={"主体数": "int", "抽取主体数": "int", "抽查比例": "percent"},
                key_columns=1,
                autofilter=False,
                print_title=title,
            ),
            notes_sheet(self.info()),
        ]

    def to_workbook(self) -> bytes:
        """The plan as an .xlsx (抽查名单, 各等级抽查比例, 说明) by the one workbook writer."""
        return workbook_bytes(self.sheets())

    def __repr__(self) -> str:
        head = (
            f"双随机抽查计划 {self.plan_id}  {self.industry_zh} ({self.industry})  "
            f"区域 {self.region or '全部'}  期间 {self.period}  种子 {self.seed}\n"
            f"主体 {self.population}，抽取 {self.selected}\n"
        )
        with pd.option_context(
            "display.unicode.east_asian_width", True, "display.width", 200, "display.max_colwidth", 60
        ):
            strata = self.strata[list(STRATA_COLUMNS)].rename(columns=STRATA_ZH)
            strata["抽查比例"] = strata["抽查比例"].map(_pct)
            body = strata.to_string(index=False)
            sel = self.selections[["draw_order", "subject_id", "name", "grade", "district_zh"]]
            sel = sel.rename(columns=SELECTIONS_ZH)
            more = f"\n… 另 {len(sel) - 10} 户" if len(sel) > 10 else ""
            listing = sel.head(10).to_string(index=False) + more if len(sel) else "（无抽取主体）"
        return head + body + "\n\n" + listing


def plan_id_of(
    frame: pd.DataFrame, measures: Mapping[str, tuple[float, str, str]], *, seed: int, period: str, industry: str,
    region: str | None,
) -> str:  # fmt: skip
    """The plan id: a hash of the inputs (industry, region, period, the population with its grades
    and the ratios) and the seed: ``plan-<industry>-<period>-<12 hex>``."""
    h = hashlib.sha256()
    head = {"industry": industry, "region": region or "", "period": period, "seed": int(seed)}
    h.update(json.dumps(head, sort_keys=True).encode())
    h.update(json.dumps({g: m[0] for g, m in measures.items()}, sort_keys=True).encode())
    pairs = sorted(zip(frame["subject_id"].astype(str), frame["grade"].astype(str)))
    for sid, g in pairs:
        h.update(f"{sid}\t{g}\n".encode())
    return f"plan-{industry}-{period}-{h.hexdigest()[:12]}"


def draw_plan(
    frame: pd.DataFrame,
    ratios: Mapping[str, float | Measure],
    *,
    seed: int,
    period: str,
    industry: str,
    region: str | None = None,
    industry_zh: str | None = None,
) -> Plan:
    """Draw a 双随机 plan from a list's rows (``frame``: subject_id, grade and, when known, name,
    district_zh, address, legal_rep_masked, region_code, frequency, as_of) at ``ratios`` per grade
    (a share, or the industry's :class:`Measure` with its frequency and note; :func:`ratios_of`).

    Every grade present needs a ratio above 0 (no grade is exempt); a stratum of ``n`` gives
    :func:`stratum_size` ``(n, ratio)`` organisations. ``region``: a 6-digit region code; the rows
    of other regions are left out (when the rows carry ``region_code``). ``period``: ``2026``,
    ``2026H1``, ``2026Q3`` or ``2026-07``."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) < 2**63:
        raise DataError(f"seed {seed!r}: give a whole number from 0 to 2^63-1")
    if not isinstance(period, str) or not _PERIOD.match(period):
        raise DataError(
            f"period {period!r}: give a year (2026), a half (2026H1), a quarter (2026Q3) or a month (2026-07)"
        )
    if region is not None and not re.fullmatch(r"\d{6}", str(region)):
        raise DataError(f"region {region!r}: give a 6-digit administrative division code (GB/T 2260)")
    for col in ("subject_id", "grade"):
        if col not in frame.columns:
            raise DataError(f"the rows to draw from lack the column {col!r} (a grade list's rows)")
    rows = frame
    if region is not None and "region_code" in rows.columns:
        rows = rows[rows["region_code"].astype(str) == str(region)]
    bad = sorted(set(rows["grade"].astype(str)) - set(GRADES))
    if bad:
        raise DataError(f"grades {bad} are not {'/'.join(GRADES)}: draw from a grade list's rows")
    if rows["subject_id"].duplicated().any():
        dup = rows.loc[rows["subject_id"].duplicated(), "subject_id"].iloc[0]
        raise DataError(f"organisation {dup} appears twice in the rows: draw from one grade list")
    measures = _measures(ratios, rows)
    present = set(rows["grade"].astype(str))
    exempt = [g for g in GRADES if g in present and measures[g][0] <= 0]
    if exempt:
        raise ConfigError(f"grades {exempt} have no sampling ratio: no grade is exempt from inspection")
    rows = rows.assign(subject_id=rows["subject_id"].astype(str)).sort_values("subject_id", kind="stable")
    picked: list[pd.DataFrame] = []
    strata = []
    for g in GRADES:
        ratio, freq, note = measures[g]
        members = rows[rows["grade"].astype(str) == g]
        n = len(members)
        k = stratum_size(n, ratio)
        reason = stratum_reason(g, ratio, freq, note)
        if k:
            rng = np.random.default_rng(np.random.SeedSequence([int(seed), GRADE_INDEX[g]]))
            chosen = rng.choice(n, size=k, replace=False)
            part = members.iloc[chosen].copy()
            part["reason_zh"] = reason
            picked.append(part)
        strata.append(
            {
                "grade": g,
                "population": n,
                "sampling_ratio": ratio,
                "selected": k,
                "frequency": freq,
                "reason_zh": reason,
            }
        )
    sel = pd.concat(picked, ignore_index=True) if picked else pd.DataFrame(columns=list(rows.columns) + ["reason_zh"])
    for col in ("name", "district_zh", "address", "legal_rep_masked"):
        if col not in sel.columns:
            sel[col] = ""
        sel[col] = sel[col].astype(object).where(sel[col].notna(), "")
    sel["draw_order"] = np.arange(1, len(sel) + 1, dtype=int)
    selections = sel[list(SELECTION_COLUMNS)].reset_index(drop=True)
    as_of = str(rows["as_of"].iloc[0]) if "as_of" in rows.columns and len(rows) else ""
    region_zh = None
    if region is not None and "district_zh" in rows.columns and len(rows):
        region_zh = str(rows["district_zh"].iloc[0])
    if industry_zh is None:
        industry_zh = str(rows["industry_zh"].iloc[0]) if "industry_zh" in rows.columns and len(rows) else industry
    return Plan(
        plan_id=plan_id_of(rows, measures, seed=int(seed), period=period, industry=industry, region=region),
        industry=industry,
        industry_zh=industry_zh,
        region=region,
        period=period,
        seed=int(seed),
        population=int(len(rows)),
        selections=selections,
        strata=pd.DataFrame(strata, columns=list(STRATA_COLUMNS)),
        as_of=as_of,
        region_zh=region_zh,
    )
