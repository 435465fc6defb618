"""查询使用登记: the hash chain, serialised appends under concurrent writers, tamper detection (edits,
deletions, insertions, reorders), retention pruning with the anchor, inert exports, no raw ID number."""

from __future__ import annotations

import csv
import datetime as dt
import threading

import openpyxl
import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from scoring.cli import app
from scoring.core.errors import ConfigError, DataError
from scoring.core.privacy import contains_raw_id
from scoring.serving import register
from scoring.serving.database import connect
from scoring.serving.schema import login_attempts, query_register, register_anchor

RAW_ID = "11010519491231002X"  # a valid GB 11643 number (DOMAIN.md)
RAW_ID_2 = "440524188001010014"
T0 = dt.datetime(2026, 1, 5, 8, 30, 0, 123456)


@pytest.fixture
def eng(serving_url):
    e = connect(serving_url)
    yield e
    e.dispose()


def _fill(eng, n: int, start: dt.datetime = T0, step: dt.timedelta = dt.timedelta(hours=1)) -> None:
    with eng.begin() as c:
        for i in range(n):
            register.record(
                c,
                user=f"reg{i % 3}",
                role="regulator" if i % 4 else "analyst",
                action=("read", "export", "download", "write")[i % 4],
                what=f"/organisations/91330702MA{i:08d}",
                subject=f"91330702MA{i:08d}",
                purpose="daily_supervision",
                legal_basis="《浙江省公共信用信息管理条例》",
                result="ok" if i % 5 else "denied",
                detail={"page": i, "share": i / 7, "filters": {"grade": "优秀", "q": None}, "tags": ["a", "b"]},
                at=start + i * step,
            )


def _rows(c) -> list[dict]:
    return [dict(r._mapping) for r in c.execute(sa.select(query_register).order_by(query_register.c.seq))]


def test_chain_links_every_row_and_verifies(eng):
    _fill(eng, 12)
    with eng.begin() as c:
        rows = _rows(c)
        v = register.verify(c)
    assert [r["seq"] for r in rows] == list(range(1, 13))
    assert rows[0]["prev_hash"] == register.GENESIS
    for a, b in zip(rows, rows[1:]):
        assert b["prev_hash"] == a["row_hash"]
    for r in rows:  # the stored hash is the hash of what is read back (times to the microsecond)
        assert register.row_hash(r["prev_hash"], r) == r["row_hash"]
    assert rows[0]["at"] == T0  # microseconds survive the round trip
    assert v.ok and v.rows == 12 and v.first_broken is None
    assert v.head_seq == 12 and v.head_hash == rows[-1]["row_hash"]


def test_an_empty_register_verifies(eng):
    with eng.begin() as c:
        v = register.verify(c)
    assert v.ok and v.rows == 0 and v.head_seq is None


def test_twenty_concurrent_writers_never_fork_the_chain(eng):
    n_threads, per_thread = 20, 5
    barrier = threading.Barrier(n_threads)
    errors: list[BaseException] = []
    seqs: list[int] = []
    lock = threading.Lock()

    def work(k: int) -> None:
        try:
            barrier.wait()
            for j in range(per_thread):
                with eng.begin() as c:
                    if k % 2:  # a transaction that wrote before registering (the lock is upgraded)
                        c.execute(login_attempts.insert().values(username=f"u{k}", client="c", at=T0, ok=True))
                    s = register.record(c, user=f"user{k}", role="regulator", action="read", what=f"/t/{k}/{j}")
                with lock:
                    seqs.append(s)
        except BaseException as e:  # collected: the test fails with them
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    total = n_threads * per_thread
    assert sorted(seqs) == list(range(1, total + 1))
    with eng.begin() as c:
        rows = _rows(c)
        v = register.verify(c)
    assert len({r["prev_hash"] for r in rows}) == total  # no two rows claim the same predecessor
    assert v.ok and v.rows == total


# -- tampering ------------------------------------------------------------------------------------
N = 8


