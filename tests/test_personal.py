"""信义金 from the store: the gate, scoring, explanations and scenes."""

from __future__ import annotations

import datetime as dt
import json
import shutil

import numpy as np
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
    # only items that carry points, each bin in words, records by their Chinese names
    assert {i["feature"] for i in e["items"]} == {f for f in card.features_ if card.max_points_[f] > 0}
    assert all(0 <= i["points"] <= i["max_points"] and i["max_points"] > 0 for i in e["items"])
    assert all("inf" not in i["bin"] and "[" not in i["bin"] and i["bin"] for i in e["items"])
    behind = [r for i in e["items"] for r in i["records"]]
    assert behind and all(r["name_zh"] and r["event_date"] and r["name_zh"] != r["record_type"] for r in behind)
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
    with open_store(path, read_only=True) as s:
        org = s.sql("SELECT subject_id FROM subjects WHERE subject_type = 'enterprise' LIMIT 1").iloc[0, 0]
    # an unknown subject, or one that is not a person, is an error (exit 2) in every points command
    for who in (make_person_id(999), "12345", org):
        for cmd in (
            ["explain", who, "--as-of", "2025-06-30"],
            ["guidance", who, "--as-of", "2025-06-30"],
            ["diff", who, "--from", "2024-06-30", "--to", "2025-06-30"],
        ):
            r = CliRunner().invoke(app, ["points", *cmd, "--store", str(path), "--card", str(card), "--json"])
            assert r.exit_code == 2, (cmd, r.output)
            err = json.loads(r.stdout)
            assert err["kind"] == "not_found" and ("person" in err["error"]) and not contains_raw_id(r.stdout)


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
        to = score_persons(s, card, d2).set_index("subject_id")
    assert d["status_from"] == pts.loc[PERSON, "status"] and d["status_to"] == to.loc[PERSON, "status"]
    for end, st_ in (("from", pts), ("to", to)):  # a suspended date shows its status and reason, never a number
        if st_.loc[PERSON, "status"] == "suspended":
            assert d[f"points_{end}"] is None and d[f"reason_{end}"] == st_.loc[PERSON, "reason"]
        else:
            assert d[f"points_{end}"] == st_.loc[PERSON, "points"] and d[f"reason_{end}"] is None
    if d["status_from"] == d["status_to"] == "scored":
        assert sum(p["points"] for p in d["parts"]) == d["change"] == d["points_to"] - d["points_from"]
    else:
        assert d["change"] is None and d["parts"] == []
    assert all(p["record"] is not None for p in d["parts"]), d["parts"]  # every part is a record's own effect
    assert all(d1.isoformat() < p["date"] <= d2.isoformat() for p in d["parts"])
    assert all(p["event_zh"] and p["record"]["name_zh"] for p in d["parts"])


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


def test_a_suspended_person_is_told_how_to_leave_the_list_and_nothing_else(fitted, tmp_path):
    from scoring.points.wording import explanation_text

    card, _, _ = fitted
    day = dt.date(2025, 6, 30)
    rows = [
        _debtor(dt.date(2025, 1, 15)),
        {
            "record_id": "S1",
            "subject_id": PERSON,
            "record_type": "SDL_SERIOUS_DISHONEST",
            "event_date": dt.date(2024, 5, 1),
            "document_no": "金发改信〔2024〕9号",
            "agency": "金华市发展和改革委员会",
            "severity": "serious",
            "list_entry_on": dt.date(2024, 5, 1),
        },
    ]
    with _store(tmp_path, rows) as s:
        e = explain_person(s, card, PERSON, day)
        g = guidance(s, card, PERSON, day)
        d = diff_person(s, card, PERSON, dt.date(2024, 1, 1), day)
    assert e["status"] == "suspended" and e["points"] is None and e["items"] == []
    sus = e["suspension"]
    assert sus["until"] is None and "移出名单" in sus["until_zh"]  # the serious-dishonesty list has no end date
    by_type = {x["record_type"]: x for x in sus["lists"]}
    assert set(by_type) == {"JUD_DISHONEST_DEBTOR", "SDL_SERIOUS_DISHONEST"}
    debtor = by_type["JUD_DISHONEST_DEBTOR"]
    assert debtor["document_no"] == "(2024)浙07执1号" and debtor["ends_on"] == "2027-01-15"
    assert debtor["obligation"] == "履行义务" and "2027-01-15" in debtor["earliest_end_zh"] and debtor["steps"]
    assert by_type["SDL_SERIOUS_DISHONEST"]["obligation"] == "履行法定义务"
    # guidance: only leaving the lists, no points to earn while suspended
    assert g["status"] == "suspended" and g["points"] is None
    assert [a["action"] for a in g["actions"]] == ["leave_list", "leave_list"]
    text = explanation_text(e, g["actions"], eligibility(None, "suspended", load_scenes()))
    assert text.index("暂停计分") < text.index("(2024)浙07执1号") < text.index("如何移出")
    assert "志愿服务" not in text and "可增加" not in text and "分（满分" not in text
    # diff: the suspended end is its status, not a number
    assert d["status_from"] == "scored" and d["status_to"] == "suspended" and d["points_to"] is None
    assert d["change"] is None and [g["event"] for g in d["gate_events"]] == ["suspended", "suspended"]


