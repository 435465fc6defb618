"""Ingestion: nothing lost, nothing invented, all or nothing."""

from __future__ import annotations

import collections
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from conftest import EXPORT, make_uscc, penalty, small_archive
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring.archive.ingest import IngestConfig, ingest
from scoring.archive.store import open_store
from scoring.core.errors import InputFileError


# -- the committed sample --------------------------------------------------------------------
@pytest.mark.smoke
def test_sample_quarantines_exactly_the_planted_rows(sample_store, sample_dir):
    path, res = sample_store
    planted = pd.read_csv(sample_dir / "truth" / "planted_errors.csv", dtype={"key": str})
    expected = planted[planted["expect"] == "quarantine"]
    with open_store(path, read_only=True) as st:
        q = st.sql("SELECT source_file, table_name, source_row, reason, field FROM quarantine")
        subj = st.sql("SELECT subject_id, id_warning FROM subjects")
    got = {(Path(f).name, int(r), reason) for f, r, reason in zip(q["source_file"], q["source_row"], q["reason"])}
    want = {(f, int(r), reason) for f, r, reason in zip(expected["file"], expected["row"], expected["reason"])}
    assert got == want
    assert q["field"].notna().all()
    assert res.rows_read == res.accepted + res.quarantined
    assert res.quarantined == len(expected)
    assert res.by_reason == dict(collections.Counter(expected["reason"]))
    accepted = planted[planted["expect"] == "accepted"]
    warn = dict(zip(subj["subject_id"], subj["id_warning"]))
    for _, row in accepted.iterrows():
        assert row["key"] in warn
        if row["reason"] == "legacy_uscc":
            assert warn[row["key"]] == "legacy_uscc"


@pytest.mark.smoke
def test_sample_counts_and_report(sample_store, sample_dir):
    path, res = sample_store
    manifest = json.loads((sample_dir / "manifest.json").read_text())
    with open_store(path, read_only=True) as st:
        n_sub, n_rec, n_q = st.count("subjects"), st.count("records"), st.count("quarantine")
        dup_ids = st.sql("SELECT record_id FROM records GROUP BY 1 HAVING count(*) > 1")
    assert n_sub + n_rec == res.accepted
    assert n_q == res.quarantined
    assert dup_ids.empty
    # input rows, counted independently of the ingest: input = accepted + quarantined
    n_input = (
        len(pd.read_parquet(sample_dir / "subjects.parquet"))
        + len(pd.read_parquet(sample_dir / "records.parquet"))
        + len(pd.read_csv(sample_dir / "records_court.csv", dtype=str))
        + len(pd.read_excel(sample_dir / "records_volunteer.xlsx", dtype=str, engine="openpyxl"))
    )
    assert res.rows_read == n_input == res.accepted + res.quarantined
    assert res.report.by_table["records"]["read"] == manifest["records"]
    rep = res.report.to_dict()
    assert rep["uscc"]["legacy_accepted"] == 2
    assert 0 < rep["uscc"]["error_rate"] < 0.01
    assert rep["compliance_by_agency"] and rep["compliance_by_record_type"]
    assert res.export_date == dt.date.fromisoformat(manifest["export_date"])


def test_reingesting_the_sample_changes_nothing(sample_store, sample_dir, tmp_path):
    path, first = sample_store
    copy = tmp_path / "copy.duckdb"
    shutil.copy(path, copy)
    with open_store(copy) as st:
        before = st.fingerprint()
        again = ingest([sample_dir], st)
        assert st.fingerprint() == before
    assert again.inserted == 0 and again.updated == 0 and again.unchanged == first.accepted
    assert again.quarantined == first.quarantined and again.by_reason == first.by_reason


def test_fingerprint_depends_on_content_not_on_where_files_live(sample_dir, tmp_path):
    moved = tmp_path / "elsewhere" / "sample"
    shutil.copytree(sample_dir, moved)
    prints = []
    for src, name in ((sample_dir, "a"), (moved, "b")):
        with open_store(tmp_path / f"{name}.duckdb") as st:
            ingest([src], st)
            prints.append(st.fingerprint())
    assert prints[0] == prints[1]


# -- properties on random mixes of good and bad rows -----------------------------------------
SUBJECTS, ORGS, PERSONS = small_archive(3, 3)
BAD_KINDS = [
    "bad_date",
    "unknown_type",
    "unknown_subject",
    "negative_amount",
    "missing_agency",
    "after_export",
    "bad_severity",
    "duplicate",
    "not_allowed",
    "bad_status",
]


