"""行业信用评价 workflows: fit the contenders of an industry (optionally tuned), register the champion
and its challengers, write and publish its grade list, explain one organisation's grade.

Which grader grades (:func:`load_grade_model`): a grader file when given, else the registered version
of an alias or a version number of ``xinyi-grades-<industry>``, by default its ``champion``. Any
grader of the protocol (:class:`~scoring.grades.model.Grader`: LightGBM, the pooled model, the
expert sheet, ordinal logistic regression) grades lists, explains and serves the same way.

**Registration** (:func:`fit_and_register_grades`): the contenders are compared on the same hold-out
(:mod:`scoring.grades.champion`). The registered champion of an earlier fit competes too (as
``incumbent``, first in the order: a new contender must beat it by the margin), when it reads the
industry's features and its folds end before this fit's hold-out labels begin; it keeps the
``champion`` alias unless beaten. A champion that cannot compete keeps its alias and the new
winner becomes the ``challenger`` (a new version never replaces the champion without evidence).
The winner of a fit is registered with alias ``champion`` (or ``challenger``, as said), the
runner-up with ``challenger``, further challengers (``champion.challengers`` in
configs/grading.yaml) without alias; every version is tagged with its contender
(``xinyi.contender``) and role (``xinyi.role``). An explicit ``alias`` overrides all of this: the
fit's winner among the new contenders gets it, and nothing else is registered.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from scoring.archive.store import Store
from scoring.core.errors import DataError, NotFoundError
from scoring.features.industry import Industry
from scoring.grades.model import Grader
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
) -> tuple[Grader, Registered | None]:
    """The grader of ``industry``: ``choice.file``, else its registered version or alias
    (default champion)."""
    from scoring.grades.model import is_grader, load_grader
    from scoring.lineage.registry import grades_name

    industry_config(industry)
    if choice.file is not None:
        if not choice.file.exists():
            raise NotFoundError(
                f"{choice.file}: no grade model here; fit one with `scoring grades fit --industry {industry}`"
            )
        with data_errors():
            model = load_grader(choice.file)
    else:
        obj, reg = load_registered_model(ws, grades_name(industry), choice)
        if not is_grader(obj):
            raise DataError(f"{reg.name} v{reg.version} is not a grader; register one with `scoring grades fit`")
        return obj, reg
    from scoring.grades.lists import model_industry

    with data_errors():
        model_industry(model, industry)
    return model, None


@dataclass(frozen=True)
class GradeFit:
    """A fitted industry: the champion grader, its file, hold-out evidence (every contender, the
    decision, tuning), run, registered version, and the challengers registered beside it."""

    industry: str
    model: Grader
    evidence: dict
    path: Path
    run_id: str
    registered: Registered
    challengers: tuple[Registered, ...] = ()

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
            "contender": ev.get("contender"),
            "contender_zh": ev.get("contender_zh"),
            "selection": ev.get("selection"),
            "challengers": [
                {"registered": f"{r.name} v{r.version}", "aliases": list(r.aliases)} for r in self.challengers
            ],
            **{k: ev[k] for k in keys if k in ev},
            "tuning": ev.get("tuning"),
        }
        if full:
            d.update({k: ev[k] for k in ("per_grade", "per_class", "baselines", "champion") if k in ev})
        return d


def _registered_champion(ws: Workspace, industry: str) -> tuple[Grader, Registered] | None:
    """The registered champion of ``industry`` and its version, or None (none yet, or unreadable:
    logged, then the fit goes on as the first)."""
    import logging

    from scoring.core.errors import XinyiError
    from scoring.grades.model import is_grader
    from scoring.lineage.registry import grades_name, load_registered, resolve

    name = grades_name(industry)
    try:
        resolve(ws.tracking_uri, name, alias="champion")
    except LookupError:
        return None
    try:
        obj, reg = load_registered(ws.tracking_uri, name, alias="champion")
    except (XinyiError, OSError) as exc:
        logging.getLogger(__name__).warning("%s: the registered champion cannot be loaded (%s)", name, exc)
        return None
    return (obj, reg) if is_grader(obj) else None


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
    """Fit an industry's contenders (LightGBM tuned first with Optuna when ``trials`` > 0, every
    trial logged; or with ``params``), compare them with the registered champion on the same
    hold-out, save the champion (default ``<workspace>/models/grades/<industry>.json``; challengers
    beside it as ``<industry>.<contender>.json``), log the run to MLflow and register the champion
    and its challengers as new versions of ``xinyi-grades-<industry>`` (see the module docstring)."""
    from scoring.features.training import training_set
    from scoring.grades.champion import INCUMBENT
    from scoring.grades.grading import load_grading_config, run_championship, tune_industry
    from scoring.lineage.configs import log_bundle
    from scoring.lineage.registry import CONTENDER_TAG, ROLE_TAG, grades_name, register, set_alias, set_version_tags
    from scoring.lineage.tracking import log_grade_fit, trial_logger

    industry_config(industry)
    cfg = load_grading_config()
    tuning = None
    if trials > 0:
        progress(f"{industry}: Optuna, up to {trials} trials in {timeout:.0f}s")
        on_trial = trial_logger(ws.tracking_uri, store, industry)
        tuning = tune_industry(store, industry, n_trials=trials, timeout=timeout, on_trial=on_trial)
        params = tuning["best_params"] or None
    current = None if alias is not None else _registered_champion(ws, industry)
    progress(f"{industry}: fit the contenders on rolling cut-offs, compare them on the hold-out")
    with data_errors():
        ch = run_championship(store, industry, cfg, params, incumbent=current[0] if current else None)
    ev = ch.evidence
    if tuning:
        ev["tuning"] = tuning
    path = Path(out) if out else ws.path("models", "grades", f"{industry}.json")
    winner = ch.champion
    kept = winner.name == INCUMBENT  # the registered champion was not beaten
    # a registered champion that could not compete keeps its alias: the new winner is its challenger
    blocked = current is not None and not kept and ch.contenders[INCUMBENT].excluded != ""
    winner.grader.save(path)
    progress(f"{industry}: log to MLflow and register ({winner.zh})")
    run_id = log_grade_fit(
        winner.grader, ev, store, tracking_uri=ws.tracking_uri, artifacts=ws.artifacts, model_path=path
    )
    log_bundle(ws.tracking_uri, run_id)  # 配置版本: the configs this fit ran with (scoring.lineage.configs)
    example = training_set(store, [ev["holdout_cutoff"]], subjects="organisations", industry=industry)
    name = grades_name(industry)

    def new_version(c, file: Path, aliases: tuple[str, ...], role: str) -> Registered:
        c.grader.info_["mlflow_run_id"] = run_id  # the run that holds its evidence
        c.grader.save(file)
        tags = {CONTENDER_TAG: c.kind, ROLE_TAG: role}
        return register(
            ws.tracking_uri, name=name, model_path=file, kind="grade", run_id=run_id, example=example,
            aliases=aliases, tags=tags,
        )  # fmt: skip

    if kept:
        assert current is not None
        reg = current[1]
        set_version_tags(ws.tracking_uri, name, reg.version, {"xinyi.retained_by_run": run_id})
    else:
        first = (alias,) if alias is not None else ("challenger",) if blocked else ("champion",)
        reg = new_version(winner, path, first, "challenger" if blocked else "champion")
    challengers: list[Registered] = []
    if alias is None and not blocked:
        # a contender identical to the champion or to the registered champion (same content hash) is
        # not registered again
        same = {winner.grader.version_, *((current[0].version_,) if current else ())}
        picks = [c for c in ch.challengers() if c.name == INCUMBENT or c.grader.version_ not in same]
        for i, c in enumerate(picks[: cfg.champion.challengers]):
            aliases = ("challenger",) if i == 0 else ()
            if c.name == INCUMBENT:  # the beaten champion stays registered: it becomes the challenger
                assert current is not None
                for a in aliases:
                    set_alias(ws.tracking_uri, name, a, current[1].version)
                challengers.append(Registered(name, current[1].version, current[1].run_id, aliases, current[1].uri))
                continue
            file = path.with_name(f"{path.stem}.{c.kind}{path.suffix}")
            challengers.append(new_version(c, file, aliases, "challenger"))
    return GradeFit(industry, winner.grader, ev, path, run_id, reg, tuple(challengers))


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
    serving: str | None = None,
    progress: Progress = quiet,
) -> GradeList:
    """Grade every organisation of the industry as of a date and write the list (.xlsx with the
    sheets 等级名单, 等级分布, 迁移矩阵, 说明; or .csv), by default to
    ``<workspace>/grades/<industry>_<date>_v<version>.xlsx``; with ``publish`` record it as a
    publication naming the registered version. Published files are never overwritten: an existing
    ``out`` is refused, or with ``keep_existing`` kept as it is (the main job, run again). With
    ``publish`` and ``serving`` (a serving database URL) the publication is pushed there right
    after (:func:`scoring.serving.push.push_published_grade_list`)."""
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
    registered = f"{reg.name} v{reg.version}" if reg else "(model file)"
    notes = list_notes(
        pop, model, registered=registered, run_id=run_id, fingerprint=store.fingerprint(), configs=current_hash()
    )
    if path.exists() and keep_existing:
        files = [path]
    else:
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
        if serving is not None:
            from scoring.serving.database import connect
            from scoring.serving.push import push_published_grade_list

            progress(f"{industry}: pushing the list into the serving database")
            eng = connect(serving)
            try:
                with eng.begin() as conn:
                    push_published_grade_list(conn, store, publication=pub, pop=pop, model=model, lst=lst, notes=notes)
            finally:
                eng.dispose()
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
