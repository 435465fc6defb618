"""Golden files: a person's 信义金 explanation and diff read exactly as committed, in Chinese.

Two persons in a small archive built here (real DuckDB store through the archive ingest), scored
with the expert card (configs/points/expert_person.yaml) so the text depends on the wording, the
card and the as-of rules only:

* person A: a general penalty, a kept credit commitment, then listed as a 失信被执行人 — suspended:
  the suspension, its document and how to leave the list come first, and no points or point-earning
  advice at all;
* person B: a general penalty, a kept credit commitment and volunteer hours — scored: only items
  that carry points, bins in words, the records behind each item, guidance and scenes.

The texts are compared exactly with tests/golden/*.txt, so any change of wording, layout or numbers
fails. To refresh them after an intended change::

    XINYI_UPDATE_GOLDEN=1 .venv/bin/python -m pytest -n 0 -q tests/test_explain_golden.py

which rewrites the files and skips (never passes); review the change with ``git diff tests/golden``
and commit it.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import pandas as pd
import pytest
from conftest import EXPORT, small_archive
from typer.testing import CliRunner

from scoring.archive.ingest import ingest
from scoring.archive.store import open_store
from scoring.cli import app
from scoring.core.privacy import contains_raw_id
from scoring.points.card import load_expert_card
from scoring.workflows import Workspace
from scoring.workflows import points as wf

GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("XINYI_UPDATE_GOLDEN") == "1"
SUBJECTS, ORGS, PERSONS = small_archive(1, 2)
A, B = PERSONS
AS_OF = dt.date(2026, 6, 30)

RECORDS = [
    # person A: penalty, kept commitment, then a dishonest judgment debtor (suspended)
    {
        "record_id": "A1",
        "subject_id": A,
        "record_type": "ADM_PENALTY",
        "event_date": "2025-10-10",
        "document_no": "金市监罚〔2025〕11号",
        "agency": "金华市市场监督管理局",
        "severity": "general",
        "amount": "5000",
    },
    {
        "record_id": "A2",
        "subject_id": A,
        "record_type": "COM_MADE",
        "event_date": "2025-02-01",
        "document_no": "金发改诺〔2025〕21号",
        "agency": "金华市发展和改革委员会",
    },
    {
        "record_id": "A3",
        "subject_id": A,
        "record_type": "COM_KEPT",
        "event_date": "2025-08-01",
        "document_no": "金发改诺〔2025〕21号",
        "agency": "金华市发展和改革委员会",
        "related_record_id": "A2",
    },
    {
        "record_id": "A4",
        "subject_id": A,
        "record_type": "JUD_DISHONEST_DEBTOR",
        "event_date": "2026-01-15",
        "document_no": "(2026)浙0702执101号",
        "agency": "金华市婺城区人民法院",
        "severity": "serious",
        "list_entry_on": "2026-01-15",
    },
    # person B: penalty, kept commitment, volunteer hours (scored)
    {
        "record_id": "B1",
        "subject_id": B,
        "record_type": "ADM_PENALTY",
        "event_date": "2025-09-05",
        "document_no": "金公罚〔2025〕305号",
        "agency": "金华市公安局",
        "severity": "general",
        "amount": "2000",
    },
    {
        "record_id": "B2",
        "subject_id": B,
        "record_type": "COM_MADE",
        "event_date": "2025-04-01",
        "document_no": "金发改诺〔2025〕41号",
        "agency": "金华市发展和改革委员会",
    },
    {
        "record_id": "B3",
        "subject_id": B,
        "record_type": "COM_KEPT",
        "event_date": "2025-10-01",
        "document_no": "金发改诺〔2025〕41号",
        "agency": "金华市发展和改革委员会",
        "related_record_id": "B2",
    },
    {
        "record_id": "B4",
        "subject_id": B,
        "record_type": "VOL_SERVICE_HOURS",
        "event_date": "2026-03-01",
        "document_no": "金志愿〔2026〕301号",
        "agency": "金华市志愿服务联合会",
        "amount": "12",
    },
]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The small archive ingested into a real store, the expert card saved as a card file."""
    d = tmp_path_factory.mktemp("golden")
    SUBJECTS.to_csv(d / "subjects.csv", index=False)
    pd.DataFrame(RECORDS).to_csv(d / "records.csv", index=False)
    with open_store(d / "store.duckdb") as st:
        res = ingest([d / "subjects.csv", d / "records.csv"], st, export_date=EXPORT)
    assert res.quarantined == 0, res.by_reason
    card = load_expert_card()
    card.save(d / "expert.json")
    return d, card


