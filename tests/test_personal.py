"""信义金 from the store: the gate, scoring, explanations and scenes."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import pandas as pd
import pytest
from conftest import EXPORT, make_person_id
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_asof import PERSON, _store
from typer.testing import CliRunner

from scoring.archive.ingest import ingest
from scoring.archive.store import open_store
from scoring.cli import app
from scoring.core.dates import add_months
from scoring.core.privacy import contains_raw_id
from scoring.points.personal import eligibility, explain_person, fit_card, load_scenes, score_persons


@pytest.fixture(scope="module")
def fitted(sample_store, tmp_path_factory):
    path, _ = sample_store
    with open_store(path, read_only=True) as s:
        card, evidence = fit_card(s)
    f = tmp_path_factory.mktemp("card") / "card.json"
    card.save(f)
    return card, evidence, f


def _debtor(entry, exit_=None):
    row = {
        "record_id": "J1",
        "subject_id": PERSON,
        "record_type": "JUD_DISHONEST_DEBTOR",
        "event_date": entry,
        "document_no": "(2024)浙07执1号",
        "agency": "法院",
        "severity": "serious",
        "list_entry_on": entry,
    }
    if exit_:
        row["list_exit_on"] = exit_
    return row


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(entry=st.dates(dt.date(2020, 1, 1), dt.date(2025, 1, 1)), days=st.integers(1, 600), has_exit=st.booleans())
def test_suspension_starts_and_ends_on_the_list_dates(fitted, tmp_path_factory, entry, days, has_exit):
    card, _, _ = fitted
    exit_ = entry + dt.timedelta(days=days) if has_exit else None
    end = exit_ or add_months(entry, 24)  # listed 2 years unless an exit date is given
    with _store(tmp_path_factory.mktemp("gate"), [_debtor(entry, exit_)]) as s:

        def status(d):
            return score_persons(s, card, d).set_index("subject_id").loc[PERSON]

        assert status(entry - dt.timedelta(days=1))["status"] == "scored"
        on = status(entry)
        assert on["status"] == "suspended" and pd.isna(on["points"]) and "失信被执行人" in on["reason"]
        assert str(on["suspended_until"]) == str(end)
        assert status(end - dt.timedelta(days=1))["status"] == "suspended"
        assert status(end)["status"] == "scored"


def test_scores_bounded_and_explained(fitted, sample_store):
    card, evidence, _ = fitted
    path, _ = sample_store
    assert 0.6 < evidence["auc"] < 1 and 0 <= evidence["ece"] < 0.05 and evidence["reliability"]
    with open_store(path, read_only=True) as s:
        sc = score_persons(s, card, "2025-06-30")
        scored = sc[sc["status"] == "scored"]
        assert scored["points"].between(0, 1000).all() and sc.loc[sc["status"] == "suspended", "points"].isna().all()
        worst = scored.sort_values("points").iloc[0]
        e = explain_person(s, card, worst["subject_id"], "2025-06-30")
    assert e["points"] == worst["points"] == sum(i["points"] for i in e["items"])
    assert all(0 <= i["points"] <= i["max_points"] for i in e["items"])
    behind = [r for i in e["items"] for r in i["records"]]
    assert behind and all(r["record_type"] and r["event_date"] for r in behind)
    assert not contains_raw_id(json.dumps(e, ensure_ascii=False, default=str))


def test_a_new_penalty_never_raises_a_score_and_future_records_change_nothing(fitted, sample_store, tmp_path):
    card, _, _ = fitted
    path, _ = sample_store
    copy = tmp_path / "s.duckdb"
    shutil.copy(path, copy)
    day = dt.date(2025, 6, 30)
    with open_store(copy) as s:
        before = score_persons(s, card, day).set_index("subject_id")
        people = before[before["status"] == "scored"].index[:40]
        rows = []
        for i, pid in enumerate(people):
            rows.append(
                {
                    "record_id": f"NEW{i}",
                    "subject_id": pid,
                    "record_type": "ADM_PENALTY",
                    "event_date": "2025-06-01",
                    "document_no": f"新罚{i}",
                    "agency": "金华市公安局",
                    "severity": ["minor", "general", "serious"][i % 3],
                    "amount": "500",
                }
            )
            rows.append(
                {
                    "record_id": f"FUT{i}",
                    "subject_id": pid,
                    "record_type": "ADM_PENALTY",
                    "event_date": "2025-07-01",
                    "document_no": f"后罚{i}",
                    "agency": "金华市公安局",
                    "severity": "serious",
                    "amount": "500",
                }
            )
        pd.DataFrame(rows).to_csv(tmp_path / "more.csv", index=False)
        ingest([tmp_path / "more.csv"], s, export_date=EXPORT)
        after = score_persons(s, card, day).set_index("subject_id")
    b, a = before.loc[people, "points"].astype(float), after.loc[people, "points"].astype(float)
    assert (a.fillna(-1) <= b).all()
    others = before.index.difference(people)
    pd.testing.assert_series_equal(before.loc[others, "points"], after.loc[others, "points"])


def test_scenes_are_rules_not_labels():
    scenes = load_scenes()
    res = eligibility(610, "scored", scenes)
    lib = next(r for r in res if r["scene"] == "library")
    assert lib["eligible"] is True
    med = next(r for r in res if r["scene"] == "medical")
    assert med["eligible"] is False and "40" in med["why"]
    assert all(not r["eligible"] for r in eligibility(None, "suspended", scenes))


def test_points_cli(fitted, sample_store, tmp_path):
    _, _, card = fitted
    path, _ = sample_store
    r = CliRunner().invoke(
        app,
        [
            "points",
            "score",
            "--store",
            str(path),
            "--card",
            str(card),
            "--as-of",
            "2025-06-30",
            "--out",
            str(tmp_path / "scores.csv"),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["scored"] + d["suspended"] == d["persons"]
    assert not contains_raw_id((tmp_path / "scores.csv").read_text(encoding="utf-8"))
    with open_store(path, read_only=True) as s:
        pid = s.sql("SELECT subject_id FROM subjects WHERE subject_type = 'person' LIMIT 1").iloc[0, 0]
    r = CliRunner().invoke(
        app, ["points", "explain", pid, "--store", str(path), "--card", str(card), "--as-of", "2025-06-30", "--json"]
    )
    assert r.exit_code == 0, r.output
    e = json.loads(r.stdout)
    assert e["scenes"] and not contains_raw_id(r.stdout)
    r = CliRunner().invoke(
        app,
        ["points", "explain", make_person_id(999), "--store", str(path), "--card", str(card), "--as-of", "2025-06-30"],
    )
    assert r.exit_code == 2


from test_asof import records as random_records  # noqa: E402

from scoring.points.diff import diff_person  # noqa: E402


@settings(
    max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(rows=random_records(), d1=st.dates(dt.date(2018, 1, 1), dt.date(2022, 1, 1)), span=st.integers(1, 1500))
def test_diff_parts_sum_exactly_to_the_change(fitted, tmp_path_factory, rows, d1, span):
    card, _, _ = fitted
    d2 = min(d1 + dt.timedelta(days=span), EXPORT)
    with _store(tmp_path_factory.mktemp("diff"), rows) as s:
        d = diff_person(s, card, PERSON, d1, d2)
        pts = score_persons(s, card, d1).set_index("subject_id")
    assert sum(p["points"] for p in d["parts"]) == d["change"] == d["points_to"] - d["points_from"]
    assert all(p["record"] is not None for p in d["parts"]), d["parts"]  # every part is a record's own effect
    assert all(d1.isoformat() < p["date"] <= d2.isoformat() for p in d["parts"])
    if pts.loc[PERSON, "status"] == "scored":
        assert pts.loc[PERSON, "points"] == d["points_from"]


from scoring.points.guidance import guidance  # noqa: E402


def test_guidance_only_lists_actions_in_reach_and_their_exact_gain(fitted, tmp_path):
    card, _, _ = fitted
    day = dt.date(2025, 6, 30)
    rows = [
        {
            "record_id": "P1",
            "subject_id": PERSON,
            "record_type": "ADM_PENALTY",
            "event_date": dt.date(2025, 1, 10),
            "document_no": "罚1",
            "agency": "公安",
            "severity": "general",
            "amount": 200.0,
        },
        {
            "record_id": "C1",
            "subject_id": PERSON,
            "record_type": "COM_MADE",
            "event_date": dt.date(2025, 5, 1),
            "document_no": "诺1",
            "agency": "发改",
        },
        {
            "record_id": "S1",
            "subject_id": PERSON,
            "record_type": "SDL_SERIOUS_DISHONEST",
            "event_date": dt.date(2020, 1, 1),
            "document_no": "列1",
            "agency": "发改",
            "severity": "serious",
            "list_entry_on": dt.date(2020, 1, 1),
            "list_exit_on": dt.date(2021, 1, 1),
        },
    ]
    for opt_out in (False, True):
        with _store(tmp_path / str(opt_out), rows, opt_out=opt_out) as s:
            g = guidance(s, card, PERSON, day)
            now = score_persons(s, card, day).set_index("subject_id").loc[PERSON, "points"]
        kinds = {a["action"] for a in g["actions"]}
        assert kinds <= {"repair", "keep_commitment", "volunteer"}
        assert all(a["points"] > 0 for a in g["actions"]) and g["points"] == now
        assert "repair" in kinds and ("volunteer" in kinds) is (not opt_out)
        rep = next(a for a in g["actions"] if a["action"] == "repair")
        assert rep["record"]["document_no"] == "罚1" and rep["from"] >= "2025-04-10"  # after the 3-month minimum


@settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(
    rows=random_records(),
    as_of=st.dates(dt.date(2019, 1, 1), dt.date(2026, 5, 1)),
    severity=st.sampled_from(["minor", "general", "serious"]),
    kind=st.sampled_from(["ADM_PENALTY", "CON_BREACH", "COM_BROKEN"]),
)
def test_random_archives_negative_records_never_raise_and_future_ones_change_nothing(
    fitted, tmp_path_factory, rows, as_of, severity, kind
):
    card, _, _ = fitted
    from scoring.archive.catalog import load_catalog

    sev = severity if severity in [s.value for s in load_catalog()[kind].severities] else "general"
    neg = {
        "record_id": "NEG",
        "subject_id": PERSON,
        "record_type": kind,
        "event_date": as_of - dt.timedelta(days=3),
        "document_no": "NEG1",
        "agency": "金华市测试局",
        "severity": sev,
        "amount": 100.0 if kind != "COM_BROKEN" else None,
    }
    future = dict(neg, record_id="FUT", document_no="FUT1", event_date=as_of + dt.timedelta(days=1))
    d = tmp_path_factory.mktemp("mono")
    with _store(d / "a", rows) as a, _store(d / "b", rows + [neg]) as b, _store(d / "c", rows + [future]) as c:
        sa = score_persons(a, card, as_of).set_index("subject_id").loc[PERSON]
        sb = score_persons(b, card, as_of).set_index("subject_id").loc[PERSON]
        sc = score_persons(c, card, as_of).set_index("subject_id").loc[PERSON]
    assert 0 <= (sa["points"] if sa["status"] == "scored" else 0) <= 1000
    if sa["status"] == sb["status"] == "scored":
        assert sb["points"] <= sa["points"]
    assert sa["status"] == sc["status"] and (sa["status"] == "suspended" or sa["points"] == sc["points"])
