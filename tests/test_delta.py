"""Daily deltas: ingesting a delta export and rolling the publications forward for the touched
subjects only gives exactly what a full recompute gives — the same store, the same scores, grades
and publications (same rows, same content hash) — on random archives of both profiles and random
deltas (new subjects and records, repairs, revocations, objection outcomes, list exits, changed
legal representatives), with the as-of date the same or moved forward; a delta touching nothing
changes nothing; and every subject outside the touched set has the same feature vector."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from scoring.archive.catalog import load_catalog
from scoring.archive.ingest import ingest
from scoring.archive.store import open_store
from scoring.features.builder import FeatureBuilder
from scoring.sample.delta import DeltaShares, split_archive
from scoring.sample.generator import generate_sample
from scoring.workflows import Workspace, publish_grade_list, publish_scores
from scoring.workflows.delta import apply_delta, base_rows, batches_since, features_touched

CAT = load_catalog()
INDUSTRY = "construction"
D0 = dt.date(2026, 6, 30)  # the generator's export date
hc = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
_ARCHIVES: dict[tuple[str, int], Path] = {}
CONTENT = {
    "subjects": "subject_id, subject_type, name, industry_code, region_code, registered_on, legal_rep_id, "
    "actual_controller_id, positive_opt_out, id_warning, content_hash, address",
    "records": "* EXCLUDE (batch_id, source_file, source_row)",
    "links": "organisation_id, person_id, role, valid_from, valid_to",
}


@pytest.fixture(scope="module")
def models(registered):
    """The tracking URI of the sample's registered card and construction grade model (champions)."""
    return registered[1]


def _archive(root: Path, profile: str, seed: int) -> Path:
    key = (profile, seed)
    if key not in _ARCHIVES:
        out = root / f"{profile}-{seed}"
        generate_sample(out, seed=seed, persons=60, organisations=20, profile=profile)
        _ARCHIVES[key] = out
    return _ARCHIVES[key]


def _publish_all(st, ws: Workspace, as_of: dt.date) -> tuple[dict, dict]:
    s = publish_scores(st, ws, as_of, publish=True)
    g = publish_grade_list(st, ws, INDUSTRY, as_of, publish=True, keep_existing=True)
    assert s.publication is not None and g.publication is not None
    return s.publication, g.publication


def _content(st, table: str) -> pd.DataFrame:
    df = st.sql(f"SELECT {CONTENT[table]} FROM {table}")
    return df.sort_values(list(df.columns), ignore_index=True)


def _rows(st, pub_id: str) -> pd.DataFrame:
    return base_rows(st, pub_id).sort_values("subject_id", ignore_index=True)


