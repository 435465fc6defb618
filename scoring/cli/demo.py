"""The main job: ``scoring demo``."""

from __future__ import annotations

from pathlib import Path

import typer

from scoring.cli.common import JsonOpt, emit_json, emit_text, progress


def register(app: typer.Typer) -> None:
    app.command()(demo)


def demo(
    workdir: Path = typer.Option(
        Path("work"), "--workdir", metavar="FOLDER", help="Where the demo writes its store and outputs."
    ),
    sample_dir: Path | None = typer.Option(
        None, "--sample", metavar="FOLDER", help="Archive to use (default: the sample shipped with xinyi)."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """The main job end to end on the sample archive with embedded defaults (no server needed)."""
    from scoring.workflows.demo import run_demo

    res = run_demo(workdir, sample_dir=sample_dir, progress=progress())
    if as_json:
        emit_json(res)
    else:
        emit_text(res["text"])
