"""Pushing published outputs into the serving database, and reading them back (queries), on SQLite
and PostgreSQL (``serving_url``): a real grade list and score snapshot published from the sample
with the registered champions, pushed by the publish workflows and by ``push_store``."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from scoring.core.privacy import contains_raw_id
from scoring.features.industry import GRADES
from scoring.serving import database, queries
from scoring.serving import schema as t
from scoring.serving.push import mask_name, push_store

AS_OF = "2025-06-30"


@pytest.fixture(scope="module")
def published(registered, tmp_path_factory):
    """A writable copy of the registered sample store with the construction list and the score
    snapshot of 2025-06-30 published (no serving database yet): (store path, tracking URI, lists)."""
    from scoring.archive.store import open_store
    from scoring.workflows import Workspace
    from scoring.workflows.grades import publish_grade_list
    from scoring.workflows.points import ModelChoice, publish_scores

    src, uri = registered
    d = tmp_path_factory.mktemp("push")
    path = d / "store.duckdb"
    shutil.copy(src, path)
    ws = Workspace(path, uri, d)
    champion = ModelChoice(alias="champion")
    with open_store(path) as st:
        lst = publish_grade_list(st, ws, "construction", AS_OF, choice=champion, publish=True)
        scores = publish_scores(st, ws, AS_OF, choice=champion, publish=True)
    return path, uri, lst, scores


def _every_text(conn: sa.Connection) -> list[str]:
    out = []
    for table in t.metadata.sorted_tables:
        for row in conn.execute(sa.select(table)):
            for v in row:
                if isinstance(v, str):
                    out.append(v)
                elif isinstance(v, (dict, list)):
                    out.append(json.dumps(v, ensure_ascii=False))
    return out


def test_push_store_then_read_back(published, serving_url):
    from scoring.archive.store import open_store
    from scoring.grades.lists import grade_list  # noqa: F401  (the columns list_rows gives)

    path, uri, lst, scores = published
    eng = database.connect(serving_url)
    with open_store(path, read_only=True) as st, eng.begin() as conn:
        results = push_store(conn, st, tracking_uri=uri)
    kinds = {r.kind: r for r in results}
    assert set(kinds) == {"grade_list", "score_snapshot"} and all(r.new for r in results)
    assert kinds["grade_list"].publication_id == lst.publication["publication_id"]
    assert kinds["grade_list"].rows == len(lst.rows)
    assert kinds["score_snapshot"].rows == len(scores.scores)
    # idempotent: pushed again, nothing changes
    with eng.connect() as conn:
        before = {
            tb.name: conn.execute(sa.select(sa.func.count()).select_from(tb)).scalar_one()
            for tb in t.metadata.sorted_tables
        }
    with open_store(path, read_only=True) as st, eng.begin() as conn:
        again = push_store(conn, st, tracking_uri=uri)
    assert [r.new for r in again] == [False, False]
    with eng.connect() as conn:
        after = {
            tb.name: conn.execute(sa.select(sa.func.count()).select_from(tb)).scalar_one()
            for tb in t.metadata.sorted_tables
        }
    assert before == after

    pid = lst.publication["publication_id"]
    with eng.connect() as conn:
        rows, total = queries.list_rows(conn, pid)
        # the list as published: the columns of grade_list, same values, same order
        expected = lst.rows
        assert total == len(expected) == len(rows)
        assert list(rows.columns[: len(expected.columns)]) == list(expected.columns)
        assert list(rows.columns[len(expected.columns) :]) == [
            "region_code",
            "district_zh",
            "address",
            "legal_rep_masked",
        ]
        assert rows["subject_id"].tolist() == expected["subject_id"].tolist()
        for c in (
            "grade",
            "model_grade",
            "veto",
            "veto_zh",
            "change",
            "rules",
            "reason_1",
            "reason_2",
            "reason_3",
            "as_of",
            "previous_as_of",
            "name",
            "industry_zh",
        ):
            assert rows[c].fillna("").astype(str).tolist() == expected[c].fillna("").astype(str).tolist(), c
        for c in [c for c in expected.columns if c.startswith("p_")] + ["risk", "score", "sampling_ratio"]:
            assert np.allclose(rows[c].to_numpy(float), expected[c].to_numpy(float)), c
        assert rows["model_version"].eq(lst.model_version).all()
        assert (
            rows["district_zh"].notna().all()
            and rows["legal_rep_masked"].dropna().map(lambda s: set(s[1:]) == {"*"}).all()
        )
        # publication: notes (说明), distribution, migration
        pub = queries.publication(conn, pid)
        assert pub is not None and pub["notes"]["公示编号"] == pid and "分级表" in pub["notes"]
        assert [d["grade"] for d in pub["distribution"]] == list(GRADES)
        assert sum(d["organisations"] for d in pub["distribution"]) == len(expected)
        assert sum(sum(r.values()) for r in pub["migration"].values()) == len(expected)
        assert [p["publication_id"] for p in queries.grade_lists(conn)] == [pid]
        assert (
            queries.grade_lists(conn, ["food"]) == []
            and queries.latest_list(conn, "construction")["publication_id"] == pid
        )
        assert queries.previous_list(conn, pid) is None
        # filters
        for g in set(expected["grade"]):
            part, n = queries.list_rows(conn, pid, grade=g)
            assert n == int((expected["grade"] == g).sum()) and set(part["grade"]) == {g}
        vetoed, n_veto = queries.list_rows(conn, pid, veto=True)
        assert n_veto == int((expected["veto"] != "").sum()) and (vetoed["veto"] != "").all()
        _, n_clean = queries.list_rows(conn, pid, veto=False)
        assert n_veto + n_clean == total
        region = rows["region_code"].iloc[0]
        part, n = queries.list_rows(conn, pid, region=region)
        assert n == int((rows["region_code"] == region).sum()) and set(part["region_code"]) == {region}
        part, n = queries.list_rows(conn, pid, regions=[region])
        assert n == int((rows["region_code"] == region).sum())
        assert (
            queries.list_rows(conn, pid, regions=["*"])[1] == total and queries.list_rows(conn, pid, regions=[])[1] == 0
        )
        change = expected["change"].iloc[0]
        assert queries.list_rows(conn, pid, change=change)[1] == int((expected["change"] == change).sum())
        first = rows.iloc[0]
        part, n = queries.list_rows(conn, pid, q=first["subject_id"])
        assert n == 1 and part["subject_id"].iloc[0] == first["subject_id"]
        page, n = queries.list_rows(conn, pid, offset=10, limit=5)
        assert n == total and page["subject_id"].tolist() == rows["subject_id"].iloc[10:15].tolist()
        # an organisation: its entry with reasons and records, its history
        vetoed_id = vetoed["subject_id"].iloc[0] if len(vetoed) else first["subject_id"]
        e = queries.grade_entry(conn, pid, vetoed_id)
        assert e is not None and e["grade"] in GRADES and abs(sum(e["probabilities"].values()) - 1) < 1e-6
        assert e["reasons"] and len(e["reasons"]) <= 5 and e["publication"]["publication_id"] == pid
        if len(vetoed):
            assert e["reasons"][0]["kind"] == "veto" and e["reasons"][0]["label_zh"] == e["veto_zh"]
        assert all({"kind", "feature", "label_zh", "text", "records", "records_zh"} <= set(r) for r in e["reasons"])
        recs = [rec for r in e["reasons"] for rec in r["records"]]
        assert all({"record_type", "label_zh", "event_date"} <= set(rec) for rec in recs)
        hist = queries.organisation_grades(conn, vetoed_id)
        assert [h["publication_id"] for h in hist] == [pid]
        org = queries.organisation(conn, vetoed_id)
        assert org is not None and org["district_zh"] and org["industry_code"] == "construction"
        assert org["industry_zh"] == rows["industry_zh"].iloc[0]
        assert queries.subjects_in(conn, [vetoed_id, "91330000XXXXXXXXXX"]) == {vetoed_id}
        # a person's score under the keyed pseudonym, line items with their records
        sp = kinds["score_snapshot"].publication_id
        entries = conn.execute(sa.select(t.score_entries).where(t.score_entries.c.publication_id == sp)).all()
        scored = [r for r in entries if r.status == "scored"]
        assert scored and all(r.points is not None and r.items for r in scored)
        assert all(sum(i["points"] for i in r.items) == r.points for r in scored[:200])
        assert all(r.points is None for r in entries if r.status == "suspended")
        s = queries.score_entry(conn, scored[0].subject_key)
        assert s is not None and s["points"] == scored[0].points and s["publication"]["publication_id"] == sp
        assert [h["publication_id"] for h in queries.score_history(conn, scored[0].subject_key)] == [sp]
        # no raw ID number anywhere
        assert not [v for v in _every_text(conn) if contains_raw_id(v)]
    eng.dispose()


def test_publish_workflows_push_with_serving(registered, serving_url, tmp_path):
    """publish_grade_list / publish_scores with ``serving=`` push right after publishing; the
    store's push_store then finds nothing new; a second period adds history."""
    from scoring.archive.store import open_store
    from scoring.workflows import Workspace
    from scoring.workflows.grades import publish_grade_list
    from scoring.workflows.points import ModelChoice, publish_scores

    src, uri = registered
    path = tmp_path / "store.duckdb"
    shutil.copy(src, path)
    ws = Workspace(path, uri, tmp_path)
    champion = ModelChoice(alias="champion")
    with open_store(path) as st:
        a = publish_grade_list(st, ws, "construction", "2024-06-30", choice=champion, publish=True, serving=serving_url)
        b = publish_grade_list(st, ws, "construction", AS_OF, choice=champion, publish=True, serving=serving_url)
        sc = publish_scores(st, ws, AS_OF, choice=champion, publish=True, serving=serving_url)
    eng = database.connect(serving_url)
    with eng.begin() as conn, open_store(path, read_only=True) as st:
        assert [r.new for r in push_store(conn, st, tracking_uri=uri)] == [False, False, False]
    with eng.connect() as conn:
        pa, pb = a.publication["publication_id"], b.publication["publication_id"]
        assert [p["publication_id"] for p in queries.grade_lists(conn)] == [pb, pa]
        assert queries.previous_list(conn, pb)["publication_id"] == pa
        rows, _ = queries.list_rows(conn, pb)
        sid = rows["subject_id"].iloc[0]
        hist = queries.organisation_grades(conn, sid)
        assert [h["as_of"] for h in hist][:2] == [AS_OF, "2024-06-30"]
        assert hist[0]["previous_grade"] == hist[1]["grade"] or hist[0]["previous_grade"] is None
        assert queries.publication(conn, sc.publication["publication_id"])["kind"] == "score_snapshot"
        # list_rows feeds the workbook writer unchanged
        from scoring.grades.lists import write_grade_list

        out = write_grade_list(rows, tmp_path / "list.csv")
        assert pd.read_csv(out[0], encoding="utf-8-sig").shape[0] == len(rows)
    eng.dispose()