@settings(max_examples=6, deadline=None, suppress_health_check=hc, phases=(Phase.explicit, Phase.generate))
@given(
    profile=st.sampled_from(["realistic", "stress"]),
    archive_seed=st.integers(0, 2),
    delta_seed=st.integers(0, 2**20),
    share=st.sampled_from([0.03, 0.1, 0.25]),
    back=st.integers(0, 500),
    move=st.one_of(st.just(0), st.just(1), st.integers(2, 400)),
    export_move=st.integers(0, 20),
)
def test_a_delta_equals_a_full_recompute(
    tmp_path_factory, models, profile, archive_seed, delta_seed, share, back, move, export_move
):
    root = tmp_path_factory.mktemp("delta")
    src = _archive(tmp_path_factory.getbasetemp() / "delta-archives", profile, archive_seed)
    d1 = D0 + dt.timedelta(days=export_move)
    shares = DeltaShares(new_subjects=share / 2, new_records=share, changed_records=share, changed_links=share,
                         unchanged=share)  # fmt: skip
    counts = split_archive(src, root / "base", root / "delta", seed=delta_seed, shares=shares, delta_export_date=d1)
    t0 = D0 - dt.timedelta(days=back)
    t1 = min(t0 + dt.timedelta(days=move), d1)
    # A: base published at t0, then the delta applied at t1
    with open_store(root / "a.duckdb") as a:
        ws_a = Workspace(root / "a.duckdb", models, root / "a")
        assert ingest([root / "base"], a).quarantined == 0
        base_scores, base_grades = _publish_all(a, ws_a, t0)
        kinds = ("persons", "organisations")
        before = {k: FeatureBuilder(a, subjects=k, catalog=CAT).at(t0).values for k in kinds}
        batch_before = a.sql("SELECT batch_id FROM ingest_batches").iloc[0, 0]
        res = apply_delta(a, ws_a, [root / "delta"], t1)
        assert res.ingest is not None and res.ingest["quarantined"] == 0, res.ingest
        by_kind = {p.kind: p for p in res.publications}
        assert set(by_kind) == {"score_snapshot", "grade_list"}
        assert all(p.mode == "delta" for p in res.publications), [p.reason for p in res.publications]
        assert by_kind["score_snapshot"].base == base_scores["publication_id"]
        assert by_kind["grade_list"].base == base_grades["publication_id"]
        # every subject outside the touched set has the same feature vector at t1 as at t0 before
        batches = batches_since(a, batch_before)
        for kind in kinds:
            b = FeatureBuilder(a, subjects=kind, catalog=CAT)  # a new builder: .at() keeps the timeline it read
            after = b.at(t1).values
            touched = set().union(*features_touched(a, kind, t0, t1, batches, CAT).values())
            same = sorted(set(after.index) - touched)
            assert set(same) <= set(before[kind].index), kind
            pd.testing.assert_frame_equal(after.loc[same], before[kind].loc[same], check_exact=True)
            # and the touched ones computed alone equal the population's
            some = sorted(touched & set(after.index))
            pd.testing.assert_frame_equal(b.at_subjects(t1, touched).values, after.loc[some], check_exact=True)
        # a full recompute on the same store gives the same publications: nothing new
        full_scores, full_grades = _publish_all(a, ws_a, t1)
        assert full_scores["new"] is False and full_grades["new"] is False
        delta_ids = {p.kind: p.publication["publication_id"] for p in res.publications if p.publication}
        assert delta_ids == {
            "score_snapshot": full_scores["publication_id"],
            "grade_list": full_grades["publication_id"],
        }
        a_tables = {t: _content(a, t) for t in CONTENT}
        a_rows = {k: _rows(a, v) for k, v in delta_ids.items()}
    # B: base and delta ingested, everything recomputed from scratch
    with open_store(root / "b.duckdb") as b:
        ws_b = Workspace(root / "b.duckdb", models, root / "b")
        ingest([root / "base"], b)
        ingest([root / "delta"], b)
        for t, df in a_tables.items():
            pd.testing.assert_frame_equal(_content(b, t), df, check_exact=True)
        scores_b, grades_b = _publish_all(b, ws_b, t1)
        assert scores_b["publication_id"] == delta_ids["score_snapshot"]
        assert grades_b["publication_id"] == delta_ids["grade_list"]
        assert scores_b["content_hash"] == by_kind["score_snapshot"].publication["content_hash"]
        assert grades_b["content_hash"] == by_kind["grade_list"].publication["content_hash"]
        pd.testing.assert_frame_equal(_rows(b, scores_b["publication_id"]), a_rows["score_snapshot"])
        pd.testing.assert_frame_equal(_rows(b, grades_b["publication_id"]), a_rows["grade_list"])
    # the delta did change something, and recomputed fewer subjects than a full run when it could
    assert counts["changed_records"] + counts["new_records"] > 0
    shutil.rmtree(root, ignore_errors=True)


def test_a_delta_touching_nothing_changes_nothing(tmp_path, models):
    src = generate_sample(tmp_path / "archive", seed=5, persons=60, organisations=20, profile="stress").out
    with open_store(tmp_path / "s.duckdb") as s:
        ws = Workspace(tmp_path / "s.duckdb", models, tmp_path)
        ingest([src], s)
        base_scores, base_grades = _publish_all(s, ws, D0)
        tables = {t: _content(s, t) for t in CONTENT}
        n_pubs = s.count("publications")
        # the same export again: every row unchanged
        res = apply_delta(s, ws, [src], D0)
        assert res.ingest is not None and res.ingest["inserted"] == res.ingest["updated"] == 0
        for p in res.publications:
            assert p.mode == "delta" and p.recomputed == 0 and sum(p.touched.values()) == 0, p.to_dict()
            assert p.publication is not None and p.publication["new"] is False
        assert {p.publication["publication_id"] for p in res.publications if p.publication} == {
            base_scores["publication_id"],
            base_grades["publication_id"],
        }
        assert s.count("publications") == n_pubs
        for t, df in tables.items():
            pd.testing.assert_frame_equal(_content(s, t), df, check_exact=True)


def test_without_a_base_publication_a_delta_is_a_full_run(tmp_path, models):
    src = generate_sample(tmp_path / "archive", seed=7, persons=60, organisations=20, profile="realistic").out
    with open_store(tmp_path / "s.duckdb") as s:
        ws = Workspace(tmp_path / "s.duckdb", models, tmp_path)
        ingest([src], s)
        res = apply_delta(s, ws, [], D0, industries=[INDUSTRY])
        assert [p.mode for p in res.publications] == ["full", "full"]
        assert all("no earlier publication" in p.reason for p in res.publications)
        scores, grades = _publish_all(s, ws, D0)
        assert {p.publication["publication_id"] for p in res.publications if p.publication} == {
            scores["publication_id"],
            grades["publication_id"],
        }


