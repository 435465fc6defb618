"""Training sets: features at cut-offs plus the outcome after them, without leakage."""

import datetime as dt
import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from scoring.archive.store import open_store
from scoring.cli import app
from scoring.core.dates import add_months
from scoring.core.privacy import contains_raw_id
from scoring.features.builder import build_features
from scoring.features.training import load_outcome, training_set


def test_training_set_stacks_cutoffs_and_labels_from_after(sample_store, sample_dir):
    path, _ = sample_store
    cutoffs = [dt.date(2024, 6, 30), dt.date(2025, 6, 30)]
    with open_store(path, read_only=True) as s:
        ts = training_set(s, cutoffs, subjects="organisations")
        rec = s.sql("SELECT subject_id, record_type, severity, event_date, revoked_on, objection_outcome FROM records")
        fm = build_features(s, cutoffs[1], subjects="organisations")
    assert list(ts.columns[:2]) == ["cutoff", "subject_id"] and ts.columns[-1] == "label"
    assert set(ts["cutoff"]) == set(cutoffs)
    # the features of a cut-off are exactly the features as of that date
    last = ts[ts["cutoff"] == cutoffs[1]].set_index("subject_id").drop(columns=["cutoff", "outcome", "label"])
    pd.testing.assert_frame_equal(last, fm.values)
    # the label is recomputed here from the records after each cut-off
    o = load_outcome()
    rec["event_date"] = pd.to_datetime(rec["event_date"]).dt.date
    for cut in cutoffs:
        end = add_months(cut, o.horizon_months)
        hit = rec[
            (rec["event_date"] > cut)
            & (rec["event_date"] <= end)
            & rec["revoked_on"].isna()
            & (rec["objection_outcome"].fillna("") != "upheld")
            & (
                ((rec["record_type"].isin(o.serious_of)) & (rec["severity"] == "serious"))
                | rec["record_type"].isin(o.any_of)
            )
        ]
        part = ts[ts["cutoff"] == cut]
        assert (part["label"] == part["subject_id"].isin(set(hit["subject_id"])).astype(int)).all()
        assert 0.02 < part["label"].mean() < 0.5
    # against the generator's truth (which ignores later revocations and upheld objections)
    truth = pd.read_parquet(sample_dir / "truth" / "organisations.parquet").set_index("subject_id")["outcome"]
    part = ts[ts["cutoff"] == cutoffs[1]].set_index("subject_id")
    agree = (part["label"] == truth.reindex(part.index)).mean()
    assert agree > 0.98


def test_cutoff_must_leave_a_full_horizon(sample_store):
    path, _ = sample_store
    with open_store(path, read_only=True) as s, pytest.raises(ValueError, match="export date"):
        training_set(s, ["2026-01-31"], subjects="persons")


def test_features_cli(sample_store, tmp_path):
    path, _ = sample_store
    r = CliRunner().invoke(
        app,
        [
            "features",
            "--store",
            str(path),
            "--as-of",
            "2025-06-30",
            "--subjects",
            "persons",
            "--out",
            str(tmp_path / "p.csv"),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["features"] >= 30 and d["subjects"] > 1000
    text = (tmp_path / "p.csv").read_text(encoding="utf-8")
    assert not contains_raw_id(text) and "subject_key" in text.splitlines()[0]
    meta = pd.read_csv(tmp_path / "p.meta.csv")
    assert meta["basis"].notna().all() and meta["direction"].notna().all()
    r = CliRunner().invoke(
        app,
        [
            "features",
            "--store",
            str(path),
            "--as-of",
            "2025-06-30",
            "--subjects",
            "organisations",
            "--industry",
            "nope",
            "--out",
            str(tmp_path / "o.csv"),
        ],
    )
    assert r.exit_code == 2


def test_expert_grade_label_is_the_next_grade_issued_after_the_cutoff(sample_store):
    from scoring.features.industry import GRADE_INDEX

    path, _ = sample_store
    cut = dt.date(2024, 6, 30)
    with open_store(path, read_only=True) as s:
        ts = training_set(s, [cut], subjects="organisations", industry="food", label="expert_grade")
        rec = s.sql(
            "SELECT subject_id, grade, event_date, revoked_on, objection_outcome FROM records "
            "WHERE record_type = 'EVAL_INDUSTRY_GRADE'"
        )
    rec["event_date"] = pd.to_datetime(rec["event_date"]).dt.date
    rec = rec[
        (rec["event_date"] > cut)
        & (rec["event_date"] <= add_months(cut, 12))
        & rec["revoked_on"].isna()
        & (rec["objection_outcome"].fillna("") != "upheld")
    ]
    first = rec.sort_values("event_date").groupby("subject_id")["grade"].first().map(GRADE_INDEX)
    assert len(ts) > 300 and set(ts["subject_id"]) <= set(first.index)
    assert (ts.set_index("subject_id")["label"] == first.reindex(ts["subject_id"]).to_numpy()).all()
    assert set(ts["label"]) == {0, 1, 2, 3, 4} and set(ts["outcome"]) == {0, 1}
