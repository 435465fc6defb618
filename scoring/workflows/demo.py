"""The main job (``scoring demo``): the whole chain on data/sample with embedded defaults.

1. ingest the sample archive into a DuckDB store, with the quality report;
2. point-in-time features for persons and organisations;
3. 信义金: fit the card (tracked and registered in MLflow), score and publish everyone, explain and
   diff two persons;
4. 行业信用评价: for every industry of the sample, fit a grade model against its baselines, register
   it, write and publish its grade list;
5. justify a few published results (re-derived exactly from the registered versions);
6. monitor across two periods (PSI/CSI, migration, calibration drift);
7. HTML model reports with model cards, attached to the MLflow runs.

Everything is tracked in a local MLflow store (SQLite) beside the DuckDB store; no server is needed.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Callable
from pathlib import Path

from scoring.archive.ingest import ingest
from scoring.archive.store import open_store
from scoring.core.errors import InputFileError
from scoring.core.resources import sample_dir
from scoring.features.builder import build_features
from scoring.features.export import write_features

ROOT = Path(__file__).resolve().parents[2]
STEPS = 7


def default_sample_dir() -> Path:
    return sample_dir()


def open_sample_store(workdir: str | Path, sample_dir: str | Path | None = None):
    """The store at ``<workdir>/store.duckdb`` with the sample archive ingested (once): what the
    notebooks start from. Returns an open :class:`~scoring.archive.store.Store` (close it, or use ``with``)."""
    src = Path(sample_dir) if sample_dir else default_sample_dir()
    st = open_store(Path(workdir) / "store.duckdb")
    if st.count("ingest_batches") == 0:
        ingest([src], st, report_path=Path(workdir) / "reports" / "quality_report.json")
    return st


def run_demo(
    workdir: str | Path, sample_dir: str | Path | None = None, progress: Callable[[str], None] | None = None
) -> dict:
    """Run the chain; returns a summary with the location of every output."""
    say = progress or (lambda m: None)
    wd = Path(workdir)
    src = Path(sample_dir) if sample_dir else default_sample_dir()
    if not (src / "manifest.json").exists():
        raise InputFileError(f"{src}: no sample archive here (manifest.json missing); pass --sample DIR")
    wd.mkdir(parents=True, exist_ok=True)
    store_path = wd / "store.duckdb"
    report_path = wd / "reports" / "quality_report.json"
    t0 = time.perf_counter()
    cutoff = json.loads((src / "manifest.json").read_text(encoding="utf-8"))["cutoff"]
    say(f"step 1/{STEPS} · ingest {src} into {store_path}")
    outputs = {
        "store": str(store_path),
        "quality_report": str(report_path),
        "quality_report_text": str(report_path.with_suffix(".txt")),
    }
    feature_lines = []
    with open_store(store_path) as st:
        res = ingest([src], st, report_path=report_path, progress=say)
        summary = st.summary()
        for subjects in ("persons", "organisations"):
            say(f"step 2/{STEPS} · {subjects} features as of {cutoff}")
            fm = build_features(st, cutoff, subjects=subjects)
            out, meta = write_features(fm, wd / "features" / f"{subjects}_{cutoff}.parquet", st.pseudonym_key)
            outputs[f"features_{subjects}"] = str(out)
            outputs[f"features_{subjects}_meta"] = str(meta)
            feature_lines.append(
                f"  {subjects:<14} {fm.values.shape[0]:>7,} subjects x {fm.values.shape[1]} features as of {cutoff}"
            )
        export = manifest_export(src)
        points_lines = _points(st, wd, export, outputs, say)
        grade_lines = _grades(st, wd, export, outputs, say)
        justify_lines = _justify(st, wd, export, outputs, say)
        monitor_lines = _monitoring(st, wd, cutoff, export, outputs, say)
        report_lines = _reports(st, wd, outputs, say)
    seconds = time.perf_counter() - t0
    text = "\n".join(
        [
            res.report.to_text(top=5),
            "",
            "时点特征 · point-in-time features:",
            *feature_lines,
            "",
            "信义金 · personal points:",
            *points_lines,
            "",
            "行业信用评价 · industry grades (LightGBM vs expert sheet vs ordinal logistic on the hold-out):",
            *grade_lines,
            "",
            "可追溯 · justification (re-derived from the registered version and the archive as known at publication):",
            *justify_lines,
            "",
            "监测 · monitoring across two periods:",
            *monitor_lines,
            "",
            "报告 · model reports and model cards:",
            *report_lines,
            "",
            f"demo finished in {seconds:.1f}s. Outputs:",
            *[f"  {k:<28} {v}" for k, v in outputs.items()],
            f"  store holds {summary['subjects']:,} subjects, {summary['records']:,} records, "
            f"{summary['quarantine']:,} quarantined rows (fingerprint {summary['fingerprint'][:12]})",
            "Inspect: scoring quarantine --store " + str(store_path),
            f"MLflow UI: mlflow ui --backend-store-uri {outputs['mlflow_tracking_uri']}",
        ]
    )
    return {
        "outputs": outputs,
        "ingest": {k: v for k, v in res.to_dict().items() if k != "quality"},
        "store": summary,
        "seconds": round(seconds, 2),
        "text": text,
    }


def manifest_export(src: Path) -> str:
    return json.loads((src / "manifest.json").read_text(encoding="utf-8"))["export_date"]


def _points(st, wd: Path, export_date: str, outputs: dict, say) -> list[str]:
    """Fit the 信义金 card (tracked in MLflow), score everyone, explain and diff two people."""
    from scoring.core.privacy import mask_id
    from scoring.features.builder import FeatureBuilder
    from scoring.features.export import subject_keys
    from scoring.lineage.publish import publish, score_rows
    from scoring.lineage.registry import POINTS_NAME, load_registered, register_next
    from scoring.lineage.tracking import default_tracking_uri, log_points_fit
    from scoring.points.diff import diff_person
    from scoring.points.guidance import guidance
    from scoring.points.personal import explain_person, fit_card, score_persons

    say(f"step 3/{STEPS} · 信义金 card: fit, track, register, score, publish, explain")
    card, ev = fit_card(st)
    card_path = card.save(wd / "models" / "points_card.json")
    (wd / "models" / "points_card.evidence.json").write_text(
        json.dumps(ev, ensure_ascii=False, indent=1, default=str), encoding="utf-8"
    )
    uri = default_tracking_uri(wd)
    run_id = log_points_fit(card, ev, st, tracking_uri=uri, artifacts=wd / "mlartifacts")
    reg = register_next(
        uri,
        POINTS_NAME,
        card_path,
        "card",
        run_id,
        FeatureBuilder(st, subjects="persons").at(ev["holdout_cutoff"]).values,
    )
    card, reg = load_registered(uri, POINTS_NAME, alias="champion")
    scores = score_persons(st, card, export_date)
    pub = publish(
        st,
        kind="score_snapshot",
        scope="persons",
        as_of=dt.date.fromisoformat(export_date),
        rows=score_rows(scores),
        model_name=reg.name,
        model_version=reg.version,
        model_content_version="",
        run_id=reg.run_id,
    )
    outputs["points_publication"] = pub["publication_id"]
    out = scores.copy()
    out.insert(0, "subject_key", subject_keys(out.pop("subject_id"), st.pseudonym_key))
    scores_path = wd / "scores" / f"xinyijin_{export_date}.csv"
    scores_path.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(scores_path, index=False, encoding="utf-8")
    outputs.update(
        {
            "points_card": str(card_path),
            "points_scores": str(scores_path),
            "mlflow_tracking_uri": uri,
            "mlflow_points_run": run_id,
        }
    )
    scored = scores[scores["status"] == "scored"].sort_values("points")
    lines = [
        f"  card: hold-out AUC {ev['auc']:.3f}, KS {ev['ks']:.3f}, ECE {ev['ece']:.4f} (MLflow run {run_id[:8]}; "
        f"registered {reg.name} v{reg.version}, champion; scores published as {pub['publication_id']})",
        f"  {len(scored):,} persons scored (median {int(scored['points'].median())}), "
        f"{int((scores['status'] == 'suspended').sum()):,} suspended by the bottom-line gate",
    ]
    examples = {}
    for label, sid in (
        ("lowest", scored.iloc[0]["subject_id"]),
        ("median", scored.iloc[len(scored) // 2]["subject_id"]),
    ):
        e = explain_person(st, card, sid, export_date)
        g = guidance(st, card, sid, export_date)
        d = diff_person(st, card, sid, "2024-06-30", export_date)
        examples[label] = {"explanation": e, "guidance": g, "diff": d}
        top = sorted((i for i in e["items"] if i["records"]), key=lambda i: i["points"] - i["max_points"])[:2]
        lines.append(
            f"  {mask_id(sid)} ({label}): {e['points']} points; "
            + "; ".join(f"{i['label_zh']} {i['points']}/{i['max_points']}" for i in top)
            + f"; since 2024-06-30 {d['change']:+d} in {len(d['parts'])} parts"
            + (f"; best action +{g['actions'][0]['points']}" if g["actions"] else "")
        )
    ex_path = wd / "reports" / "points_examples.json"
    ex_path.write_text(json.dumps(examples, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    outputs["points_examples"] = str(ex_path)
    return lines


def _grades(st, wd: Path, export_date: str, outputs: dict, say) -> list[str]:
    """Per sample industry: fit against the baselines, track, register, list and publish."""
    from scoring.features.industry import load_industries
    from scoring.features.training import training_set
    from scoring.grades.grading import fit_industry
    from scoring.grades.lists import grade_list, grade_population, summary, write_grade_list
    from scoring.lineage.publish import grade_rows, publish
    from scoring.lineage.registry import grades_name, load_registered, register_next
    from scoring.lineage.tracking import default_tracking_uri, log_grade_fit

    uri = default_tracking_uri(wd)
    present = set(
        st.sql("SELECT DISTINCT industry_code FROM subjects WHERE industry_code IS NOT NULL")["industry_code"]
    )
    codes = [c for c, ind in sorted(load_industries().items()) if present & set(ind.gbt4754)]
    as_of = dt.date.fromisoformat(export_date)
    lines, pubs = [], {}
    for i, code in enumerate(codes, 1):
        say(f"step 4/{STEPS} · industry {i}/{len(codes)} {code}: fit with baselines, register, grade list")
        model, ev = fit_industry(st, code)
        path = model.save(wd / "models" / "grades" / f"{code}.json")
        run_id = log_grade_fit(model, ev, st, tracking_uri=uri, artifacts=wd / "mlartifacts", model_path=path)
        model.info_["mlflow_run_id"] = run_id
        model.save(path)
        register_next(
            uri,
            grades_name(code),
            path,
            "grade",
            run_id,
            training_set(st, [ev["holdout_cutoff"]], subjects="organisations", industry=code),
        )
        champ, reg = load_registered(uri, grades_name(code), alias="champion")
        pop = grade_population(st, champ, as_of, industry=code)
        lst = grade_list(pop, champ)
        out = wd / "grades" / f"{code}_{export_date}_v{reg.version}.xlsx"
        files = (
            [out]
            if out.exists()
            else write_grade_list(
                lst,
                out,
                {
                    "行业": f"{pop.industry.name_zh} ({code})",
                    "评价基准日": export_date,
                    "注册模型": f"{reg.name} v{reg.version}",
                    "模型版本": champ.version_,
                    "MLflow运行ID": reg.run_id,
                    "数据快照": st.fingerprint(),
                },
            )
        )
        pub = publish(
            st,
            kind="grade_list",
            scope=code,
            as_of=as_of,
            rows=grade_rows(pop.graded),
            model_name=reg.name,
            model_version=reg.version,
            model_content_version=champ.version_,
            run_id=reg.run_id,
            files=files,
        )
        pubs[code] = pub["publication_id"]
        outputs[f"grade_list_{code}"] = str(out)
        dist, _ = summary(lst)
        b = {x["model"]: x for x in ev["baselines"]}
        quality = (
            f"QWK {b['lightgbm']['qwk']:.3f}/{b['expert_sheet']['qwk']:.3f}/{b['ordinal_logistic']['qwk']:.3f}, "
            if "qwk" in b["lightgbm"]
            else ""
        )
        lines.append(
            f"  {code:<18} {ev['label']:<12} AUC {b['lightgbm']['auc']:.3f}/{b['expert_sheet']['auc']:.3f}/"
            f"{b['ordinal_logistic']['auc']:.3f}, {quality}ECE {ev['ece_before']:.3f}->{ev['ece']:.3f}; "
            f"{len(lst)} graded: "
            + " ".join(f"{r['grade']}{int(r['organisations'])}" for _, r in dist.iterrows())
            + f" ({int((lst['veto'] != '').sum())} vetoed)"
        )
    outputs["grade_publications"] = pubs
    outputs["mlflow_tracking_uri"] = uri
    return lines


def _justify(st, wd: Path, export_date: str, outputs: dict, say) -> list[str]:
    """Re-derive a few published results: a vetoed and an ordinary organisation, and a person."""
    from scoring.lineage.justify import justify
    from scoring.lineage.tracking import default_tracking_uri

    say(f"step 5/{STEPS} · justify published results")
    uri = default_tracking_uri(wd)
    picks = []
    for pid in list(outputs["grade_publications"].values())[:1]:
        rows = st.sql(
            "SELECT subject_id, detail FROM published_results WHERE publication_id = ? ORDER BY subject_id", [pid]
        )
        vetoed = rows[rows["detail"].str.contains('"veto": "[a-z]', regex=True)]
        picks += list(vetoed["subject_id"].head(1)) + list(rows[~rows.index.isin(vetoed.index)]["subject_id"].head(1))
    person = st.sql(
        "SELECT subject_id FROM published_results WHERE publication_id = ? AND result <> 'suspended' "
        "ORDER BY subject_id LIMIT 1",
        [outputs["points_publication"]],
    )["subject_id"]
    picks += list(person)
    results, lines = [], []
    for sid in picks:
        j = justify(st, sid, export_date, tracking_uri=uri)
        results.append(j)
        lines.append(
            f"  {j['subject']}: published {j['published']}, re-derived {j['rederived']} -> "
            f"{'match' if j['match'] else 'MISMATCH'} ({j['model']['name']} v{j['model']['version']})"
        )
    path = wd / "reports" / "justifications.json"
    path.write_text(json.dumps(results, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    outputs["justifications"] = str(path)
    return lines


def _monitoring(st, wd: Path, cutoff: str, export_date: str, outputs: dict, say) -> list[str]:
    """Each registered champion between the cut-off and the export date."""
    import pandas as pd

    from scoring.lineage.registry import POINTS_NAME, grades_name, load_registered
    from scoring.lineage.tracking import default_tracking_uri
    from scoring.oversight.monitoring import monitor_grades, monitor_points

    uri = default_tracking_uri(wd)
    ref, cur = dt.date.fromisoformat(cutoff), dt.date.fromisoformat(export_date)
    reports, lines = {}, []
    card, _ = load_registered(uri, POINTS_NAME, alias="champion")
    say(f"step 6/{STEPS} · monitoring {cutoff} -> {export_date}: 信义金")
    reports["points"] = monitor_points(st, card, reference=ref, current=cur)
    for code in outputs["grade_publications"]:
        say(f"step 6/{STEPS} · monitoring {cutoff} -> {export_date}: {code}")
        m, _ = load_registered(uri, grades_name(code), alias="champion")
        reports[code] = monitor_grades(st, m, industry=code, reference=ref, current=cur)
    for name, r in reports.items():
        mig = r.get("migration_summary")
        lines.append(
            f"  {name:<18} PSI {r['psi']:.4f}, max CSI {r['csi']['csi'].max():.4f}"
            + (f", {mig['moved_two_plus']:.1%} moved two grades or more" if mig else "")
            + f", alerts: {len(r['alerts'])}"
        )
    path = wd / "reports" / "monitoring.json"
    path.write_text(
        json.dumps(
            {
                k: {
                    kk: (vv.reset_index().to_dict(orient="records") if isinstance(vv, pd.DataFrame) else vv)
                    for kk, vv in r.items()
                }
                for k, r in reports.items()
            },
            ensure_ascii=False,
            indent=1,
            default=str,
        ),
        encoding="utf-8",
    )
    outputs["monitoring"] = str(path)
    return lines


def _reports(st, wd: Path, outputs: dict, say) -> list[str]:
    """HTML report and model card of every champion, attached to its MLflow run."""
    from scoring.lineage.registry import POINTS_NAME, grades_name
    from scoring.lineage.tracking import default_tracking_uri
    from scoring.oversight.report import write_report

    uri = default_tracking_uri(wd)
    lines = []
    for key, name in [("points", POINTS_NAME)] + [(c, grades_name(c)) for c in outputs["grade_publications"]]:
        say(f"step 7/{STEPS} · reports: {key}")
        path, _ = write_report(st, uri, name, wd / "reports")
        outputs[f"report_{key}"] = str(path)
        lines.append(f"  {path}")
    return lines
