"""Grade lists for 分级分类监管: every organisation of an industry graded as of a date.

``grade_population`` is the one path used by lists and explanations: features as of the date ->
calibrated probabilities -> band table -> new entrant -> upgrade limit (against the previous
period's grade) -> vetoes, plus the exact TreeSHAP contributions behind each grade.
``grade_list`` adds the regulator's columns (top reasons, supervision measure, change against the
previous period, model version and MLflow run), ``summary`` the grade distribution and the
migration matrix, and ``write_grade_list`` writes .xlsx (one sheet each) or .csv files.

The previous period's grade is the same model's grade one period earlier (``period_months``), so
lists are comparable across periods; the upgrade limit is applied against it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from scoring.archive.store import Store
from scoring.core.dates import add_months
from scoring.core.errors import DataError
from scoring.core.inert import InertWorkbook, write_csv
from scoring.features.builder import FeatureBuilder
from scoring.features.definitions import FeatureSet
from scoring.features.industry import GRADE_INDEX, GRADES, Industry, load_industries
from scoring.grades.grading import grade_organisations
from scoring.grades.model import Grader as GradeModel  # any grader of the protocol (h/champion)


@dataclass
class GradedPopulation:
    """One industry graded as of a date: features ``X``, the graded frame, contributions, names."""

    industry: Industry
    as_of: dt.date
    previous_as_of: dt.date
    X: pd.DataFrame
    graded: pd.DataFrame
    contributions: pd.DataFrame
    subjects: pd.DataFrame
    labels: pd.Series
    feature_set: FeatureSet | None = None  # the industry's FeatureSet (the records behind each feature)


def _as_date(d) -> dt.date:
    return dt.date.fromisoformat(d) if isinstance(d, str) else d


def model_industry(model: GradeModel, industry: str | None) -> Industry:
    """The industry a model was fitted for (checked against ``industry`` when given)."""
    code = model.info_.get("industry")
    if industry and code and industry != code:
        raise ValueError(f"the model was fitted for industry {code!r}, not {industry!r}: pass that industry's model")
    code = industry or code
    inds = load_industries()
    if code not in inds:
        raise ValueError(f"unknown industry {code!r}; known: {', '.join(sorted(inds))}")
    return inds[code]


def _this_and_previous(
    store: Store,
    model: GradeModel,
    as_of: dt.date,
    industry: str | None,
    period_months: int,
    subject_ids: list[str] | None,
) -> tuple[Industry, FeatureBuilder, dt.date, pd.DataFrame, pd.DataFrame, pd.Series | None]:
    """What grading needs for one date: the industry, its feature builder, the previous period's
    date, the features as of ``as_of``, the organisations (name, registration date) and the previous
    period's grade by the same model (None when nobody was graded then)."""
    ind = model_industry(model, industry)
    builder = FeatureBuilder(store, subjects="organisations", industry=ind.code)
    missing = sorted(set(model.features_) - set(builder.meta["feature"]))
    if missing:
        raise DataError(f"the model needs features the industry's set lacks: {missing}; refit the model")
    prev_date = add_months(as_of, -period_months)
    X = builder.at(as_of).values
    Xp = builder.at(prev_date).values
    if subject_ids is not None:
        X = X.loc[X.index.intersection(subject_ids)]
        Xp = Xp.loc[Xp.index.intersection(subject_ids)]
    subj = store.sql("SELECT subject_id, name, registered_on FROM subjects WHERE subject_type <> 'person'").set_index(
        "subject_id"
    )
    reg = subj["registered_on"]
    prev = grade_organisations(model, ind, Xp, registered_on=reg, as_of=prev_date)["grade"] if len(Xp) else None
    return ind, builder, prev_date, X, subj, prev


