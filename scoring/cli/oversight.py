"""Oversight commands: monitor grades / points / compare, report grades / points."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import typer

from scoring.cli.common import (
    AliasOpt,
    DateOpt,
    JsonOpt,
    StoreOpt,
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

monitor_app = group("Monitoring between two dates: PSI/CSI, migration, calibration drift, champion/challenger.")
report_app = group("HTML model reports and model cards per registered version.")
RefOpt: Any = DateOpt("--reference", "The reference (expected) date.")
CurOpt: Any = DateOpt("--current", "The current (actual) date, not after the export date.")
OutDirOpt: Any = typer.Option(
    None, "--out-dir", metavar="FOLDER", help="Folder for the report (default: reports/ beside the store)."
)


def register(app: typer.Typer) -> None:
    app.add_typer(monitor_app, name="monitor")
    app.add_typer(report_app, name="report")


def _emit_monitoring(r: dict, as_json: bool) -> None:
    from scoring.workflows.oversight import frames_to_records

    if as_json:
        emit_json(frames_to_records(r))
        return
    what = "信义金 points" if r["kind"] == "points" else f"{r['industry']} risk score"
    emit_text(
        f"{what}: reference {r['reference']} -> current {r['current']} "
        f"({r['rows']['reference']:,} -> {r['rows']['current']:,} subjects); PSI {r['psi']:.4f}."
    )
    emit_frame(r["csi"].head(10).round(4), title="CSI, largest first")
    if "migration" in r:
        emit_frame(r["migration"].reset_index(), title="grade migration: reference (rows) -> current (columns)")
        emit_fields(r["migration_summary"], title="migration summary")
    if r["calibration"] is not None:
        emit_frame(r["calibration"].round(4), title="calibration drift: predicted vs observed (95% Wilson interval)")
    else:
        emit_text(r["calibration_note"])
    alerts = "; ".join(f"{a['level']} {a['what']} {a['value']:.4f}" for a in r["alerts"])
    emit_text(f"Alerts: {alerts}." if alerts else "Alerts: none.")


@monitor_app.command("grades")
def monitor_grades_cmd(
    industry: str = typer.Option(..., "--industry", metavar="CODE", help="Industry code."),
    reference: dt.date = RefOpt,
    current: dt.date = CurOpt,
    store: Path | None = StoreOpt,
    alias: str | None = AliasOpt,
    version: str | None = VersionOpt,
    model: Path | None = typer.Option(
        None, "--model", metavar="FILE", help="A grade model file instead of the registry."
    ),
    tracking_uri: str | None = TrackingOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Risk-score PSI, feature CSI, grade migration and calibration drift of an industry model."""
    from scoring.workflows.oversight import monitor_grades

    ws = Workspace.find(store, tracking_uri)
    with ws.open() as st:
        r = monitor_grades(
            st, ws, industry, reference, current, choice=ModelChoice(model, alias, version), progress=progress()
        )
    _emit_monitoring(r, as_json)


@monitor_app.command("points")
def monitor_points_cmd(
    reference: dt.date = RefOpt,
    current: dt.date = CurOpt,
    store: Path | None = StoreOpt,
    alias: str | None = AliasOpt,
    version: str | None = VersionOpt,
    card: Path | None = typer.Option(None, "--card", metavar="FILE", help="A card file instead of the registry."),
    tracking_uri: str | None = TrackingOpt,
    as_json: bool = JsonOpt,
) -> None:
    """信义金 points PSI, card-feature CSI over the card's bins, and calibration drift by points decile."""
    from scoring.workflows.oversight import monitor_points

    ws = Workspace.find(store, tracking_uri)
    with ws.open() as st:
        r = monitor_points(st, ws, reference, current, choice=ModelChoice(card, alias, version), progress=progress())
    _emit_monitoring(r, as_json)


@monitor_app.command("compare")
def monitor_compare_cmd(
    industry: str = typer.Option(..., "--industry", metavar="CODE", help="Industry code."),
    as_of: dt.date = DateOpt("--as-of", "Both versions grade the organisations of this date."),
    store: Path | None = StoreOpt,
    champion: str = typer.Option("champion", "--champion", metavar="ALIAS", help="Alias of the model in force."),
    challenger: str = typer.Option("challenger", "--challenger", metavar="ALIAS", help="Alias of the candidate."),
    tracking_uri: str | None = TrackingOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Champion/challenger: both registered versions on the same organisations and date."""
    from scoring.workflows.oversight import compare_versions, frames_to_records

    ws = Workspace.find(store, tracking_uri)
    with ws.open() as st:
        r = compare_versions(st, ws, industry, as_of, champion=champion, challenger=challenger, progress=progress())
    if as_json:
        emit_json(frames_to_records(r))
        return
    v = r["versions"]
    emit_text(
        f"{industry} as of {r['as_of']}: {champion} v{v['champion']} and {challenger} v{v['challenger']} give the "
        f"same grade to {r['same_grade']:.1%} of {r['organisations']:,} organisations."
    )
    emit_frame(r["distribution"].reset_index(), title="grade distribution")
    emit_frame(r["agreement"].reset_index(), title=f"{champion} (rows) vs {challenger} (columns)")
    if r["metrics"] is not None:
        emit_frame(r["metrics"].round(4), title="on the outcome after the as-of date")


def _report(
    name: str,
    store: Path | None,
    alias: str | None,
    version: str | None,
    tracking_uri: str | None,
    out_dir: Path | None,
    as_json: bool,
) -> None:
    from scoring.workflows.oversight import write_model_report

    ws = Workspace.find(store, tracking_uri)
    with ws.open() as st:
        rep = write_model_report(
            st, ws, name, choice=ModelChoice(None, alias, version), out_dir=out_dir, progress=progress()
        )
    if as_json:
        emit_json(rep.to_dict())
    else:
        emit_text(
            f"Report of {rep.registered.name} v{rep.registered.version}: {rep.path} (attached to MLflow run {rep.registered.run_id})."
        )


@report_app.command("grades")
def report_grades(
    industry: str = typer.Option(..., "--industry", metavar="CODE", help="Industry code."),
    store: Path | None = StoreOpt,
    alias: str | None = AliasOpt,
    version: str | None = VersionOpt,
    tracking_uri: str | None = TrackingOpt,
    out_dir: Path | None = OutDirOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Report and model card of a registered industry grade model; attached to its MLflow run."""
    from scoring.lineage.registry import grades_name

    _report(grades_name(industry), store, alias, version, tracking_uri, out_dir, as_json)


@report_app.command("points")
def report_points(
    store: Path | None = StoreOpt,
    alias: str | None = AliasOpt,
    version: str | None = VersionOpt,
    tracking_uri: str | None = TrackingOpt,
    out_dir: Path | None = OutDirOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Report and model card (with the fairness audit) of the registered 信义金 card; attached to its run."""
    from scoring.lineage.registry import POINTS_NAME

    _report(POINTS_NAME, store, alias, version, tracking_uri, out_dir, as_json)
