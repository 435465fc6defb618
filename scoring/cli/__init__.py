"""The ``scoring`` command line: it parses arguments, calls :mod:`scoring.workflows` and prints.

Every command prints tables and sentences, or with ``--json`` a machine-readable summary. Errors
are handled once (:class:`scoring.cli.common.XinyiGroup`): a message, exit code 2, no traceback;
under ``--json`` a JSON object on stdout. ID numbers are masked in everything printed.

One module per command group: :mod:`~scoring.cli.archive` (ingest, quarantine, info, catalog,
archive-format, sample), :mod:`~scoring.cli.features`, :mod:`~scoring.cli.points`,
:mod:`~scoring.cli.grades`, :mod:`~scoring.cli.lineage` (models, justify),
:mod:`~scoring.cli.oversight` (monitor, report), :mod:`~scoring.cli.demo`,
:mod:`~scoring.cli.serving` (serving upgrade|push|status), :mod:`~scoring.cli.access` (users,
register), :mod:`~scoring.cli.supervision` (plans, whitelist), :mod:`~scoring.cli.service` (serve).
"""

from __future__ import annotations

from pathlib import Path

import typer

from scoring import __version__
from scoring.cli import (
    access,
    archive,
    delta,
    demo,
    features,
    grades,
    lineage,
    oversight,
    points,
    service,
    serving,
    supervision,
)
from scoring.cli.common import XinyiGroup, setup_logging

__all__ = ["app"]

app = typer.Typer(
    name="scoring",
    cls=XinyiGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _show_version(value: bool) -> None:
    if value:
        typer.echo(f"xinyi {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    ctx: typer.Context,
    version: bool = typer.Option(
        False, "--version", callback=_show_version, is_eager=True, help="Show the version and exit."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log details to stderr."),
    configs: Path | None = typer.Option(
        None,
        "--configs",
        metavar="DIR",
        help="A configs folder to use instead of $XINYI_CONFIGS or the installed configs (a copy of configs/).",
    ),
) -> None:
    """xinyi (信义): credit scoring and grading on public credit platforms.

    The store is --store, else $XINYI_STORE, else work/store.duckdb when it exists (after
    `scoring demo --workdir work`); models default to the registry's champion beside the store.
    The configs are --configs, else $XINYI_CONFIGS, else the installed ones.
    """
    setup_logging(verbose)
    if configs is not None:
        from scoring.core.resources import using_configs

        # in force until the command ends (closed with the command's context)
        ctx.with_resource(using_configs(configs))


for _group in (
    archive,
    features,
    points,
    grades,
    delta,
    lineage,
    oversight,
    demo,
    serving,
    access,
    supervision,
    service,
):
    _group.register(app)

if __name__ == "__main__":  # pragma: no cover
    app()