def _check(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:  # the test skips at its end (see _refreshed), never passes
        path.parent.mkdir(exist_ok=True)
        path.write_text(text + "\n", encoding="utf-8")
        return
    assert path.exists(), f"{path} is missing; create it with XINYI_UPDATE_GOLDEN=1 (see this module's docstring)"
    assert text + "\n" == path.read_text(encoding="utf-8"), f"{name} differs from the golden file"


def _refreshed() -> None:
    if UPDATE:
        pytest.skip("golden files refreshed: review `git diff tests/golden` and commit")


def _explain(world, person):
    d, card = world
    with open_store(d / "store.duckdb", read_only=True) as st:
        return wf.explain_person(st, Workspace.beside(d / "store.duckdb"), person, AS_OF, card=card)


def _diff(world, person, d1, d2):
    d, card = world
    with open_store(d / "store.duckdb", read_only=True) as st:
        return wf.diff_person(st, Workspace.beside(d / "store.duckdb"), person, d1, d2, card=card)


def test_suspended_person_reads_the_suspension_and_how_to_leave_the_list(world):
    res = _explain(world, A)
    e = res.explanation
    assert e["status"] == "suspended" and e["points"] is None and e["items"] == []
    assert [a["action"] for a in res.guidance] == ["leave_list"]  # nothing that would not help now
    text = res.text()
    # the order a suspended person needs: the suspension, its document, how to leave, the earliest end
    order = ["暂停计分", "(2026)浙0702执101号", "如何移出失信被执行人（履行义务）", "最早结束：2028-01-15"]
    assert [text.index(w) for w in order] == sorted(text.index(w) for w in order)
    assert "志愿服务" not in text and "分（满分" not in text and "可增加" not in text
    assert not contains_raw_id(text) and A not in text
    _check("explain_suspended.txt", text)
    _refreshed()


def test_scored_person_reads_only_items_with_points_in_words(world):
    res = _explain(world, B)
    e = res.explanation
    assert e["status"] == "scored" and e["points"] == sum(i["points"] for i in e["items"])
    assert all(i["max_points"] > 0 for i in e["items"])
    text = res.text()
    assert "inf" not in text and "[" not in text and "ADM_PENALTY" not in text and "_" not in text
    assert "近3年行政处罚1次" in text and "行政处罚（一般） 2025-09-05 金公罚〔2025〕305号 金华市公安局" in text
    assert not contains_raw_id(text) and B not in text
    _check("explain_scored.txt", text)
    _refreshed()


def test_diffs_read_as_committed_and_a_suspended_date_has_no_number(world):
    from scoring.points.wording import diff_text

    a = _diff(world, A, dt.date(2025, 6, 30), AS_OF)
    assert a["status_to"] == "suspended" and a["points_to"] is None and a["change"] is None and not a["parts"]
    assert a["points_from"] is not None and [g["event"] for g in a["gate_events"]] == ["suspended"]
    b = _diff(world, B, dt.date(2025, 1, 1), AS_OF)
    assert sum(p["points"] for p in b["parts"]) == b["change"] == b["points_to"] - b["points_from"]
    _check("diff_suspended.txt", diff_text(a))
    _check("diff_scored.txt", diff_text(b))
    _refreshed()


def test_the_cli_prints_the_same_text(world):
    _refreshed()
    d, _ = world
    for person, name in ((A, "explain_suspended.txt"), (B, "explain_scored.txt")):
        r = CliRunner().invoke(
            app,
            ["points", "explain", person, "--store", str(d / "store.duckdb"), "--card", str(d / "expert.json")]
            + ["--as-of", AS_OF.isoformat()],
        )
        assert r.exit_code == 0, r.output
        assert r.stdout == (GOLDEN / name).read_text(encoding="utf-8")
    r = CliRunner().invoke(
        app,
        ["points", "guidance", A, "--store", str(d / "store.duckdb"), "--card", str(d / "expert.json")]
        + ["--as-of", AS_OF.isoformat()],
    )
    assert r.exit_code == 0 and "申请删除失信信息" in r.stdout and "可增加" not in r.stdout, r.output
    r = CliRunner().invoke(
        app,
        ["points", "diff", A, "--store", str(d / "store.duckdb"), "--card", str(d / "expert.json")]
        + ["--from", "2025-06-30", "--to", AS_OF.isoformat(), "--json"],
    )
    j = json.loads(r.stdout)
    assert r.exit_code == 0 and j["points_to"] is None and j["status_to"] == "suspended" and j["reason_to"]
