"""The main job (``scoring demo``): the whole chain on data/sample with embedded defaults.

So far the chain is: ingest the sample archive into a DuckDB store with the quality report.
Later stages (features, 信义金 points, industry grades, justification) append to it.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from .errors import InputFileError
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
    say(f"step 1/1 · ingest {src} into {store_path}")
    with open_store(store_path) as st:
        res = ingest([src], st, report_path=report_path, progress=say)
        summary = st.summary()
    seconds = time.perf_counter() - t0
    outputs = {
        "store": str(store_path),
        "quality_report": str(report_path),
        "quality_report_text": str(report_path.with_suffix(".txt")),
    }
    text = "\n".join([
        res.report.to_text(top=5),
        "",
        f"demo finished in {seconds:.1f}s. Outputs:",
        *[f"  {k:<20} {v}" for k, v in outputs.items()],
        f"  store holds {summary['subjects']:,} subjects, {summary['records']:,} records, "
        f"{summary['quarantine']:,} quarantined rows (fingerprint {summary['fingerprint'][:12]})",
        "Inspect: scoring quarantine --store " + str(store_path),
    ])
    return {"outputs": outputs, "ingest": {k: v for k, v in res.to_dict().items() if k != "quality"},
            "store": summary, "seconds": round(seconds, 2), "text": text}