def test_mask_name():
    assert mask_name("张三") == "张*" and mask_name("欧阳明月") == "欧***" and mask_name("王") == "王*"
    assert mask_name(None) is None and mask_name("  ") is None


def test_archive_address_optional(tmp_path):
    """住所 (address): optional in the archive, stored, part of a row's content only when given (rows
    ingested before keep their hash), pushed to the serving database; a store made before the
    column keeps opening (the column is added)."""
    from scoring.archive.ingest import ingest
    from scoring.archive.store import open_store
    from scoring.serving.push import organisations_of
    from tests.conftest import penalty, small_archive

    subjects, orgs, persons = small_archive(3, 3)
    d = tmp_path / "a"
    d.mkdir()
    subjects.to_csv(d / "subjects.csv", index=False)
    pd.DataFrame([penalty("r1", orgs[0])]).to_csv(d / "records.csv", index=False)
    path = tmp_path / "store.duckdb"
    with open_store(path) as st:
        ingest([d / "subjects.csv", d / "records.csv"], st, export_date=pd.Timestamp("2026-06-30").date())
        # the same rows again (other column order, so another file): nothing changes
        again = tmp_path / "b"
        again.mkdir()
        subjects[list(reversed(subjects.columns))].to_csv(again / "subjects.csv", index=False)
        res = ingest([again / "subjects.csv"], st, export_date=pd.Timestamp("2026-06-30").date())
        assert res.updated == 0 and res.unchanged == len(subjects)
        # an address given (Chinese header 住所): that organisation is updated, the others unchanged
        third = tmp_path / "c"
        third.mkdir()
        with_addr = subjects.copy()
        with_addr["address"] = None
        with_addr.loc[0, "address"] = "浙江省金华市婺城区人民路1号"
        with_addr.rename(columns={"address": "住所"}).to_csv(third / "subjects.csv", index=False)
        res = ingest([third / "subjects.csv"], st, export_date=pd.Timestamp("2026-06-30").date())
        assert res.updated == 1 and res.unchanged == len(subjects) - 1
        orgs_df = organisations_of(st).set_index("subject_id")
        assert orgs_df.loc[orgs[0], "address"] == "浙江省金华市婺城区人民路1号"
        assert orgs_df.loc[orgs[1], "address"] is None or pd.isna(orgs_df.loc[orgs[1], "address"])
        assert orgs_df.loc[orgs[0], "legal_rep_masked"] == mask_name("测试0") == "测**"
        assert orgs_df.loc[orgs[0], "district_zh"] == "婺城区"
        hist = st.sql("SELECT subject_id, address FROM subjects_history")
        assert hist["subject_id"].tolist() == [orgs[0]] and hist["address"].isna().all()
        # a store from before the column: drop it, as such a store is
        st.con.execute("ALTER TABLE subjects DROP COLUMN address")
        st.con.execute("ALTER TABLE subjects_history DROP COLUMN address")
    with open_store(path, read_only=True) as st:  # read-only: opens as it is
        assert organisations_of(st)["address"].isna().all()
    with open_store(path) as st:  # writable: the column is added
        assert "address" in st.sql("SELECT * FROM subjects LIMIT 0").columns
        fourth = tmp_path / "d"
        fourth.mkdir()
        with_addr.loc[1, "address"] = "浙江省金华市义乌市稠州路2号"
        with_addr[list(reversed(with_addr.columns))].to_csv(fourth / "subjects.csv", index=False)
        res = ingest([fourth / "subjects.csv"], st, export_date=pd.Timestamp("2026-06-30").date())
        assert res.updated >= 1
        assert organisations_of(st).set_index("subject_id").loc[orgs[1], "address"] == "浙江省金华市义乌市稠州路2号"
