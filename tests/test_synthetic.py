"""The synthetic archive: deterministic, lawful by the catalogue, and carrying its truth."""

import json

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from scoring.archive.catalog import load_catalog
from scoring.archive.ingest import ingest
from scoring.archive.store import open_store
from scoring.sample.generator import GRADES, generate_sample


def _auc(score, label):
    """Rank AUC (Mann-Whitney), no sklearn needed."""
    r = pd.Series(score).rank().to_numpy()
    pos = np.asarray(label) == 1
    n1, n0 = pos.sum(), (~pos).sum()
    return (r[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen") / "a"
    res = generate_sample(out, seed=11, persons=3000, organisations=1500, chunk_subjects=1000)
    return out, res


@pytest.mark.smoke
def test_deterministic_by_seed(small, tmp_path):
    out, res = small
    again = generate_sample(tmp_path / "b", seed=11, persons=3000, organisations=1500, chunk_subjects=1000)
    for f in ("subjects.parquet", "records.parquet", "truth/organisations.parquet", "truth/persons.parquet"):
        a, b = pq.read_table(out / f), pq.read_table(tmp_path / "b" / f)
        assert a.equals(b), f
    generate_sample(tmp_path / "c", seed=12, persons=3000, organisations=1500, chunk_subjects=1000)
    assert not pq.read_table(out / "records.parquet").equals(pq.read_table(tmp_path / "c" / "records.parquet"))
    assert again.records == res.records


def test_streams_in_chunks(small):
    out, res = small
    pf = pq.ParquetFile(out / "records.parquet")
    assert pf.metadata.num_row_groups >= 4  # one or more per chunk: written as it goes
    assert pf.metadata.num_rows == res.records


def test_generated_archive_is_clean_and_follows_the_catalogue(small, tmp_path):
    out, res = small
    with open_store(tmp_path / "s.duckdb") as st:
        r = ingest([out], st)
        assert r.quarantined == 0, r.by_reason
        types = st.sql(
            "SELECT s.subject_type, r.record_type FROM records r JOIN subjects s USING (subject_id) GROUP BY ALL"
        )
        n_ids = st.sql("SELECT count(DISTINCT record_id) FROM records").iloc[0, 0]
        inds = st.sql("SELECT DISTINCT industry_code FROM subjects WHERE subject_type <> 'person'")
    cat = load_catalog()
    for stype, rtype in types.itertuples(index=False):
        assert stype in {s.value for s in cat[rtype].subject_types}, (stype, rtype)
    assert n_ids == res.records
    assert len(inds) >= 6


def test_truth_is_consistent_with_the_archive(small):
    out, _ = small
    orgs = pd.read_parquet(out / "truth" / "organisations.parquet")
    persons = pd.read_parquet(out / "truth" / "persons.parquet")
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(orgs) == 1500 and len(persons) == 3000
    assert set(orgs["true_grade"].dropna()) == set(GRADES)
    assert orgs["industry"].replace("", np.nan).dropna().nunique() >= 5
    assert (orgs["cutoff"] == manifest["cutoff"]).all()
    for df in (orgs, persons):
        assert 0 < df["outcome"].mean() < 0.5
        # the latent truth ranks the outcome well above chance, and p_outcome follows z
        assert _auc(-df["latent_z"], df["outcome"]) > 0.7
        assert np.corrcoef(df["latent_z"], df["p_outcome"])[0, 1] < -0.5
    # worse true grades have more outcomes
    rates = orgs.dropna(subset=["true_grade"]).groupby("true_grade")["outcome"].mean()
    assert rates["差"] > rates["中等"] > rates["优秀"]


def test_outcome_matches_records_after_cutoff(small):
    out, _ = small
    rec = pd.read_parquet(out / "records.parquet")
    truth = pd.read_parquet(out / "truth" / "organisations.parquet")
    cut = truth["cutoff"].iloc[0]
    prof_serious = ["ADM_PENALTY", "ADM_PENALTY_SAMR", "ADM_SAFETY_ACCIDENT", "ADM_INSPECTION_FAIL", "CON_BREACH"]
    lists = ["SDL_SERIOUS_DISHONEST", "JUD_DISHONEST_DEBTOR", "SDL_TAX_MAJOR_CASE", "SDL_WAGE_ARREARS"]
    hit = rec[
        (rec["event_date"] > cut)
        & (((rec["record_type"].isin(prof_serious)) & (rec["severity"] == "serious")) | rec["record_type"].isin(lists))
    ]
    expected = truth["subject_id"].isin(set(hit["subject_id"])).astype(int)
    assert (expected.to_numpy() == truth["outcome"].to_numpy()).all()