def _row(i: int, kind: str, previous: list[dict]) -> dict:
    r = penalty(f"R{i}", ORGS[i % 3], day=f"202{i % 5}-0{1 + i % 9}-1{i % 10}")
    if kind == "good":
        return r
    if kind == "duplicate":
        return dict(previous[-1]) if previous else None
    changes = {
        "bad_date": {"event_date": "2024-02-30"},
        "unknown_type": {"record_type": "JAYWALKING"},
        "unknown_subject": {"subject_id": make_uscc(999)},
        "negative_amount": {"amount": "-1"},
        "missing_agency": {"agency": " "},
        "after_export": {"event_date": "2027-01-01"},
        "bad_severity": {"severity": "extreme"},
        "not_allowed": {"record_type": "QUAL_TITLE", "severity": None, "amount": None},
        "bad_status": {
            "objection_raised_on": "2025-01-10",
            "objection_resolved_on": "2025-01-05",
            "objection_outcome": "rejected",
        },
    }[kind]
    r.update(changes)
    return r


def _write_archive(folder: Path, kinds: list[str], fmt: str = "csv") -> tuple[list[Path], int]:
    folder.mkdir(parents=True, exist_ok=True)
    rows, bad = [], 0
    for i, k in enumerate(kinds):
        r = _row(i, k, rows)
        if r is None:
            r, k = _row(i, "good", rows), "good"
        rows.append(r)
        bad += k != "good"
    sub = folder / "subjects.csv"
    SUBJECTS.to_csv(sub, index=False)
    rec = pd.DataFrame(
        rows, columns=list(penalty("x", "y")) + ["objection_raised_on", "objection_resolved_on", "objection_outcome"]
    )
    path = folder / f"records.{fmt}"
    if fmt == "csv":
        rec.to_csv(path, index=False)
    elif fmt == "parquet":
        rec.astype("string").to_parquet(path, index=False)
    else:
        rec.to_excel(path, index=False)
    return [sub, path], bad


kinds_strategy = st.lists(st.sampled_from(["good"] * 4 + BAD_KINDS), min_size=1, max_size=25)
fast = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@fast
@given(kinds=kinds_strategy)
def test_conservation_and_exact_quarantine(tmp_path_factory, kinds):
    d = tmp_path_factory.mktemp("mix")
    files, bad = _write_archive(d, kinds)
    with open_store(d / "s.duckdb") as st:
        res = ingest(files, st, export_date=EXPORT)
        assert res.rows_read == res.accepted + res.quarantined == len(kinds) + len(SUBJECTS)
        assert res.quarantined == bad
        assert st.count("records") + st.count("subjects") == res.accepted
        assert st.count("quarantine") == bad


@fast
@given(kinds=kinds_strategy)
def test_reingest_is_idempotent(tmp_path_factory, kinds):
    d = tmp_path_factory.mktemp("idem")
    files, _ = _write_archive(d, kinds)
    with open_store(d / "s.duckdb") as st:
        first = ingest(files, st, export_date=EXPORT)
        fp = st.fingerprint()
        second = ingest(files, st, export_date=EXPORT)
        assert st.fingerprint() == fp
        assert second.inserted == second.updated == 0
        assert (second.accepted, second.quarantined) == (first.accepted, first.quarantined)


@fast
@given(kinds=kinds_strategy, stage=st.sampled_from(["staging", "checks", "write"]))
def test_failed_ingest_leaves_store_unchanged(tmp_path_factory, kinds, stage):
    d = tmp_path_factory.mktemp("fail")
    files, _ = _write_archive(d, ["good", "bad_date"])
    with open_store(d / "s.duckdb") as st:
        ingest(files, st, export_date=EXPORT)
        fp, batches = st.fingerprint(), st.count("ingest_batches")
        more, _ = _write_archive(d / "more", kinds)
        with pytest.raises(RuntimeError, match="injected"):
            ingest(more, st, export_date=EXPORT, _fail_after=stage)
        assert st.fingerprint() == fp
        assert st.count("ingest_batches") == batches


def test_interrupted_ingest_leaves_store_unchanged(sample_dir, tmp_path):
    """SIGKILL a real `scoring ingest` inside the store transaction, after it has written the rows:
    the store reopens exactly as before."""
    store = tmp_path / "s.duckdb"
    files, _ = _write_archive(tmp_path / "first", ["good"] * 5)
    with open_store(store) as st:
        ingest(files, st, export_date=EXPORT)
        fp = st.fingerprint()
    env = {**os.environ, "XINYI_INGEST_PAUSE_IN_TRANSACTION": "30"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "scoring.cli", "ingest", str(sample_dir), "--store", str(store)],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if "paused inside the transaction" in line:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "".join(seen)
    assert any("writing to the store" in line for line in seen)
    with open_store(store) as st:
        assert st.fingerprint() == fp
        assert st.count("records") == 5
        # and the store still works: the same ingest now completes
        res = ingest([sample_dir], st)
        assert st.count("records") == 5 + res.report.by_table["records"]["accepted"]