def test_sample_explanations_read_in_words_and_suspensions_show_no_number(fitted, sample_store):
    from scoring.points.wording import diff_text, explanation_text

    card, _, _ = fitted
    path, _ = sample_store
    day = dt.date(2026, 6, 30)
    with open_store(path, read_only=True) as s:
        sc = score_persons(s, card, day).set_index("subject_id")
        sus = sc.index[sc["status"] == "suspended"][:3]
        for sid in sus:
            e = explain_person(s, card, sid, day)
            g = guidance(s, card, sid, day)
            text = explanation_text(e, g["actions"], [])
            assert e["suspension"]["lists"] and all(
                x["steps"] and x["earliest_end_zh"] for x in e["suspension"]["lists"]
            )
            assert "可增加" not in text and "_" not in text and not contains_raw_id(text)
            d = diff_person(s, card, sid, dt.date(2024, 6, 30), day)
            assert d["points_to"] is None and "暂停计分" in diff_text(d)
        scored = sc.index[sc["status"] == "scored"][:5]
        for sid in scored:
            e = explain_person(s, card, sid, day)
            text = explanation_text(e, guidance(s, card, sid, day)["actions"], [])
            assert "inf" not in text and "[" not in text and "_" not in text and not contains_raw_id(text)


def test_bins_in_words_from_the_feature_definition():
    from scoring.archive.catalog import load_catalog
    from scoring.features.definitions import load_feature_set
    from scoring.points.wording import bin_words, bin_words_all

    cat = load_catalog()
    fs = load_feature_set("person", catalog=cat)

    def words(name, splits):
        return bin_words_all(fs[name], _bins(splits), cat)

    assert words("penalty_count_3y", [1, 2]) == {
        0: "近3年无行政处罚记录",
        1: "近3年行政处罚1次",
        2: "近3年行政处罚2次及以上",
        -1: "无数据",
    }
    assert words("penalty_count_3y", [1, 4])[1] == "近3年行政处罚1至3次"
    assert words("volunteer_hours_effective", [10, 20, 60])[1] == "志愿服务有效时长10至20小时"
    assert words("volunteer_hours_effective", [10, 20, 60])[3] == "志愿服务有效时长60小时及以上"
    ratio = words("commitment_kept_ratio_3y", [0.5, 0.9])
    assert ratio[-1] == "近3年无已到期信用承诺" and ratio[0] == "近3年已到期信用承诺履约率不足50%"
    assert ratio[1] == "近3年已到期信用承诺履约率50%至90%" and ratio[2] == "近3年已到期信用承诺履约率90%及以上"
    fines = words("penalty_amount_max_3y", [10000])
    assert fines[0] == "近3年最高罚款金额不足1万元或近3年无行政处罚记录" and fines[1] == "近3年最高罚款金额1万元及以上"
    listed = words("consumption_restricted_active", [1])
    assert listed[0] == "当前未列入限制高消费名单" and listed[1] == "当前列入限制高消费名单"
    assert words("represented_org_penalty_count_3y", [1])[0] == "所代表企业近3年无一般及以上行政处罚记录"
    assert words("honour_national_count", [1, 2])[1] == "国家级荣誉1项"
    days = words("days_since_penalty", [365, 1825])
    assert days[0] == "最近一次行政处罚距今不超过364天" and days[2].endswith("及以上或近5年无行政处罚记录")
    assert words("commitment_kept_ratio_3y", [])[0] == "近3年有已到期信用承诺"  # one bin: any, against none
    assert words("volunteer_record_count_1y", [2])[0] == "近1年志愿服务记录不超过1条"
    assert bin_words(fs["penalty_weighted_3y"], _bins([0.5, 3]), 0, cat) == "近3年无行政处罚记录"
    codes = [c.code for c in cat.record_types]
    every = [w for f in fs.features for w in bin_words_all(f, _bins([1, 2]), cat).values()]
    assert all("inf" not in w and not any(c in w for c in codes) for w in every)


