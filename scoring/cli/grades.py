"""行业信用评价 commands: grades fit, list, explain.

The model that grades is the industry's registered champion beside the store unless ``--alias``,
``--version`` or ``--model FILE`` says otherwise.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pandas as pd
import typer

from scoring.cli.common import (
    AliasOpt,
    DateOpt,
    FitAliasOpt,
    JsonOpt,
    StoreOpt,
    SubjectArg,
    TrackingOpt,
    VersionOpt,
    emit_fields,
    emit_frame,
    emit_json,
    emit_text,
    group,
    progress,
)
from scoring.workflows.points import ModelChoice
from scoring.workflows.workspace import Workspace

grades_app = group("行业信用评价: industry grade models for 分级分类监管.")
IndustryOpt: Any = typer.Option(
    ..., "--industry", metavar="CODE", help="Industry code (configs/industries/<code>.yaml)."
)
ModelOpt: Any = typer.Option(None, "--model", metavar="FILE", help="A grade model file instead of the registry.")


def register(app: typer.Typer) -> None:
    app.add_typer(grades_app, name="grades")


def show_grade_reasons(e: dict) -> None:
    """A grade's calibrated probabilities, the rules applied and its reasons with their records
    (an explanation or a justification of a grade)."""
    emit_frame(pd.DataFrame([e["probabilities"]]).round(4), title="calibrated grade probabilities")
    if e.get("rules"):
        emit_text("Rules applied: " + e["rules"])
    rows = [
        {
            "reason": r["text"],
            "records": "; ".join(
                f"{x['record_type']} {x['event_date']} {x.get('document_no') or ''}" for x in r["records"]
            )
            or "—",
        }
        for r in e["reasons"]
    ]
    emit_frame(pd.DataFrame(rows, columns=["reason", "records"]), title="reasons (veto first, then SHAP)")


@grades_app.command("fit")
def grades_fit(
    industry: str = IndustryOpt,
    store: Path | None = StoreOpt,
    out: Path | None = typer.Option(
        None, "--out", metavar="FILE", help="Model file (default: models/grades/<code>.json beside the store)."
    ),
    tracking_uri: str | None = TrackingOpt,
    trials: int = typer.Option(
        0, "--trials", min=0, help="Optuna trials before the final fit (0: the config's parameters)."
    ),
    timeout: float = typer.Option(120.0, "--timeout", min=1, help="Seconds allowed for tuning."),
    alias: str | None = FitAliasOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Fit an industry's contenders (LightGBM optionally tuned with Optuna, the pooled model, the
    expert sheet, ordinal logistic regression), compare them with the registered champion on the
    hold-out cut-off, log every trial and the decision to MLflow, register the champion and challenger."""
    from scoring.workflows.grades import fit_and_register_grades

    ws = Workspace.find(store, tracking_uri)
    with ws.open() as st:
        fit = fit_and_register_grades(
            st, ws, industry, trials=trials, timeout=timeout, out=out, alias=alias, progress=progress()
        )
    if as_json:
        emit_json({**fit.to_dict(full=True), "tracking_uri": ws.tracking_uri})
        return
    ev = fit.evidence
    emit_frame(
        pd.DataFrame(ev["per_grade"]).round(4),
        title=f"{industry}: hold-out {ev['holdout_cutoff']}, outcome rate per grade",
    )
    emit_frame(
        pd.DataFrame(ev["baselines"]).round(4),
        title="the contenders on the same hold-out (champion by evidence, configs/grading.yaml champion)",
    )
    emit_text(f"冠军：{ev.get('contender_zh', '')}。{ev.get('selection', '')}")
    d = fit.to_dict()
    tuning = d.pop("tuning")
    emit_fields(
        {k: v for k, v in d.items() if k not in ("model", "mlflow_run_id", "registered", "aliases")}, "hold-out"
    )
    if tuning:
        emit_fields({k: v for k, v in tuning.items() if not isinstance(v, list | dict) or k == "best_params"}, "tuning")
    emit_text(
        f"Saved {d['model']}; MLflow run {d['mlflow_run_id']}; registered as {d['registered']} ({', '.join(d['aliases'])})."
    )