def _tamper(c, kind: str, k: int, j: int) -> int:
    """Apply one tampering to the chain of N rows; the seq verify must name."""
    qr = query_register
    if kind == "edit_what":
        c.execute(qr.update().where(qr.c.seq == k).values(what="/organisations/forged"))
    elif kind == "edit_subject":
        c.execute(qr.update().where(qr.c.seq == k).values(subject=None))
    elif kind == "edit_result":
        c.execute(qr.update().where(qr.c.seq == k).values(result="error"))
    elif kind == "edit_detail":
        c.execute(qr.update().where(qr.c.seq == k).values(detail={"page": -1}))
    elif kind == "edit_time":  # one microsecond
        at = c.execute(sa.select(qr.c.at).where(qr.c.seq == k)).scalar_one()
        c.execute(qr.update().where(qr.c.seq == k).values(at=at + dt.timedelta(microseconds=1)))
    elif kind == "edit_hash":
        c.execute(qr.update().where(qr.c.seq == k).values(row_hash="f" * 64))
    elif kind == "edit_prev":
        c.execute(qr.update().where(qr.c.seq == k).values(prev_hash="e" * 64))
    elif kind == "delete":
        k = min(k, N - 1)  # the last row has no successor to betray it (see the module docstring)
        c.execute(qr.delete().where(qr.c.seq == k))
    elif kind == "insert":  # a forged row at k, the later rows renumbered
        c.execute(qr.update().where(qr.c.seq >= k).values(seq=qr.c.seq + 1000))
        c.execute(qr.update().where(qr.c.seq >= 1000).values(seq=qr.c.seq - 999))
        prev = c.execute(sa.select(qr.c.row_hash).where(qr.c.seq == k - 1)).scalar() or register.GENESIS
        c.execute(
            qr.insert().values(
                seq=k,
                at=T0,
                username="x",
                role="admin",
                action="write",
                what="/forged",
                result="ok",
                prev_hash=prev,
                row_hash="a" * 64,
            )
        )
    elif kind == "append":  # a forged row at the end
        k = N + 1
        c.execute(
            qr.insert().values(
                seq=k,
                at=T0,
                username="x",
                role="admin",
                action="write",
                what="/forged",
                result="ok",
                prev_hash="b" * 64,
                row_hash="c" * 64,
            )
        )
    elif kind == "swap":  # two rows' contents exchanged, seqs kept (a reorder)
        k, j = min(k, j), max(k, j)
        if k == j:
            j = k + 1 if k < N else k - 1
            k, j = min(k, j), max(k, j)
        cols = [col for col in qr.c.keys() if col != "seq"]
        a = c.execute(sa.select(qr).where(qr.c.seq == k)).first()._mapping
        b = c.execute(sa.select(qr).where(qr.c.seq == j)).first()._mapping
        c.execute(qr.update().where(qr.c.seq == k).values(**{x: b[x] for x in cols}))
        c.execute(qr.update().where(qr.c.seq == j).values(**{x: a[x] for x in cols}))
    else:  # pragma: no cover
        raise AssertionError(kind)
    return k


KINDS = [
    "edit_what",
    "edit_subject",
    "edit_result",
    "edit_detail",
    "edit_time",
    "edit_hash",
    "edit_prev",
    "delete",
    "insert",
    "append",
    "swap",
]


@pytest.mark.parametrize("kind", KINDS)
def test_each_tampering_is_named_at_its_seq(eng, kind):
    _fill(eng, N)
    with eng.connect() as c:
        tx = c.begin()
        k = _tamper(c, kind, 4, 6)
        v = register.verify(c)
        tx.rollback()
        assert register.verify(c).ok  # untouched after the rollback
    assert not v.ok and v.first_broken == k, v


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(kind=st.sampled_from(KINDS), k=st.integers(1, N), j=st.integers(1, N))
def test_any_single_tampering_is_detected_at_the_right_seq(eng, kind, k, j):
    with eng.begin() as c:
        empty = c.execute(sa.select(sa.func.count()).select_from(query_register)).scalar_one() == 0
    if empty:  # one chain for every example: each tampering is rolled back
        _fill(eng, N)
    with eng.connect() as c:
        tx = c.begin()
        want = _tamper(c, kind, k, j)
        v = register.verify(c)
        tx.rollback()
    assert not v.ok
    assert v.first_broken == want, (kind, k, j, v)


def test_the_cli_names_the_first_broken_seq(eng, serving_url):
    _fill(eng, 5)
    runner = CliRunner()
    ok = runner.invoke(app, ["register", "verify", "--serving", serving_url])
    assert ok.exit_code == 0, ok.output
    assert "intact" in ok.output
    with eng.begin() as c:
        c.execute(query_register.update().where(query_register.c.seq == 3).values(purpose="forged"))
    bad = runner.invoke(app, ["register", "verify", "--serving", serving_url])
    assert bad.exit_code == 1, bad.output
    assert "seq 3" in bad.output


