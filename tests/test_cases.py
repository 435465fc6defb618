"""信用异议 / 信用修复 cases: the state machine, deadlines in working days, officer scope, register.

On both serving backends (a real SQLite file and a real PostgreSQL), with a controlled clock.
"""

from __future__ import annotations

import datetime as dt

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring.core.errors import DataError, NotFoundError
from scoring.core.workdays import CalendarError
from scoring.serving import cases, database, register
from scoring.serving.schema import case_events, person_records, persons, query_register

NOW = dt.datetime(2026, 2, 13, 9, 30)  # a Friday before the Spring Festival 2026
AGENCY = "金华市市场监督管理局"


def _person(conn, key: str, region: str = "330702", records: int = 2) -> None:
    conn.execute(persons.insert().values(subject_key=key, region_code=region, positive_opt_out=False, updated_at=NOW))
    for i in range(records):
        conn.execute(
            person_records.insert().values(
                subject_key=key,
                record_id=f"{key}-R{i}",
                holder_key=key,
                record_type="ADM_PENALTY",
                event_date=dt.date(2025, 6, 1),
                document_no=f"金市监罚〔2025〕{i}号",
                agency=AGENCY,
                severity="general",
            )
        )


def _rec(conn, key: str, rid: str) -> dict:
    q = sa.select(person_records).where(person_records.c.subject_key == key, person_records.c.record_id == rid)
    return dict(conn.execute(q).mappings().one())


@pytest.fixture
def eng(serving_url):
    e = database.connect(serving_url)
    with e.begin() as conn:
        _person(conn, "SAAAAAAAAAAAAAAAA")
        _person(conn, "SBBBBBBBBBBBBBBBB", region="370102")  # Shandong: 3 working days
    yield e
    e.dispose()


def test_objection_flags_at_once_and_upheld_removes(eng):
    key, rid = "SAAAAAAAAAAAAAAAA", "SAAAAAAAAAAAAAAAA-R0"
    with eng.begin() as conn:
        c = cases.open_objection(conn, subject_key=key, record_id=rid, reason="非本人行为", user="citizen1", now=NOW)
        assert c["state"] == "submitted" and c["working_days"] == 5
        assert c["deadline"] == dt.date(2026, 2, 27)  # 14 (make-up Saturday), [15-23 off], 24, 25, 26, 27
        assert _rec(conn, key, rid)["objection_raised_on"] == NOW.date()
        cases.accept(conn, c["case_id"], user="officer1", now=NOW + dt.timedelta(days=1), agency=AGENCY)
        d = cases.decide(
            conn,
            c["case_id"],
            user="officer1",
            outcome="upheld",
            reason="核实有误",
            now=NOW + dt.timedelta(days=12),
            agency=AGENCY,
        )
        assert d["state"] == "decided" and d["outcome"] == "upheld"
        r = _rec(conn, key, rid)
        assert r["objection_outcome"] == "upheld" and r["objection_resolved_on"] == dt.date(2026, 2, 25)
        cases.mark_written_back(conn, c["case_id"], batch_id="B1", now=NOW + dt.timedelta(days=12))
        n = cases.mark_notified(conn, c["case_id"], now=NOW + dt.timedelta(days=12))
        assert n["state"] == "notified"
        states = [e["to_state"] for e in cases.events(conn, c["case_id"])]
        assert states == ["submitted", "accepted", "decided", "written_back", "notified"]
        # every transition is a row of the query register, and the chain still verifies
        whats = [r[0] for r in conn.execute(sa.select(query_register.c.what).order_by(query_register.c.seq))]
        assert [w for w in whats if w.startswith("case ")] == [f"case objection {s}" for s in states]
    with eng.connect() as conn:
        assert register.verify(conn).ok


def test_refused_and_rejected_restore_the_record(eng):
    key = "SAAAAAAAAAAAAAAAA"
    with eng.begin() as conn:
        a = cases.open_objection(conn, subject_key=key, record_id=f"{key}-R0", reason="x", user="c", now=NOW)
        cases.refuse(conn, a["case_id"], user="o", reason="材料不全", now=NOW, agency=AGENCY)
        assert _rec(conn, key, f"{key}-R0")["objection_raised_on"] is None
        b = cases.open_objection(conn, subject_key=key, record_id=f"{key}-R1", reason="x", user="c", now=NOW)
        cases.accept(conn, b["case_id"], user="o", now=NOW, agency=AGENCY)
        cases.decide(conn, b["case_id"], user="o", outcome="rejected", reason="记录属实", now=NOW, agency=AGENCY)
        r = _rec(conn, key, f"{key}-R1")
        assert r["objection_outcome"] == "rejected" and r["objection_raised_on"] == NOW.date()


def test_repair_needs_a_commitment_and_sets_repaired_on(eng):
    key, rid = "SAAAAAAAAAAAAAAAA", "SAAAAAAAAAAAAAAAA-R0"
    with eng.begin() as conn:
        with pytest.raises(DataError, match="信用承诺"):
            cases.open_repair(conn, subject_key=key, record_id=rid, reason="已纠正", commitment=" ", user="c", now=NOW)
        c = cases.open_repair(
            conn, subject_key=key, record_id=rid, reason="已纠正", commitment="本人承诺……", user="c", now=NOW
        )
        assert c["working_days"] == 3 and c["deadline"] == dt.date(2026, 2, 25)
        assert _rec(conn, key, rid)["objection_raised_on"] is None  # a repair application does not set it aside
        cases.accept(conn, c["case_id"], user="o", now=NOW, agency=AGENCY)
        cases.decide(conn, c["case_id"], user="o", outcome="repaired", reason="符合条件", now=NOW, agency=AGENCY)
        assert _rec(conn, key, rid)["repaired_on"] == NOW.date()


