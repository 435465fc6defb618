"""The ``scoring`` command line: a thin layer over the library API.

Every command prints readable output, or with ``--json`` a machine-readable summary. Errors go
to stderr with a non-zero exit code. ID numbers are masked in everything printed.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from scoring import __version__
from scoring.core.errors import XinyiError
from scoring.core.privacy import MaskingFilter, scrub

app = typer.Typer(
    name="scoring",
    help="xinyi (信义): credit scoring and grading on public credit platforms.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(soft_wrap=True)
if not console.is_terminal:  # pipes and files: wide tables instead of folded cells
    console = Console(soft_wrap=True, width=200)
err = Console(stderr=True, soft_wrap=True)
ROOT = Path(__file__).resolve().parents[2]

JsonOpt = typer.Option(False, "--json", help="Print a machine-readable JSON summary instead.")
StoreOpt = typer.Option(..., "--store", help="The DuckDB store file.")
SubjectArg = typer.Argument(..., help="The person's ID number (shown masked).")


def _setup_logging(verbose: bool = False) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(MaskingFilter())
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, handlers=[handler], force=True)


def emit_json(data: Any) -> None:
    """Print JSON with every ID number masked."""
    typer.echo(scrub(json.dumps(data, ensure_ascii=False, indent=2, default=str)))


def emit_text(text: str) -> None:
    console.print(scrub(text), markup=False, highlight=False)


def emit_frame(df, title: str | None = None) -> None:
    table = Table(title=title, show_lines=False)
    for c in df.columns:
        table.add_column(str(c), overflow="fold")
    for row in df.itertuples(index=False):
        table.add_row(*[scrub("" if v is None else str(v)) for v in row])
    console.print(table)


def fail(message: str, as_json: bool = False, code: int = 2) -> None:
    if as_json:
        emit_json({"error": scrub(message)})
    typer.echo(f"error: {scrub(message)}", err=True)
    raise typer.Exit(code)


def _progress(as_json: bool):
    if as_json:
        return lambda msg: None
    return lambda msg: err.print(f"[dim]… {scrub(msg)}[/dim]", highlight=False)


def _date(value: str | None, name: str) -> dt.date | None:
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{name} must be a date like 2026-06-30, got {value!r}") from None


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", help="Show the version and exit."),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Log progress details to stderr."),
) -> None:
    _setup_logging(verbose)
    if version:
        typer.echo(__version__)
        raise typer.Exit()


@app.command()
def ingest(
    files: list[Path] = typer.Argument(..., help="CSV, Parquet or Excel files, or folders of them."),
    store: Path = typer.Option(..., "--store", help="The DuckDB store file (created if missing)."),
    export_date: str | None = typer.Option(
        None, "--export-date", help="Export date of the archive (default: manifest.json or today)."
    ),
    uscc_mode: str | None = typer.Option(
        None, "--uscc-mode", help="strict | allowlist | warn (default from configs/ingest.yaml)."
    ),
    report: Path | None = typer.Option(
        None,
        "--report",
        help="Write the quality report here (JSON, plus a .txt beside it). Default: next to the store.",
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Load a credit archive (信用档案) into the store; bad rows go to quarantine."""
    from scoring.archive.ingest import ingest as run
    from scoring.archive.ingest import load_ingest_config
    from scoring.archive.store import open_store

    try:
        cfg = load_ingest_config()
        if uscc_mode is not None:
            if uscc_mode not in ("strict", "allowlist", "warn"):
                raise typer.BadParameter("--uscc-mode must be strict, allowlist or warn")
            cfg = cfg.model_copy(update={"uscc_mode": uscc_mode})
        report_path = report or store.with_name(store.stem + "_quality_report.json")
        with open_store(store) as st:
            res = run(
                files,
                st,
                export_date=_date(export_date, "--export-date"),
                config=cfg,
                report_path=report_path,
                progress=_progress(as_json),
            )
    except XinyiError as exc:
        fail(str(exc), as_json)
        return
    if as_json:
        d = res.to_dict()
        d.pop("quality")
        d["quality"] = {
            k: v
            for k, v in res.report.to_dict().items()
            if k not in ("compliance_by_agency", "compliance_by_record_type")
        }
        emit_json(d)
        return
    emit_text(res.report.to_text())
    emit_text(
        f"store: {store} · inserted {res.inserted:,}, updated {res.updated:,}, unchanged {res.unchanged:,}\n"
        f"report: {res.report_path} (and {res.report_path.with_suffix('.txt') if res.report_path else ''})"
    )


@app.command()
def sample(
    out: Path = typer.Option(..., "--out", help="Folder to write the archive to."),
    seed: int = typer.Option(0, "--seed"),
    persons: int = typer.Option(20_000, "--persons"),
    organisations: int = typer.Option(5_000, "--organisations"),
    mixed_formats: bool = typer.Option(
        False, "--mixed-formats", help="Court records as CSV, volunteer hours as Excel."
    ),
    plant_errors: bool = typer.Option(False, "--plant-errors", help="Add deliberately bad rows (listed in truth/)."),
    as_json: bool = JsonOpt,
) -> None:
    """Generate a synthetic credit archive with a known truth."""
    from scoring.sample.generator import generate_sample

    try:
        res = generate_sample(
            out,
            seed=seed,
            persons=persons,
            organisations=organisations,
            mixed_formats=mixed_formats,
            plant_errors=plant_errors,
            progress=_progress(as_json),
        )
    except XinyiError as exc:
        fail(str(exc), as_json)
        return
    if as_json:
        emit_json(res.to_dict())
        return
    emit_text(
        f"wrote {res.persons:,} persons, {res.organisations:,} organisations and {res.records:,} records to {res.out} "
        f"in {res.seconds:.1f}s\nfiles: {', '.join(res.files)}; truth in {res.out / 'truth'}"
        + (f"; {res.planted} planted bad rows" if res.planted else "")
    )


