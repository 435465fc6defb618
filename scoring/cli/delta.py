"""Daily delta commands: ``scoring delta apply`` (每日增量).

A delta export is ingested into the store and the latest score snapshot and grade lists are rolled
forward to the as-of date for the touched subjects only (:mod:`scoring.workflows.delta`); the
publications are those a full recompute gives.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import typer

from scoring.cli.common import (
    AliasOpt,
    DateOpt,
    JsonOpt,
    StoreOpt,
    TrackingOpt,
    VersionOpt,
    emit_frame,
    emit_json,
    emit_text,
    group,
    progress,
)
from scoring.workflows.points import ModelChoice
from scoring.workflows.workspace import Workspace

delta_app = group("每日增量: apply a daily delta export to the store and its publications.")


def register(app: typer.Typer) -> None:
    app.add_typer(delta_app, name="delta")


@delta_app.command("apply")
def delta_apply(
    files: list[Path] = typer.Argument(
        None,
        metavar="[FILE_OR_FOLDER...]",
        help="The delta export (CSV, Parquet or Excel files, or folders); none: only roll the publications forward.",
    ),
    store: Path | None = StoreOpt,
    as_of: dt.date = DateOpt("--as-of", "The date of the new publications (not after the delta's export date)."),
    export_date: dt.date | None = DateOpt(
        "--export-date", "Export date of the delta (default: its manifest.json, else today).", required=False
    ),
    industry: list[str] = typer.Option(
        None, "--industry", metavar="CODE", help="Roll these industries' grade lists (default: every published one)."
    ),
    no_scores: bool = typer.Option(False, "--no-scores", help="Leave the 信义金 score snapshot alone."),
    alias: str | None = AliasOpt,
    version: str | None = VersionOpt,
    tracking_uri: str | None = TrackingOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Ingest a delta export and publish the scores and grade lists as of a date, recomputing only the
    touched subjects (changed data, their linked subjects, and those the date moves)."""
    from scoring.workflows.delta import apply_delta

    ws = Workspace.find(store, tracking_uri)
    with ws.open(write=True) as st:
        res = apply_delta(
            st,
            ws,
            files or [],
            as_of,
            export_date=export_date,
            scores=not no_scores,
            industries=industry or None,
            card=ModelChoice(None, alias, version),
            progress=progress(),
        )
    d = res.to_dict()
    if as_json:
        emit_json(d)
        return
    if d["ingest"]:
        i = d["ingest"]
        emit_text(
            f"Delta batch {i['batch_id']}: {i['rows_read']:,} rows read, {i['inserted']:,} inserted, "
            f"{i['updated']:,} updated, {i['unchanged']:,} unchanged, {i['quarantined']:,} quarantined."
        )
    rows = [
        {
            "publication": p["publication"],
            "mode": p["mode"],
            "rows": p["rows"],
            "recomputed": p["recomputed"],
            **{f"touched_{k}": v for k, v in p["touched"].items()},
            "new": p["new"],
            "seconds": p["seconds"],
        }
        for p in d["publications"]
    ]
    emit_frame(pd.DataFrame(rows), title=f"publications as of {d['as_of']}")
    for p in d["publications"]:
        if p["mode"] == "full":
            emit_text(f"{p['kind']} {p['scope']}: recomputed in full ({p['reason']}).")