def test_province_deadline_extension_cap_and_scope(eng):
    with eng.begin() as conn:
        c = cases.open_objection(
            conn, subject_key="SBBBBBBBBBBBBBBBB", record_id="SBBBBBBBBBBBBBBBB-R0", reason="x", user="c", now=NOW
        )
        assert c["working_days"] == 3
        with pytest.raises(NotFoundError):  # an officer of another agency sees no such case
            cases.accept(conn, c["case_id"], user="o", now=NOW, agency="别的机关")
        with pytest.raises(DataError, match="上限 20"):
            cases.extend(conn, c["case_id"], user="o", days=18, approved_by="局长", now=NOW, agency=AGENCY)
        e = cases.extend(conn, c["case_id"], user="o", days=17, approved_by="局长", now=NOW, agency=AGENCY)
        assert e["working_days"] == 20
        with pytest.raises(NotFoundError):  # another person's record
            cases.open_objection(
                conn, subject_key="SAAAAAAAAAAAAAAAA", record_id="SBBBBBBBBBBBBBBBB-R1", reason="x", user="c", now=NOW
            )
        with pytest.raises(DataError, match="办理中"):  # one open case per record
            cases.open_objection(
                conn, subject_key="SBBBBBBBBBBBBBBBB", record_id="SBBBBBBBBBBBBBBBB-R0", reason="x", user="c", now=NOW
            )


def test_queue_puts_overdue_first(eng):
    with eng.begin() as conn:
        old = cases.open_objection(
            conn,
            subject_key="SAAAAAAAAAAAAAAAA",
            record_id="SAAAAAAAAAAAAAAAA-R0",
            reason="x",
            user="c",
            now=dt.datetime(2026, 1, 5, 9),
        )
        new = cases.open_objection(
            conn, subject_key="SAAAAAAAAAAAAAAAA", record_id="SAAAAAAAAAAAAAAAA-R1", reason="x", user="c", now=NOW
        )
        q = cases.queue(conn, agency=AGENCY, today=dt.date(2026, 2, 24))
        assert [c["case_id"] for c in q] == [old["case_id"], new["case_id"]]
        assert q[0]["overdue"] and q[0]["working_days_left"] < 0 and not q[1]["overdue"]
        assert cases.queue(conn, agency="别的机关", today=dt.date(2026, 2, 24)) == []


def test_a_deadline_into_an_unknown_year_is_refused(eng):
    with eng.begin() as conn, pytest.raises(CalendarError, match="2027.yaml"):
        cases.open_objection(
            conn,
            subject_key="SAAAAAAAAAAAAAAAA",
            record_id="SAAAAAAAAAAAAAAAA-R0",
            reason="x",
            user="c",
            now=dt.datetime(2026, 12, 28, 9),
        )


ACTIONS = st.lists(st.sampled_from(["accept", "refuse", "decide", "written", "notify", "extend"]), max_size=8)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(actions=ACTIONS, outcome=st.sampled_from(["upheld", "rejected"]))
def test_any_sequence_of_actions_keeps_a_legal_state(tmp_path_factory, actions, outcome):
    e = database.connect(f"sqlite:///{tmp_path_factory.mktemp('sm') / 's.sqlite'}")
    with e.begin() as conn:
        _person(conn, "SCCCCCCCCCCCCCCCC", records=1)
        c = cases.open_objection(
            conn, subject_key="SCCCCCCCCCCCCCCCC", record_id="SCCCCCCCCCCCCCCCC-R0", reason="x", user="c", now=NOW
        )
        cid, state = c["case_id"], "submitted"
        do = {
            "accept": lambda: cases.accept(conn, cid, user="o", now=NOW),
            "refuse": lambda: cases.refuse(conn, cid, user="o", reason="r", now=NOW),
            "decide": lambda: cases.decide(conn, cid, user="o", outcome=outcome, reason="r", now=NOW),
            "written": lambda: cases.mark_written_back(conn, cid, batch_id="B", now=NOW),
            "notify": lambda: cases.mark_notified(conn, cid, now=NOW),
            "extend": lambda: cases.extend(conn, cid, user="o", days=1, approved_by="a", now=NOW),
        }
        target = {
            "accept": "accepted",
            "refuse": "refused",
            "decide": "decided",
            "written": "written_back",
            "notify": "notified",
        }
        for a in actions:
            allowed = (a == "extend" and state in cases.OPEN) or (a != "extend" and target[a] in cases.NEXT[state])
            try:
                state = do[a]()["state"]
                assert allowed, (a, state)
            except DataError:
                assert not allowed, (a, state)
            assert state in cases.STATES
        rec = _rec(conn, "SCCCCCCCCCCCCCCCC", "SCCCCCCCCCCCCCCCC-R0")
        if state == "refused" or (state == "notified" and cases.case(conn, cid)["outcome"] is None):
            assert rec["objection_raised_on"] is None  # refused: counts again
        elif state in ("decided", "written_back", "notified"):
            assert rec["objection_outcome"] == outcome
        else:
            assert rec["objection_raised_on"] == NOW.date()
        n = conn.execute(
            sa.select(sa.func.count()).select_from(case_events).where(case_events.c.case_id == cid)
        ).scalar()
        assert n >= 1
    e.dispose()