def grade_population(
    store: Store,
    model: GradeModel,
    as_of,
    *,
    industry: str | None = None,
    period_months: int = 12,
    subject_ids: list[str] | None = None,
) -> GradedPopulation:
    """Grade the industry's organisations (or ``subject_ids`` among them) as of ``as_of``."""
    as_of = _as_date(as_of)
    ind, builder, prev_date, X, subj, prev = _this_and_previous(
        store, model, as_of, industry, period_months, subject_ids
    )
    reg = subj["registered_on"]
    graded = grade_organisations(model, ind, X, previous=prev, registered_on=reg, as_of=as_of)
    graded.insert(0, "previous_grade", prev.reindex(X.index) if prev is not None else np.nan)
    contrib = model.contributions(X[model.features_])
    labels = builder.meta.set_index("feature")["label_zh"]
    return GradedPopulation(ind, as_of, prev_date, X, graded, contrib, subj.reindex(X.index), labels, builder.fset)


def _fmt(v: float) -> str:
    if v != v:
        return "无"
    return f"{int(v)}" if float(v).is_integer() else f"{v:.2f}"


def reason_text(label_zh: str, value: float, contribution: float) -> str:
    """One SHAP reason in Chinese: the feature, its value, and which way it moved the risk."""
    way = "较行业基准推高风险" if contribution > 0 else "较行业基准降低风险"
    return f"{label_zh}为{_fmt(value)}，{way}（{contribution:+.2f}）"


def top_reasons(pop: GradedPopulation, k: int = 3) -> pd.DataFrame:
    """``reason_1..k`` per organisation: the deciding veto first (直接定级), then the features with the
    largest SHAP contributions towards the grade (risk-raising ones for 较差/差, by size otherwise)."""
    C = pop.contributions.drop(columns="bias")
    feats = list(C.columns)
    vals = C.to_numpy()
    worse = pop.graded["grade"].map(GRADE_INDEX).to_numpy() >= 3
    # rank by contribution towards the grade: risk-raising first for poor grades, by size for the rest
    key = np.where(worse[:, None], vals, np.abs(vals))
    order = np.argsort(-key, axis=1, kind="stable")[:, :k]
    X = pop.X[feats].to_numpy(float)
    rule = pop.graded["reasons"].to_numpy()
    veto = pop.graded["veto"].to_numpy()
    rows = []
    for i in range(len(C)):
        texts = [rule[i].split("；")[0]] if veto[i] else []
        for j in order[i]:
            if len(texts) == k:
                break
            if vals[i, j] != 0:
                texts.append(reason_text(pop.labels.get(feats[j], feats[j]), X[i, j], vals[i, j]))
        rows.append(texts + [""] * (k - len(texts)))
    return pd.DataFrame(rows, index=C.index, columns=[f"reason_{n + 1}" for n in range(k)])


def _change(prev, cur) -> str:
    if not isinstance(prev, str):
        return "新增"
    d = GRADE_INDEX[prev] - GRADE_INDEX[cur]
    return "持平" if d == 0 else (f"上升{d}级" if d > 0 else f"下降{-d}级")


def grade_list(pop: GradedPopulation, model: GradeModel, k: int = 3) -> pd.DataFrame:
    """One row per organisation with everything a regulator acts on (column names in Chinese
    follow in :data:`LIST_COLUMNS_ZH`)."""
    g = pop.graded
    probs = [c for c in g.columns if c.startswith("p_")]
    out = pd.DataFrame(
        {
            "subject_id": g.index,
            "name": pop.subjects["name"].to_numpy(),
            "industry": pop.industry.code,
            "as_of": pop.as_of.isoformat(),
            "grade": g["grade"].to_numpy(),
        },
        index=g.index,
    )
    for c in probs + ["risk"]:
        out[c] = g[c].round(6)
    out["model_grade"] = g["model_grade"]
    out["sampling_ratio"], out["frequency"] = g["sampling_ratio"], g["frequency"]
    out = out.join(top_reasons(pop, k))
    out["veto"] = g["veto"]
    out["rules"] = g["reasons"]
    out["previous_as_of"] = pop.previous_as_of.isoformat()
    out["previous_grade"] = g["previous_grade"]
    out["change"] = [_change(p, c) for p, c in zip(g["previous_grade"], g["grade"])]
    out["model_version"] = model.version_
    out["mlflow_run_id"] = model.info_.get("mlflow_run_id", "")
    order = out["grade"].map(GRADE_INDEX) * 10 - out["risk"]
    return out.iloc[np.lexsort((out["subject_id"].to_numpy(), -order.to_numpy()))].reset_index(drop=True)