# -- formats, updates, modes, errors ---------------------------------------------------------
@pytest.mark.smoke
@pytest.mark.parametrize("fmt", ["parquet", "xlsx"])
def test_formats_give_the_same_records(tmp_path, fmt):
    kinds = ["good", "good", "bad_date", "duplicate", "good", "unknown_type"]
    out = {}
    for f in ("csv", fmt):
        files, _ = _write_archive(tmp_path / f, kinds, f)
        with open_store(tmp_path / f / "s.duckdb") as st:
            ingest(files, st, export_date=EXPORT)
            out[f] = (
                st.sql("SELECT * EXCLUDE (batch_id, source_file) FROM records ORDER BY record_id"),
                st.sql("SELECT reason, source_row FROM quarantine ORDER BY source_row"),
            )
    pd.testing.assert_frame_equal(out["csv"][0], out[fmt][0])
    pd.testing.assert_frame_equal(out["csv"][1], out[fmt][1])


def test_a_later_export_updates_a_record(tmp_path):
    files, _ = _write_archive(tmp_path / "a", ["good", "good"])
    with open_store(tmp_path / "s.duckdb") as st:
        ingest(files, st, export_date=EXPORT)
        rec = pd.read_csv(files[1], dtype=str)
        rec.loc[0, "objection_raised_on"] = "2025-02-01"
        later = tmp_path / "later.csv"
        rec.to_csv(later, index=False)
        res = ingest([later], st, export_date=EXPORT)
        assert (res.updated, res.unchanged, res.inserted) == (1, 1, 0)
        got = st.sql("SELECT objection_raised_on FROM records WHERE record_id = 'R0'").iloc[0, 0]
        assert pd.Timestamp(got).date() == dt.date(2025, 2, 1)
        assert st.count("records") == 2


def test_forbidden_columns_are_never_stored(tmp_path):
    files, _ = _write_archive(tmp_path, ["good"])
    sub = pd.read_csv(files[0], dtype=str)
    sub["religion"] = "x"
    sub["民族"] = "y"
    sub.to_csv(files[0], index=False)
    with open_store(tmp_path / "s.duckdb") as st:
        res = ingest(files, st, export_date=EXPORT)
        cols = set(st.sql("SELECT column_name FROM information_schema.columns")["column_name"])
        assert not {"religion", "民族"} & cols
        assert st.sql("SELECT count(*) FROM quarantine WHERE original::VARCHAR LIKE '%religion%'").iloc[0, 0] == 0
    dropped = [f for f in res.files if f["dropped_forbidden_columns"]]
    assert dropped and set(dropped[0]["dropped_forbidden_columns"]) == {"religion", "民族"}


@pytest.mark.parametrize("mode,accepted", [("strict", False), ("allowlist", True), ("warn", True)])
def test_uscc_modes(tmp_path, mode, accepted):
    files, _ = _write_archive(tmp_path, ["good"])
    sub = pd.read_csv(files[0], dtype=str)
    pilot = sub.iloc[0].copy()
    pilot["subject_id"] = "91350203M0001QAY9B"
    unlisted = sub.iloc[0].copy()
    unlisted["subject_id"] = make_uscc(7)[:-1] + ("A" if make_uscc(7)[-1] != "A" else "B")
    pd.concat([sub, pd.DataFrame([pilot, unlisted])]).to_csv(files[0], index=False)
    cfg = IngestConfig(uscc_mode=mode, uscc_allowlist=["91350203M0001QAY9B"])
    with open_store(tmp_path / "s.duckdb") as st:
        ingest(files, st, export_date=EXPORT, config=cfg)
        ids = set(st.sql("SELECT subject_id FROM subjects")["subject_id"])
    assert ("91350203M0001QAY9B" in ids) is accepted
    assert (unlisted["subject_id"] in ids) is (mode == "warn")


@pytest.mark.parametrize(
    "content,needle",
    [
        (b"\x00\x01\x02binary\xff\xfe", "UTF-8"),
        (b"", "empty"),
        (b"foo,bar\n1,2\n", "cannot tell which archive table"),
        (b"record_id,record_type\nR1,ADM_PENALTY\n", "lacks required column"),
    ],
)
def test_unreadable_files_are_clear_errors(tmp_path, content, needle):
    bad = tmp_path / "broken.csv"
    bad.write_bytes(content)
    with open_store(tmp_path / "s.duckdb") as st:
        fp = st.fingerprint()
        with pytest.raises(InputFileError) as ei:
            ingest([bad], st, export_date=EXPORT)
        assert str(bad) in str(ei.value) and needle in str(ei.value)
        assert st.fingerprint() == fp


def test_missing_file_and_bad_parquet(tmp_path):
    with open_store(tmp_path / "s.duckdb") as st:
        with pytest.raises(InputFileError, match="not found"):
            ingest([tmp_path / "nope.csv"], st)
        fake = tmp_path / "x.parquet"
        fake.write_text("not parquet")
        with pytest.raises(InputFileError, match="x.parquet"):
            ingest([fake], st)
