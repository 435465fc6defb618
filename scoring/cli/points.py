"""信义金 commands: points fit, score, explain, guidance, diff, compare.

The card that scores is the registry's champion beside the store unless ``--alias``, ``--version``
or ``--card FILE`` says otherwise.
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

points_app = group("信义金 personal points: fit, score, explain, guidance, diff, compare.")
CardOpt: Any = typer.Option(None, "--card", metavar="FILE", help="A card file (JSON) instead of the registry.")


def register(app: typer.Typer) -> None:
    app.add_typer(points_app, name="points")


@points_app.command("fit")
def points_fit(
    store: Path | None = StoreOpt,
    out: Path | None = typer.Option(
        None,
        "--out",
        metavar="FILE",
        help="Where to save the card (default: models/points_card.json beside the store).",
    ),
    config: Path | None = typer.Option(
        None, "--config", metavar="FILE", help="Card settings (default configs/points/card.yaml)."
    ),
    tracking_uri: str | None = TrackingOpt,
    alias: str | None = FitAliasOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Fit the 信义金 card on rolling cut-offs, check it on the hold-out, log it to MLflow, register it."""
    from scoring.workflows.points import fit_and_register_card

    ws = Workspace.find(store, tracking_uri)
    with ws.open() as st:
        fit = fit_and_register_card(st, ws, config=config, out=out, alias=alias, progress=progress())
    if as_json:
        emit_json({**fit.to_dict(), "tracking_uri": ws.tracking_uri})
        return
    emit_frame(fit.card.summary().sort_values("max_points", ascending=False), title="信义金 card: points per feature")
    d = fit.to_dict()
    emit_fields({k: d[k] for k in ("auc", "gini", "ks", "brier", "ece", "holdout_cutoff", "holdout_rows")}, "hold-out")
    emit_text(
        f"Saved {d['card']} (evidence {d['evidence']}); MLflow run {d['mlflow_run_id']}; "
        f"registered as {d['registered']} ({', '.join(d['aliases'])})."
    )


@points_app.command("score")
def points_score(
    store: Path | None = StoreOpt,
    as_of: dt.date = DateOpt("--as-of", "The date of the scores (not after the export date)."),
    out: Path | None = typer.Option(
        None, "--out", metavar="FILE", help="Write every person's score (.csv/.parquet; keyed pseudonyms)."
    ),
    alias: str | None = AliasOpt,
    version: str | None = VersionOpt,
    card: Path | None = CardOpt,
    tracking_uri: str | None = TrackingOpt,
    publish: bool = typer.Option(
        False, "--publish", help="Record the scores as a publication in the store (a registered card only)."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Score every person as of a date (suspended persons get no number)."""
    from scoring.workflows.points import publish_scores

    ws = Workspace.find(store, tracking_uri)
    choice = ModelChoice(card, alias, version)
    with ws.open(write=publish) as st:
        res = publish_scores(st, ws, as_of, choice=choice, out=out, publish=publish, progress=progress())
    d = res.to_dict()
    if as_json:
        emit_json(d)
        return
    emit_text(
        f"信义金 as of {d['as_of']} with {d['card']}: {d['scored']:,} of {d['persons']:,} persons scored, "
        f"{d['suspended']:,} suspended by the bottom-line gate (信用底线)."
    )
    if d["points_quantiles"]:
        emit_frame(pd.DataFrame([d["points_quantiles"]]), title="points of the scored persons (percentiles)")
    if d["publication"]:
        emit_text(f"Published as {d['publication']}.")
    if d["out"]:
        emit_text(f"Scores: {d['out']} (keyed pseudonyms in subject_key).")


@points_app.command("explain")
def points_explain(
    subject: str = SubjectArg,
    store: Path | None = StoreOpt,
    as_of: dt.date = DateOpt("--as-of", "The date of the score."),
    alias: str | None = AliasOpt,
    version: str | None = VersionOpt,
    card: Path | None = CardOpt,
    tracking_uri: str | None = TrackingOpt,
    as_json: bool = JsonOpt,
) -> None:
    """One person's score as they can read it: the items that carry points with the records behind them,
    guidance and scenes; for a suspended person the suspension and how to leave the list."""
    from scoring.workflows.points import explain_person

    ws = Workspace.find(store, tracking_uri)
    with ws.open() as st:
        res = explain_person(st, ws, subject, as_of, choice=ModelChoice(card, alias, version), progress=progress())
    if as_json:
        emit_json(res.to_dict())
        return
    emit_text(res.text())


@points_app.command("guidance")
def points_guidance(
    subject: str = SubjectArg,
    store: Path | None = StoreOpt,
    as_of: dt.date = DateOpt("--as-of", "The date of the score."),
    alias: str | None = AliasOpt,
    version: str | None = VersionOpt,
    card: Path | None = CardOpt,
    tracking_uri: str | None = TrackingOpt,
    as_json: bool = JsonOpt,
) -> None:
    """What the person can do (提升指引): lawful actions in their own reach and the points each adds;
    for a suspended person only how to leave the list."""
    from scoring.points.wording import guidance_text
    from scoring.workflows.points import guide_person

    ws = Workspace.find(store, tracking_uri)
    with ws.open() as st:
        g = guide_person(st, ws, subject, as_of, choice=ModelChoice(card, alias, version))
    if as_json:
        emit_json(g)
        return
    emit_text(guidance_text(g))


@points_app.command("diff")
def points_diff(
    subject: str = SubjectArg,
    store: Path | None = StoreOpt,
    date_from: dt.date = DateOpt("--from", "The earlier date."),
    date_to: dt.date = DateOpt("--to", "The later date (not after the export date)."),
    alias: str | None = AliasOpt,
    version: str | None = VersionOpt,
    card: Path | None = CardOpt,
    tracking_uri: str | None = TrackingOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Why the score moved between two dates: parts per record that sum exactly to the change (a
    suspended date shows its status and reason, not a number)."""
    from scoring.points.wording import diff_text
    from scoring.workflows.points import diff_person

    ws = Workspace.find(store, tracking_uri)
    progress()("信义金: the move in parts, record by record")
    with ws.open() as st:
        d = diff_person(st, ws, subject, date_from, date_to, choice=ModelChoice(card, alias, version))
    if as_json:
        emit_json(d)
        return
    emit_text(diff_text(d))


@points_app.command("compare")
def points_compare(
    store: Path | None = StoreOpt,
    cutoff: dt.date = DateOpt("--cutoff", "Persons as of this date, the outcome in the horizon after it."),
    alias: str | None = AliasOpt,
    version: str | None = VersionOpt,
    card: Path | None = CardOpt,
    expert: Path | None = typer.Option(
        None, "--expert", metavar="FILE", help="Expert card (default configs/points/expert_person.yaml)."
    ),
    tracking_uri: str | None = TrackingOpt,
    as_json: bool = JsonOpt,
) -> None:
    """The fitted card (default the champion) and the expert card side by side on the same data."""
    from scoring.workflows.points import compare_with_expert

    ws = Workspace.find(store, tracking_uri)
    progress()(f"both cards on the persons of {cutoff} and their outcome")
    with ws.open() as st:
        df = compare_with_expert(st, ws, cutoff, choice=ModelChoice(card, alias, version), expert=expert)
    if as_json:
        emit_json(df.to_dict(orient="records"))
    else:
        emit_frame(df.round(4), title=f"fitted vs expert card, cut-off {cutoff}")
