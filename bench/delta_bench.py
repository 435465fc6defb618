"""Daily delta vs full recompute on a generated archive (issue 17 point 4).

    .venv/bin/python bench/delta_bench.py --archive /work/benchdata/archive_10000000 \
        --work /work/benchdata/delta/bench10m

1. :func:`scoring.sample.delta.split_archive` splits the generated archive into a base export
   (2026-06-30) and a delta export (2026-07-01: new subjects, new records, repairs, revocations,
   objection outcomes, list exits, changed legal representatives, repeated rows: ~0.1% of the records);
   the base is ingested into ``<work>/base.duckdb`` (kept: reused by later runs with the same seed).
2. The 信义金 card and the construction grade model are fitted on the committed sample and registered
   in ``<work>/mlflow.db`` (kept).
3. On a copy of the base store: the base publications as of 2026-06-30 (full), then
   ``apply_delta`` of the delta as of 2026-07-01 (timed: the ingest, then each publication rolled
   forward, with its touched subjects), then the full recompute as of 2026-07-01 on the same store
   (timed: ``publish_scores`` and ``publish_grade_list``, the main job's path, which also computes
   the SHAP reasons and writes the list; and the rows alone: every person scored and every
   organisation graded, no SHAP, no file). The full publications must be the delta's (same id, same
   content hash): checked, and printed.

Figures are wall-clock seconds of this process; other processes on the machine make them upper bounds.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this tree's scoring, not an installed one

T0, T1 = dt.date(2026, 6, 30), dt.date(2026, 7, 1)
INDUSTRY = "construction"


def _models(work: Path) -> str:
    from scoring.archive.ingest import ingest
    from scoring.archive.store import open_store
    from scoring.core.resources import sample_dir
    from scoring.workflows import Workspace, fit_and_register_card, fit_and_register_grades

    uri = f"sqlite:///{work / 'mlflow.db'}"
    done = work / "models.done"
    if done.exists():
        return uri
    store = work / "sample.duckdb"
    store.unlink(missing_ok=True)
    with open_store(store) as st:
        ingest([sample_dir()], st)
        ws = Workspace(store, uri, work)
        fit_and_register_grades(st, ws, INDUSTRY, out=work / f"{INDUSTRY}.json")
        fit_and_register_card(st, ws, out=work / "card.json")
    done.write_text("ok")
    return uri


def _base(archive: Path, work: Path, seed: int) -> tuple[Path, Path, dict]:
    from scoring.archive.ingest import ingest
    from scoring.archive.store import open_store
    from scoring.sample.delta import split_archive

    base_dir, delta_dir, store = work / "base", work / "delta", work / "base.duckdb"
    info_path = work / "split.json"
    if not (info_path.exists() and store.exists() and json.loads(info_path.read_text()).get("seed") == seed):
        shutil.rmtree(base_dir, ignore_errors=True)
        shutil.rmtree(delta_dir, ignore_errors=True)
        store.unlink(missing_ok=True)
        t = time.perf_counter()
        info = split_archive(archive, base_dir, delta_dir, seed=seed)
        info["split_seconds"] = time.perf_counter() - t
        t = time.perf_counter()
        with open_store(store) as st:
            r = ingest([base_dir], st)
        info.update(seed=seed, base_ingest_seconds=time.perf_counter() - t, base_rows=r.rows_read)
        info_path.write_text(json.dumps(info, indent=1))
    return store, delta_dir, json.loads(info_path.read_text())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--archive", type=Path, required=True)
    ap.add_argument("--work", type=Path, required=True)
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)

    from scoring.archive.store import open_store
    from scoring.grades.lists import grade_subjects
    from scoring.points.personal import score_persons
    from scoring.workflows import Workspace, load_card, load_grade_model, publish_grade_list, publish_scores
    from scoring.workflows.delta import apply_delta

    uri = _models(a.work)
    base_store, delta_dir, info = _base(a.archive, a.work, a.seed)
    store = a.work / "run.duckdb"
    shutil.copyfile(base_store, store)
    out: dict = {"split": info}
    with open_store(store) as st:
        ws = Workspace(store, uri, a.work / "out")
        records = st.count("records")
        t = time.perf_counter()
        s0 = publish_scores(st, ws, T0, publish=True)
        g0 = publish_grade_list(st, ws, INDUSTRY, T0, publish=True, keep_existing=True)
        out["base_publish_seconds"] = time.perf_counter() - t
        t = time.perf_counter()
        res = apply_delta(st, ws, [delta_dir], T1)
        out["delta_seconds"] = time.perf_counter() - t
        out["delta"] = res.to_dict()
        t = time.perf_counter()
        s1 = publish_scores(st, ws, T1, publish=True)
        g1 = publish_grade_list(st, ws, INDUSTRY, T1, publish=True, keep_existing=True)
        out["full_workflow_seconds"] = time.perf_counter() - t
        card, _ = load_card(ws)
        model, _ = load_grade_model(ws, INDUSTRY)
        orgs = st.sql("SELECT subject_id FROM subjects WHERE subject_type <> 'person'")["subject_id"]
        t = time.perf_counter()
        n_scores = len(score_persons(st, card, T1))
        n_grades = len(grade_subjects(st, model, T1, orgs, industry=INDUSTRY))
        out["full_rows_seconds"] = time.perf_counter() - t
        out["full_rows"] = {"persons": n_scores, "graded": n_grades}
        pubs = {p.kind: p.publication for p in res.publications}
        out["equal"] = {
            "score_snapshot": pubs["score_snapshot"]["publication_id"] == s1.publication["publication_id"]
            and pubs["score_snapshot"]["content_hash"] == s1.publication["content_hash"]
            and s1.publication["new"] is False,
            "grade_list": pubs["grade_list"]["publication_id"] == g1.publication["publication_id"]
            and pubs["grade_list"]["content_hash"] == g1.publication["content_hash"]
            and g1.publication["new"] is False,
        }
        out["publications"] = {"base": [s0.publication["publication_id"], g0.publication["publication_id"]],
                               "delta": [p["publication_id"] for p in pubs.values()]}  # fmt: skip
    out["records"] = records
    out["peak_rss_gb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e6
    pub_s = out["delta"]["seconds"]["publications"]
    out["ratio_full_workflow_over_delta_publications"] = out["full_workflow_seconds"] / pub_s
    out["ratio_full_rows_over_delta_publications"] = out["full_rows_seconds"] / pub_s
    print(json.dumps(out, indent=1, ensure_ascii=False, default=str))
    d = out["delta"]
    print(f"\nrecords in store: {records:,}; delta rows read: {d['ingest']['rows_read']:,}")
    print(f"delta ingest: {d['seconds']['ingest']:.1f} s; publications rolled forward: {pub_s:.1f} s")
    for p in d["publications"]:
        print(f"  {p['kind']}/{p['scope']}: {p['mode']}, {p['recomputed']:,} of {p['rows']:,} rows recomputed, "
              f"touched {p['touched']}, {p['seconds']:.1f} s")  # fmt: skip
    print(f"full recompute, workflows (SHAP + list file): {out['full_workflow_seconds']:.1f} s "
          f"({out['ratio_full_workflow_over_delta_publications']:.1f}x the delta's publications)")  # fmt: skip
    print(f"full recompute, rows only (features, scores, grades): {out['full_rows_seconds']:.1f} s "
          f"({out['ratio_full_rows_over_delta_publications']:.1f}x)")  # fmt: skip
    print(f"equal to the full recompute: {out['equal']}; peak RSS {out['peak_rss_gb']:.1f} GB")


if __name__ == "__main__":
    main()
