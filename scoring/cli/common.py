"""What every command shares: options, output (tables, sentences, JSON), progress, and the one
place errors are handled (:class:`XinyiGroup`).

Errors: a :class:`~scoring.core.errors.XinyiError` (a user error) is shown as its message and exits
with code 2, never with a traceback; a usage error (a missing option, a bad choice or date) also
exits 2. With ``--json`` every failure is a JSON object on stdout: ``{"error": ..., "kind": ...}``.
Anything else is a bug and keeps its traceback. ID numbers are masked in everything printed.
"""

from __future__ import annotations

import datetime as dt
import enum
import json
import logging
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import typer
from rich.console import Console
from rich.table import Table
from typer.core import TyperGroup

from scoring.core.errors import XinyiError
from scoring.core.privacy import MaskingFilter, scrub

console = Console(soft_wrap=True, highlight=False)
if not console.is_terminal:  # pipes and files: wide tables instead of folded cells
    console = Console(soft_wrap=True, width=200, highlight=False)
err = Console(stderr=True, soft_wrap=True, highlight=False)


# -- errors ------------------------------------------------------------------------------------
def error_kind(exc: BaseException) -> str:
    """``NotFoundError`` -> ``not_found``; a usage error (exit code 2) -> ``usage``."""
    if isinstance(exc, typer.TyperException):
        return "usage" if getattr(exc, "exit_code", 1) == 2 else "command"
    name = type(exc).__name__.removesuffix("Error") or "error"
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name).lstrip("_") or "error"


def report_error(message: str, kind: str, as_json: bool) -> None:
    message = scrub(message)
    if as_json:
        typer.echo(json.dumps({"error": message, "kind": kind}, ensure_ascii=False))
    else:
        typer.echo(f"error: {message}", err=True)


class XinyiGroup(TyperGroup):
    """The ``scoring`` group: runs a command and handles its failures in one place."""

    def main(  # type: ignore[override]  # same parameters as click's, standalone_mode handled here
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        as_json = "--json" in argv
        try:
            rv = super().main(argv, prog_name, complete_var, standalone_mode=False, **extra)
        except XinyiError as exc:
            report_error(str(exc), error_kind(exc), as_json)
            code = 2
        except typer.TyperException as exc:  # usage errors (click's ClickException)
            show = getattr(exc, "show", None)
            if as_json or show is None:
                report_error(exc.format_message(), error_kind(exc), as_json)
            else:
                show()
            code = getattr(exc, "exit_code", 2)
        except typer.Abort:
            report_error("interrupted", "aborted", as_json)
            code = 130
        else:
            code = rv if isinstance(rv, int) else 0
        if standalone_mode:
            sys.exit(code)
        return code


# -- options -----------------------------------------------------------------------------------
class Subjects(str, enum.Enum):
    persons = "persons"
    organisations = "organisations"


class Engine(str, enum.Enum):
    polars = "polars"
    duckdb = "duckdb"
    spark = "spark"


class UsccMode(str, enum.Enum):
    strict = "strict"
    allowlist = "allowlist"
    warn = "warn"


def parse_date(value: str | dt.date) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"a date like 2026-06-30, got {value!r}") from None


def DateOpt(name: str, help: str, required: bool = True) -> Any:
    return typer.Option(... if required else None, name, help=help, parser=parse_date, metavar="YYYY-MM-DD")


JsonOpt: Any = typer.Option(False, "--json", help="Print a machine-readable JSON summary instead (errors too).")
StoreOpt: Any = typer.Option(
    None,
    "--store",
    envvar="XINYI_STORE",
    metavar="FILE",
    help="The DuckDB store (default: $XINYI_STORE, else work/store.duckdb when it exists).",
)
TrackingOpt: Any = typer.Option(
    None,
    "--tracking-uri",
    metavar="URI",
    help="MLflow tracking URI (default: $MLFLOW_TRACKING_URI, else mlflow.db beside the store).",
)
AliasOpt: Any = typer.Option(
    None, "--alias", metavar="NAME", help="Use the registered version of this alias (default champion)."
)
VersionOpt: Any = typer.Option(None, "--version", metavar="N", help="Use this registered version instead of an alias.")
FitAliasOpt: Any = typer.Option(
    None,
    "--alias",
    metavar="NAME",
    help="Alias for the new registered version (default: champion if there is none yet, else challenger).",
)
SubjectArg: Any = typer.Argument(
    ...,
    metavar="SUBJECT",
    help="A USCC, an ID number (shown masked) or a person's keyed pseudonym (subject_key in every export).",
)


# -- output ------------------------------------------------------------------------------------
def fmt(v: Any) -> str:
    """A value as people read it: no Python reprs."""
    if hasattr(v, "tolist") and not isinstance(v, str):  # numpy scalars and arrays
        v = v.tolist()
    if v is None or (isinstance(v, float) and v != v):
        return "—"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:,.0f}" if v.is_integer() and abs(v) >= 1000 else f"{v:.4g}" if abs(v) < 1 else f"{v:,.2f}"
    if isinstance(v, int):
        return f"{v:,}" if abs(v) >= 10_000 else str(v)
    if isinstance(v, dt.date):
        return v.isoformat()
    if isinstance(v, dict):
        return "; ".join(f"{k} {fmt(x)}" for k, x in v.items()) or "—"
    if isinstance(v, list | tuple | set):
        return ", ".join(fmt(x) for x in v) or "—"
    return str(v)


def emit_json(data: Any) -> None:
    """Print JSON with every ID number masked."""
    typer.echo(scrub(json.dumps(data, ensure_ascii=False, indent=2, default=str)))


def emit_text(text: str) -> None:
    console.print(scrub(text), markup=False, highlight=False)


def emit_frame(df: Any, title: str | None = None) -> None:
    """A table (pandas frame): every cell formatted, ID numbers masked."""
    table = Table(title=title, show_lines=False, title_justify="left")
    for c in df.columns:
        table.add_column(str(c), overflow="fold")
    for row in df.itertuples(index=False):
        table.add_row(*[scrub(fmt(v)) for v in row])
    console.print(table)


def emit_fields(fields: dict[str, Any], title: str | None = None) -> None:
    """Two columns, field and value."""
    table = Table(title=title, show_header=False, title_justify="left", box=None, padding=(0, 2, 0, 0))
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    for k, v in fields.items():
        table.add_row(k, scrub(fmt(v)))
    console.print(table)


def progress() -> Callable[[str], None]:
    """Progress lines on stderr with the seconds elapsed (never on stdout, so --json stays clean)."""
    t0 = time.perf_counter()

    def say(msg: str) -> None:
        err.print(f"[dim]{time.perf_counter() - t0:6.1f}s … {scrub(msg)}[/dim]", highlight=False)

    return say


def setup_logging(verbose: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(MaskingFilter())
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler], force=True)


def group(help: str) -> typer.Typer:
    """A command group of ``scoring`` (plain help: no placeholders on flags)."""
    return typer.Typer(help=help, no_args_is_help=True, rich_markup_mode=None)


#: ``--serving URL`` of the commands on the serving database (users, register, plans, whitelist).
ServingOpt: Any = typer.Option(
    None,
    "--serving",
    metavar="URL",
    help="The serving database (sqlite:///FILE or postgresql://...); default $XINYI_SERVING_URL, "
    "else work/serving.sqlite.",
)
