"""Lineage commands: models list, models alias, justify."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import typer

from scoring.cli.common import (
    DateOpt,
    JsonOpt,
    StoreOpt,
    SubjectArg,
    TrackingOpt,
    emit_fields,
    emit_frame,
    emit_json,
    emit_text,
    group,
    progress,
)
from scoring.workflows.workspace import Workspace

models_app = group("The MLflow model registry: versions and the aliases that decide what scores.")


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")
    app.command()(justify)


@models_app.command("list")
def models_list(store: Path | None = StoreOpt, tracking_uri: str | None = TrackingOpt, as_json: bool = JsonOpt) -> None:
    """Every registered xinyi model version with its aliases and run."""
    from scoring.workflows.lineage import list_models

    df = list_models(Workspace.find(store, tracking_uri))
    if as_json:
        emit_json(df.to_dict(orient="records"))
    else:
        emit_frame(df, title=f"registered models ({len(df)} versions)")


@models_app.command("alias")
def models_alias(
    name: str = typer.Argument(
        ..., metavar="NAME", help="Registered model, e.g. xinyi-grades-construction or xinyi-points-card."
    ),
    version: str = typer.Argument(..., metavar="VERSION", help="The version to point the alias at."),
    alias: str = typer.Option("champion", "--alias", metavar="NAME", help="The alias to move."),
    store: Path | None = StoreOpt,
    tracking_uri: str | None = TrackingOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Point an alias at a version (promote a challenger to champion)."""
    from scoring.workflows.lineage import promote

    res = promote(Workspace.find(store, tracking_uri), name, version, alias)
    if as_json:
        emit_json(res.to_dict())
    else:
        emit_text(f"{res.name}@{res.alias} -> v{res.version}: the alias now points at version {res.version}.")


def justify(
    subject: str = SubjectArg,
    store: Path | None = StoreOpt,
    as_of: dt.date = DateOpt("--as-of", "The as-of date of the published result."),
    publication: str | None = typer.Option(
        None, "--publication", metavar="ID", help="A publication id (default: the latest for that date)."
    ),
    tracking_uri: str | None = TrackingOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Re-derive a published score or grade exactly: the registered model version that produced it,
    the archive as known at publication, the configs in force at publication (and how today's
    differ), the reasons with their records, the band evidence, the metrics. Exit code 1 when the
    re-derived result differs from the publication."""
    from scoring.workflows.lineage import justify_result

    ws = Workspace.find(store, tracking_uri)
    with ws.open() as st:
        j = justify_result(st, ws, subject, as_of, publication=publication, progress=progress())
    if as_json:
        emit_json(j)
    else:
        show_justification(j)
    if not j["match"]:
        raise typer.Exit(1)


def show_configs(c: dict) -> None:
    """The configs part of a justification: the bundles in force at fit, at publication and today,
    and every change since the publication (file and key, old and new value)."""
    if not c:
        return

    def short(h: str | None) -> str:
        return h[:16] if h else "not recorded"

    emit_fields(
        {
            "re-derived with": "the publication's configs" if c.get("in_force") == "publication" else "today's configs",
            "published with": short(c.get("published")),
            "fitted with": short(c.get("fit")),
            "today": short(c.get("today")),
        },
        title="configs (配置版本)",
    )
    emit_text(c.get("note", ""))
    changes = c.get("changes") or []
    if changes:
        emit_text("Changed since the publication (publication -> today):")
        for line in changes:
            emit_text(f"  {line}")
    for key, what in (("fit_to_published", "the publication"), ("fit_to_today", "today")):
        for i, line in enumerate(c.get(key) or []):
            if i == 0:
                emit_text(f"Changed between the fit and {what}:")
            emit_text(f"  {line}")


def show_justification(j: dict) -> None:
    """A readable summary of :func:`scoring.lineage.justify.justify` (the full record: --json)."""
    m, snap = j["model"], j["data_snapshot"]
    verdict = "matches the publication" if j["match"] else "DOES NOT match the publication"
    emit_text(
        f"{j['subject']} as of {j['as_of']}: published {j['published']}, re-derived {j['rederived']} — {verdict}."
    )
    emit_fields(
        {
            "publication": j["publication_id"],
            "model": f"{m['name']} v{m['version']}" + (f" ({m['content_version']})" if m["content_version"] else ""),
            "MLflow run": m["run_id"],
            "data snapshot": f"batch {snap['batch']}, fingerprint {snap['fingerprint'][:16]}",
        }
    )
    show_configs(j.get("configs") or {})
    if j["kind"] == "grade_list":
        from scoring.cli.grades import show_grade_reasons

        show_grade_reasons(j)
        band = j.get("band_evidence")
        if band:
            keep = {k: v for k, v in band.items() if not isinstance(v, list | dict) and k != "what"}
            emit_fields(keep, title=f"band evidence: {band.get('what', '')}")
    else:
        if j.get("status") == "suspended":
            emit_text(f"Suspended (暂停计分): {j.get('reason')}")
        items = [
            {
                "item": i["label_zh"],
                "value": i["value"],
                "points": f"{i['points']}/{i['max_points']}",
                "records": len(i["records"]),
            }
            for i in j.get("items", [])
        ]
        if items:
            emit_frame(pd.DataFrame(items), title="line items (明细)")
        band = j.get("band_evidence") or {}
        emit_fields({k: band.get(k) for k in ("auc", "ks", "ece", "holdout_cutoff")}, title=band.get("what"))
    metrics = {
        k: v for k, v in sorted(j.get("metrics", {}).items()) if k in ("auc", "ks", "gini", "brier", "ece", "qwk")
    }
    if metrics:
        emit_fields(metrics, title="model metrics (MLflow run)")
    emit_text("The full record: add --json.")
