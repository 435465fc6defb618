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
    if f.suffix == ".sqlite":  # the serving database: its cells (index pages run keys and header bytes together)
        import sqlite3

        con = sqlite3.connect(f"file:{f}?mode=ro", uri=True)
        try:
            tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            return "\n".join(
                ",".join("" if v is None else str(v) for v in row)
                for t in tables
                for row in con.execute(f'SELECT * FROM "{t}"')
            )
        finally:
            con.close()
    return f.read_bytes().decode("latin-1")


def test_demo_runs_end_to_end_and_no_raw_id_leaves_the_store(demo_run):
    from pathlib import Path

    from mlflow.tracking import MlflowClient

    root, d, output = demo_run
    wd = root / "work"
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
    # the grade lists' notes (说明) come from the one builder, with the registered version and run
    import openpyxl

    wb = openpyxl.load_workbook(out["grade_list_construction"], read_only=True)
    notes = dict(wb["说明"].iter_rows(min_row=2, values_only=True))
    assert set(notes) >= {
        "行业",
        "监管部门",
        "评价基准日",
        "上期基准日",
        "模型版本",
        "注册模型",
        "MLflow运行ID",
        "数据快照",
        "说明",
    }
    assert notes["注册模型"] == "xinyi-grades-construction v1" and notes["数据快照"] == d["store"]["fingerprint"]
    # every output, log, report and MLflow record (the SQLite store and every artefact) is free of raw
    # ID numbers; only the DuckDB store itself holds them
    # Two scanners: xinyi's own (any ID-number-like token), and an independent one that looks for the
    # store's actual person ID numbers (NFKC-folded, separators between digits removed, every
    # 18- and 15-character window of a digit run) without using scoring's identifier code.
    import re
    import unicodedata

    import duckdb

    con = duckdb.connect(str(wd / "store.duckdb"), read_only=True)
    ids = {
        r[0].upper() for r in con.execute("SELECT subject_id FROM subjects WHERE subject_type = 'person'").fetchall()
    }
    con.close()
    assert len(ids) > 1000

    def store_ids_in(text: str) -> set[str]:
        t = re.sub(r"(?<=\d)[\s\-\u00a0\u3000]+(?=[\dXx])", "", unicodedata.normalize("NFKC", text)).upper()
        found = set()
        for run in re.finditer(r"[\dX]{15,}", t):
            w = run.group(0)
            found |= {w[i : i + k] for k in (15, 18) for i in range(len(w) - k + 1)} & ids
        return found

    scanned = 0
    for f in wd.rglob("*"):
        if f.is_file() and not f.name.startswith("store.duckdb"):
            text = _decoded(f)
            assert not contains_raw_id(text), f
            assert not store_ids_in(text), f
            scanned += 1
    assert scanned >= 60 and not contains_raw_id(output) and not store_ids_in(output)
    client = MlflowClient(out["mlflow_tracking_uri"])
    run_ = client.get_run(out["mlflow_points_run"])
    assert run_.data.metrics["auc"] > 0.6 and run_.data.tags["xinyi.store_fingerprint"] == d["store"]["fingerprint"]
    assert {"card", "configs", "evidence", "reports"} <= {a.path for a in client.list_artifacts(run_.info.run_id)}
    names = {m.name: m for m in client.search_registered_models()}
    assert "xinyi-points-card" in names and all(f"xinyi-grades-{c}" in names for c in out["grade_publications"])
    assert all("champion" in m.aliases for m in names.values())


def test_version_and_help_show_no_placeholders():
    r = run("--version")
    assert r.exit_code == 0 and r.stdout.strip().startswith("xinyi ")
    for cmd in (["info"], ["points", "score"], ["grades", "list"], ["justify"], ["features"]):
        h = run(*cmd, "--help")
        assert h.exit_code == 0 and "--json" in h.stdout and "<bool>" not in h.stdout, cmd


