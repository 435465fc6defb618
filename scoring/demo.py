"""The main job (``scoring demo``): the whole chain on data/sample with embedded defaults.

So far the chain is: ingest the sample archive into a DuckDB store with the quality report, then
point-in-time features for persons and organisations as of the sample's cut-off. Later stages
(信义金 points, industry grades, justification) append to it.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

import json

from .errors import InputFileError
from .export import write_features
from .features import build_features
from .ingest import ingest
from .store import open_store

ROOT = Path(__file__).resolve().parent.parent


def default_sample_dir() -> Path:
    return ROOT / "data" / "sample"


def run_demo(workdir: str | Path, sample_dir: str | Path | None = None,
             progress: Callable[[str], None] | None = None) -> dict:
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
    say(f"step 1/3 · ingest {src} into {store_path}")
    outputs = {"store": str(store_path), "quality_report": str(report_path),
               "quality_report_text": str(report_path.with_suffix(".txt"))}
    feature_lines = []
    with open_store(store_path) as st:
        res = ingest([src], st, report_path=report_path, progress=say)
        summary = st.summary()
        for subjects in ("persons", "organisations"):
            say(f"step 2/3 · {subjects} features as of {cutoff}")
            fm = build_features(st, cutoff, subjects=subjects)
            out, meta = write_features(fm, wd / "features" / f"{subjects}_{cutoff}.parquet", st.pseudonym_key)
            outputs[f"features_{subjects}"] = str(out)
            outputs[f"features_{subjects}_meta"] = str(meta)
            feature_lines.append(f"  {subjects:<14} {fm.values.shape[0]:>7,} subjects x {fm.values.shape[1]} features as of {cutoff}")
        points_lines = _points(st, wd, manifest_export(src), outputs, say)
    seconds = time.perf_counter() - t0
    text = "\n".join([
        res.report.to_text(top=5),
        "",
        "时点特征 · point-in-time features:",
        *feature_lines,
        "",
        "信义金 · personal points:",
        *points_lines,
        "",
        f"demo finished in {seconds:.1f}s. Outputs:",
        *[f"  {k:<28} {v}" for k, v in outputs.items()],
        f"  store holds {summary['subjects']:,} subjects, {summary['records']:,} records, "
        f"{summary['quarantine']:,} quarantined rows (fingerprint {summary['fingerprint'][:12]})",
        "Inspect: scoring quarantine --store " + str(store_path),
        f"MLflow UI: mlflow ui --backend-store-uri {outputs['mlflow_tracking_uri']}",
    ])
    return {"outputs": outputs, "ingest": {k: v for k, v in res.to_dict().items() if k != "quality"},
            "store": summary, "seconds": round(seconds, 2), "text": text}


def manifest_export(src: Path) -> str:
    return json.loads((src / "manifest.json").read_text(encoding="utf-8"))["export_date"]


def _points(st, wd: Path, export_date: str, outputs: dict, say) -> list[str]:
    """Fit the 信义金 card (tracked in MLflow), score everyone, explain and diff two people."""
    from .export import subject_keys
    from .guidance import guidance
    from .personal import explain_person, fit_card, score_persons
    from .privacy import mask_id
    from .score_diff import diff_person
    from .tracking import default_tracking_uri, log_points_fit

    say("step 3/3 · 信义金 card: fit, track, score, explain")
    card, ev = fit_card(st)
    card_path = card.save(wd / "models" / "points_card.json")
    (wd / "models" / "points_card.evidence.json").write_text(json.dumps(ev, ensure_ascii=False, indent=1, default=str),
                                                             encoding="utf-8")
    uri = default_tracking_uri(wd)
    run_id = log_points_fit(card, ev, st, tracking_uri=uri, artifacts=wd / "mlartifacts")
    scores = score_persons(st, card, export_date)
    out = scores.copy()
    out.insert(0, "subject_key", subject_keys(out.pop("subject_id"), st.pseudonym_key))
    scores_path = wd / "scores" / f"xinyijin_{export_date}.csv"
    scores_path.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(scores_path, index=False, encoding="utf-8")
    outputs.update({"points_card": str(card_path), "points_scores": str(scores_path), "mlflow_tracking_uri": uri,
                    "mlflow_points_run": run_id})
    scored = scores[scores["status"] == "scored"].sort_values("points")
    lines = [f"  card: hold-out AUC {ev['auc']:.3f}, KS {ev['ks']:.3f}, ECE {ev['ece']:.4f} (MLflow run {run_id[:8]})",
             f"  {len(scored):,} persons scored (median {int(scored['points'].median())}), "
             f"{int((scores['status'] == 'suspended').sum()):,} suspended by the bottom-line gate"]
    examples = {}
    for label, sid in (("lowest", scored.iloc[0]["subject_id"]), ("median", scored.iloc[len(scored) // 2]["subject_id"])):
        e = explain_person(st, card, sid, export_date)
        g = guidance(st, card, sid, export_date)
        d = diff_person(st, card, sid, "2024-06-30", export_date)
        examples[label] = {"explanation": e, "guidance": g, "diff": d}
        top = sorted((i for i in e["items"] if i["records"]), key=lambda i: i["points"] - i["max_points"])[:2]
        lines.append(f"  {mask_id(sid)} ({label}): {e['points']} points; "
                     + "; ".join(f"{i['label_zh']} {i['points']}/{i['max_points']}" for i in top)
                     + f"; since 2024-06-30 {d['change']:+d} in {len(d['parts'])} parts"
                     + (f"; best action +{g['actions'][0]['points']}" if g["actions"] else ""))
    ex_path = wd / "reports" / "points_examples.json"
    ex_path.write_text(json.dumps(examples, ensure_ascii=False, indent=1, default=str), encoding="utf-8")
    outputs["points_examples"] = str(ex_path)
    return lines
