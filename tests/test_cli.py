"""The `scoring` command line: readable by default, JSON with --json, errors exit non-zero."""

import json
import subprocess
import sys

import pandas as pd
import pytest
from typer.testing import CliRunner

from scoring.cli import app
from scoring.core.privacy import contains_raw_id

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.mark.smoke
def test_ingest_json_summary(sample_dir, tmp_path):
    r = run("ingest", sample_dir, "--store", tmp_path / "s.duckdb", "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert {"rows_read", "accepted", "quarantined", "by_reason"} <= set(d)
    assert d["rows_read"] == d["accepted"] + d["quarantined"]
    assert sum(d["by_reason"].values()) == d["quarantined"]
    assert (tmp_path / "s_quality_report.json").exists() and (tmp_path / "s_quality_report.txt").exists()
    assert not contains_raw_id(r.stdout)
    # readable output and the other commands over the same store
    r2 = run("quarantine", "--store", tmp_path / "s.duckdb", "--reason", "BAD_ID_NUMBER", "--json")
    rows = json.loads(r2.stdout)
    assert rows and all(x["reason"] == "BAD_ID_NUMBER" for x in rows)
    assert not contains_raw_id(r2.stdout)
    r3 = run("info", "--store", tmp_path / "s.duckdb", "--json")
    assert json.loads(r3.stdout)["records"] > 0


def test_ingest_readable_output_masks_ids(sample_dir, tmp_path):
    r = run("ingest", sample_dir, "--store", tmp_path / "s.duckdb")
    assert r.exit_code == 0
    assert "数据质量报告" in r.stdout and "合规率" in r.stdout and "重错码率" in r.stdout
    assert not contains_raw_id(r.stdout)
    q = run("quarantine", "--store", tmp_path / "s.duckdb", "--limit", "100")
    assert "BAD_ID_NUMBER" in q.stdout and not contains_raw_id(q.stdout)
    report = (tmp_path / "s_quality_report.txt").read_text(encoding="utf-8")
    assert not contains_raw_id(report)


@pytest.mark.parametrize("cmd", [["catalog"], ["catalog", "--regimes"], ["archive-format"]])
def test_reference_commands(cmd):
    r = run(*cmd)
    assert r.exit_code == 0 and r.stdout.strip()
    r = run(*cmd, "--json")
    assert r.exit_code == 0
    assert json.loads(r.stdout)


def test_sample_command(tmp_path):
    r = run("sample", "--out", tmp_path / "x", "--persons", 200, "--organisations", 100, "--seed", 3, "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["persons"] == 200 and d["records"] > 0


def test_unreadable_file_exits_non_zero(tmp_path):
    bad = tmp_path / "garbage.parquet"
    bad.write_bytes(b"PAR1 nothing here")
    proc = subprocess.run(
        [sys.executable, "-m", "scoring.cli", "ingest", str(bad), "--store", str(tmp_path / "s.duckdb")],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert "garbage.parquet" in proc.stderr and "error" in proc.stderr
    proc = subprocess.run(
        [sys.executable, "-m", "scoring.cli", "ingest", str(bad), "--store", str(tmp_path / "s.duckdb"), "--json"],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2 and "garbage.parquet" in json.loads(proc.stdout)["error"]


def test_info_on_missing_store(tmp_path):
    r = run("info", "--store", tmp_path / "none.duckdb")
    assert r.exit_code == 2


def _decoded(f) -> str:
    """A file's content as text for the raw-ID scan: Parquet rows and workbook cells decoded
    (their pages are compressed), everything else byte for byte."""
    if f.suffix == ".parquet":
        return pd.read_parquet(f).to_csv()
    if f.suffix == ".xlsx":
        import openpyxl

        wb = openpyxl.load_workbook(f, read_only=True)
        return "\n".join(
            ",".join("" if v is None else str(v) for v in row) for ws in wb for row in ws.iter_rows(values_only=True)
        )
    return f.read_bytes().decode("latin-1")


def test_demo_runs_end_to_end_and_no_raw_id_leaves_the_store(tmp_path):
    from pathlib import Path

    from mlflow.tracking import MlflowClient

    wd = tmp_path / "w"
    r = run("demo", "--workdir", wd, "--json")
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    out = d["outputs"]
    for key, path in out.items():
        if key not in ("mlflow_tracking_uri", "mlflow_points_run", "points_publication", "grade_publications"):
            assert Path(path).exists(), key
    assert d["ingest"]["rows_read"] == d["ingest"]["accepted"] + d["ingest"]["quarantined"]
    assert len(out["grade_publications"]) == 6 and all(
        Path(out[f"report_{c}"]).exists() for c in out["grade_publications"]
    )
    justified = json.loads(Path(out["justifications"]).read_text(encoding="utf-8"))
    assert len(justified) == 3 and all(j["match"] for j in justified)
    monitoring = json.loads(Path(out["monitoring"]).read_text(encoding="utf-8"))
    assert set(monitoring) == {"points", *out["grade_publications"]}
    # every output, log, report and MLflow record (the SQLite store and every artefact) is free of raw
    # ID numbers; only the DuckDB store itself holds them
    scanned = 0
    for f in wd.rglob("*"):
        if f.is_file() and not f.name.startswith("store.duckdb"):
            assert not contains_raw_id(_decoded(f)), f
            scanned += 1
    assert scanned >= 60 and not contains_raw_id(r.output)
    client = MlflowClient(out["mlflow_tracking_uri"])
    run_ = client.get_run(out["mlflow_points_run"])
    assert run_.data.metrics["auc"] > 0.6 and run_.data.tags["xinyi.store_fingerprint"] == d["store"]["fingerprint"]
    assert {"card", "configs", "evidence", "reports"} <= {a.path for a in client.list_artifacts(run_.info.run_id)}
    names = {m.name: m for m in client.search_registered_models()}
    assert "xinyi-points-card" in names and all(f"xinyi-grades-{c}" in names for c in out["grade_publications"])
    assert all("champion" in m.aliases for m in names.values())