# -- retention ------------------------------------------------------------------------------------
def test_prune_keeps_the_chain_verifiable(eng):
    now = T0 + dt.timedelta(days=400)
    _fill(eng, 10, start=T0, step=dt.timedelta(days=30))  # days 0, 30, ..., 270
    with eng.begin() as c:
        n = register.prune(c, 183, now=now)
    # rows older than now - 183 days (day 217): days 0..210 -> seqs 1..8
    assert n == 8
    with eng.begin() as c:
        left = _rows(c)
        v = register.verify(c)
        anchor = c.execute(sa.select(register_anchor)).first()._mapping
    assert [r["seq"] for r in left] == [9, 10]
    assert anchor["seq"] == 8 and left[0]["prev_hash"] == anchor["row_hash"]
    assert v.ok and v.rows == 2 and v.anchor_seq == 8
    with eng.begin() as c:  # appends continue the chain
        assert register.record(c, user="a", role="auditor", action="read", what="/register") == 11
        assert register.verify(c).ok
    with eng.connect() as c:  # a deletion right after the anchor is still seen
        tx = c.begin()
        c.execute(query_register.delete().where(query_register.c.seq == 9))
        v = register.verify(c)
        tx.rollback()
    assert not v.ok and v.first_broken == 9
    with eng.connect() as c:  # a row smuggled in before the anchor too
        tx = c.begin()
        c.execute(
            query_register.insert().values(
                seq=5,
                at=T0,
                username="x",
                role="admin",
                action="write",
                what="/forged",
                result="ok",
                prev_hash="0" * 64,
                row_hash="1" * 64,
            )
        )
        v = register.verify(c)
        tx.rollback()
    assert not v.ok and v.first_broken == 5
    with eng.begin() as c:  # a second prune anchors again
        assert register.prune(c, 183, now=now + dt.timedelta(days=365)) == 3
        v = register.verify(c)
    assert v.ok and v.anchor_seq == 11 and v.rows == 0


def test_prune_refuses_short_retention_and_a_broken_chain(eng):
    _fill(eng, 4)
    with eng.begin() as c, pytest.raises(DataError, match="183"):
        register.prune(c, 182)
    with eng.begin() as c:
        c.execute(query_register.update().where(query_register.c.seq == 2).values(what="/edited"))
    with eng.begin() as c, pytest.raises(DataError, match="seq 2"):
        register.prune(c, 183, now=T0 + dt.timedelta(days=1000))
    with eng.begin() as c:
        assert c.execute(sa.select(sa.func.count()).select_from(query_register)).scalar_one() == 4


