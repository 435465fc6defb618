"""The main job (``scoring demo``): the whole chain on the sample archive, as a sequence of the
named workflows of :mod:`scoring.workflows`.

1. ingest the sample archive into a DuckDB store, with the quality report;
2. point-in-time features for persons and organisations;
3. 信义金: fit the card (tracked and registered in MLflow), score and publish everyone, explain and
   diff two persons;
4. 行业信用评价: for every industry of the sample, fit a grade model against its baselines, register
   it, write and publish its grade list;
5. justify a few published results (re-derived exactly from the registered versions);
6. monitor across two periods (PSI/CSI, migration, calibration drift);
7. HTML model reports with model cards, attached to the MLflow runs;
8. push every publication (grade lists with reasons and records, the score snapshot with its line
   items) and the justifications into the serving database ``<workdir>/serving.sqlite``, which
   ``scoring serve`` shows.

Everything is tracked in a local MLflow store (SQLite) beside the DuckDB store; no server is needed.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from scoring.archive.store import Store, open_store
from scoring.core.errors import InputFileError
from scoring.core.privacy import mask_id
from scoring.core.resources import sample_dir as bundled_sample
from scoring.lineage.registry import POINTS_NAME, grades_name
from scoring.workflows import archive, grades, lineage, oversight, points
from scoring.workflows.workspace import Progress, Workspace, quiet

STEPS = 8
SERVING_FILE = "serving.sqlite"
DIFF_FROM = "2024-06-30"


def _dump(path: Path, data: object) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    return str(path)


def run_demo(workdir: str | Path, sample_dir: str | Path | None = None, progress: Progress = quiet) -> dict:
    """Run the chain into ``workdir``; returns a summary with the location of every output."""
    say = progress
    wd = Path(workdir)
    src = Path(sample_dir) if sample_dir else bundled_sample()
    if not (src / "manifest.json").exists():
        raise InputFileError(f"{src}: no sample archive here (manifest.json missing); pass --sample DIR")
    manifest = json.loads((src / "manifest.json").read_text(encoding="utf-8"))
    cutoff, export = manifest["cutoff"], manifest["export_date"]
    wd.mkdir(parents=True, exist_ok=True)
    ws = Workspace.beside(wd / "store.duckdb")
    t0 = time.perf_counter()
    report_path = wd / "reports" / "quality_report.json"
    outputs: dict = {
        "store": str(ws.store_path),
        "quality_report": str(report_path),
        "quality_report_text": str(report_path.with_suffix(".txt")),
        "mlflow_tracking_uri": ws.tracking_uri,
        "serving_database": str(wd / SERVING_FILE),  # the SQLite file `scoring serve` shows by default
    }
    say(f"step 1/{STEPS} · ingest {src} into {ws.store_path}")
    res = archive.ingest_archive(ws.store_path, [src], report_path=report_path, progress=say)
    with open_store(ws.store_path) as st:
        feature_lines = []
        for subjects in ("persons", "organisations"):
            say(f"step 2/{STEPS} · {subjects} features as of {cutoff}")
            f = archive.build_feature_vectors(
                st, cutoff, wd / "features" / f"{subjects}_{cutoff}.parquet", subjects=subjects
            )
            outputs[f"features_{subjects}"], outputs[f"features_{subjects}_meta"] = str(f.out), str(f.meta)
            n, k = f.matrix.values.shape
            feature_lines.append(f"  {subjects:<14} {n:>7,} subjects x {k} features as of {cutoff}")
        points_lines = _points(st, ws, export, outputs, say)
        grade_lines = _grades(st, ws, export, outputs, say)
        justify_lines, justified = _justify(st, ws, export, outputs, say)
        monitor_lines = _monitoring(st, ws, cutoff, export, outputs, say)
        report_lines = _reports(st, ws, outputs, say)
        serving_lines = _serving(st, ws, outputs, justified, say)
        summary = st.summary()
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
            "服务库 · serving database (what `scoring serve` shows):",
            *serving_lines,
            "",
            f"demo finished in {seconds:.1f}s. Outputs:",
            *[f"  {k:<28} {v}" for k, v in outputs.items() if not isinstance(v, dict)],
            f"  store holds {summary['subjects']:,} subjects, {summary['records']:,} records, "
            f"{summary['quarantine']:,} quarantined rows (fingerprint {summary['fingerprint'][:12]})",
            f"Next: scoring quarantine --store {ws.store_path}   (see the README for every command)",
            f"MLflow UI: mlflow ui --backend-store-uri {ws.tracking_uri}",
        ]
    )
    return {
        "outputs": outputs,
        "ingest": {k: v for k, v in res.to_dict().items() if k != "quality"},
        "store": summary,
        "seconds": round(seconds, 2),
        "text": text,
    }


def _points(st: Store, ws: Workspace, export: str, outputs: dict, say: Progress) -> list[str]:
    """Fit and register the card, score and publish everyone, explain and diff two persons."""
    say(f"step 3/{STEPS} · 信义金 card: fit, track, register, score, publish, explain")
    fit = points.fit_and_register_card(st, ws, progress=say)
    champion = points.ModelChoice(alias="champion")
    scores = points.publish_scores(
        st,
        ws,
        export,
        choice=champion,
        out=ws.path("scores", f"xinyijin_{export}.csv"),
        publish=True,
        serving=_serving_url(outputs),
        progress=say,
    )
    assert scores.publication is not None
    outputs.update(
        {
            "points_card": str(fit.path),
            "points_scores": str(scores.out),
            "points_publication": scores.publication["publication_id"],
            "mlflow_points_run": fit.run_id,
        }
    )
    ev, reg = fit.evidence, fit.registered
    df = scores.scores
    scored = df[df["status"] == "scored"].sort_values(["points", "subject_id"])
    lines = [
        f"  card: hold-out AUC {ev['auc']:.3f}, KS {ev['ks']:.3f}, ECE {ev['ece']:.4f} (MLflow run {fit.run_id[:8]}; "
        f"registered {reg.name} v{reg.version}, {', '.join(reg.aliases)}; scores published as "
        f"{scores.publication['publication_id']})",
        f"  {len(scored):,} persons scored (median {int(scored['points'].median())}), "
        f"{int((df['status'] == 'suspended').sum()):,} suspended by the bottom-line gate",
    ]
    card, _ = points.load_card(ws, champion)
    examples = {}
    for label, sid in (
        ("lowest", scored.iloc[0]["subject_id"]),
        ("median", scored.iloc[len(scored) // 2]["subject_id"]),
    ):
        e = points.explain_person(st, ws, sid, export, card=card)
        d = points.diff_person(st, ws, sid, DIFF_FROM, export, card=card)
        examples[label] = {"explanation": e.explanation, "guidance": {"actions": e.guidance}, "diff": d}
        top = sorted((i for i in e.explanation["items"] if i["records"]), key=lambda i: i["points"] - i["max_points"])
        lines.append(
            f"  {mask_id(sid)} ({label}): {e.explanation['points']} points; "
            + "; ".join(f"{i['label_zh']} {i['points']}/{i['max_points']}" for i in top[:2])
            + (  # no change when suspended on DIFF_FROM: a suspended date has no number
                f"; since {DIFF_FROM} {d['change']:+d} in {len(d['parts'])} parts"
                if d["change"] is not None
                else f"; suspended on {DIFF_FROM}"
            )
            + (f"; best action +{e.guidance[0]['points']}" if e.guidance else "")
        )
    outputs["points_examples"] = _dump(ws.path("reports", "points_examples.json"), examples)
    return lines


def _grades(st: Store, ws: Workspace, export: str, outputs: dict, say: Progress) -> list[str]:
    """Per sample industry: fit against the baselines, register, write and publish the grade list."""
    codes = grades.sample_industries(st)
    lines, pubs = [], {}
    for i, code in enumerate(codes, 1):
        say(f"step 4/{STEPS} · industry {i}/{len(codes)} {code}: fit the contenders, register, grade list")
        fit = grades.fit_and_register_grades(st, ws, code, progress=say)
        lst = grades.publish_grade_list(
            st,
            ws,
            code,
            export,
            choice=points.ModelChoice(alias="champion"),
            publish=True,
            keep_existing=True,
            serving=_serving_url(outputs),
        )
        assert lst.publication is not None
        pubs[code] = lst.publication["publication_id"]
        outputs[f"grade_list_{code}"] = str(lst.files[0])
        dist, _ = lst.summary()
        ev = fit.evidence
        b = {x["model"]: x for x in ev["baselines"]}
        quality = (
            f"QWK {b['lightgbm']['qwk']:.3f}/{b['expert_sheet']['qwk']:.3f}/{b['ordinal_logistic']['qwk']:.3f}, "
            if "qwk" in b["lightgbm"]
            else ""
        )
        lines.append(
            f"  {code:<18} {ev['label']:<12} AUC {b['lightgbm']['auc']:.3f}/{b['expert_sheet']['auc']:.3f}/"
            f"{b['ordinal_logistic']['auc']:.3f}, {quality}ECE {ev['ece_before']:.3f}->{ev['ece']:.3f}; "
            f"{len(lst.rows)} graded: "
            + " ".join(f"{r['grade']}{int(r['organisations'])}" for _, r in dist.iterrows())
            + f" ({int((lst.rows['veto'] != '').sum())} vetoed); champion {ev.get('contender', 'lightgbm')}"
        )
    outputs["grade_publications"] = pubs
    return lines


def _justify_picks(st: Store, outputs: dict) -> list[str]:
    """A vetoed and an ordinary organisation of the first grade list, and a scored person."""
    picks: list[str] = []
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
    return picks + list(person)


def _justify(
    st: Store, ws: Workspace, export: str, outputs: dict, say: Progress
) -> tuple[list[str], list[tuple[str, dict]]]:
    """Justify the picks; returns the lines and (subject, justification) pairs."""
    say(f"step 5/{STEPS} · justify published results")
    results, lines, pairs = [], [], []
    for sid in _justify_picks(st, outputs):
        j = lineage.justify_result(st, ws, sid, export)
        results.append(j)
        pairs.append((sid, j))
        lines.append(
            f"  {j['subject']}: published {j['published']}, re-derived {j['rederived']} -> "
            f"{'match' if j['match'] else 'MISMATCH'} ({j['model']['name']} v{j['model']['version']})"
        )
    outputs["justifications"] = _dump(ws.path("reports", "justifications.json"), results)
    return lines, pairs


def _monitoring(st: Store, ws: Workspace, cutoff: str, export: str, outputs: dict, say: Progress) -> list[str]:
    """Each registered champion between the cut-off and the export date."""
    say(f"step 6/{STEPS} · monitoring {cutoff} -> {export}: 信义金")
    reports = {"points": oversight.monitor_points(st, ws, cutoff, export)}
    for code in outputs["grade_publications"]:
        say(f"step 6/{STEPS} · monitoring {cutoff} -> {export}: {code}")
        reports[code] = oversight.monitor_grades(st, ws, code, cutoff, export)
    lines = []
    for name, r in reports.items():
        mig = r.get("migration_summary")
        lines.append(
            f"  {name:<18} PSI {r['psi']:.4f}, max CSI {r['csi']['csi'].max():.4f}"
            + (f", {mig['moved_two_plus']:.1%} moved two grades or more" if mig else "")
            + f", alerts: {len(r['alerts'])}"
        )
    outputs["monitoring"] = _dump(
        ws.path("reports", "monitoring.json"), {k: oversight.frames_to_records(r) for k, r in reports.items()}
    )
    return lines


def _reports(st: Store, ws: Workspace, outputs: dict, say: Progress) -> list[str]:
    """HTML report and model card of every champion, attached to its MLflow run."""
    lines = []
    for key, name in [("points", POINTS_NAME)] + [(c, grades_name(c)) for c in outputs["grade_publications"]]:
        say(f"step 7/{STEPS} · reports: {key}")
        rep = oversight.write_model_report(st, ws, name)
        outputs[f"report_{key}"] = str(rep.path)
        lines.append(f"  {rep.path}")
    return lines


def _serving(st: Store, ws: Workspace, outputs: dict, justified: list[tuple[str, dict]], say: Progress) -> list[str]:
    """Push every publication not yet there (the publish steps pushed theirs already) and the
    justification summaries into the serving database (persons under their keyed pseudonym)."""
    from scoring.core.privacy import pseudonym
    from scoring.serving.database import connect
    from scoring.serving.push import push_justification
    from scoring.workflows.serving import push_to_serving, serving_status

    url = _serving_url(outputs)
    say(f"step 8/{STEPS} · serving database {url}: publications and justifications")
    results = push_to_serving(st, url, tracking_uri=ws.tracking_uri, progress=say)
    key = st.pseudonym_key
    eng = connect(url)
    try:
        with eng.begin() as conn:
            for sid, j in justified:
                subject = pseudonym(sid, key) if _is_person(st, sid) else sid
                push_justification(conn, j["publication_id"], subject, j)
    finally:
        eng.dispose()
    status = serving_status(url)
    t = status["tables"]
    return [
        f"  {url}: {len(results)} publications ({sum(r.new for r in results)} pushed in this step, the rest by the "
        f"publish steps), {t.get('organisations', 0):,} organisations, {t.get('grade_entries', 0):,} grade entries, "
        f"{t.get('score_entries', 0):,} score entries, {t.get('justifications', 0)} justifications",
        "  serve it: scoring serve   (users: scoring users add ...)",
    ]


def _is_person(st: Store, sid: str) -> bool:
    rows = st.sql("SELECT subject_type FROM subjects WHERE subject_id = ?", [sid])
    return bool(len(rows)) and rows["subject_type"].iloc[0] == "person"


def _serving_url(outputs: dict) -> str:
    """The URL of the main job's serving database (``<workdir>/serving.sqlite``)."""
    return f"sqlite:///{Path(outputs['serving_database']).resolve()}"