@pytest.mark.parametrize(
    "args",
    [
        ["info", "--bogus"],  # usage error
        ["features", "--as-of", "2026-13-01"],  # not a date
        ["features", "--as-of", "2026-06-30", "--subjects", "companies"],  # not a choice
        ["ingest", "nowhere.csv", "--store", "x.duckdb", "--uscc-mode", "lenient"],
    ],
)
def test_usage_errors_under_json_are_json_on_stdout(args, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = run(*args, "--json")
    assert r.exit_code == 2
    d = json.loads(r.stdout)
    assert d["kind"] == "usage" and d["error"]


def test_a_missing_store_is_a_message_not_a_traceback(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("XINYI_STORE", raising=False)
    r = run("info", "--json")
    assert r.exit_code == 2 and json.loads(r.stdout)["kind"] == "store"
    proc = subprocess.run(
        [sys.executable, "-m", "scoring.cli", "points", "score", "--as-of", "2026-06-30"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**__import__("os").environ, "XINYI_STORE": ""},
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr and "--store" in proc.stderr


def test_store_from_the_environment_and_models_from_the_registry_beside_it(registered, monkeypatch, tmp_path):
    path, uri = registered
    monkeypatch.setenv("XINYI_STORE", str(path))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    r = run("info", "--json")
    assert r.exit_code == 0 and json.loads(r.stdout)["path"] == str(path)
    # a date after the archive's export date is refused, whatever the command
    for args in (
        ["points", "score", "--as-of", "2030-06-30"],
        ["grades", "list", "--industry", "construction", "--as-of", "2030-06-30"],
        ["features", "--as-of", "2030-06-30"],
        ["monitor", "points", "--reference", "2025-06-30", "--current", "2030-06-30"],
    ):
        r = run(*args, "--json")
        assert r.exit_code == 2, (args, r.output)
        d = json.loads(r.stdout)
        assert d["kind"] == "data" and "after the archive's export date 2026-06-30" in d["error"], args
        plain = run(*args)
        assert plain.exit_code == 2 and "Traceback" not in plain.output and "export date" in plain.stderr
    # the registry's champion scores by default; an unknown alias or industry is a clear error
    r = run("points", "score", "--as-of", "2026-06-30", "--json")
    assert r.exit_code == 0, r.output
    s = json.loads(r.stdout)
    assert s["card"] == "xinyi-points-card v1" and s["scored"] + s["suspended"] == s["persons"]
    assert set(s["points_quantiles"]) == {"p05", "p25", "p50", "p75", "p95"}
    r = run("points", "score", "--as-of", "2026-06-30", "--alias", "nobody", "--json")
    assert r.exit_code == 2 and json.loads(r.stdout)["kind"] == "not_found"
    r = run("grades", "list", "--industry", "bakeries", "--as-of", "2026-06-30", "--json")
    assert r.exit_code == 2 and "bakeries" in json.loads(r.stdout)["error"]
    # readable output: sentences and tables, never Python reprs
    r = run("points", "score", "--as-of", "2026-06-30")
    assert r.exit_code == 0 and "{" not in r.stdout and "persons scored" in r.stdout


def test_justify_prints_a_readable_summary_and_json_behind_the_flag(demo_run):
    from pathlib import Path

    root, d, _ = demo_run
    store = str(root / "work" / "store.duckdb")
    org = json.loads(Path(d["outputs"]["justifications"]).read_text(encoding="utf-8"))[0]["subject"]
    r = run("justify", org, "--store", store, "--as-of", "2026-06-30")
    assert r.exit_code == 0, r.output
    assert "matches the publication" in r.stdout and "reasons" in r.stdout
    assert "{" not in r.stdout and len(r.stdout.splitlines()) < 80  # tables and sentences, no JSON dump
    j = json.loads(run("justify", org, "--store", store, "--as-of", "2026-06-30", "--json").stdout)
    assert j["match"] and j["subject"] == org


def test_unknown_subjects_are_errors_in_every_command_that_takes_one(registered, monkeypatch, tmp_path):
    """points explain / diff / guidance, grades explain and justify: an unknown subject (an ID number, a bare
    number, a keyed pseudonym of no one) or a subject of the wrong kind exits 2 with a message, never
    a number or a traceback."""
    import duckdb
    from conftest import make_person_id

    path, uri = registered
    monkeypatch.setenv("XINYI_STORE", str(path))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    con = duckdb.connect(str(path), read_only=True)
    org = con.execute("SELECT subject_id FROM subjects WHERE subject_type = 'enterprise' LIMIT 1").fetchone()[0]
    con.close()

    def commands(who):
        return (
            ["points", "explain", who, "--as-of", "2026-06-30"],
            ["points", "diff", who, "--from", "2025-06-30", "--to", "2026-06-30"],
            ["points", "guidance", who, "--as-of", "2026-06-30"],
            ["grades", "explain", who, "--as-of", "2026-06-30"],
            ["justify", who, "--as-of", "2026-06-30"],
        )

    for who in (make_person_id(999), "12345", "S" + "a" * 16):
        for args in commands(who):
            r = run(*args, "--json")
            assert r.exit_code == 2, (args, r.output)
            d = json.loads(r.stdout)
            assert d["kind"] == "not_found" and d["error"] and not contains_raw_id(r.stdout), args
            plain = run(*args)
            assert plain.exit_code == 2 and "Traceback" not in plain.output and "error:" in plain.stderr, args
            assert "->" not in plain.stdout and "信义金" not in plain.stdout, args
    # the 信义金 is for persons: an organisation is a not-found person, with what to do instead
    for args in commands(org)[:3]:
        r = run(*args, "--json")
        assert r.exit_code == 2 and "not a person" in json.loads(r.stdout)["error"], args