LIST_COLUMNS_ZH = {
    "subject_id": "统一社会信用代码",
    "name": "名称",
    "industry": "行业",
    "as_of": "评价基准日",
    "grade": "信用等级",
    "risk": "风险概率",
    "model_grade": "模型等级",
    "sampling_ratio": "双随机抽查比例",
    "frequency": "检查频次",
    "veto": "直接定级规则",
    "rules": "定级规则说明",
    "previous_as_of": "上期基准日",
    "previous_grade": "上期等级",
    "change": "等级变化",
    "model_version": "模型版本",
    "mlflow_run_id": "MLflow运行ID",
    "reason_1": "主要原因1",
    "reason_2": "主要原因2",
    "reason_3": "主要原因3",
}


def summary(lst: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The grade distribution (with expected inspections) and the migration matrix (previous
    period's grade in rows, this period's in columns; 新增 for organisations new to the list)."""
    n = len(lst)
    dist = lst.groupby("grade", observed=False).agg(
        organisations=("subject_id", "size"),
        vetoed=("veto", lambda v: int((v != "").sum())),
        mean_risk=("risk", "mean"),
    )
    dist = dist.reindex(GRADES).fillna({"organisations": 0, "vetoed": 0})
    dist["share"] = dist["organisations"] / max(n, 1)
    ratio = lst.groupby("grade")["sampling_ratio"].first().reindex(GRADES)
    dist["sampling_ratio"] = ratio
    dist["expected_inspections"] = (dist["organisations"] * ratio.fillna(0)).round(1)
    dist = dist.reset_index()
    prev = lst["previous_grade"].where(lst["previous_grade"].isin(GRADES), "新增")
    mig = pd.crosstab(
        pd.Categorical(prev, categories=list(GRADES) + ["新增"]),
        pd.Categorical(lst["grade"], categories=list(GRADES)),
        dropna=False,
    )
    mig.index.name, mig.columns.name = "上期等级", "本期等级"
    return dist, mig


NOTES_TEXT = "等级按模型校准概率、新设主体规则、升级限制与直接定级规则依次确定；原因为SHAP贡献最大的特征"


def list_notes(
    pop: GradedPopulation, model: GradeModel, *, registered: str, run_id: str, fingerprint: str
) -> dict[str, str]:
    """The 说明 (notes) sheet of a grade list: industry, regulator, dates, model and registry
    version, MLflow run, label, data snapshot, and how grades and reasons are decided. The one
    builder for every list (CLI, main job, notebooks)."""
    return {
        "行业": f"{pop.industry.name_zh} ({pop.industry.code})",
        "监管部门": pop.industry.regulator,
        "评价基准日": pop.as_of.isoformat(),
        "上期基准日": pop.previous_as_of.isoformat(),
        "模型版本": model.version_,
        "注册模型": registered,
        "MLflow运行ID": run_id,
        "标签": str(model.info_.get("label", "")),
        "数据快照": fingerprint,
        "说明": NOTES_TEXT,
    }


def write_grade_list(lst: pd.DataFrame, path: str | Path, info: dict | None = None) -> list[Path]:
    """Write the list: .xlsx (sheets 等级名单, 等级分布, 迁移矩阵, 说明) or .csv (the list, plus
    ``<stem>.summary.csv`` and ``<stem>.migration.csv``; UTF-8 with BOM so spreadsheets read Chinese).
    Every text cell is inert (no formula: :mod:`scoring.core.inert`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    dist, mig = summary(lst)
    shown = lst.rename(columns=LIST_COLUMNS_ZH)
    if path.suffix.lower() == ".xlsx":
        with InertWorkbook(path) as wb:
            ws = wb.sheet("等级名单", shown)
            wb.sheet("等级分布", dist)
            wb.sheet("迁移矩阵", mig, index=True)
            wb.sheet("说明", pd.DataFrame(list((info or {}).items()), columns=["项目", "内容"]))
            ws.freeze_panes(1, 2)
            ws.set_column(0, 1, 22)
            ws.autofilter(0, 0, len(shown), len(shown.columns) - 1)
        return [path]
    if path.suffix.lower() != ".csv":
        raise DataError(f"{path}: the grade list is written as .xlsx or .csv")
    paths = [path, path.with_suffix(".summary.csv"), path.with_suffix(".migration.csv")]
    write_csv(shown, paths[0], encoding="utf-8-sig")
    write_csv(dist, paths[1], encoding="utf-8-sig")
    write_csv(mig, paths[2], index=True, encoding="utf-8-sig")
    return paths


# -- the registered model's input and output (MLflow pyfunc) ---------------------------------
RULE_COLUMNS = ("previous_grade", "registered_on", "as_of")


def input_features(model: GradeModel, industry: Industry) -> list[str]:
    """The features the registered model reads: the model's, then those its vetoes need."""
    return list(dict.fromkeys([*model.features_, *(v.feature for v in industry.vetoes)]))


def organisation_inputs(
    store: Store,
    model: GradeModel,
    as_of,
    *,
    industry: str | None = None,
    period_months: int = 12,
    subject_ids: list[str] | None = None,
) -> pd.DataFrame:
    """The input of the registered grade model (index: subject_id), as :func:`grade_population`
    sees it: the features as of ``as_of`` (float64), the previous period's grade by the same model
    (empty for an organisation new to the list), the registration date and the grading date (ISO).
    :func:`grades_from_inputs` turns it into exactly the graded frame of :func:`grade_population`."""
    as_of = _as_date(as_of)
    ind, _, _, X, subj, prev = _this_and_previous(store, model, as_of, industry, period_months, subject_ids)
    reg = subj["registered_on"]
    out = X[input_features(model, ind)].astype("float64")
    out["previous_grade"] = (
        [g if isinstance(g, str) else None for g in prev.reindex(X.index)] if prev is not None else None
    )
    out["registered_on"] = [None if pd.isna(d) else pd.Timestamp(d).date().isoformat() for d in reg.reindex(X.index)]
    out["as_of"] = as_of.isoformat()
    return out


def grades_from_inputs(model: GradeModel, industry: Industry, inputs: pd.DataFrame) -> pd.DataFrame:
    """Grades after the band table, the new-entrant rule, the upgrade limit and the vetoes, per row
    of :func:`organisation_inputs` (same index): the columns of :func:`grade_organisations` and
    ``previous_grade``, as in :attr:`GradedPopulation.graded`."""
    parts = []
    for day, X in inputs.groupby("as_of", sort=False):
        prev = X["previous_grade"].where(X["previous_grade"].isin(GRADES))
        reg = pd.to_datetime(X["registered_on"])
        g = grade_organisations(
            model,
            industry,
            X,
            previous=prev if prev.notna().any() else None,
            registered_on=reg if reg.notna().any() else None,  # no date known: not a new entrant
            as_of=_as_date(str(day)),
        )
        g.insert(0, "previous_grade", pd.Series([p if isinstance(p, str) else None for p in prev], X.index, object))
        parts.append(g)
    return pd.concat(parts).reindex(inputs.index) if parts else pd.DataFrame(index=inputs.index)
