"""One subject, computed alone: a person's 信义金 (explain, suspension, diff, guidance, justify) and a
subject's feature vector come from that subject's records and its linked subjects' only, and equal
what the population path gives, on random archives of both sample profiles and on the sample."""

from __future__ import annotations

import datetime as dt
import shutil

import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from scoring.archive.catalog import load_catalog
from scoring.archive.ingest import ingest
from scoring.archive.store import open_store
from scoring.features.builder import FeatureBuilder
from scoring.points.card import load_expert_card
from scoring.points.gate import load_gate, suspensions
from scoring.points.personal import explain_person, score_persons
from scoring.sample.generator import generate_sample

CAT = load_catalog()
GATE = load_gate(catalog=CAT)
CARD = load_expert_card()
hc = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]


def _same_vector(builder: FeatureBuilder, as_of: dt.date, population: pd.DataFrame, sid: str) -> None:
    one = builder.at_subject(as_of, sid).values
    if sid not in population.index:
        assert one.empty, sid
        return
    pd.testing.assert_frame_equal(one, population.loc[[sid]], check_exact=True)


@settings(max_examples=5, deadline=None, suppress_health_check=hc, phases=(Phase.explicit, Phase.generate))
@given(
    profile=st.sampled_from(["realistic", "stress"]),
    seed=st.integers(0, 2**20),
    as_of=st.dates(dt.date(2021, 1, 1), dt.date(2026, 6, 29)),
)
def test_one_subject_equals_the_population_on_random_archives(tmp_path_factory, profile, seed, as_of):
    d = tmp_path_factory.mktemp("one")
    generate_sample(d / "archive", seed=seed, persons=60, organisations=20, profile=profile)
    with open_store(d / "store.duckdb") as s:
        res = ingest([d / "archive"], s)
        assert res.quarantined == 0, res.by_reason
        subjects = s.sql("SELECT subject_id, subject_type FROM subjects")
        persons = subjects.loc[subjects["subject_type"] == "person", "subject_id"].tolist()
        orgs = subjects.loc[subjects["subject_type"] != "person", "subject_id"].tolist()
        pb = FeatureBuilder(s, subjects="persons", catalog=CAT)
        pop = pb.at(as_of).values
        for sid in persons:
            _same_vector(pb, as_of, pop, sid)
        ob = FeatureBuilder(s, subjects="organisations", catalog=CAT)
        opop = ob.at(as_of).values
        for sid in orgs:
            _same_vector(ob, as_of, opop, sid)
        # the gate, person by person, against the population's suspensions
        allsus = suspensions(s, as_of, GATE, CAT).set_index("subject_id")
        scores = score_persons(s, CARD, as_of, GATE, CAT).set_index("subject_id")
        for sid in persons:
            one = suspensions(s, as_of, GATE, CAT, subject_id=sid).set_index("subject_id")
            if sid in allsus.index:
                pd.testing.assert_frame_equal(one, allsus.loc[[sid]], check_dtype=False)
            else:
                assert one.empty
        for sid in persons[:15]:
            e = explain_person(s, CARD, sid, as_of, CAT, GATE)
            assert e["status"] == scores.loc[sid, "status"]
            if e["status"] == "scored":
                assert e["points"] == int(scores.loc[sid, "points"]) == sum(i["points"] for i in e["items"])
            else:
                assert e["points"] is None and pd.isna(scores.loc[sid, "points"])
    shutil.rmtree(d, ignore_errors=True)


def test_the_population_is_never_read_for_one_person(sample_store, monkeypatch):
    """explain_person on the sample store never builds the population's feature matrix."""
    calls = []
    monkeypatch.setattr(FeatureBuilder, "at", lambda self, as_of: calls.append(as_of))
    with open_store(sample_store[0], read_only=True) as s:
        sid = s.sql("SELECT subject_id FROM subjects WHERE subject_type = 'person' ORDER BY subject_id LIMIT 1").iloc[
            0, 0
        ]
        e = explain_person(s, CARD, sid, dt.date(2026, 6, 30), CAT, GATE)
    assert calls == [] and e["status"] in ("scored", "suspended")


@pytest.mark.parametrize("as_of", ["2025-06-30", "2026-06-30"])
def test_one_person_on_the_sample_matches_the_published_path(sample_store, as_of):
    with open_store(sample_store[0], read_only=True) as s:
        scores = score_persons(s, CARD, as_of, GATE, CAT).set_index("subject_id")
        picks = list(scores[scores["status"] == "scored"].index[:5]) + list(
            scores[scores["status"] == "suspended"].index[:3]
        )
        for sid in picks:
            e = explain_person(s, CARD, sid, as_of, CAT, GATE)
            assert e["status"] == scores.loc[sid, "status"]
            if e["status"] == "scored":
                assert e["points"] == int(scores.loc[sid, "points"])
