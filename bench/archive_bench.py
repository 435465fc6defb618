"""Benchmark: synthetic archive generation and ingestion, against a plain bulk load of the same files.

Each step runs in its own child process, so its peak memory (max RSS) is its own. The peer for
ingestion is a plain DuckDB bulk load of the same files with no checks at all
(CREATE TABLE AS SELECT * FROM read_parquet), measured in the same run: the ratio is the price of
validating every row, quarantining and upserting.

A size is a number of records (the default 'realistic' profile has about 8.1 records per subject).

    python bench/archive_bench.py                                   # generate 10M + 100M, ingest 10M
    python bench/archive_bench.py --sizes 10000000                  # only 10M
    python bench/archive_bench.py --archive /data/archive_10000000  # ingest an existing archive folder
    python bench/archive_bench.py --archive DIR --tree /other/checkout  # also ingest with another checkout

``--tree`` adds an ingest by another checkout of xinyi (e.g. the previous version) in the same run,
so before and after are measured under the same conditions. Children import ``scoring`` from this
script's checkout (or from ``--tree``), never from whatever is installed.
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

#: records per subject in the default 'realistic' profile (4 persons : 1 organisation); measured:
#: 10,022,980 records for 1,231,323 subjects
PER_SUBJECT = 8.12
HERE = Path(__file__).resolve().parents[1]


def subjects_for(n_records: int) -> tuple[int, int]:
    subjects = int(n_records / PER_SUBJECT)
    return subjects * 4 // 5, subjects // 5


def child(step: str, args: list[str], tree: Path = HERE) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree))
    out = subprocess.run(
        [sys.executable, __file__, "--child", step, *args], capture_output=True, text=True, env=env, cwd=tree
    )
    if out.returncode != 0:
        raise SystemExit(f"step {step} failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_s() -> float:
    """CPU seconds of this process, all threads (robust where other work shares the cores)."""
    u = resource.getrusage(resource.RUSAGE_SELF)
    return u.ru_utime + u.ru_stime


def run_child(step: str, rest: list[str]) -> None:
    t0 = time.perf_counter()
    if step == "generate":
        from scoring.sample.generator import generate_sample

        out, n = rest[0], int(rest[1])
        persons, orgs = subjects_for(n)
        records = generate_sample(out, seed=1, persons=persons, organisations=orgs, chunk_subjects=50_000).records
    elif step == "ingest":
        from scoring.archive.ingest import ingest
        from scoring.archive.store import open_store

        with open_store(rest[1]) as st:
            records = ingest([rest[0]], st).rows_read
    elif step == "peer":
        import duckdb

        con = duckdb.connect(rest[1])
        con.execute(f"SET threads = {os.cpu_count()}")
        con.execute(f"CREATE TABLE subjects AS SELECT * FROM read_parquet('{rest[0]}/subjects.parquet')")
        con.execute(f"CREATE TABLE records AS SELECT * FROM read_parquet('{rest[0]}/records.parquet')")
        total = "SELECT (SELECT count(*) FROM subjects) + (SELECT count(*) FROM records)"
        records = con.execute(total).fetchall()[0][0]
        con.close()
    else:
        raise SystemExit(f"unknown step {step}")
    sec = time.perf_counter() - t0
    print(
        json.dumps(
            {
                "step": step,
                "rows": records,
                "seconds": sec,
                "cpu_seconds": cpu_s(),
                "rows_per_s": records / sec,
                "peak_mb": peak_mb(),
            }
        )
    )


def _fresh(db: Path) -> None:
    for f in (db, Path(str(db) + ".wal")):
        f.unlink(missing_ok=True)


def measure_ingest(archive: Path, n: int, wd: Path, trees: list[tuple[str, Path]], results: list[dict]) -> None:
    steps = [(f"ingest{label}", "ingest", tree) for label, tree in trees] + [("peer", "peer", HERE)]
    for name, step, tree in steps:
        db = wd / f"{name.replace(' ', '_')}_{n}.duckdb"
        _fresh(db)
        r = child(step, [str(archive), str(db)], tree)
        r["step"], r["size"] = name, n
        results.append(r)
        print(
            f"{name:<16} {n:>12,}: {r['rows']:,} rows in {r['seconds']:.1f}s = {r['rows_per_s']:,.0f} rows/s, "
            f"{r['cpu_seconds']:.1f} CPU s, peak {r['peak_mb']:,.0f} MB",
            flush=True,
        )
        _fresh(db)
    peer = next(r for r in results if r["step"] == "peer" and r["size"] == n)
    for r in results:
        if r["step"].startswith("ingest") and r["size"] == n:
            print(
                f"{r['step']} vs plain DuckDB bulk load (peer): {r['seconds'] / peer['seconds']:.2f}x the time, "
                f"{r['rows_per_s'] / peer['rows_per_s']:.2f}x the peer's rows/s; "
                f"{r['cpu_seconds'] / peer['cpu_seconds']:.2f}x the peer's CPU seconds"
            )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000000,100000000", help="records to generate (comma-separated)")
    ap.add_argument("--ingest", type=int, default=10_000_000, help="which generated size to ingest")
    ap.add_argument("--archive", help="ingest this existing archive folder (no generation)")
    ap.add_argument("--tree", help="also ingest with this other checkout of xinyi (before/after in one run)")
    ap.add_argument("--workdir", default="bench/out")
    ap.add_argument("--child", nargs="+")
    a = ap.parse_args()
    if a.child:
        run_child(a.child[0], a.child[1:])
        return
    wd = Path(a.workdir)
    wd.mkdir(parents=True, exist_ok=True)
    trees = [("", HERE)] + ([(f" ({Path(a.tree).name})", Path(a.tree).resolve())] if a.tree else [])
    results: list[dict] = []
    if a.archive:
        archive = Path(a.archive)
        manifest = json.loads((archive / "manifest.json").read_text())
        measure_ingest(archive, int(manifest["records"]), wd, trees, results)
    for n in [] if a.archive else [int(x) for x in a.sizes.split(",")]:
        out = wd / f"archive_{n}"
        shutil.rmtree(out, ignore_errors=True)
        r = child("generate", [str(out), str(n)])
        r["size"] = n
        results.append(r)
        print(
            f"generate {n:>12,}: {r['rows']:,} records in {r['seconds']:.1f}s = {r['rows_per_s']:,.0f} records/s, "
            f"peak {r['peak_mb']:,.0f} MB",
            flush=True,
        )
        if n == a.ingest:
            measure_ingest(out, n, wd, trees, results)
        shutil.rmtree(out, ignore_errors=True)
    (wd / "archive_bench.json").write_text(json.dumps(results, indent=2))
    print(f"cpus: {os.cpu_count()}")


if __name__ == "__main__":
    main()
