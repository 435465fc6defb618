"""Grade lists for 分级分类监管: every organisation of an industry graded as of a date.

``grade_population`` is the one path used by lists and explanations: features as of the date ->
calibrated probabilities -> band table -> new entrant -> upgrade limit (against the previous
period's grade) -> vetoes, plus the exact TreeSHAP contributions behind each grade.
``grade_list`` adds the regulator's columns (top reasons, supervision measure, change against the
previous period, model version and MLflow run), ``summary`` the grade distribution and the
migration matrix, and ``write_grade_list`` writes .xlsx (one sheet each) or .csv files.

Reasons (:func:`top_reasons`, :mod:`scoring.grades.wording` for the words): the deciding veto first,
then the features with the largest effects, each stating its fact against the industry reference
(``model.info_['reference']``: median, mean and share of non-zero values per feature over the model's
training rows, which fitted models carry) and its effect in points of the grade score
(:func:`score_of_probabilities`, :func:`score_effects`), never in log-odds. Every column of a list has a Chinese
name (:data:`LIST_COLUMNS_ZH`); codes for machines stay in their own columns (:data:`CODE_COLUMNS`).

The previous period's grade is the same model's grade one period earlier (``period_months``), so
lists are comparable across periods; the upgrade limit is applied against it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from scoring.archive.catalog import Catalog, load_catalog
from scoring.archive.store import Store
from scoring.core.dates import add_months
from scoring.core.errors import DataError, XinyiError
from scoring.core.inert import write_csv
from scoring.core.workbook import Sheet, notes_sheet, workbook_bytes, write_workbook
from scoring.features.builder import FeatureBuilder
from scoring.features.definitions import FeatureSet, feature_set_for
from scoring.features.industry import GRADE_INDEX, GRADES, Bands, Industry, load_industries
from scoring.grades.bands import bands_text, resolve_bands, share_table
from scoring.grades.grading import grade_organisations
from scoring.grades.model import OUTCOME_CLASSES
from scoring.grades.model import Grader as GradeModel  # any grader of the protocol
from scoring.grades.wording import SCORE_MAX, FeatureReason, feature_reason, veto_words


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
    grader: Any = None  # the grader that graded it (the grader protocol: contributions, calibrator_)
    reference: dict | None = None  # the industry reference per feature (:func:`industry_reference`)
    reference_source: str = ""  # "model" (the grader's info_['reference']) or "population"


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
) -> tuple[Industry, FeatureBuilder, dt.date, pd.DataFrame, pd.DataFrame, pd.Series | None, pd.DataFrame]:
    """What grading needs for one date: the industry, its feature builder, the previous period's
    date, the features as of ``as_of``, the organisations (name, registration date), the previous
    period's grade by the same model (None when nobody was graded then) and the features of the
    whole industry as of ``as_of`` (before ``subject_ids`` are picked)."""
    ind = model_industry(model, industry)
    builder = FeatureBuilder(store, subjects="organisations", industry=ind.code)
    missing = sorted(set(model.features_) - set(builder.meta["feature"]))
    if missing:
        raise DataError(f"the model needs features the industry's set lacks: {missing}; refit the model")
    prev_date = add_months(as_of, -period_months)
    X = X_all = builder.at(as_of).values
    Xp = builder.at(prev_date).values
    if subject_ids is not None:
        X = X.loc[X.index.intersection(subject_ids)]
        Xp = Xp.loc[Xp.index.intersection(subject_ids)]
    subj = store.sql("SELECT subject_id, name, registered_on FROM subjects WHERE subject_type <> 'person'").set_index(
        "subject_id"
    )
    reg = subj["registered_on"]
    prev = grade_organisations(model, ind, Xp, registered_on=reg, as_of=prev_date)["grade"] if len(Xp) else None
    return ind, builder, prev_date, X, subj, prev, X_all


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
    ind, builder, prev_date, X, subj, prev, X_all = _this_and_previous(
        store, model, as_of, industry, period_months, subject_ids
    )
    reg = subj["registered_on"]
    graded = grade_organisations(model, ind, X, previous=prev, registered_on=reg, as_of=as_of)
    graded.insert(0, "previous_grade", prev.reindex(X.index) if prev is not None else np.nan)
    contrib = model.contributions(X[model.features_])
    labels = builder.meta.set_index("feature")["label_zh"]
    reference, source = industry_reference(model, X_all)
    return GradedPopulation(
        ind,
        as_of,
        prev_date,
        X,
        graded,
        contrib,
        subj.reindex(X.index),
        labels,
        builder.fset,
        grader=model,
        reference=reference,
        reference_source=source,
    )


def grade_subjects(
    store: Store,
    model: GradeModel,
    as_of,
    subject_ids,
    *,
    industry: str | None = None,
    period_months: int = 12,
) -> pd.DataFrame:
    """The graded frame of :func:`grade_population` (``previous_grade`` first, then the probabilities,
    risk and the rules' grade) for the organisations among ``subject_ids`` that the industry grades
    as of ``as_of``, computed from their own and their linked subjects' records only
    (:meth:`FeatureBuilder.at_subjects` at ``as_of`` and one period earlier): the same rows as the
    population's, without the population's features or contributions (what a daily delta
    recomputes, :mod:`scoring.workflows.delta`)."""
    as_of = _as_date(as_of)
    ind = model_industry(model, industry)
    builder = FeatureBuilder(store, subjects="organisations", industry=ind.code)
    missing = sorted(set(model.features_) - set(builder.meta["feature"]))
    if missing:
        raise DataError(f"the model needs features the industry's set lacks: {missing}; refit the model")
    ids = sorted({str(s) for s in subject_ids})
    prev_date = add_months(as_of, -period_months)
    frames = builder.subjects_frames(ids)
    X = builder.at_subjects(as_of, ids, frames).values
    Xp = builder.at_subjects(prev_date, ids, frames).values
    reg = registration_dates(store, ids)
    prev = grade_organisations(model, ind, Xp, registered_on=reg, as_of=prev_date)["grade"] if len(Xp) else None
    graded = grade_organisations(model, ind, X, previous=prev, registered_on=reg, as_of=as_of)
    graded.insert(0, "previous_grade", prev.reindex(X.index) if prev is not None else np.nan)
    return graded


def registration_dates(store: Store, subject_ids: list[str]) -> pd.Series:
    """registered_on of the organisations among ``subject_ids`` (index subject_id)."""
    name = f"xinyi_reg_ids_{abs(hash(tuple(subject_ids)))}"
    store.con.register(name, pd.DataFrame({"subject_id": pd.Series(subject_ids, dtype=object)}))
    try:
        subj = store.sql(
            f"SELECT subject_id, registered_on FROM subjects WHERE subject_type <> 'person' "
            f"AND subject_id IN (SELECT subject_id FROM {name})"
        )
    finally:
        store.con.unregister(name)
    return subj.set_index("subject_id")["registered_on"]


def feature_reference(X: pd.DataFrame) -> dict[str, dict[str, float | None]]:
    """The industry reference of every column of ``X``: ``{feature: {"median", "mean",
    "share_nonzero"}}`` over the rows' known values (None when a feature has none). The fit flow
    stores it over the training rows of the latest training cut-off as ``model.info_['reference']``."""
    out: dict[str, dict[str, float | None]] = {}
    for f in X.columns:
        v = pd.to_numeric(X[f], errors="coerce").to_numpy(float)
        v = v[np.isfinite(v)]
        out[str(f)] = {
            "median": float(np.median(v)) if len(v) else None,
            "mean": float(np.mean(v)) if len(v) else None,
            "share_nonzero": float(np.mean(v != 0)) if len(v) else 0.0,
        }
    return out


def industry_reference(model, X: pd.DataFrame) -> tuple[dict, str]:
    """(reference, source) for the reasons' 行业中位数: the grader's ``info_['reference']`` (fitted
    models carry it: the training rows of its latest cut-off), source ``model``; for a grader without
    it, the medians of the graded population ``X`` (the whole industry as of the date), source
    ``population``. A fitted model never uses the fallback, so an explanation re-derived on a
    one-subject snapshot (``scoring justify``) states the same medians as the published list."""
    ref = (getattr(model, "info_", None) or {}).get("reference")
    if isinstance(ref, dict) and ref:
        return ref, "model"
    return feature_reference(X[[f for f in model.features_ if f in X.columns]]), "population"


def score_of_probabilities(proba) -> np.ndarray:
    """The grade score of calibrated class probabilities (n, K): 100 × (1 − E[class] / (K − 1)),
    the expected grade on a 0-100 scale (100: surely the best class). With two classes it is
    100 × (1 − P(outcome)); with five grades it separates the middle grades, where the risk of
    较差 or 差 is small for nearly every organisation."""
    proba = np.asarray(proba, float)
    k = proba.shape[1]
    return SCORE_MAX * (1.0 - proba @ np.arange(k) / (k - 1))


def grade_score(model, eta) -> np.ndarray:
    """The grade score (:func:`score_of_probabilities`) of latent scores ``eta``, through the
    grader's calibrator; it falls as ``eta`` rises."""
    eta = np.asarray(eta, float)
    return score_of_probabilities(model.calibrator_.predict_proba(eta))


def score_effects(model, contributions: pd.DataFrame) -> pd.DataFrame:
    """Each contribution on the grade-score scale: per row, the contributions ``c_f`` (log-odds, summing
    to margin − bias) times the secant slope of the grade score between the base margin ``eta0 = bias``
    and the organisation's margin ``eta`` — ``(s(eta) − s(eta0)) / (eta − eta0)``, the derivative at
    ``eta0`` when the two are equal. The effects keep their signs (the score falls as the risk
    score rises) and sum exactly to ``score − base_score``. Columns: the features, ``score`` and
    ``base_score``."""
    C = contributions.drop(columns="bias")
    eta0 = contributions["bias"].to_numpy(float)
    eta = contributions.sum(axis=1).to_numpy(float)
    s0, s1 = grade_score(model, eta0), grade_score(model, eta)
    d = eta - eta0
    h = 1e-5
    derivative = (grade_score(model, eta0 + h) - grade_score(model, eta0 - h)) / (2 * h)
    close = np.abs(d) <= 1e-9
    slope = np.where(close, derivative, (s1 - s0) / np.where(close, 1.0, d))
    out = C.mul(slope, axis=0)
    out["score"], out["base_score"] = s1, s0
    return out


def _feature_set(pop: GradedPopulation, catalog: Catalog) -> FeatureSet:
    return (
        pop.feature_set
        if pop.feature_set is not None
        else feature_set_for("organisations", pop.industry.code, None, catalog)
    )


def _grader(pop: GradedPopulation, model):
    model = model if model is not None else pop.grader
    if model is None:
        raise DataError("reasons need the grader that graded the population: pass model=")
    return model


class _ReasonTable:
    """What the reasons of many organisations read, as arrays (one row per organisation of ``index``)."""

    def __init__(
        self,
        pop: GradedPopulation,
        effects: pd.DataFrame,
        fset: FeatureSet,
        catalog: Catalog,
        reference: dict,
        index: pd.Index,
    ):
        feats = [f for f in effects.columns if f not in ("score", "base_score")]
        known = set(fset.names)
        self.feats = [f for f in feats if f in known]
        self.specs = [fset[f] for f in self.feats]
        self.directions = [pop.industry.monotone.get(f) for f in self.feats]
        self.refs = [reference.get(f) for f in self.feats]
        self.catalog = catalog
        self.effects = effects.loc[index, self.feats].to_numpy(float)
        self.contrib = pop.contributions.loc[index, self.feats].to_numpy(float)
        X = pop.X.loc[index]
        self.values = X.reindex(columns=self.feats).to_numpy(float)
        self.worse = pop.graded.loc[index, "grade"].isin(GRADES[-2:]).to_numpy()
        self.skip = np.zeros(self.effects.shape, bool)  # the features of the vetoes that apply
        for v in pop.industry.vetoes:
            if v.feature in self.feats and v.feature in X.columns:
                self.skip[:, self.feats.index(v.feature)] |= X[v.feature].map(v.applies).fillna(False).to_numpy(bool)

    def row(self, i: int, k: int | None) -> list[FeatureReason]:
        vals = self.effects[i]
        order = np.argsort(vals if self.worse[i] else -np.abs(vals), kind="stable")
        out: list[FeatureReason] = []
        for j in order:
            if k is not None and len(out) >= k:
                break
            if self.skip[i, j] or abs(vals[j]) < 0.04:  # vetoed, or shown as 0.0 points (checked exactly below)
                continue
            x = self.values[i, j]
            r = feature_reason(
                self.specs[j],
                None if np.isnan(x) else float(x),
                self.refs[j],
                float(self.contrib[i, j]),
                float(vals[j]),
                self.catalog,
                self.directions[j],
            )
            if r is not None:
                out.append(r)
        return out


def organisation_reasons(
    pop: GradedPopulation,
    subject_id: str,
    effects: pd.DataFrame,
    fset: FeatureSet,
    catalog: Catalog,
    reference: dict,
    k: int | None = None,
) -> list[FeatureReason]:
    """The feature reasons of one organisation, strongest first (risk-raising first for 较差/差, by size
    otherwise), without zero effects, without facts whose direction contradicts the effect (see
    :func:`scoring.grades.wording.feature_reason`) and without the features of the vetoes that apply
    (the veto is stated itself); at most ``k``. ``effects``: :func:`score_effects` of the population."""
    return _ReasonTable(pop, effects, fset, catalog, reference, pd.Index([subject_id])).row(0, k)


def deciding_veto(pop: GradedPopulation, subject_id: str):
    """The industry's veto (直接定级) that decided the organisation's grade, or None."""
    code = pop.graded.loc[subject_id, "veto"]
    return next((v for v in pop.industry.vetoes if v.code == code), None) if code else None


def top_reasons(pop: GradedPopulation, k: int = 3, model=None) -> pd.DataFrame:
    """``reason_1..k`` per organisation: the deciding veto first (直接定级, its Chinese label), then
    the feature reasons of :func:`organisation_reasons` (facts against the industry reference, effects
    in points of the grade score). ``model``: the grader (default: the one that graded ``pop``)."""
    model = _grader(pop, model)
    catalog = load_catalog()
    fset = _feature_set(pop, catalog)
    effects = score_effects(model, pop.contributions)
    reference = pop.reference if pop.reference is not None else industry_reference(model, pop.X)[0]
    index = pop.contributions.index
    table = _ReasonTable(pop, effects, fset, catalog, reference, index)
    vetoes = {v.code: veto_words(v) for v in pop.industry.vetoes}
    codes = pop.graded["veto"].reindex(index).fillna("").to_numpy()
    rows = []
    for i in range(len(index)):
        texts = [vetoes[codes[i]]] if codes[i] in vetoes else []
        texts += [r.text for r in table.row(i, k - len(texts))]
        rows.append(texts + [""] * (k - len(texts)))
    return pd.DataFrame(rows, index=index, columns=[f"reason_{n + 1}" for n in range(k)])


def _change(prev, cur) -> str:
    if not isinstance(prev, str):
        return "新增"
    d = GRADE_INDEX[prev] - GRADE_INDEX[cur]
    return "持平" if d == 0 else (f"上升{d}级" if d > 0 else f"下降{-d}级")


def grade_list(pop: GradedPopulation, model: GradeModel, k: int = 3) -> pd.DataFrame:
    """One row per organisation with everything a regulator acts on; the column names in Chinese
    follow in :data:`LIST_COLUMNS_ZH`, codes for machines in their own columns (:data:`CODE_COLUMNS`):
    ``industry_zh`` 行业 (建筑施工企业) beside ``industry`` 行业代码 (construction), ``veto_zh``
    直接定级规则 (the veto's Chinese label) beside ``veto`` 直接定级代码."""
    g = pop.graded
    probs = [c for c in g.columns if c.startswith("p_")]
    labels = {v.code: v.label_zh for v in pop.industry.vetoes}
    out = pd.DataFrame(
        {
            "subject_id": g.index,
            "name": pop.subjects["name"].to_numpy(),
            "industry_zh": pop.industry.name_zh,
            "industry": pop.industry.code,
            "as_of": pop.as_of.isoformat(),
            "grade": g["grade"].to_numpy(),
            "score": score_of_probabilities(g[probs].to_numpy(float)).round(2),
        },
        index=g.index,
    )
    for c in probs + ["risk"]:
        out[c] = g[c].round(6)
    out["model_grade"] = g["model_grade"]
    out["sampling_ratio"], out["frequency"] = g["sampling_ratio"], g["frequency"]
    out = out.join(top_reasons(pop, k, model))
    out["veto_zh"] = g["veto"].map(lambda c: labels.get(c, c) if c else "")
    out["veto"] = g["veto"]
    out["new_entrant"] = g["new_entrant"].to_numpy(bool)  # h/bands: new entrants counted apart in the summary
    out["rules"] = g["reasons"]
    out["previous_as_of"] = pop.previous_as_of.isoformat()
    out["previous_grade"] = g["previous_grade"]
    out["change"] = [_change(p, c) for p, c in zip(g["previous_grade"], g["grade"])]
    out["model_version"] = model.version_
    out["mlflow_run_id"] = model.info_.get("mlflow_run_id", "")
    order = out["grade"].map(GRADE_INDEX) * 10 - out["risk"]
    return out.iloc[np.lexsort((out["subject_id"].to_numpy(), -order.to_numpy()))].reset_index(drop=True)


#: Chinese column names of a grade list (``write_grade_list`` renames with it); every column of
#: :func:`grade_list` has one, and so have the organisation's columns the serving database adds
#: (:func:`scoring.serving.queries.list_rows`: region code, district, address, masked legal representative)
LIST_COLUMNS_ZH = {
    "subject_id": "统一社会信用代码",
    "name": "名称",
    "industry_zh": "行业",
    "industry": "行业代码",
    "as_of": "评价基准日",
    "grade": "信用等级",
    "score": "信用得分（满分100）",
    **{f"p_{c}": f"{c}概率" for c in (*GRADES, *OUTCOME_CLASSES)},
    "risk": "风险概率",
    "model_grade": "模型等级",
    "sampling_ratio": "双随机抽查比例",
    "frequency": "检查频次",
    **{f"reason_{n}": f"主要原因{n}" for n in range(1, 11)},
    "veto_zh": "直接定级规则",
    "veto": "直接定级代码",
    "new_entrant": "新设主体",
    "rules": "定级规则说明",
    "previous_as_of": "上期基准日",
    "previous_grade": "上期等级",
    "change": "等级变化",
    "model_version": "模型版本",
    "mlflow_run_id": "MLflow运行ID",
    "region_code": "行政区划代码",
    "district_zh": "所属区县",
    "address": "住所",
    "legal_rep_masked": "法定代表人",
}
#: the columns of a grade list that hold codes for machines (their Chinese names in LIST_COLUMNS_ZH):
#: the organisation's code, the industry code (configs/industries/<code>.yaml), the veto code
#: (its ``vetoes[].code``), the model's content hash and its MLflow run
CODE_COLUMNS = ("subject_id", "industry", "veto", "model_version", "mlflow_run_id")
#: the key columns of a written list, first and on every printed page (frozen, repeated): code, name, grade
KEY_COLUMNS = ("subject_id", "name", "grade")
#: the organisation's columns from the serving database, right after the key columns
ORGANISATION_COLUMNS = ("district_zh", "address", "legal_rep_masked")
#: what a regulator acts on, after the key and organisation columns (reason_1..k go before veto_zh)
READING_COLUMNS = (
    "score",
    "sampling_ratio",
    "frequency",
    "veto_zh",
    "veto",
    "new_entrant",
    "rules",
    "previous_grade",
    "change",
)
#: the kind of each list column in a workbook (:mod:`scoring.core.workbook`); the rest inferred
LIST_KINDS = {
    "subject_id": "code",
    "industry": "code",
    "veto": "code",
    "model_version": "code",
    "mlflow_run_id": "code",
    "region_code": "code",
    "as_of": "date",
    "previous_as_of": "date",
    "score": "float",
    "risk": "prob",
    **{f"p_{c}": "prob" for c in (*GRADES, *OUTCOME_CLASSES)},
    "sampling_ratio": "percent",
    "new_entrant": "bool",
}


DIST_COLUMNS_ZH = {
    "grade": "信用等级",
    "organisations": "主体数",
    "vetoed": "其中直接定级",
    "new_entrants": "其中新设主体",
    "share": "占全部主体比例",
    "band_graded": "按分级表定级主体数",
    "band_share": "占按分级表定级主体比例",
    "target": "目标占比",
    "difference": "与目标之差",
    "tolerance": "允许偏差",
    "within_tolerance": "是否在允许偏差内",
    "mean_risk": "平均风险概率",
    "sampling_ratio": "双随机抽查比例",
    "expected_inspections": "预计抽查主体数",
}
DIST_KINDS = {
    "信用等级": "text",
    "主体数": "int",
    "其中直接定级": "int",
    "其中新设主体": "int",
    "占全部主体比例": "percent",
    "按分级表定级主体数": "int",
    "占按分级表定级主体比例": "percent",
    "目标占比": "percent",
    "与目标之差": "percent",
    "允许偏差": "percent",
    "是否在允许偏差内": "text",
    "平均风险概率": "prob",
    "双随机抽查比例": "percent",
    "预计抽查主体数": "int",
}


def _new_entrant(lst: pd.DataFrame) -> pd.Series:
    """New entrants of a list: its ``new_entrant`` column, else the new-entrant rule in ``rules``."""
    if "new_entrant" in lst.columns:
        return lst["new_entrant"].fillna(False).astype(bool)
    if "rules" in lst.columns:
        return lst["rules"].fillna("").astype(str).str.contains("新设立主体", regex=False)
    return pd.Series(False, index=lst.index)


def _list_bands(lst: pd.DataFrame) -> Bands | None:
    """The bands' targets and tolerance of the list's industry (its config; a model fitted for other
    target shares cannot grade it: :func:`scoring.grades.bands.resolve_bands`)."""
    if "industry" not in lst.columns or not len(lst):
        return None
    inds = load_industries()
    code = str(lst["industry"].iloc[0])
    return inds[code].bands if code in inds else None


def summary(lst: pd.DataFrame, bands: Bands | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The grade distribution and the migration matrix (previous period's grade in rows, this
    period's in columns; 新增 for organisations new to the list).

    The distribution gives per grade: organisations, of which vetoed (直接定级) and new entrants,
    their share of the list, expected inspections, and the share of the band table's grade
    (``model_grade``) among the organisations it grades (``band_share``: not vetoed, not new
    entrants; the upgrade limit comes after the table) next to the target share, the
    difference, the tolerance and whether it is within it (``bands``: default the list's industry
    config; no targets: those columns are empty)."""
    n = len(lst)
    new = _new_entrant(lst)
    vetoed = lst["veto"].fillna("").astype(str) != ""
    frame = pd.DataFrame({"grade": lst["grade"], "vetoed": vetoed, "new_entrant": new, "risk": lst["risk"]})
    dist = frame.groupby("grade", observed=False).agg(
        organisations=("grade", "size"),
        vetoed=("vetoed", "sum"),
        new_entrants=("new_entrant", "sum"),
        mean_risk=("risk", "mean"),
    )
    dist = dist.reindex(GRADES).fillna({"organisations": 0, "vetoed": 0, "new_entrants": 0})
    for c in ("organisations", "vetoed", "new_entrants"):
        dist[c] = dist[c].astype(int)
    dist["share"] = dist["organisations"] / max(n, 1)
    b = bands if bands is not None else _list_bands(lst)
    eligible = (~vetoed & ~new).to_numpy()
    table_grade = lst["model_grade"] if "model_grade" in lst.columns else lst["grade"]
    shares = share_table(table_grade.to_numpy(), b, eligible).set_index("grade")
    dist["band_graded"] = shares["band_graded"]
    dist["band_share"] = shares["share"]
    for c in ("target", "difference", "tolerance", "within_tolerance"):
        dist[c] = shares[c]
    dist["mean_risk"] = dist.pop("mean_risk")
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


def distribution_zh(dist: pd.DataFrame) -> pd.DataFrame:
    """The distribution of :func:`summary` as officials read it: Chinese columns, 是/否, and the
    expected inspections as whole organisations, as a 双随机 plan draws them: ``ceil(ratio * n)``
    per grade (:func:`scoring.grades.inspection.stratum_size`; no grade exempt)."""
    from scoring.grades.inspection import stratum_size

    out = dist.copy()
    out["within_tolerance"] = out["within_tolerance"].map({True: "是", False: "否"}).fillna("")
    if "expected_inspections" in out.columns and "sampling_ratio" in out.columns:
        out["expected_inspections"] = [
            stratum_size(int(n), float(r)) if pd.notna(r) else 0
            for n, r in zip(out["organisations"], out["sampling_ratio"])
        ]
    return out.rename(columns=DIST_COLUMNS_ZH)


NOTES_TEXT = (
    "等级按模型校准概率经分级表、新设主体规则、升级限制与直接定级规则依次确定；"
    "目标占比按分级表定级的主体计算（不含直接定级与新设主体，二者另计）；原因为SHAP贡献最大的特征"
)
#: the legal basis of the evaluation and its use (说明 sheet)
EVALUATION_BASIS = (
    "《国务院办公厅关于加快推进社会信用体系建设构建以信用为基础的新型监管机制的指导意见》（国办发〔2019〕35号）："
    "以公共信用综合评价、行业信用评价结果为依据实施信用分级分类监管；"
    "《国务院关于在市场监管领域全面推行部门联合“双随机、一公开”监管的意见》（国发〔2019〕5号）："
    "根据信用等级确定抽查比例和频次；评价所用信息仅取自全国公共信用信息基础目录所列公共信用信息，"
    "各项直接定级规则的依据见上"
)
#: the disclaimer of every list (说明 sheet)
DISCLAIMER = (
    "评价结果仅用于分级分类监管，不作为对主体的信用标签，不作为行政处罚、市场禁入或对外公示的依据；"
    "主体对评价所依据的信息有异议的，可依法申请信用异议或信用修复，异议核查期间相关信息不作不利使用；"
    "名单含主体信息，仅限监管工作使用，查询与下载均登记在案（查询使用登记）"
)
_OPS_ZH = {">=": "≥", ">": "＞", "==": "＝"}


_VETO_RULES: dict[tuple, dict[str, str]] = {}


def veto_rules(industry: Industry, catalog: Catalog | None = None) -> dict[str, str]:
    """The industry's 直接定级 rules for a list's 说明: per veto its label, its condition (the
    feature as the feature set names it, the threshold, the grade it sets or caps) and the legal
    basis of the records behind the feature (configs/catalog.yaml). Cached until a config file of
    the industries, the feature sets or the catalogue changes (a download needs it every time)."""
    if not industry.vetoes:
        return {}
    from scoring.core.config import config_dir, files_signature

    key = (
        industry.code,
        tuple(v.model_dump_json() for v in industry.vetoes),
        files_signature(config_dir() / "features", config_dir() / "catalog.yaml"),
    )
    if catalog is None and key in _VETO_RULES:
        return dict(_VETO_RULES[key])
    cat = catalog if catalog is not None else load_catalog()
    meta = feature_set_for("organisations", industry.code, catalog=cat).metadata(cat).set_index("feature")
    out: dict[str, str] = {}
    for i, v in enumerate(industry.vetoes, start=1):
        label = str(meta["label_zh"].get(v.feature, v.feature)) if v.feature in meta.index else v.feature
        basis = str(meta["legal_basis"].get(v.feature, "")) if v.feature in meta.index else ""
        effect = f"直接定为{v.grade}" if v.grade else f"最高定为{v.at_most}"
        flag = v.feature.endswith("_active") and v.op == ">=" and v.value == 1  # an active list record
        condition = label if flag else f"{label}{_OPS_ZH[v.op]}{v.value:g}"
        out[f"直接定级规则{i}：{v.label_zh}"] = f"条件：{condition}，{effect}（代码 {v.code}）" + (
            f"；依据：{basis}" if basis else ""
        )
    if catalog is None:
        _VETO_RULES[key] = dict(out)
    return out


def band_rows(industry: Industry, bands: Bands | None = None) -> dict[str, str]:
    """The band table for a list's 说明, one row per grade: the bound (fitted bands), the target
    share and its tolerance, the 双随机 sampling ratio and frequency (no grade exempt)."""
    b = bands if bands is not None else industry.bands
    out: dict[str, str] = {}
    for g in GRADES:
        parts = []
        if b.bounds and g in b.bounds:
            bound = b.bounds[g]
            parts.append(f"风险概率≤{bound:.4g}" if b.kind == "risk" else f"得分≥{bound:g}")
        elif b.bounds and g == GRADES[-1]:
            parts.append("其余")
        if b.targets:
            parts.append(f"目标占比{100 * b.targets[g]:.1f}%（允许偏差±{100 * b.tolerance_of(g):.1f}个百分点）")
        m = industry.supervision.get(g)
        if m is not None:
            parts.append(
                f"双随机抽查比例{_pct_text(m.sampling_ratio)}，{m.frequency}" + (f"（{m.note}）" if m.note else "")
            )
        out[f"分级表：{g}"] = "；".join(parts)
    return out


def _pct_text(ratio: float) -> str:
    v = 100 * ratio
    return f"{v:.0f}%" if abs(v - round(v)) < 1e-9 else f"{v:.1f}%"


def list_notes(
    pop: GradedPopulation,
    model: GradeModel,
    *,
    registered: str,
    run_id: str,
    fingerprint: str,
    configs: str = "",
    publication_id: str | None = None,
) -> dict[str, str]:
    """The 说明 (notes) sheet of a grade list: the publication id (when published), industry,
    regulator, dates, model and registry version, the grader and why it grades the industry (when
    the fit recorded it), MLflow run, label, data snapshot, the bands used (fitted bounds with their
    reference, target shares, tolerance) and the band table per grade, the veto rules with their
    legal basis, how grades and reasons are decided, the legal basis of the evaluation and the
    disclaimer. The one builder for every list (CLI, main job, notebooks)."""
    notes = {"发布编号": publication_id} if publication_id else {}
    notes |= {
        "行业": f"{pop.industry.name_zh} ({pop.industry.code})",
        "监管部门": pop.industry.regulator,
        "评价基准日": pop.as_of.isoformat(),
        "上期基准日": pop.previous_as_of.isoformat(),
        "模型版本": model.version_,
        "注册模型": registered,
    }
    info = getattr(model, "info_", {}) or {}
    if info.get("contender_zh"):
        notes["评价模型"] = str(info["contender_zh"])
    if info.get("selection"):
        notes["选用依据"] = str(info["selection"])
    bands = resolve_bands(model, pop.industry)
    notes |= {
        "MLflow运行ID": run_id,
        "标签": _label_zh(str(info.get("label", ""))),
        "数据快照": fingerprint,
        **({"配置版本": configs} if configs else {}),  # the config bundle's hash (scoring.lineage.configs)
        "分级表": bands_text(bands),
        **band_rows(pop.industry, bands),
        **veto_rules(pop.industry),
        "说明": NOTES_TEXT,
        "评价依据": EVALUATION_BASIS,
        "免责声明": DISCLAIMER,
    }
    return notes


def _label_zh(code: str) -> str:
    """A model's label in Chinese with its code: ``下一次行业信用评价等级 (expert_grade)``."""
    from scoring.features.training import load_expert_grade, load_outcome

    try:
        zh = {"outcome": load_outcome().label_zh, "expert_grade": load_expert_grade().label_zh}.get(code)
    except XinyiError:  # a labels config that does not load: the code as it is
        zh = None
    return f"{zh} ({code})" if zh else code


def publication_notes(publication: dict[str, Any]) -> dict[str, str]:
    """The 说明 items of a published list as the serving database holds it
    (:func:`scoring.serving.queries.publication`): its notes with the publication id first."""
    notes = {str(k): "" if v is None else str(v) for k, v in (publication.get("notes") or {}).items()}
    pid = publication.get("publication_id")
    return ({"发布编号": str(pid)} if pid else {}) | {k: v for k, v in notes.items() if k != "发布编号"}


def _list_industry(lst: pd.DataFrame) -> Industry | None:
    if "industry" not in lst.columns or not len(lst):
        return None
    return load_industries().get(str(lst["industry"].iloc[0]))


def list_info(lst: pd.DataFrame, info: dict | None = None) -> dict[str, str]:
    """The 说明 items of a written list: ``info`` (:func:`list_notes`, or a publication's notes),
    completed from the list's industry config where it lacks them (industry, regulator, band table
    per grade, veto rules with their legal basis) and always with the legal basis of the evaluation
    and the disclaimer."""
    out = {str(k): "" if v is None else str(v) for k, v in (info or {}).items()}
    ind = _list_industry(lst)
    extra: dict[str, str] = {}
    if ind is not None:
        extra |= {"行业": f"{ind.name_zh} ({ind.code})", "监管部门": ind.regulator}
        if "as_of" in lst.columns:
            extra["评价基准日"] = str(lst["as_of"].iloc[0])
        if not any(k.startswith("分级表：") for k in out):
            extra |= band_rows(ind)
        if not any(k.startswith("直接定级规则") for k in out):
            extra |= veto_rules(ind)
    extra |= {"评价依据": EVALUATION_BASIS, "免责声明": DISCLAIMER}
    for k, v in extra.items():
        out.setdefault(k, v)
    return out


def reading_columns(lst: pd.DataFrame) -> list[str]:
    """The columns a regulator reads, in :func:`list_columns` order: the key columns, the
    organisation's, the reasons and :data:`READING_COLUMNS` (what a printed list shows)."""
    first = [c for c in (*KEY_COLUMNS, *ORGANISATION_COLUMNS, *READING_COLUMNS) if c in lst.columns]
    reasons = [c for c in lst.columns if str(c).startswith("reason_") and c not in first]
    at = first.index("veto_zh") if "veto_zh" in first else len(first)
    return first[:at] + reasons + first[at:]


def list_columns(lst: pd.DataFrame) -> list[str]:
    """The order of a written list's columns: code, name, grade (the key columns), the
    organisation's district, address and legal representative when known, what a regulator acts on
    (:data:`READING_COLUMNS`: score, sampling ratio and frequency, reasons, veto with its code beside
    it, new entrant, rules,
    previous grade and change), then the rest (industry, dates, probabilities, codes) as
    :func:`grade_list` orders them."""
    first = reading_columns(lst)
    return first + [c for c in lst.columns if c not in first]


def list_shown(lst: pd.DataFrame) -> pd.DataFrame:
    """The list as officials read it: the columns in :func:`list_columns` order, Chinese headers,
    booleans as 是/否 (codes stay in their own columns)."""
    out = lst[list_columns(lst)].copy()
    for c in out.columns:
        if pd.api.types.is_bool_dtype(out[c].dtype) or (
            out[c].dtype == object
            and out[c].dropna().map(lambda v: isinstance(v, (bool, np.bool_))).all()
            and out[c].notna().any()
        ):
            out[c] = out[c].map(lambda v: "" if v is None or v is pd.NA else ("是" if bool(v) else "否"))
    return out.rename(columns=LIST_COLUMNS_ZH)


def _migration_frame(mig: pd.DataFrame) -> pd.DataFrame:
    out = mig.copy()
    out.columns = [str(c) for c in out.columns]
    out.insert(0, "上期等级＼本期等级", [str(i) for i in out.index])
    return out.reset_index(drop=True)


def grade_list_sheets(lst: pd.DataFrame, info: dict | None = None) -> list[Sheet]:
    """The sheets of a grade list workbook: 等级名单 (code, name and grade frozen and on every
    printed page), 等级分布, 迁移矩阵, 说明 (:func:`list_info`)."""
    dist, mig = summary(lst)
    shown = list_shown(lst)
    kinds = {LIST_COLUMNS_ZH.get(c, c): k for c, k in LIST_KINDS.items()}
    notes = list_info(lst, info)
    ind = _list_industry(lst)
    title = "信用等级名单" if ind is None else f"{ind.name_zh}信用等级名单"
    if "as_of" in lst.columns and len(lst):
        title += f"（评价基准日 {lst['as_of'].iloc[0]}）"
    if notes.get("发布编号"):
        title += f" 发布编号 {notes['发布编号']}"
    keys = sum(1 for c in KEY_COLUMNS if c in lst.columns)
    return [
        Sheet(  # printed: the columns a regulator reads (codes, probabilities and dates stay on screen)
            "等级名单",
            shown,
            kinds=kinds,
            key_columns=keys,
            print_title=title,
            max_width=48,
            print_columns=len(reading_columns(lst)),
        ),
        Sheet("等级分布", distribution_zh(dist), kinds=DIST_KINDS, key_columns=1, print_title=title),
        Sheet("迁移矩阵", _migration_frame(mig), key_columns=1, autofilter=False, print_title=title),
        notes_sheet(notes),
    ]


def grade_list_workbook(lst: pd.DataFrame, info: dict | None = None) -> bytes:
    """The grade list workbook as bytes (the service's download; same sheets as :func:`write_grade_list`)."""
    return workbook_bytes(grade_list_sheets(lst, info))


def write_grade_list(lst: pd.DataFrame, path: str | Path, info: dict | None = None) -> list[Path]:
    """Write the list: .xlsx (sheets 等级名单, 等级分布, 迁移矩阵, 说明: :func:`grade_list_sheets`,
    by the one workbook writer :mod:`scoring.core.workbook`) or .csv (the list, plus
    ``<stem>.summary.csv`` and ``<stem>.migration.csv``; UTF-8 with BOM so spreadsheets read Chinese).
    ``lst``: :func:`grade_list`'s frame, or the serving database's rows of a published list
    (:func:`scoring.serving.queries.list_rows`, with the organisations' district, address and masked
    legal representative). Chinese headers and values throughout (是/否; codes in their own
    columns); the 等级分布 sheet shows every grade's share against the target share and its
    tolerance, the vetoed organisations and new entrants apart. Every text cell is inert (no formula:
    :mod:`scoring.core.inert`)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() == ".xlsx":
        write_workbook(path, grade_list_sheets(lst, info))
        return [path]
    if path.suffix.lower() != ".csv":
        raise DataError(f"{path}: the grade list is written as .xlsx or .csv")
    dist, mig = summary(lst)
    paths = [path, path.with_suffix(".summary.csv"), path.with_suffix(".migration.csv")]
    write_csv(list_shown(lst), paths[0], encoding="utf-8-sig")
    write_csv(distribution_zh(dist), paths[1], encoding="utf-8-sig")
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
    ind, _, _, X, subj, prev, _ = _this_and_previous(store, model, as_of, industry, period_months, subject_ids)
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