def test_retention_below_six_months_is_a_config_error(tmp_path):
    from scoring.core.resources import configs_dir
    from scoring.serving.access import access_config

    src = (configs_dir() / "access" / "access.yaml").read_text(encoding="utf-8")
    (tmp_path / "access.yaml").write_text(src.replace("register_days: 183", "register_days: 90"), encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        access_config(tmp_path)
    assert "access.yaml: retention.register_days" in str(e.value) and "183" in str(e.value)
    assert access_config().retention.register_days >= 183


# -- reading, exporting, privacy ------------------------------------------------------------------
def test_entries_filter_and_count(eng):
    _fill(eng, 20)
    with eng.begin() as c:
        all_rows, total = register.entries(c)
        assert total == 20 and list(all_rows["seq"]) == list(range(20, 0, -1))
        f, n = register.entries(c, user="reg1")
        assert n == len(f) == 7 and set(f["username"]) == {"reg1"}
        f, n = register.entries(c, role="analyst", result="denied")
        assert n == len(f) and set(f["role"]) == {"analyst"} and set(f["result"]) == {"denied"}
        f, n = register.entries(c, action="export", offset=2, limit=2)
        assert n == 5 and list(f["seq"]) == [10, 6]
        f, n = register.entries(c, since=T0 + dt.timedelta(hours=5), until=T0 + dt.timedelta(hours=9))
        assert list(f["seq"]) == [10, 9, 8, 7, 6] and n == 5
        f, n = register.entries(c, until=T0.date())  # a date includes the whole day
        assert n == 16
        f, n = register.entries(c, subject="91330702MA00000003")
        assert list(f["seq"]) == [4]
    with eng.begin() as c, pytest.raises(DataError, match="not a date"):
        register.entries(c, since="yesterday")


def test_export_is_inert_and_in_chinese(eng, tmp_path):
    with eng.begin() as c:
        register.record(
            c,
            user="=cmd|' /C calc'!A0",
            role="auditor",
            action="read",
            what='=HYPERLINK("http://x")',
            subject="@SUM(A1)",
            detail={"q": "+1"},
            at=T0,
        )
        register.record(c, user="aud", role="auditor", action="export", what="/register/export", at=T0)
    csv_path = tmp_path / "register.csv"
    xlsx_path = tmp_path / "register.xlsx"
    with eng.begin() as c:
        register.export(c, csv_path)
        register.export(c, xlsx_path, role="auditor")
    with csv_path.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert list(rows[0])[:4] == ["序号", "时间(UTC)", "用户", "角色"]
    assert rows[0]["用户"].startswith("'=") and rows[0]["内容"].startswith("'=") and rows[0]["主体"].startswith("'@")
    assert rows[0]["角色"] == "审计人员" and rows[1]["操作"] == "导出" and rows[0]["结果"] == "成功"
    wb = openpyxl.load_workbook(xlsx_path)
    ws = wb.active
    header = [c.value for c in ws[1]]
    assert header[:3] == ["序号", "时间(UTC)", "用户"]
    cells = [c for row in ws.iter_rows(min_row=2) for c in row]
    assert all(c.data_type != "f" for c in cells)  # no formula anywhere
    what = ws.cell(row=2, column=header.index("内容") + 1)
    assert what.value == '=HYPERLINK("http://x")' and what.data_type == "s" and what.quotePrefix
    with eng.begin() as c:
        data = register.export_bytes(c, ".csv")
        assert data == csv_path.read_bytes()
        assert register.export_bytes(c, ".xlsx")[:2] == b"PK"
    with eng.begin() as c, pytest.raises(DataError, match=".xlsx or .csv"):
        register.export(c, tmp_path / "register.json")


def test_no_raw_id_number_is_ever_stored(eng, tmp_path):
    with eng.begin() as c:
        register.record(
            c,
            user=f"citizen{RAW_ID}",
            role="citizen",
            action="read",
            what=f"/persons/{RAW_ID}/score",
            subject=RAW_ID_2,
            purpose=f"查询 {RAW_ID}",
            legal_basis=RAW_ID_2,
            detail={"id": RAW_ID, "nested": [{"k": f"x{RAW_ID_2}y"}], RAW_ID: 1},
        )
        row = _rows(c)[0]
        assert register.verify(c).ok
    stored = repr(row)
    assert RAW_ID not in stored and RAW_ID_2 not in stored and not contains_raw_id(stored)
    assert row["subject"] == "440**************4"
    with eng.begin() as c:
        register.export(c, tmp_path / "r.csv")
    assert not contains_raw_id((tmp_path / "r.csv").read_text(encoding="utf-8-sig"))


def test_a_register_row_needs_who_and_what(eng):
    with eng.begin() as c, pytest.raises(DataError, match="needs the user"):
        register.record(c, user="", role="admin", action="read", what="/x")


def test_cli_export_and_prune(eng, serving_url, tmp_path):
    _fill(eng, 6, start=dt.datetime(2020, 1, 1))
    runner = CliRunner()
    out = tmp_path / "reg.xlsx"
    r = runner.invoke(app, ["register", "export", "--out", str(out), "--role", "analyst", "--serving", serving_url])
    assert r.exit_code == 0, r.output
    assert "2 register rows" in r.output and out.exists()
    r = runner.invoke(app, ["register", "prune", "--keep-days", "30", "--serving", serving_url])
    assert r.exit_code == 2 and "183" in r.output
    r = runner.invoke(app, ["register", "prune", "--serving", serving_url, "--json"])
    assert r.exit_code == 0, r.output
    assert '"pruned": 6' in r.output and '"ok": true' in r.output
    with eng.begin() as c:
        v = register.verify(c)
        whats = list(register.entries(c)[0]["what"])
    assert v.ok and v.anchor_seq == 6
    assert whats[:2] == ["register prune", "register export reg.xlsx"]  # the CLI registers itself


def test_awkward_values_hash_the_same_after_the_round_trip(eng):
    import numpy as np

    detail = {
        "sum": 0.1 + 0.2,
        "big": 1e16,
        "whole": 5.0,
        "neg_zero": -0.0,
        "huge_int": 2**62,
        "nan": float("nan"),
        "when": dt.date(2026, 6, 30),
        "set": {"b", "a"},
        "tuple": (1, "二"),
        "np": np.int64(7),
        "键": {"嵌套": ["一", None, True]},
        "control": "a\x1b[31mred\x00",
    }
    with eng.begin() as c:
        register.record(
            c,
            user="用户甲",
            role="regulator",
            action="read",
            what="/lists/建筑业 2026",
            detail=detail,
            at=dt.datetime(2026, 6, 30, 23, 59, 59, 999999, tzinfo=dt.timezone(dt.timedelta(hours=8))),
        )
        register.record(c, user="u", role="regulator", action="read", what="x" * 400, purpose="p" * 400)
    with eng.begin() as c:
        rows = _rows(c)
        v = register.verify(c)
    assert v.ok, v
    assert rows[0]["at"] == dt.datetime(2026, 6, 30, 15, 59, 59, 999999)  # UTC
    assert rows[0]["detail"]["nan"] == "nan" and rows[0]["detail"]["set"] == ["a", "b"]
    assert rows[0]["detail"]["control"] == "ared"
    assert len(rows[1]["what"]) == 300 and len(rows[1]["purpose"]) == 300
