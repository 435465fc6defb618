"""Benchmark: synthetic archive generation (10M and 100M records) and ingestion of 10M records.

Each step runs in its own child process, so its peak memory (max RSS) is its own. The peer for
ingestion is a plain DuckDB bulk load of the same files with no checks at all
(CREATE TABLE AS SELECT * FROM read_parquet), measured in the same run: the ratio is the price of
validating every row, quarantining and upserting.

    python bench/archive_bench.py                    # 10M generate + ingest, 100M generate
    python bench/archive_bench.py --sizes 10000000   # only 10M
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

PER_SUBJECT = 12.0  # records per subject in the default profile (4 persons : 1 organisation)


def subjects_for(n_records: int) -> tuple[int, int]:
    subjects = int(n_records / PER_SUBJECT)
    return subjects * 4 // 5, subjects // 5


def child(step: str, args: list[str]) -> dict:
    out = subprocess.run([sys.executable, __file__, "--child", step, *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"step {step} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(step: str, rest: list[str]) -> None:
    t0 = time.perf_counter()
    if step == "generate":
        from scoring.sample.generator import generate_sample

        out, n = rest[0], int(rest[1])
        persons, orgs = subjects_for(n)
        res = generate_sample(out, seed=1, persons=persons, organisations=orgs, chunk_subjects=50_000)
        records = res.records
    elif step == "ingest":
        from scoring.archive.ingest import ingest
        from scoring.archive.store import open_store

        with open_store(rest[1]) as st:
            res = ingest([rest[0]], st)
        records = res.rows_read
    elif step == "peer":
        import duckdb

        con = duckdb.connect(rest[1])
        con.execute(f"SET threads = {os.cpu_count()}")
        con.execute(f"CREATE TABLE subjects AS SELECT * FROM read_parquet('{rest[0]}/subjects.parquet')")
        con.execute(f"CREATE TABLE records AS SELECT * FROM read_parquet('{rest[0]}/records.parquet')")
        records = con.execute("SELECT (SELECT count(*) FROM subjects) + (SELECT count(*) FROM records)").fetchone()[0]
        con.close()
    else:
        raise SystemExit(f"unknown step {step}")
    sec = time.perf_counter() - t0
    print(
        json.dumps({"step": step, "rows": records, "seconds": sec, "rows_per_s": records / sec, "peak_mb": peak_mb()})
    )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000000,100000000")
    ap.add_argument("--ingest", type=int, default=10_000_000, help="which generated size to ingest")
    ap.add_argument("--workdir", default="bench/out")
    ap.add_argument("--child", nargs="+")
    a = ap.parse_args()
    if a.child:
        run_child(a.child[0], a.child[1:])
        return
    wd = Path(a.workdir)
    wd.mkdir(parents=True, exist_ok=True)
    results = []
    for n in [int(x) for x in a.sizes.split(",")]:
        out = wd / f"archive_{n}"
        shutil.rmtree(out, ignore_errors=True)
        r = child("generate", [str(out), str(n)])
        r["size"] = n
        results.append(r)
        print(
            f"generate {n:>12,}: {r['rows']:,} records in {r['seconds']:.1f}s = {r['rows_per_s']:,.0f} records/s, peak {r['peak_mb']:,.0f} MB",
            flush=True,
        )
        if n == a.ingest:
            for step in ("ingest", "peer"):
                db = wd / f"{step}_{n}.duckdb"
                for f in (db, Path(str(db) + ".wal")):
                    f.unlink(missing_ok=True)
                r = child(step, [str(out), str(db)])
                r["size"] = n
                results.append(r)
                print(
                    f"{step:<8} {n:>12,}: {r['rows']:,} rows in {r['seconds']:.1f}s = {r['rows_per_s']:,.0f} rows/s, peak {r['peak_mb']:,.0f} MB",
                    flush=True,
                )
                db.unlink(missing_ok=True)
        if n != a.ingest:
            shutil.rmtree(out, ignore_errors=True)
    ing = [r for r in results if r["step"] == "ingest"]
    peer = [r for r in results if r["step"] == "peer"]
    if ing and peer:
        print(
            f"ingest vs plain DuckDB bulk load (peer): {ing[0]['seconds'] / peer[0]['seconds']:.1f}x the time "
            f"({peer[0]['rows_per_s'] / ing[0]['rows_per_s']:.1f}x slower per row) for checking every row"
        )
    (wd / "archive_bench.json").write_text(json.dumps(results, indent=2))
    print(f"cpus: {os.cpu_count()}")


if __name__ == "__main__":
    main()
