"""The features command: point-in-time feature vectors (时点特征)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer

from scoring.cli.common import DateOpt, Engine, JsonOpt, StoreOpt, Subjects, emit_frame, emit_json, emit_text, progress
from scoring.workflows.workspace import Workspace


def register(app: typer.Typer) -> None:
    app.command()(features)


def features(
    store: Path | None = StoreOpt,
    as_of: dt.date = DateOpt("--as-of", "The date the features describe (not after the export date)."),
    subjects: Subjects = typer.Option(Subjects.persons, "--subjects", help="Whose features."),
    industry: str | None = typer.Option(
        None, "--industry", metavar="CODE", help="Add an industry's features (organisations; configs/industries)."
    ),
    engine: Engine = typer.Option(Engine.polars, "--engine", help="The engine that computes them (same numbers)."),
    out: Path | None = typer.Option(
        None,
        "--out",
        metavar="FILE",
        help="Write them here (.parquet or .csv; metadata beside it). "
        "Default: features/<subjects>_<date>.parquet beside the store.",
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Point-in-time feature vectors (时点特征), one row per subject, with every column's basis."""
    from scoring.workflows.archive import build_feature_vectors

    ws = Workspace.find(store)
    say = progress()
    path = out or ws.path("features", f"{subjects.value}{'_' + industry if industry else ''}_{as_of}.parquet")
    say(f"{subjects.value} features as of {as_of} ({engine.value})")
    with ws.open() as st:
        res = build_feature_vectors(st, as_of, path, subjects=subjects.value, industry=industry, engine=engine.value)
    if as_json:
        emit_json(res.to_dict())
        return
    fm = res.matrix
    emit_frame(fm.build_table(), title=f"{fm.feature_set} features as of {fm.as_of} ({fm.values.shape[0]:,} subjects)")
    emit_text(f"Features: {res.out}\nMetadata: {res.meta}")
