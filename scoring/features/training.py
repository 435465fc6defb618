"""Training sets: features at a cut-off T plus the outcome label in (T, T + horizon].

Reusable by every model (信义金 points card, industry grade models). Features at T see only what
counted at T (:mod:`scoring.features.asof`); the label looks only after T, so nothing leaks. Several
rolling cut-offs stack into one frame with a ``cutoff`` column.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
from pydantic import BaseModel, ConfigDict

from scoring.archive.store import Store
from scoring.core.config import config_dir, load_model
from scoring.core.dates import add_months
from scoring.core.errors import ConfigError, DataError
from scoring.features.industry import GRADES


class Outcome(BaseModel):
    """configs/labels.yaml ``outcome``: what counts as the bad outcome after a cut-off."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    label_zh: str
    label_en: str
    horizon_months: int
    serious_of: list[str]
    any_of: list[str]


class ExpertGrade(BaseModel):
    """configs/labels.yaml ``expert_grade``: the next 行业信用评价 grade after a cut-off."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    label_zh: str
    label_en: str
    record_type: str
    horizon_months: int


class _Labels(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcome: Outcome
    expert_grade: ExpertGrade | None = None


def load_outcome(path: str | Path | None = None) -> Outcome:
    p = Path(path) if path is not None else config_dir() / "labels.yaml"
    return load_model(_Labels, p).outcome


def load_expert_grade(path: str | Path | None = None) -> ExpertGrade:
    p = Path(path) if path is not None else config_dir() / "labels.yaml"
    eg = load_model(_Labels, p).expert_grade
    if eg is None:
        raise ConfigError(f"{p}: no expert_grade section; add one to train on expert grades")
    return eg


def expert_grade_sql(expert: ExpertGrade, cutoff: dt.date) -> str:
    """SQL selecting (subject_id, grade_index) of the first expert grade in (cutoff, cutoff + horizon];
    grade_index 0 = 优秀 .. 4 = 差. Revoked records and records removed by an upheld objection do not count."""
    end = add_months(cutoff, expert.horizon_months)
    idx = " ".join(f"WHEN '{g}' THEN {i}" for i, g in enumerate(GRADES))
    return f"""
        SELECT subject_id, CASE arg_min(grade, event_date) {idx} END AS grade_index FROM records
        WHERE record_type = '{expert.record_type}' AND event_date > DATE '{cutoff}' AND event_date <= DATE '{end}'
          AND revoked_on IS NULL AND coalesce(objection_outcome, '') <> 'upheld'
        GROUP BY subject_id
    """


def outcome_sql(outcome: Outcome, cutoff: dt.date, horizon_months: int | None = None) -> str:
    """SQL selecting subject_id of subjects with the outcome in (cutoff, cutoff + horizon]."""
    end = add_months(cutoff, horizon_months or outcome.horizon_months)
    serious = ", ".join(f"'{c}'" for c in outcome.serious_of)
    any_of = ", ".join(f"'{c}'" for c in outcome.any_of)
    return f"""
        SELECT DISTINCT subject_id FROM records
        WHERE event_date > DATE '{cutoff}' AND event_date <= DATE '{end}'
          AND revoked_on IS NULL AND coalesce(objection_outcome, '') <> 'upheld'
          AND ((record_type IN ({serious}) AND severity = 'serious') OR record_type IN ({any_of}))
    """


def training_set(
    store: Store,
    cutoffs: Iterable[dt.date | str],
    *,
    subjects: str = "organisations",
    industry: str | None = None,
    horizon_months: int | None = None,
    engine: str = "polars",
    outcome: Outcome | None = None,
    label: str = "outcome",
) -> pd.DataFrame:
    """Features at each cut-off with labels from (cut-off, cut-off + horizon].

    Returns columns ``cutoff``, ``subject_id``, the features, ``outcome`` (0/1) and ``label``: the
    outcome itself (``label="outcome"``), or the next expert grade's index 0 = 优秀 .. 4 = 差
    (``label="expert_grade"``; subjects without one are left out). The horizon must end on or before
    the store's latest export date, or the labels would be incomplete.
    """
    if label not in ("outcome", "expert_grade"):
        raise DataError(f"label must be 'outcome' or 'expert_grade', got {label!r}")
    expert = load_expert_grade() if label == "expert_grade" else None
    from scoring.features.builder import FeatureBuilder

    outcome = outcome or load_outcome()
    h = max(horizon_months or outcome.horizon_months, expert.horizon_months if expert else 0)
    latest = store.con.execute("SELECT max(export_date) FROM ingest_batches").fetchall()[0][0]
    builder = FeatureBuilder(store, subjects=subjects, industry=industry, engine=engine)
    parts = []
    for c in cutoffs:
        cut = dt.date.fromisoformat(c) if isinstance(c, str) else c
        if latest is not None and add_months(cut, h) > latest:
            raise DataError(
                f"cut-off {cut} + {h} months is after the archive's export date {latest}; "
                "labels would be incomplete: choose an earlier cut-off"
            )
        fm = builder.at(cut)
        pos = set(store.con.execute(outcome_sql(outcome, cut, horizon_months)).df()["subject_id"])
        df = fm.values.reset_index()
        df.insert(0, "cutoff", cut)
        df["outcome"] = df["subject_id"].isin(pos).astype("int8")
        if expert is None:
            df["label"] = df["outcome"]
        else:
            g = store.con.execute(expert_grade_sql(expert, cut)).df().set_index("subject_id")["grade_index"]
            df["label"] = df["subject_id"].map(g)
            df = df[df["label"].notna()].astype({"label": "int8"})
        parts.append(df)
    return pd.concat(parts, ignore_index=True)


#: the ``industry`` value of organisations whose GB/T 4754 class belongs to no configured industry
UNCONFIGURED = "_unconfigured"


def pooled_training_set(
    store: Store,
    cutoffs: Iterable[dt.date | str],
    *,
    label: str = "outcome",
    include_unconfigured: bool = True,
    engine: str = "polars",
    outcome: Outcome | None = None,
) -> pd.DataFrame:
    """The pooled training set (全市合并样本): every organisation of the archive at each cut-off, on
    the common organisation feature set (configs/features/organisation.yaml), with the label of
    :func:`training_set` and an ``industry`` column: the code of the configured industry its GB/T
    4754 class belongs to, or :data:`UNCONFIGURED` (left out when ``include_unconfigured`` is
    False). The frame of the pooled organisation model (:mod:`scoring.grades.pooled`)."""
    from scoring.features.industry import industry_of, load_industries

    df = training_set(
        store, cutoffs, subjects="organisations", industry=None, engine=engine, outcome=outcome, label=label
    )
    inds = load_industries()
    classes = store.con.execute("SELECT subject_id, industry_code FROM subjects WHERE subject_type <> 'person'").df()
    by_class = {c: industry_of(c, inds) or UNCONFIGURED for c in classes["industry_code"].dropna().unique()}
    code = classes.set_index("subject_id")["industry_code"].map(by_class).fillna(UNCONFIGURED)
    df.insert(2, "industry", df["subject_id"].map(code).fillna(UNCONFIGURED).astype(str))
    if not include_unconfigured:
        df = df[df["industry"] != UNCONFIGURED].reset_index(drop=True)
    return df