def _bins(splits):
    from scoring.points.binning import MonotoneBinning

    b = MonotoneBinning("x").fit(pd.Series([0.0, 1.0, 2.0, 3.0] * 5), [0, 1] * 10)
    b.splits_ = np.asarray(splits, dtype=float)
    b.bin_n_ = np.ones(len(splits) + 1)
    return b


def test_exit_procedures_are_validated_config(tmp_path):
    import yaml

    from scoring.core.config import config_dir
    from scoring.core.errors import ConfigError
    from scoring.points.gate import load_gate
    from scoring.points.wording import load_explain_config

    gate = load_gate()
    cfg = load_explain_config(gate_types=gate.record_types)
    assert set(gate.record_types) <= set(cfg.exit_procedures)
    raw = yaml.safe_load((config_dir() / "points" / "explain.yaml").read_text(encoding="utf-8"))
    less = dict(raw, exit_procedures={k: v for k, v in raw["exit_procedures"].items() if k != "SDL_SERIOUS_DISHONEST"})
    (tmp_path / "a.yaml").write_text(yaml.safe_dump(less, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError, match="SDL_SERIOUS_DISHONEST"):
        load_explain_config(tmp_path / "a.yaml", gate_types=gate.record_types)
    bad = dict(
        raw, exit_procedures={**raw["exit_procedures"], "ADM_PENALTY": raw["exit_procedures"]["SDL_SERIOUS_DISHONEST"]}
    )
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(bad, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError, match="ADM_PENALTY"):
        load_explain_config(tmp_path / "b.yaml")
    nodate = dict(raw, until_fixed="到期为止")
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(nodate, allow_unicode=True), encoding="utf-8")
    with pytest.raises(ConfigError, match="until_fixed"):
        load_explain_config(tmp_path / "c.yaml")


@pytest.fixture(scope="module")
def realistic_store(tmp_path_factory):
    """A small archive of the realistic profile (few records, rare negatives), ingested."""
    from scoring.sample.generator import generate_sample

    d = tmp_path_factory.mktemp("realistic")
    generate_sample(d / "a", seed=7, persons=6000, organisations=1500, chunk_subjects=3000, profile="realistic")
    with open_store(d / "store.duckdb") as s:
        ingest([d / "a"], s)
    return d / "store.duckdb"


def test_realistic_profile_explanations_read_in_words_for_fitted_and_expert_cards(realistic_store):
    from scoring.archive.catalog import load_catalog
    from scoring.points.card import load_expert_card
    from scoring.points.wording import diff_text, explanation_text

    day = dt.date(2026, 6, 30)
    codes = [c.code for c in load_catalog().record_types]
    with open_store(realistic_store, read_only=True) as s:
        fitted_card, _ = fit_card(s)
        for card in (fitted_card, load_expert_card()):
            sc = score_persons(s, card, day)
            sus = sc.loc[sc["status"] == "suspended", "subject_id"].tolist()[:3]
            scored = sc[sc["status"] == "scored"].sort_values(["points", "subject_id"])["subject_id"].tolist()
            assert sus and scored
            for sid in sus + scored[:5] + scored[-2:]:
                e = explain_person(s, card, sid, day)
                g = guidance(s, card, sid, day)
                text = explanation_text(e, g["actions"], eligibility(e["points"], e["status"], load_scenes()))
                assert "inf" not in text and "[" not in text and not contains_raw_id(text)
                assert not any(c in text for c in codes), text
                if e["status"] == "suspended":
                    assert e["suspension"]["lists"] and all(a["action"] == "leave_list" for a in g["actions"])
                    assert "可增加" not in text and "分（满分" not in text
                else:
                    assert all(i["max_points"] > 0 for i in e["items"])
                    assert e["points"] == sum(i["points"] for i in e["items"])
                d = diff_person(s, card, sid, dt.date(2024, 6, 30), day)
                dtext = diff_text(d)
                assert not any(c in dtext for c in codes) and not contains_raw_id(dtext)
                if e["status"] == "suspended":
                    assert d["points_to"] is None and d["change"] is None and "暂停计分" in dtext
