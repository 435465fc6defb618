"""行业信用评价 workflows: fit and register an industry's grade model (optionally tuned), write and
publish its grade list, explain one organisation's grade.

Which model grades (:func:`load_grade_model`): a model file when given, else the registered version
of an alias or a version number of ``xinyi-grades-<industry>``, by default its ``champion``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from scoring.archive.store import Store
from scoring.core.errors import DataError, NotFoundError
from scoring.features.industry import Industry
from scoring.grades.model import GradeModel
from scoring.lineage.registry import Registered
from scoring.workflows.points import ModelChoice, load_registered_model
from scoring.workflows.workspace import Progress, Workspace, check_date, data_errors, not_found, quiet


def industry_config(code: str) -> Industry:
    """The configured industry ``code`` (configs/industries/<code>.yaml)."""
    from scoring.features.industry import load_industries

    inds = load_industries()
    if code not in inds:
        raise NotFoundError(f"unknown industry {code!r}; configured: {', '.join(sorted(inds))}")
    return inds[code]


def sample_industries(store: Store) -> list[str]:
    """The configured industries with at least one organisation in the store."""
    from scoring.features.industry import load_industries

    present = set(
        store.sql("SELECT DISTINCT industry_code FROM subjects WHERE industry_code IS NOT NULL")["industry_code"]
    )
    return [c for c, ind in sorted(load_industries().items()) if present & set(ind.gbt4754)]


def industry_of_subject(store: Store, subject: str) -> str:
    """The configured industry an organisation belongs to (by its GB/T 4754 class)."""
    from scoring.features.industry import industry_of, load_industries

    row = store.sql("SELECT industry_code FROM subjects WHERE subject_id = ?", [subject])
    code = industry_of(row["industry_code"].iloc[0], load_industries()) if len(row) else None
    if code is None:
        raise NotFoundError(
            f"organisation {subject} is not in the archive or belongs to no configured industry: check the "
            "统一社会信用代码 (a grade list, e.g. `scoring grades list --industry construction`, names the graded ones)"
        )
    return code


def load_grade_model(
    ws: Workspace, industry: str, choice: ModelChoice = ModelChoice()
) -> tuple[GradeModel, Registered | None]:
    """The model that grades ``industry``: ``choice.file``, else its registered version or alias
    (default champion)."""
    from scoring.lineage.registry import grades_name

    industry_config(industry)
    if choice.file is not None:
        if not choice.file.exists():
            raise NotFoundError(
                f"{choice.file}: no grade model here; fit one with `scoring grades fit --industry {industry}`"
            )
        model = GradeModel.load(choice.file)
    else:
        obj, reg = load_registered_model(ws, grades_name(industry), choice)
        assert isinstance(obj, GradeModel)
        return obj, reg
    from scoring.grades.lists import model_industry

    with data_errors():
        model_industry(model, industry)
    return model, None


@dataclass(frozen=True)
class GradeFit:
    """A fitted industry model: file, hold-out evidence (with baselines and tuning), run, version."""

    industry: str
    model: GradeModel
    evidence: dict
    path: Path
    run_id: str
    registered: Registered

    def to_dict(self, full: bool = False) -> dict:
        ev = self.evidence
        keys = ("auc", "auc_bad_grades", "qwk_expert_grade", "brier_before", "ece_before", "brier", "ece", "rows")
        d = {
            "industry": self.industry,
            "label": ev["label"],
            "model": str(self.path),
            "model_version": self.model.version_,
            "mlflow_run_id": self.run_id,
            "registered": f"{self.registered.name} v{self.registered.version}",
            "aliases": list(self.registered.aliases),
            **{k: ev[k] for k in keys if k in ev},
            "tuning": ev.get("tuning"),
        }
        if full:
            d.update({k: ev[k] for k in ("per_grade", "per_class", "baselines")})
        return d


def fit_and_register_grades(
    store: Store,
    ws: Workspace,
    industry: str,
    *,
    trials: int = 0,
    timeout: float = 120.0,
    params: dict | None = None,
    out: str | Path | None = None,
    alias: str | None = None,
    progress: Progress = quiet,
) -> GradeFit:
    """Fit an industry's grade model against its baselines (tuned first with Optuna when
    ``trials`` > 0, every trial logged; or with ``params``), check it on the hold-out, save it
    (default ``<workspace>/models/grades/<industry>.json``), log the run to MLflow and register the
    next version of ``xinyi-grades-<industry>`` (champion when there is none, else challenger)."""
    from scoring.features.training import training_set
    from scoring.grades.grading import fit_industry, tune_industry
    from scoring.lineage.configs import log_bundle
    from scoring.lineage.registry import grades_name, register_next
    from scoring.lineage.tracking import log_grade_fit, trial_logger

    industry_config(industry)
    tuning = None
    if trials > 0:
        progress(f"{industry}: Optuna, up to {trials} trials in {timeout:.0f}s")
        on_trial = trial_logger(ws.tracking_uri, store, industry)
        tuning = tune_industry(store, industry, n_trials=trials, timeout=timeout, on_trial=on_trial)
        params = tuning["best_params"] or None
    progress(f"{industry}: fit with the baselines on rolling cut-offs, check on the hold-out")
    with data_errors():
        model, ev = fit_industry(store, industry, params=params)
    if tuning:
        ev["tuning"] = tuning
    path = Path(out) if out else ws.path("models", "grades", f"{industry}.json")
    model.save(path)
    progress(f"{industry}: log to MLflow and register")
    run_id = log_grade_fit(model, ev, store, tracking_uri=ws.tracking_uri, artifacts=ws.artifacts, model_path=path)
    log_bundle(ws.tracking_uri, run_id)  # 配置版本: the configs this fit ran with (scoring.lineage.configs)
    model.info_["mlflow_run_id"] = run_id  # the run that holds this model's evidence
    model.save(path)
    example = training_set(store, [ev["holdout_cutoff"]], subjects="organisations", industry=industry)
    reg = register_next(ws.tracking_uri, grades_name(industry), path, "grade", run_id, example, alias)
    return GradeFit(industry, model, ev, path, run_id, reg)


@dataclass(frozen=True)
class GradeList:
    """An industry's grade list as of a date: the rows, the files written, the publication."""

    industry: str
    as_of: dt.date
    rows: pd.DataFrame
    files: list[Path]
    model_version: str
    run_id: str
    registered: Registered | None
    publication: dict | None

    def summary(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """The grade distribution and the migration matrix."""
        from scoring.grades.lists import summary

        return summary(self.rows)

    def to_dict(self) -> dict:
        dist, mig = self.summary()
        return {
            "industry": self.industry,
            "as_of": self.as_of.isoformat(),
            "organisations": int(len(self.rows)),
            "vetoed": int((self.rows["veto"] != "").sum()),
            "files": [str(p) for p in self.files],
            "model_version": self.model_version,
            "mlflow_run_id": self.run_id,
            "registered": f"{self.registered.name} v{self.registered.version}" if self.registered else None,
            "publication": self.publication,
            "distribution": dist.to_dict(orient="records"),
            "migration": {str(k): {str(c): int(v) for c, v in row.items()} for k, row in mig.iterrows()},
        }


def default_list_path(ws: Workspace, industry: str, as_of: dt.date, reg: Registered | None) -> Path:
    suffix = f"_v{reg.version}" if reg else ""
    return ws.path("grades", f"{industry}_{as_of.isoformat()}{suffix}.xlsx")


def publish_grade_list(
    store: Store,
    ws: Workspace,
    industry: str,
    as_of: dt.date | str,
    *,
    choice: ModelChoice = ModelChoice(),
    out: str | Path | None = None,
    publish: bool = False,
    keep_existing: bool = False,
    progress: Progress = quiet,
) -> GradeList:
    """Grade every organisation of the industry as of a date and write the list (.xlsx with the
    sheets 等级名单, 等级分布, 迁移矩阵, 说明; or .csv), by default to
    ``<workspace>/grades/<industry>_<date>_v<version>.xlsx``; with ``publish`` record it as a
    publication naming the registered version. Published files are never overwritten: an existing
    ``out`` is refused, or with ``keep_existing`` kept as it is (the main job, run again)."""
    from scoring.grades.lists import grade_list, grade_population, list_notes, write_grade_list
    from scoring.lineage.configs import current_hash
    from scoring.lineage.publish import grade_rows
    from scoring.workflows.lineage import publish_rows

    day = check_date(store, as_of)
    if publish and not choice.registered:
        raise DataError("publishing needs a registered model (--alias/--version), not a model file")
    model, reg = load_grade_model(ws, industry, choice)
    path = Path(out) if out else default_list_path(ws, industry, day, reg)
    if path.suffix.lower() not in (".xlsx", ".csv"):
        raise DataError(f"{path}: a grade list is written as .xlsx or .csv")
    if publish and path.exists() and not keep_existing:
        raise DataError(f"{path} exists: published outputs are kept, never overwritten; choose a new file")
    progress(f"{industry}: grading every organisation as of {day}")
    with data_errors():
        pop = grade_population(store, model, day, industry=industry)
    lst = grade_list(pop, model)
    run_id = reg.run_id if reg else str(model.info_.get("mlflow_run_id", ""))
    if path.exists() and keep_existing:
        files = [path]
    else:
        registered = f"{reg.name} v{reg.version}" if reg else "(model file)"
        notes = list_notes(
            pop, model, registered=registered, run_id=run_id, fingerprint=store.fingerprint(), configs=current_hash()
        )
        files = write_grade_list(lst, path, notes)
    pub = None
    if publish and reg is not None:
        pub = publish_rows(
            store,
            reg,
            kind="grade_list",
            scope=industry,
            as_of=day,
            rows=grade_rows(pop.graded),
            content_version=model.version_,
            files=files,
        )
    return GradeList(industry, day, lst, files, model.version_, run_id, reg, pub)


def explain_organisation(
    store: Store,
    ws: Workspace,
    subject: str,
    as_of: dt.date | str,
    *,
    industry: str | None = None,
    choice: ModelChoice = ModelChoice(),
    top: int = 5,
    progress: Progress = quiet,
) -> dict:
    """Why an organisation has its grade: the veto first, then the top SHAP reasons with the records
    behind them, the probabilities and the supervision measure (industry: by default its own)."""
    from scoring.grades import explain

    day = check_date(store, as_of)
    sid = subject.strip().upper()
    own = industry_of_subject(store, sid)
    if industry is not None and industry != own:
        industry_config(industry)
        raise NotFoundError(f"organisation {sid} belongs to industry {own}, not {industry}; omit --industry")
    code = own
    model, _ = load_grade_model(ws, code, choice)
    progress(f"{code}: grading {sid} as of {day} with its SHAP reasons")
    with not_found(), data_errors():
        return explain.explain_organisation(store, model, sid, day, industry=code, top=top)