@grades_app.command("list")
def grades_list(
    industry: str = IndustryOpt,
    as_of: dt.date = DateOpt("--as-of", "The evaluation date (评价基准日, not after the export date)."),
    out: Path | None = typer.Option(
        None,
        "--out",
        metavar="FILE",
        help="The list: .xlsx (with distribution, migration and notes sheets) or .csv. "
        "Default: grades/<code>_<date>_v<version>.xlsx beside the store.",
    ),
    store: Path | None = StoreOpt,
    alias: str | None = AliasOpt,
    version: str | None = VersionOpt,
    model: Path | None = ModelOpt,
    tracking_uri: str | None = TrackingOpt,
    publish: bool = typer.Option(
        False,
        "--publish",
        help="Record the list as a publication in the store (a registered model only; "
        "the file must not exist yet: publications are never overwritten).",
    ),
    as_json: bool = JsonOpt,
) -> None:
    """The grade list for 分级分类监管: every organisation of the industry with grade, calibrated
    probabilities, supervision measure, top 3 reasons, veto, previous grade and change, model version
    and MLflow run; a summary with the grade distribution and the migration matrix."""
    from scoring.workflows.grades import publish_grade_list

    ws = Workspace.find(store, tracking_uri)
    with ws.open(write=publish) as st:
        res = publish_grade_list(
            st,
            ws,
            industry,
            as_of,
            choice=ModelChoice(model, alias, version),
            out=out,
            publish=publish,
            progress=progress(),
        )
    if as_json:
        emit_json(res.to_dict())
        return
    dist, mig = res.summary()
    who = f"{res.registered.name} v{res.registered.version}" if res.registered else f"model file {model}"
    emit_frame(
        dist.round(4), title=f"{industry} as of {res.as_of}: grade distribution ({len(res.rows)} organisations, {who})"
    )
    emit_frame(mig.reset_index(), title="migration: previous period (rows) -> this period (columns)")
    emit_text(
        "Written: "
        + ", ".join(str(p) for p in res.files)
        + "."
        + (f"\nPublished as {res.publication['publication_id']}." if res.publication else "")
    )


@grades_app.command("explain")
def grades_explain(
    subject: str = SubjectArg,
    store: Path | None = StoreOpt,
    as_of: dt.date = DateOpt("--as-of", "The evaluation date."),
    industry: str | None = typer.Option(
        None, "--industry", metavar="CODE", help="Industry code (default: the organisation's own)."
    ),
    alias: str | None = AliasOpt,
    version: str | None = VersionOpt,
    model: Path | None = ModelOpt,
    tracking_uri: str | None = TrackingOpt,
    top: int = typer.Option(5, "--top", min=1, help="How many SHAP reasons to show."),
    as_json: bool = JsonOpt,
) -> None:
    """Why an organisation has its grade: the veto first, then the top SHAP reasons in Chinese with
    the records behind them (document numbers), the probabilities and the supervision measure."""
    from scoring.workflows.grades import explain_organisation

    ws = Workspace.find(store, tracking_uri)
    with ws.open() as st:
        e = explain_organisation(
            st,
            ws,
            subject,
            as_of,
            industry=industry,
            choice=ModelChoice(model, alias, version),
            top=top,
            progress=progress(),
        )
    if as_json:
        emit_json(e)
        return
    prev = f"（上期 {e['previous_grade']}）" if e["previous_grade"] else ""
    sup = e["supervision"]
    emit_text(
        f"{e['subject']} {e['name']} · {e['industry']} · as of {e['as_of']}: {e['grade']}{prev}; "
        f"model grade {e['model_grade']}; risk {e['risk']:.3f}; 抽查比例 {sup['sampling_ratio']:.0%} ({sup['frequency']})"
    )
    show_grade_reasons(e)
    s = e["shap"]
    emit_text(
        f"SHAP: base {s['base_value']:.4f} + contributions {s['sum_of_contributions']:.4f} = model score "
        f"{s['model_score']:.4f} ({'exact' if s['exact'] else 'NOT exact'}); model {e['model_version']}, "
        f"MLflow run {e['mlflow_run_id'] or '—'}."
    )