def test_the_cli_applies_a_delta(tmp_path, models):
    """``scoring delta apply FILES --as-of`` ingests the delta and rolls the publications forward."""
    import json

    from typer.testing import CliRunner

    from scoring.cli import app

    src = generate_sample(tmp_path / "archive", seed=11, persons=60, organisations=20, profile="stress").out
    split_archive(src, tmp_path / "base", tmp_path / "delta", seed=3, shares=DeltaShares(0.05, 0.1, 0.1, 0.2, 0.05))
    store = tmp_path / "s.duckdb"
    with open_store(store) as s:
        ingest([tmp_path / "base"], s)
        base_scores, base_grades = _publish_all(s, Workspace(store, models, tmp_path), D0)
    args = ["delta", "apply", str(tmp_path / "delta"), "--as-of", "2026-07-01", "--store", str(store)]
    r = CliRunner().invoke(app, [*args, "--tracking-uri", models, "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["ingest"]["inserted"] > 0 and d["ingest"]["quarantined"] == 0
    assert [(p["kind"], p["mode"], p["base"]) for p in d["publications"]] == [
        ("score_snapshot", "delta", base_scores["publication_id"]),
        ("grade_list", "delta", base_grades["publication_id"]),
    ]
    assert all(0 < p["recomputed"] <= p["rows"] for p in d["publications"])
    r = CliRunner().invoke(app, [*args, "--tracking-uri", models])  # the same delta again, as text
    assert r.exit_code == 0, r.output
    assert "0 inserted, 0 updated" in r.output and "publications as of 2026-07-01" in r.output


def test_a_changed_organisation_touches_its_legal_representative(tmp_path, models):
    """An organisation's penalty revoked by the delta moves its legal representative's
    represented_orgs features: the person is touched (as a linked subject) and recomputed."""
    import duckdb

    src = generate_sample(tmp_path / "archive", seed=2, persons=60, organisations=20, profile="stress").out
    con = duckdb.connect()
    found = con.execute(
        f"""SELECT r.record_id, s.legal_rep_id FROM read_parquet('{src / "records.parquet"}') r
        JOIN read_parquet('{src / "subjects.parquet"}') s USING (subject_id)
        WHERE s.subject_type <> 'person' AND s.legal_rep_id IS NOT NULL AND r.record_type IN ('ADM_PENALTY', 'ADM_PENALTY_SAMR')
          AND r.severity IN ('general', 'serious') AND r.revoked_on IS NULL AND r.repaired_on IS NULL
          AND r.objection_raised_on IS NULL
          AND CAST(r.event_date AS DATE) > DATE '2024-01-01' ORDER BY r.record_id LIMIT 1"""
    ).fetchall()
    assert found, "the stress archive has a recent penalty of an organisation with a legal representative"
    record_id, person = found[0]
    (tmp_path / "delta").mkdir()
    con.execute(
        f"""COPY (SELECT * REPLACE ('2026-06-01' AS revoked_on) FROM read_parquet('{src / "records.parquet"}')
        WHERE record_id = '{record_id}') TO '{tmp_path / "delta" / "records.parquet"}' (FORMAT parquet)"""
    )
    with open_store(tmp_path / "s.duckdb") as s:
        ws = Workspace(tmp_path / "s.duckdb", models, tmp_path)
        ingest([src], s)
        _publish_all(s, ws, D0)
        before = FeatureBuilder(s, subjects="persons", catalog=CAT).at(D0).values.loc[person]
        res = apply_delta(s, ws, [tmp_path / "delta"], D0, export_date=D0)
        assert res.ingest is not None and res.ingest["updated"] == 1
        after = FeatureBuilder(s, subjects="persons", catalog=CAT).at(D0).values.loc[person]
        assert after["represented_org_penalty_count_3y"] == before["represented_org_penalty_count_3y"] - 1
        scores = next(p for p in res.publications if p.kind == "score_snapshot")
        assert scores.touched["linked"] >= 1 and scores.recomputed >= 1
        full_scores, full_grades = _publish_all(s, ws, D0)
        assert full_scores["new"] is False and full_grades["new"] is False
        batches = [res.batches[0]]
        touched = features_touched(s, "persons", D0, D0, batches, CAT)
        assert person in touched["linked"]
