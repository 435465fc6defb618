"""Benchmark: one person's 信义金 explanation computed alone, against the population path, one run.

For archives of growing size (generated with the sample generator, realistic profile, then
ingested into a DuckDB store), the time of ``explain_person`` for random persons — which reads only
that person's records and those of the organisations linked to them — and, as the peer, the
population path it replaced: the whole city's feature matrix (``FeatureBuilder.at``) and every
suspension, which is what explaining one person cost before. Prints p50/p95/p99 per size, the
ratio of one-subject p99 between the largest and the smallest store, and the peer's time.

    .venv/bin/python bench/subject_bench.py --persons 20000 200000 --samples 40
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import tempfile
import time
from pathlib import Path

import numpy as np


def _store(folder: Path, persons: int) -> Path:
    from scoring.archive.ingest import ingest
    from scoring.archive.store import open_store
    from scoring.sample.generator import generate_sample

    generate_sample(folder / "archive", seed=2026, persons=persons, organisations=max(persons // 4, 100))
    path = folder / "store.duckdb"
    with open_store(path) as s:
        ingest([folder / "archive"], s)
    return path


def measure(persons: int, samples: int, as_of: dt.date) -> dict:
    from scoring.archive.catalog import load_catalog
    from scoring.archive.store import open_store
    from scoring.features.builder import FeatureBuilder
    from scoring.points.card import load_expert_card
    from scoring.points.gate import load_gate, suspensions
    from scoring.points.personal import explain_person

    cat = load_catalog()
    gate = load_gate(catalog=cat)
    card = load_expert_card()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        path = _store(Path(tmp), persons)
        build = time.perf_counter() - t0
        with open_store(path, read_only=True) as s:
            ids = s.sql("SELECT subject_id FROM subjects WHERE subject_type = 'person' ORDER BY subject_id")[
                "subject_id"
            ].tolist()
            picks = random.Random(7).sample(ids, min(samples, len(ids)))
            explain_person(s, card, picks[0], as_of, cat, gate)  # warm: views, configs
            times = []
            for sid in picks:
                t = time.perf_counter()
                explain_person(s, card, sid, as_of, cat, gate)
                times.append(time.perf_counter() - t)
            t = time.perf_counter()
            FeatureBuilder(s, subjects="persons", catalog=cat).at(as_of)
            suspensions(s, as_of, gate, cat)
            peer = time.perf_counter() - t
    ms = np.array(times) * 1000
    return {
        "persons": persons,
        "store_build_s": round(build, 1),
        "one_subject_ms": {
            q: round(float(np.percentile(ms, p)), 1) for q, p in (("p50", 50), ("p95", 95), ("p99", 99))
        },
        "population_path_s": round(peer, 2),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--persons", type=int, nargs="+", default=[20_000, 200_000])
    ap.add_argument("--samples", type=int, default=40)
    ap.add_argument("--as-of", default="2026-06-30")
    a = ap.parse_args()
    rows = [measure(n, a.samples, dt.date.fromisoformat(a.as_of)) for n in sorted(a.persons)]
    for r in rows:
        print(json.dumps(r, ensure_ascii=False))
    lo, hi = rows[0], rows[-1]
    print(
        json.dumps(
            {
                "p99_ratio_largest_to_smallest": round(hi["one_subject_ms"]["p99"] / lo["one_subject_ms"]["p99"], 2),
                "population_over_one_subject_p50_at_largest": round(
                    hi["population_path_s"] * 1000 / hi["one_subject_ms"]["p50"], 1
                ),
            }
        )
    )


if __name__ == "__main__":
    main()