@app.command()
def catalog(
    regimes: bool = typer.Option(False, "--regimes", help="Show the dated publicity regimes instead."),
    as_json: bool = JsonOpt,
) -> None:
    """Show the record catalogue (信用信息目录)."""
    from scoring.archive.catalog import load_catalog

    try:
        cat = load_catalog()
    except XinyiError as exc:
        fail(str(exc), as_json)
        return
    df = cat.regimes_table() if regimes else cat.build_table()
    if as_json:
        emit_json({"version": cat.version, "rows": df.to_dict(orient="records")})
    else:
        emit_frame(df, title=f"信用信息目录 catalogue {cat.version}")


@app.command("archive-format")
def archive_format(as_json: bool = JsonOpt) -> None:
    """Show the archive exchange format: subjects and records columns."""
    from scoring.archive.schema import TABLES, format_table

    if as_json:
        emit_json({t: format_table(t).to_dict(orient="records") for t in TABLES})
        return
    for t in TABLES:
        emit_frame(format_table(t), title=t)


@app.command()
def info(store: Path = StoreOpt, as_json: bool = JsonOpt) -> None:
    """Summarise a store: counts, fingerprint and the last quality report."""
    from scoring.archive.store import open_store

    try:
        with open_store(store, read_only=True) as st:
            summary = st.summary()
            last = st.last_report()
    except XinyiError as exc:
        fail(str(exc), as_json)
        return
    if as_json:
        emit_json(
            {
                **summary,
                "last_batch": last and {k: last[k] for k in ("batch_id", "rows_read", "accepted", "quarantined")},
            }
        )
        return
    emit_text("\n".join(f"{k:<12} {v}" for k, v in summary.items()))


@app.command()
def quarantine(
    store: Path = StoreOpt,
    reason: str | None = typer.Option(None, "--reason", help="Only this reason code."),
    limit: int = typer.Option(50, "--limit"),
    as_json: bool = JsonOpt,
) -> None:
    """List quarantined rows with file, row, field and reason (ID numbers masked)."""
    from scoring.archive.store import open_store

    try:
        with open_store(store, read_only=True) as st:
            where = "WHERE reason = ?" if reason else ""
            df = st.sql(
                f"SELECT table_name, source_file, source_row, reason, field, detail, original FROM quarantine {where} "
                f"ORDER BY table_name DESC, source_file, source_row LIMIT {int(limit)}",
                [reason] if reason else None,
            )
    except XinyiError as exc:
        fail(str(exc), as_json)
        return
    df["source_file"] = df["source_file"].map(lambda p: Path(p).name)
    if as_json:
        emit_json(df.to_dict(orient="records"))
    else:
        emit_frame(df.drop(columns=["original"]), title="quarantine")


@app.command()
def features(
    store: Path = StoreOpt,
    as_of: str = typer.Option(..., "--as-of", help="The date the features describe."),
    subjects: str = typer.Option("persons", "--subjects", help="persons | organisations"),
    industry: str | None = typer.Option(None, "--industry", help="Add an industry's features (organisations)."),
    engine: str = typer.Option("polars", "--engine", help="polars | duckdb"),
    out: Path = typer.Option(..., "--out", help="Write the features here (.parquet or .csv); metadata goes beside it."),
    as_json: bool = JsonOpt,
) -> None:
    """Point-in-time feature vectors (时点特征), one row per subject, with every column's basis."""
    from scoring.archive.store import open_store
    from scoring.features.builder import build_features
    from scoring.features.export import write_features

    try:
        with open_store(store, read_only=True) as st:
            fm = build_features(st, _date(as_of, "--as-of"), subjects=subjects, industry=industry, engine=engine)
            paths = write_features(fm, out, st.pseudonym_key)
    except XinyiError as exc:
        fail(str(exc), as_json)
        return
    summary = {
        "as_of": fm.as_of.isoformat(),
        "feature_set": fm.feature_set,
        "engine": fm.engine,
        "subjects": int(fm.values.shape[0]),
        "features": int(fm.values.shape[1]),
        "out": str(paths[0]),
        "meta": str(paths[1]),
    }
    if as_json:
        emit_json(summary)
        return
    emit_frame(fm.build_table(), title=f"{fm.feature_set} features as of {fm.as_of} ({fm.values.shape[0]:,} subjects)")
    emit_text(f"features: {paths[0]}\nmetadata: {paths[1]}")


AliasFitOpt = typer.Option(
    None,
    "--alias",
    help="Alias for the new registered version (default: champion if the model has none yet, else challenger).",
)
ModelFileOpt = typer.Option(None, "--model", help="A grade model file instead of the registry.")
AliasOpt = typer.Option(None, "--alias", help="Registry alias that scores (default champion).")
TrackingOpt = typer.Option(None, "--tracking-uri", help="MLflow tracking URI (default: mlflow.db beside the store).")


points_app = typer.Typer(help="信义金 personal points: fit, score, explain.", no_args_is_help=True)
app.add_typer(points_app, name="points")
DEFAULT_CARD = ROOT / "models" / "points_card.json"
CardOpt = typer.Option(DEFAULT_CARD, "--card", help="The fitted card (JSON).")


