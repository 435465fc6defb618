"""Archive commands: ingest, quarantine, info, catalog, archive-format, export-parquet, sample."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import typer

from scoring.cli.common import (
    DateOpt,
    JsonOpt,
    StoreOpt,
    UsccMode,
    emit_fields,
    emit_frame,
    emit_json,
    emit_text,
    progress,
)
from scoring.workflows.workspace import Workspace


def register(app: typer.Typer) -> None:
    for f in (ingest, quarantine, info, catalog):
        app.command()(f)
    app.command("archive-format")(archive_format)
    app.command("export-parquet")(export_parquet)
    app.command()(sample)


def ingest(
    files: list[Path] = typer.Argument(
        ..., metavar="FILE_OR_FOLDER...", help="CSV, Parquet or Excel files, or folders of them."
    ),
    store: Path = typer.Option(
        ..., "--store", envvar="XINYI_STORE", metavar="FILE", help="The DuckDB store (created if missing)."
    ),
    export_date: dt.date | None = DateOpt(
        "--export-date", "Export date of the archive (default: manifest.json, else today).", required=False
    ),
    uscc_mode: UsccMode | None = typer.Option(
        None, "--uscc-mode", help="USCC check (default from configs/ingest.yaml)."
    ),
    encoding: str | None = typer.Option(
        None,
        "--encoding",
        metavar="NAME",
        help="Text encoding of CSV files, e.g. gb18030 or utf-16 (default: detected: UTF-8, GB18030/GBK, UTF-16).",
    ),
    report: Path | None = typer.Option(
        None,
        "--report",
        metavar="FILE",
        help="The quality report (JSON, plus .txt beside it). Default: beside the store.",
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Load a credit archive (信用档案) into the store; bad rows go to quarantine."""
    from scoring.workflows.archive import ingest_archive

    res = ingest_archive(
        store,
        files,
        export_date=export_date,
        uscc_mode=uscc_mode.value if uscc_mode else None,
        encoding=encoding,
        report_path=report,
        progress=progress(),
    )
    if as_json:
        quality = res.report.to_dict()
        d = {k: v for k, v in res.to_dict().items() if k != "quality"}
        d["quality"] = {
            k: v for k, v in quality.items() if k not in ("compliance_by_agency", "compliance_by_record_type")
        }
        emit_json(d)
        return
    emit_text(res.report.to_text())
    emit_text(
        f"Store {store}: {res.inserted:,} rows inserted, {res.updated:,} updated, {res.unchanged:,} unchanged."
        + (
            f"\nQuality report: {res.report_path} (and {res.report_path.with_suffix('.txt')})."
            if res.report_path
            else ""
        )
    )


def quarantine(
    store: Path | None = StoreOpt,
    reason: str | None = typer.Option(
        None, "--reason", metavar="CODE", help="Only this reason code (README: quarantine reasons)."
    ),
    limit: int = typer.Option(50, "--limit", min=0, help="At most this many rows."),
    as_json: bool = JsonOpt,
) -> None:
    """List quarantined rows with file, row, field and reason (ID numbers masked)."""
    from scoring.workflows.archive import quarantine_rows

    with Workspace.find(store).open() as st:
        df = quarantine_rows(st, reason, limit)
    if as_json:
        emit_json(df.to_dict(orient="records"))
    else:
        emit_frame(df.drop(columns=["original"]), title=f"quarantine ({len(df)} rows shown)")


def info(store: Path | None = StoreOpt, as_json: bool = JsonOpt) -> None:
    """Summarise a store: counts, fingerprint and the last ingest batch."""
    from scoring.workflows.archive import store_info

    with Workspace.find(store).open() as st:
        res = store_info(st)
    if as_json:
        emit_json(res.to_dict())
        return
    emit_fields({**res.summary, **{f"last batch {k}": v for k, v in (res.last_batch or {}).items()}}, title="store")


def catalog(
    regimes: bool = typer.Option(False, "--regimes", help="Show the dated publicity regimes instead."),
    as_json: bool = JsonOpt,
) -> None:
    """Show the record catalogue (信用信息目录)."""
    from scoring.archive.catalog import load_catalog

    cat = load_catalog()
    df = cat.regimes_table() if regimes else cat.build_table()
    if as_json:
        emit_json({"version": cat.version, "rows": df.to_dict(orient="records")})
    else:
        emit_frame(df, title=f"信用信息目录 catalogue {cat.version}")


def archive_format(as_json: bool = JsonOpt) -> None:
    """Show the archive exchange format: subjects and records columns."""
    from scoring.archive.schema import TABLES, format_table

    if as_json:
        emit_json({t: format_table(t).to_dict(orient="records") for t in TABLES})
        return
    for t in TABLES:
        emit_frame(format_table(t), title=t)


def export_parquet(
    store: Path | None = StoreOpt,
    out: Path | None = typer.Option(
        None, "--out", metavar="FOLDER", help="Where to write it (default: <store>.parquet beside the store)."
    ),
    buckets: int = typer.Option(16, "--buckets", min=1, help="Buckets of records and subjects (hash of subject_id)."),
    as_json: bool = JsonOpt,
) -> None:
    """Write the store's Parquet copy (records, subjects, links; bucketed by subject) for `--engine spark`.

    A store-side copy: it holds raw ID numbers like the store itself; keep it beside the store, never hand it out.
    `features --engine spark` writes it by itself when it is missing or older than the store."""
    from scoring.workflows.archive import export_store_parquet

    with Workspace.find(store).open() as st:
        res = export_store_parquet(st, out, buckets)
    if as_json:
        emit_json(res.to_dict())
        return
    rows = ", ".join(f"{v:,} {k}" for k, v in res.rows.items())
    emit_text(f"Parquet copy of the store: {res.folder} ({rows}; {res.buckets} buckets by subject).")


def sample(
    out: Path = typer.Option(..., "--out", metavar="FOLDER", help="Folder to write the archive to."),
    seed: int = typer.Option(0, "--seed"),
    persons: int = typer.Option(20_000, "--persons", min=1),
    organisations: int = typer.Option(5_000, "--organisations", min=1),
    mixed_formats: bool = typer.Option(
        False, "--mixed-formats", help="Court records as CSV, volunteer hours as Excel."
    ),
    plant_errors: bool = typer.Option(False, "--plant-errors", help="Add deliberately bad rows (listed in truth/)."),
    profile: str | None = typer.Option(
        None,
        "--profile",
        metavar="NAME",
        help="Generator profile: realistic (the default: a city platform's prevalences) or stress (many events "
        "of every kind, for tests), i.e. configs/sample/<name>.yaml, or a path to a profile file.",
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Generate a synthetic credit archive with a known truth (profile realistic unless --profile says otherwise)."""
    from scoring.sample.generator import generate_sample

    res = generate_sample(
        out,
        seed=seed,
        persons=persons,
        organisations=organisations,
        mixed_formats=mixed_formats,
        plant_errors=plant_errors,
        profile=profile,
        progress=progress(),
    )
    if as_json:
        emit_json(res.to_dict())
        return
    emit_text(
        f"Wrote {res.persons:,} persons, {res.organisations:,} organisations and {res.records:,} records to {res.out} "
        f"in {res.seconds:.1f}s.\nFiles: {', '.join(res.files)}; truth in {res.out / 'truth'}"
        + (f"; {res.planted} planted bad rows." if res.planted else ".")
    )