@points_app.command("fit")
def points_fit(
    store: Path = StoreOpt,
    out: Path = typer.Option(DEFAULT_CARD, "--out", help="Where to save the card (JSON)."),
    config: Path | None = typer.Option(None, "--config", help="Card settings (default configs/points/card.yaml)."),
    tracking_uri: str | None = TrackingOpt,
    alias: str | None = AliasFitOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Fit the 信义金 card on rolling cut-offs, check it on the hold-out cut-off, log it to MLflow."""
    from scoring.archive.store import open_store
    from scoring.features.builder import FeatureBuilder
    from scoring.lineage.registry import POINTS_NAME, register_next
    from scoring.lineage.tracking import default_tracking_uri, log_points_fit
    from scoring.points.personal import fit_card, load_card_config

    try:
        uri = tracking_uri or default_tracking_uri(store.parent)
        with open_store(store, read_only=True) as st:
            card, ev = fit_card(st, load_card_config(config))
            card.save(out)
            evidence = out.with_name(out.stem + ".evidence.json")
            evidence.write_text(json.dumps(ev, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
            run_id = log_points_fit(card, ev, st, tracking_uri=uri, artifacts=store.parent / "mlartifacts")
            example = FeatureBuilder(st, subjects="persons").at(ev["holdout_cutoff"]).values
            reg = register_next(uri, POINTS_NAME, out, "card", run_id, example, alias)
    except XinyiError as exc:
        fail(str(exc), as_json)
        return
    summary = {
        "card": str(out),
        "evidence": str(evidence),
        "mlflow_run_id": run_id,
        "tracking_uri": uri,
        "registered": f"{reg.name} v{reg.version}",
        "aliases": list(reg.aliases),
        **{k: ev[k] for k in ("auc", "gini", "ks", "brier", "ece", "holdout_cutoff", "holdout_rows")},
    }
    if as_json:
        emit_json(summary)
        return
    emit_frame(card.summary().sort_values("max_points", ascending=False), title="信义金 card: points per feature")
    emit_text("\n".join(f"{k:<15} {v}" for k, v in summary.items()))


def _load_card(path: Path):
    from scoring.points.card import PointsCard

    if not path.exists():
        raise typer.BadParameter(f"{path}: no card here; fit one with `scoring points fit --store ... --out {path}`")
    return PointsCard.load(path)


@points_app.command("score")
def points_score(
    store: Path = StoreOpt,
    as_of: str = typer.Option(..., "--as-of"),
    card: Path = CardOpt,
    out: Path | None = typer.Option(
        None, "--out", help="Write every person's score (.csv/.parquet; pseudonymous keys)."
    ),
    alias: str | None = typer.Option(
        None, "--alias", help="Score with the registered card of this alias (e.g. champion) instead of --card."
    ),
    tracking_uri: str | None = TrackingOpt,
    publish: bool = typer.Option(
        False, "--publish", help="Record the snapshot as a publication in the store (needs --alias)."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """Score every person as of a date (suspended persons get no number)."""
    from scoring.archive.store import open_store
    from scoring.features.export import subject_keys
    from scoring.lineage.publish import publish as record_publication
    from scoring.lineage.publish import score_rows
    from scoring.lineage.registry import POINTS_NAME, load_registered
    from scoring.lineage.tracking import default_tracking_uri
    from scoring.points.personal import score_persons

    try:
        day = _date(as_of, "--as-of")
        if publish and not alias:
            raise ValueError("--publish needs --alias: a publication names the registered card version that scored it")
        if alias:
            c, reg = load_registered(tracking_uri or default_tracking_uri(store.parent), POINTS_NAME, alias=alias)
        else:
            c, reg = _load_card(card), None
        with open_store(store, read_only=not publish) as st:
            df = score_persons(st, c, day)
            key = st.pseudonym_key
            pub = (
                record_publication(
                    st,
                    kind="score_snapshot",
                    scope="persons",
                    as_of=day,
                    rows=score_rows(df),
                    model_name=reg.name,
                    model_version=reg.version,
                    model_content_version="",
                    run_id=reg.run_id,
                    files=[out] if out else [],
                )
                if publish
                else None
            )
    except (XinyiError, ValueError, LookupError) as exc:
        fail(str(exc), as_json)
        return
    scored = df[df["status"] == "scored"]["points"].astype(float)
    summary = {
        "as_of": as_of,
        "persons": int(len(df)),
        "scored": int(len(scored)),
        "suspended": int((df["status"] == "suspended").sum()),
        "points_quantiles": {q: float(scored.quantile(q)) for q in (0.05, 0.25, 0.5, 0.75, 0.95)}
        if len(scored)
        else {},
        "card": f"{reg.name} v{reg.version}" if reg else str(card),
        "publication": pub["publication_id"] if pub else None,
    }
    if out is not None:
        exp = df.copy()
        exp.insert(0, "subject_key", subject_keys(exp.pop("subject_id"), key))
        out.parent.mkdir(parents=True, exist_ok=True)
        exp.to_parquet(out, index=False) if out.suffix == ".parquet" else exp.to_csv(out, index=False, encoding="utf-8")
        summary["out"] = str(out)
    if as_json:
        emit_json(summary)
        return
    emit_text("\n".join(f"{k:<17} {v}" for k, v in summary.items()))


@points_app.command("compare")
def points_compare(
    store: Path = StoreOpt,
    cutoff: str = typer.Option(..., "--cutoff", help="Persons as of this date, outcome in the horizon after it."),
    card: Path = CardOpt,
    expert: Path | None = typer.Option(
        None, "--expert", help="Expert card (default configs/points/expert_person.yaml)."
    ),
    as_json: bool = JsonOpt,
) -> None:
    """The fitted card and the expert card side by side on the same data."""
    from scoring.archive.store import open_store
    from scoring.points.card import load_expert_card
    from scoring.points.personal import compare_cards

    try:
        cards = {"fitted": _load_card(card), "expert": load_expert_card(expert)}
        with open_store(store, read_only=True) as st:
            df = compare_cards(st, cards, _date(cutoff, "--cutoff"))
    except (XinyiError, ValueError) as exc:
        fail(str(exc), as_json)
        return
    if as_json:
        emit_json(df.to_dict(orient="records"))
    else:
        emit_frame(df.round(4), title="fitted vs expert card")


@points_app.command("diff")
def points_diff(
    subject: str = SubjectArg,
    store: Path = StoreOpt,
    date_from: str = typer.Option(..., "--from"),
    date_to: str = typer.Option(..., "--to"),
    card: Path = CardOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Why the score moved between two dates: parts per record that sum exactly to the change."""
    from scoring.archive.store import open_store
    from scoring.points.diff import diff_person

    try:
        c = _load_card(card)
        with open_store(store, read_only=True) as st:
            d = diff_person(st, c, subject.strip().upper(), _date(date_from, "--from"), _date(date_to, "--to"))
    except (XinyiError, ValueError) as exc:
        fail(str(exc), as_json)
        return
    if as_json:
        emit_json(d)
        return
    emit_text(
        f"{d['subject']}: {d['points_from']} ({d['from']}) -> {d['points_to']} ({d['to']}), change {d['change']:+d}"
        + (
            ""
            if d["status_from"] == d["status_to"] == "scored"
            else f"  [gate: {d['status_from']} -> {d['status_to']}]"
        )
    )
    import pandas as pd

    rows = [
        {
            "date": p["date"],
            "points": f"{p['points']:+d}",
            "what": p["event"],
            "record": ""
            if not p["record"]
            else f"{p['record']['name_zh']} {p['record']['event_date']} {p['record']['document_no'] or ''}",
        }
        for p in d["parts"]
    ]
    emit_frame(pd.DataFrame(rows, columns=["date", "points", "what", "record"]), title="parts (sum = change)")


@points_app.command("explain")
def points_explain(
    subject: str = SubjectArg,
    store: Path = StoreOpt,
    as_of: str = typer.Option(..., "--as-of"),
    card: Path = CardOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Every line item of one person's score with the records behind it, guidance, and scene eligibility."""
    from scoring.archive.store import open_store
    from scoring.points.guidance import guidance
    from scoring.points.personal import eligibility, explain_person, load_scenes

    try:
        c = _load_card(card)
        sid, day = subject.strip().upper(), _date(as_of, "--as-of")
        with open_store(store, read_only=True) as st:
            e = explain_person(st, c, sid, day)
            e["guidance"] = guidance(st, c, sid, day)["actions"]
        e["scenes"] = eligibility(e["points"], e["status"], load_scenes())
    except KeyError as exc:
        fail(str(exc.args[0]), as_json)
        return
    except XinyiError as exc:
        fail(str(exc), as_json)
        return
    if as_json:
        emit_json(e)
        return
    if e["status"] == "suspended":
        emit_text(
            f"{e['subject']} as of {e['as_of']}: 暂停计分 (suspended). {e['reason']}; "
            f"earliest end: {e['suspended_until'] or 'when removed from the list'}; documents: {e['documents']}"
        )
    else:
        emit_text(f"{e['subject']} as of {e['as_of']}: 信义金 {e['points']} / 1000")
        rows = [
            {
                "item": i["label_zh"],
                "value": i["value"],
                "bin": i["bin"],
                "points": f"{i['points']}/{i['max_points']}",
                "records": "; ".join(
                    f"{r['record_type']} {r['event_date']} {r.get('document_no') or ''} 至 {r.get('expires_on') or '长期'}"
                    for r in i["records"]
                ),
            }
            for i in e["items"]
        ]
        import pandas as pd

        emit_frame(pd.DataFrame(rows), title="line items (明细)")
    if e["guidance"]:
        emit_text(
            "提升指引 · what you can do:\n" + "\n".join(f"  +{a['points']:<4} {a['text_zh']}" for a in e["guidance"])
        )
    emit_frame(__import__("pandas").DataFrame(e["scenes"]), title="信义+ scenes")


grades_app = typer.Typer(help="行业信用评价: industry grade models for 分级分类监管.", no_args_is_help=True)
app.add_typer(grades_app, name="grades")


@grades_app.command("fit")
def grades_fit(
    industry: str = typer.Option(..., "--industry", help="Industry code (configs/industries/<code>.yaml)."),
    store: Path = StoreOpt,
    out: Path | None = typer.Option(None, "--out", help="Model file (default models/grades/<code>.json)."),
    tracking_uri: str | None = typer.Option(
        None, "--tracking-uri", help="MLflow tracking URI (default: mlflow.db beside the store)."
    ),
    trials: int = typer.Option(0, "--trials", help="Optuna trials before the final fit (0: the config's parameters)."),
    timeout: float = typer.Option(120.0, "--timeout", help="Seconds allowed for tuning."),
    alias: str | None = AliasFitOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Fit an industry's grade model (optionally tuned with Optuna), check it on the hold-out cut-off,
    log every trial and the chosen model to MLflow."""
    from scoring.archive.store import open_store
    from scoring.features.training import training_set
    from scoring.grades.grading import fit_industry, tune_industry
    from scoring.lineage.registry import grades_name, register_next
    from scoring.lineage.tracking import default_tracking_uri, log_grade_fit, trial_logger

    try:
        uri = tracking_uri or default_tracking_uri(store.parent)
        path = out or ROOT / "models" / "grades" / f"{industry}.json"
        with open_store(store, read_only=True) as st:
            tuning = (
                tune_industry(st, industry, n_trials=trials, timeout=timeout, on_trial=trial_logger(uri, st, industry))
                if trials > 0
                else None
            )
            model, ev = fit_industry(st, industry, params=tuning["best_params"] if tuning else None)
            if tuning:
                ev["tuning"] = tuning
            model.save(path)
            run_id = log_grade_fit(
                model, ev, st, tracking_uri=uri, artifacts=store.parent / "mlartifacts", model_path=path
            )
            model.info_["mlflow_run_id"] = run_id  # the run that holds this model's evidence
            model.save(path)
            reg = register_next(
                uri,
                grades_name(industry),
                path,
                "grade",
                run_id,
                training_set(st, [ev["holdout_cutoff"]], subjects="organisations", industry=industry),
                alias,
            )
    except (XinyiError, ValueError) as exc:
        fail(str(exc), as_json)
        return
    summary = {
        "industry": industry,
        "label": ev["label"],
        "model": str(path),
        "model_version": model.version_,
        "mlflow_run_id": run_id,
        "tracking_uri": uri,
        "registered": f"{reg.name} v{reg.version}",
        "aliases": list(reg.aliases),
        **{
            k: ev[k]
            for k in ("auc", "auc_bad_grades", "qwk_expert_grade", "brier_before", "ece_before", "brier", "ece", "rows")
            if k in ev
        },
        "tuning": ev.get("tuning"),
    }
    if as_json:
        emit_json({**summary, "per_grade": ev["per_grade"], "per_class": ev["per_class"], "baselines": ev["baselines"]})
        return
    import pandas as pd

    emit_frame(
        pd.DataFrame(ev["per_grade"]).round(4),
        title=f"{industry}: hold-out {ev['holdout_cutoff']}, outcome rate per grade",
    )
    emit_frame(pd.DataFrame(ev["baselines"]).round(4), title="LightGBM against the baselines on the same hold-out")
    emit_text("\n".join(f"{k:<16} {v}" for k, v in summary.items()))


def _grade_model(industry: str | None, model: Path | None, alias: str | None = None, uri: str | None = None):
    """A grade model from a file (``--model``) or from the MLflow registry (``--alias``, default champion)."""
    from scoring.grades.model import GradeModel
    from scoring.lineage.registry import grades_name, load_registered

    if model is not None:
        if not model.exists():
            raise typer.BadParameter(
                f"{model}: no grade model here; fit one with `scoring grades fit --industry {industry or 'CODE'}`"
            )
        return GradeModel.load(model), None
    if not industry:
        raise typer.BadParameter("give --industry (its registered model) or --model FILE")
    try:
        return load_registered(uri, grades_name(industry), alias=alias or "champion")
    except LookupError as exc:
        raise typer.BadParameter(str(exc)) from None


def _industry_of_subject(st, subject: str) -> str | None:
    from scoring.features.industry import industry_of, load_industries

    row = st.sql("SELECT industry_code FROM subjects WHERE subject_id = ?", [subject])
    return industry_of(row["industry_code"].iloc[0], load_industries()) if len(row) else None


@grades_app.command("explain")
def grades_explain(
    subject: str = SubjectArg,
    store: Path = StoreOpt,
    as_of: str = typer.Option(..., "--as-of"),
    industry: str | None = typer.Option(None, "--industry", help="Industry code (default: the organisation's own)."),
    model: Path | None = ModelFileOpt,
    alias: str | None = AliasOpt,
    tracking_uri: str | None = TrackingOpt,
    top: int = typer.Option(5, "--top", help="How many SHAP reasons to show."),
    as_json: bool = JsonOpt,
) -> None:
    """Why an organisation has its grade: the veto first, then the top SHAP reasons in Chinese with
    the records behind them (document numbers), the probabilities and the supervision measure."""
    from scoring.archive.store import open_store
    from scoring.grades.explain import explain_organisation
    from scoring.lineage.tracking import default_tracking_uri

    try:
        sid, day = subject.strip().upper(), _date(as_of, "--as-of")
        with open_store(store, read_only=True) as st:
            code = industry or _industry_of_subject(st, sid)
            if code is None:
                raise KeyError(f"organisation {sid} is not in the archive or belongs to no configured industry")
            m, _ = _grade_model(code, model, alias, tracking_uri or default_tracking_uri(store.parent))
            e = explain_organisation(st, m, sid, day, industry=code, top=top)
    except KeyError as exc:
        fail(str(exc.args[0]), as_json)
        return
    except (XinyiError, ValueError) as exc:
        fail(str(exc), as_json)
        return
    if as_json:
        emit_json(e)
        return
    import pandas as pd

    prev = f"（上期 {e['previous_grade']}）" if e["previous_grade"] else ""
    emit_text(
        f"{e['subject']} {e['name']} · {e['industry']} · as of {e['as_of']}: {e['grade']}{prev}; "
        f"model grade {e['model_grade']}; risk {e['risk']:.3f}; 抽查比例 {e['supervision']['sampling_ratio']:.0%} "
        f"({e['supervision']['frequency']})"
    )
    emit_frame(pd.DataFrame([e["probabilities"]]).round(4), title="calibrated grade probabilities")
    if e["rules"]:
        emit_text("rules: " + e["rules"])
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
    emit_frame(pd.DataFrame(rows), title="reasons (veto first, then SHAP)")
    emit_text(
        f"SHAP: base {e['shap']['base_value']:.4f} + contributions {e['shap']['sum_of_contributions']:.4f} = "
        f"model score {e['shap']['model_score']:.4f} (exact: {e['shap']['exact']}); model {e['model_version']}, "
        f"MLflow run {e['mlflow_run_id'] or '—'}"
    )


@grades_app.command("list")
def grades_list(
    industry: str = typer.Option(..., "--industry", help="Industry code (configs/industries/<code>.yaml)."),
    as_of: str = typer.Option(..., "--as-of"),
    out: Path = typer.Option(..., "--out", help="The list: .xlsx (with summary and migration sheets) or .csv."),
    store: Path = StoreOpt,
    model: Path | None = ModelFileOpt,
    alias: str | None = AliasOpt,
    tracking_uri: str | None = TrackingOpt,
    publish: bool = typer.Option(
        False,
        "--publish",
        help="Record the list as a publication in the store (needs a "
        "registered model; the file must not exist yet: publications are never overwritten).",
    ),
    as_json: bool = JsonOpt,
) -> None:
    """The grade list for 分级分类监管: every organisation of the industry with grade, calibrated
    probabilities, supervision measure, top 3 reasons, veto, previous grade and change, model version
    and MLflow run; a summary with the grade distribution and the migration matrix."""
    from scoring.archive.store import open_store
    from scoring.grades.lists import grade_list, grade_population, summary, write_grade_list
    from scoring.lineage.publish import grade_rows
    from scoring.lineage.publish import publish as record_publication
    from scoring.lineage.tracking import default_tracking_uri

    try:
        day = _date(as_of, "--as-of")
        m, reg = _grade_model(industry, model, alias, tracking_uri or default_tracking_uri(store.parent))
        if publish and reg is None:
            raise ValueError(
                "--publish needs a registered model (--alias), not a model file: publications name the registry version"
            )
        if publish and out.exists():
            raise ValueError(f"{out} exists: published outputs are kept, never overwritten; choose a new file")
        with open_store(store, read_only=not publish) as st:
            pop = grade_population(st, m, day, industry=industry)
            lst = grade_list(pop, m)
            fingerprint = st.fingerprint()
            info = {
                "行业": f"{pop.industry.name_zh} ({industry})",
                "监管部门": pop.industry.regulator,
                "评价基准日": day.isoformat(),
                "上期基准日": pop.previous_as_of.isoformat(),
                "模型版本": m.version_,
                "注册模型": f"{reg.name} v{reg.version}" if reg else "(model file)",
                "MLflow运行ID": m.info_.get("mlflow_run_id", ""),
                "标签": m.info_.get("label", ""),
                "数据快照": fingerprint,
                "说明": "等级按模型校准概率、新设主体规则、升级限制与直接定级规则依次确定；原因为SHAP贡献最大的特征",
            }
            paths = write_grade_list(lst, out, info)
            pub = (
                record_publication(
                    st,
                    kind="grade_list",
                    scope=industry,
                    as_of=day,
                    rows=grade_rows(pop.graded),
                    model_name=reg.name,
                    model_version=reg.version,
                    model_content_version=m.version_,
                    run_id=reg.run_id,
                    files=paths,
                )
                if publish
                else None
            )
    except (XinyiError, ValueError) as exc:
        fail(str(exc), as_json)
        return
    dist, mig = summary(lst)
    res = {
        "industry": industry,
        "as_of": day.isoformat(),
        "organisations": len(lst),
        "files": [str(p) for p in paths],
        "model_version": m.version_,
        "mlflow_run_id": m.info_.get("mlflow_run_id", ""),
        "registered": f"{reg.name} v{reg.version}" if reg else None,
        "publication": pub,
        "distribution": dist.to_dict(orient="records"),
        "migration": {str(k): {str(c): int(v) for c, v in row.items()} for k, row in mig.iterrows()},
    }
    if as_json:
        emit_json(res)
        return
    emit_frame(dist.round(4), title=f"{industry} as of {day}: grade distribution ({len(lst)} organisations)")
    emit_frame(mig.reset_index(), title="migration: previous period (rows) -> this period (columns)")
    emit_text("written: " + ", ".join(res["files"]) + (f"\npublished: {pub['publication_id']}" if pub else ""))


monitor_app = typer.Typer(
    help="Monitoring between two snapshots: PSI/CSI, migration, calibration drift, champion/challenger.",
    no_args_is_help=True,
)
app.add_typer(monitor_app, name="monitor")


def _emit_monitoring(r: dict, as_json: bool) -> None:
    import pandas as pd

    if as_json:
        emit_json(
            {k: (v.reset_index().to_dict(orient="records") if isinstance(v, pd.DataFrame) else v) for k, v in r.items()}
        )
        return
    emit_text(
        f"{r['kind']} {r.get('industry', '')}: reference {r['reference']} -> current {r['current']} "
        f"({r['rows']['reference']} -> {r['rows']['current']} subjects); score PSI {r['psi']:.4f}"
    )
    emit_frame(r["csi"].head(10).round(4), title="CSI, largest first")
    if "migration" in r:
        emit_frame(r["migration"].reset_index(), title=f"migration {r['migration_summary']}")
    if r["calibration"] is not None:
        emit_frame(r["calibration"].round(4), title="calibration drift: predicted vs observed (95% Wilson interval)")
    else:
        emit_text(r["calibration_note"])
    emit_text("alerts: " + ("; ".join(f"{a['level']} {a['what']} {a['value']:.4f}" for a in r["alerts"]) or "none"))


@monitor_app.command("grades")
def monitor_grades_cmd(
    industry: str = typer.Option(..., "--industry"),
    reference: str = typer.Option(..., "--reference", help="The reference (expected) date."),
    current: str = typer.Option(..., "--current", help="The current (actual) date."),
    store: Path = StoreOpt,
    model: Path | None = ModelFileOpt,
    alias: str | None = AliasOpt,
    tracking_uri: str | None = TrackingOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Risk-score PSI, feature CSI, grade migration and calibration drift of an industry model."""
    from scoring.archive.store import open_store
    from scoring.lineage.tracking import default_tracking_uri
    from scoring.oversight.monitoring import monitor_grades

    try:
        m, _ = _grade_model(industry, model, alias, tracking_uri or default_tracking_uri(store.parent))
        with open_store(store, read_only=True) as st:
            r = monitor_grades(
                st, m, industry=industry, reference=_date(reference, "--reference"), current=_date(current, "--current")
            )
    except (XinyiError, ValueError) as exc:
        fail(str(exc), as_json)
        return
    _emit_monitoring(r, as_json)


@monitor_app.command("points")
def monitor_points_cmd(
    reference: str = typer.Option(..., "--reference"),
    current: str = typer.Option(..., "--current"),
    store: Path = StoreOpt,
    card: Path = CardOpt,
    alias: str | None = typer.Option(None, "--alias", help="Use the registered card of this alias instead of --card."),
    tracking_uri: str | None = TrackingOpt,
    as_json: bool = JsonOpt,
) -> None:
    """信义金 points PSI, card-feature CSI over the card's bins, and calibration drift by points decile."""
    from scoring.archive.store import open_store
    from scoring.lineage.registry import POINTS_NAME, load_registered
    from scoring.lineage.tracking import default_tracking_uri
    from scoring.oversight.monitoring import monitor_points

    try:
        c = (
            load_registered(tracking_uri or default_tracking_uri(store.parent), POINTS_NAME, alias=alias)[0]
            if alias
            else _load_card(card)
        )
        with open_store(store, read_only=True) as st:
            r = monitor_points(st, c, reference=_date(reference, "--reference"), current=_date(current, "--current"))
    except (XinyiError, ValueError, LookupError) as exc:
        fail(str(exc), as_json)
        return
    _emit_monitoring(r, as_json)


@monitor_app.command("compare")
def monitor_compare_cmd(
    industry: str = typer.Option(..., "--industry"),
    as_of: str = typer.Option(..., "--as-of"),
    store: Path = StoreOpt,
    champion: str = typer.Option("champion", "--champion", help="Alias of the model in force."),
    challenger: str = typer.Option("challenger", "--challenger", help="Alias of the candidate."),
    tracking_uri: str | None = TrackingOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Champion/challenger: both registered versions on the same organisations and date."""
    import pandas as pd

    from scoring.archive.store import open_store
    from scoring.lineage.registry import grades_name, load_registered
    from scoring.lineage.tracking import default_tracking_uri
    from scoring.oversight.monitoring import champion_challenger

    try:
        uri = tracking_uri or default_tracking_uri(store.parent)
        a, ra = load_registered(uri, grades_name(industry), alias=champion)
        b, rb = load_registered(uri, grades_name(industry), alias=challenger)
        with open_store(store, read_only=True) as st:
            r = champion_challenger(st, a, b, industry=industry, as_of=_date(as_of, "--as-of"))
    except (XinyiError, ValueError, LookupError) as exc:
        fail(str(exc), as_json)
        return
    r["versions"] = {"champion": ra.version, "challenger": rb.version}
    if as_json:
        emit_json(
            {k: (v.reset_index().to_dict(orient="records") if isinstance(v, pd.DataFrame) else v) for k, v in r.items()}
        )
        return
    emit_text(
        f"{industry} as of {r['as_of']}: champion v{ra.version} vs challenger v{rb.version}; "
        f"same grade for {r['same_grade']:.1%} of {r['organisations']} organisations"
    )
    emit_frame(r["distribution"].reset_index(), title="grade distribution")
    emit_frame(r["agreement"].reset_index(), title="champion (rows) vs challenger (columns)")
    if r["metrics"] is not None:
        emit_frame(r["metrics"].round(4), title="on the outcome after the as-of date")


report_app = typer.Typer(help="HTML model reports and model cards per registered version.", no_args_is_help=True)
app.add_typer(report_app, name="report")
ChampionOpt = typer.Option("champion", "--alias", help="Registry alias of the version to report on.")
OutDirOpt = typer.Option(ROOT / "reports", "--out-dir", help="Folder for the report (one sub-folder per version).")


def _report(name: str, store: Path, alias: str, tracking_uri: str | None, out_dir: Path, as_json: bool) -> None:
    from scoring.archive.store import open_store
    from scoring.lineage.tracking import default_tracking_uri
    from scoring.oversight.report import write_report

    try:
        uri = tracking_uri or default_tracking_uri(store.parent)
        with open_store(store, read_only=True) as st:
            path, reg = write_report(st, uri, name, out_dir, alias)
    except (XinyiError, ValueError, LookupError) as exc:
        fail(str(exc), as_json)
        return
    res = {"report": str(path), "model": f"{reg.name} v{reg.version}", "mlflow_run_id": reg.run_id}
    emit_json(res) if as_json else emit_text(f"report: {path} (attached to run {reg.run_id})")


@report_app.command("grades")
def report_grades(
    industry: str = typer.Option(..., "--industry"),
    store: Path = StoreOpt,
    alias: str = ChampionOpt,
    tracking_uri: str | None = TrackingOpt,
    out_dir: Path = OutDirOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Report and model card of a registered industry grade model; attached to its MLflow run."""
    from scoring.lineage.registry import grades_name

    _report(grades_name(industry), store, alias, tracking_uri, out_dir, as_json)


@report_app.command("points")
def report_points(
    store: Path = StoreOpt,
    alias: str = ChampionOpt,
    tracking_uri: str | None = TrackingOpt,
    out_dir: Path = OutDirOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Report and model card (with the fairness audit) of the registered 信义金 card; attached to its run."""
    from scoring.lineage.registry import POINTS_NAME

    _report(POINTS_NAME, store, alias, tracking_uri, out_dir, as_json)


models_app = typer.Typer(
    help="The MLflow model registry: versions and the aliases that decide what scores.", no_args_is_help=True
)
app.add_typer(models_app, name="models")


@models_app.command("list")
def models_list(store: Path = StoreOpt, tracking_uri: str | None = TrackingOpt, as_json: bool = JsonOpt) -> None:
    """Every registered xinyi model version with its aliases and run."""
    import pandas as pd
    from mlflow import MlflowClient

    from scoring.lineage.tracking import default_tracking_uri

    client = MlflowClient(tracking_uri or default_tracking_uri(store.parent))
    rows = []
    for m in client.search_registered_models():
        if not m.name.startswith("xinyi-"):
            continue
        by_version: dict[str, list[str]] = {}
        for a, v in (client.get_registered_model(m.name).aliases or {}).items():
            by_version.setdefault(str(v), []).append(a)
        rows += [
            {
                "name": v.name,
                "version": v.version,
                "aliases": ",".join(sorted(by_version.get(str(v.version), []))),
                "run_id": v.run_id,
            }
            for v in client.search_model_versions(f"name = '{m.name}'")
        ]
    if as_json:
        emit_json(rows)
    else:
        emit_frame(pd.DataFrame(rows, columns=["name", "version", "aliases", "run_id"]), title="registered models")


@models_app.command("alias")
def models_alias(
    name: str = typer.Argument(..., help="Registered model, e.g. xinyi-grades-construction or xinyi-points-card."),
    version: str = typer.Argument(..., help="The version to point the alias at."),
    alias: str = typer.Option("champion", "--alias"),
    store: Path = StoreOpt,
    tracking_uri: str | None = TrackingOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Point an alias at a version (promote a challenger to champion)."""
    from scoring.lineage.registry import resolve, set_alias
    from scoring.lineage.tracking import default_tracking_uri

    uri = tracking_uri or default_tracking_uri(store.parent)
    try:
        resolve(uri, name, version=version)
        set_alias(uri, name, alias, version)
    except LookupError as exc:
        fail(str(exc), as_json)
        return
    res = {"name": name, "alias": alias, "version": version}
    emit_json(res) if as_json else emit_text(f"{name}@{alias} -> v{version}")


@app.command()
def justify(
    subject: str = SubjectArg,
    store: Path = StoreOpt,
    as_of: str = typer.Option(..., "--as-of", help="The as-of date of the published result."),
    publication: str | None = typer.Option(
        None, "--publication", help="A publication id (default: the latest for that date)."
    ),
    tracking_uri: str | None = TrackingOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Re-derive a published score or grade exactly: the registered model version that produced it,
    the archive as known at publication, the reasons with their records, the band evidence, the metrics."""
    from scoring.archive.store import open_store
    from scoring.lineage.justify import justify as run_justify
    from scoring.lineage.justify import to_text
    from scoring.lineage.tracking import default_tracking_uri

    try:
        with open_store(store, read_only=True) as st:
            j = run_justify(
                st,
                subject.strip().upper(),
                _date(as_of, "--as-of"),
                tracking_uri=tracking_uri or default_tracking_uri(store.parent),
                publication_id=publication,
            )
    except (LookupError, KeyError) as exc:
        fail(str(exc.args[0]) if exc.args else str(exc), as_json)
        return
    except (XinyiError, ValueError) as exc:
        fail(str(exc), as_json)
        return
    if as_json:
        emit_json(j)
    else:
        emit_text(to_text(j))
    if not j["match"]:
        raise typer.Exit(1)


@app.command()
def demo(
    workdir: Path = typer.Option(Path("work"), "--workdir", help="Where the demo writes its store and reports."),
    sample_dir: Path | None = typer.Option(None, "--sample", help="Archive to use (default: data/sample)."),
    as_json: bool = JsonOpt,
) -> None:
    """The main job end to end on data/sample with embedded defaults (no server needed)."""
    from scoring.workflows.demo import run_demo

    try:
        res = run_demo(workdir, sample_dir=sample_dir, progress=_progress(as_json))
    except XinyiError as exc:
        fail(str(exc), as_json)
        return
    if as_json:
        emit_json(res)
        return
    emit_text(res["text"])


if __name__ == "__main__":  # pragma: no cover
    app()
