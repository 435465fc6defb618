"""The as-of rule: both engines against the plain-Python rule, and the properties it promises."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
import yaml
from conftest import EXPORT, small_archive
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring.archive.catalog import SubjectType, load_catalog
from scoring.archive.ingest import ingest
from scoring.archive.store import open_store
from scoring.features.asof import record_counts
from scoring.features.builder import build_features

CAT = load_catalog()
SUBJECTS, ORGS, PERSONS = small_archive(2, 2)
ORG, PERSON = ORGS[0], PERSONS[0]
TYPES = [
    "ADM_PENALTY",
    "ADM_PENALTY_SAMR",
    "JUD_DISHONEST_DEBTOR",
    "SDL_SERIOUS_DISHONEST",
    "COM_BROKEN",
    "CON_BREACH",
    "VOL_SERVICE_HOURS",
    "VOL_DONATION",
    "HON_MUNICIPAL",
    "ABN_OPERATION_LIST",
    "EVAL_TAX_GRADE",
    "ADM_INSPECTION_FAIL",
    "REG_CHANGE",
]
days = st.dates(min_value=dt.date(2017, 1, 1), max_value=dt.date(2026, 6, 1))
hc = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]


def _fmt(d):
    return None if d is None else d.isoformat()


@st.composite
def records(draw, n_max=12):
    rows = []
    for i in range(draw(st.integers(1, n_max))):
        code = draw(st.sampled_from(TYPES))
        rt = CAT[code]
        subj = draw(
            st.sampled_from(
                [
                    s
                    for s in (ORG, PERSON)
                    if (SubjectType.person in rt.subject_types) == (s == PERSON)
                    or (s == ORG and any(t.is_organisation for t in rt.subject_types))
                ]
            )
        )
        stype = "person" if subj == PERSON else "enterprise"
        if stype not in {t.value for t in rt.subject_types}:
            continue
        ev = draw(days)
        row = {
            "record_id": f"R{i}",
            "subject_id": subj,
            "record_type": code,
            "event_date": ev,
            "document_no": f"DOC{i}" if rt.requires_document else None,
            "agency": "金华市测试局",
            "severity": draw(st.sampled_from([s.value for s in rt.severities])) if rt.severities else None,
            "amount": float(draw(st.integers(1, 300))) if rt.amount else None,
            "grade": draw(st.sampled_from(list(rt.grades))) if rt.grades else None,
        }
        if rt.list_type:
            row["list_entry_on"] = ev
            if draw(st.booleans()):
                row["list_exit_on"] = ev + dt.timedelta(days=draw(st.integers(1, 1500)))
        if rt.repairable and row.get("severity") != "minor" and draw(st.booleans()):
            row["repaired_on"] = ev + dt.timedelta(days=draw(st.integers(1, 1500)))
        if rt.polarity.value == "negative" and draw(st.integers(0, 3)) == 0:
            raised = ev + dt.timedelta(days=draw(st.integers(0, 400)))
            row["objection_raised_on"] = raised
            if draw(st.booleans()):
                row["objection_resolved_on"] = raised + dt.timedelta(days=draw(st.integers(1, 60)))
                row["objection_outcome"] = draw(st.sampled_from(["upheld", "rejected"]))
        if draw(st.integers(0, 9)) == 0:
            row["revoked_on"] = ev + dt.timedelta(days=draw(st.integers(1, 900)))
        # an archive exported on EXPORT knows nothing later
        for k in ("list_exit_on", "repaired_on", "revoked_on", "objection_raised_on"):
            if row.get(k) is not None and row[k] > EXPORT:
                row[k] = None
        if row.get("objection_raised_on") is None or (row.get("objection_resolved_on") or EXPORT) > EXPORT:
            row["objection_resolved_on"] = row["objection_outcome"] = None
            if row.get("objection_raised_on") is None:
                row.pop("objection_raised_on", None)
        rows.append(row)
    return rows


COLS = [
    "record_id",
    "subject_id",
    "record_type",
    "event_date",
    "document_no",
    "agency",
    "severity",
    "amount",
    "grade",
    "repaired_on",
    "objection_raised_on",
    "objection_resolved_on",
    "objection_outcome",
    "revoked_on",
    "list_entry_on",
    "list_exit_on",
]


def _store(folder: Path, rows: list[dict], opt_out: bool = False, export=EXPORT):
    folder.mkdir(parents=True, exist_ok=True)
    subjects = SUBJECTS.copy()
    subjects.loc[subjects["subject_id"] == PERSON, "positive_opt_out"] = "true" if opt_out else "false"
    subjects.to_csv(folder / "subjects.csv", index=False)
    df = pd.DataFrame(rows, columns=COLS)
    for c in COLS:
        df[c] = df[c].map(lambda v: v.isoformat() if isinstance(v, dt.date) else v)
    df.to_csv(folder / "records.csv", index=False)
    st_ = open_store(folder / "s.duckdb")
    res = ingest([folder / "subjects.csv", folder / "records.csv"], st_, export_date=export)
    assert res.quarantined == 0, (res.by_reason, st_.sql("SELECT reason, field, detail FROM quarantine"))
    return st_


def _per_type_sets(folder: Path) -> Path:
    """Feature sets with one publicity-window count per record type: counts are the as-of rule itself."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, stypes in (("person", ["person"]), ("organisation", ["enterprise"])):
        feats = [
            {
                "name": f"n_{c.lower()}",
                "label_zh": c,
                "label_en": c,
                "records": [c],
                "agg": "count",
                "direction": "increases_risk",
            }
            for c in TYPES
            if set(stypes) & {t.value for t in CAT[c].subject_types}
        ]
        (folder / f"{name}.yaml").write_text(
            yaml.safe_dump(
                {"set": name, "label_zh": name, "subject_types": stypes, "features": feats}, allow_unicode=True
            )
        )
    return folder


@settings(max_examples=30, deadline=None, suppress_health_check=hc)
@given(rows=records(), as_of=days, opt_out=st.booleans())
def test_engines_follow_the_rule(tmp_path_factory, rows, as_of, opt_out):
    d = tmp_path_factory.mktemp("rule")
    sets = _per_type_sets(d / "features")
    with _store(d, rows, opt_out) as store:
        for subjects, sid in (("persons", PERSON), ("organisations", ORG)):
            expect = {}
            for r in rows:
                if r["subject_id"] == sid and record_counts(r, as_of, CAT, opt_out=opt_out and sid == PERSON):
                    expect[f"n_{r['record_type'].lower()}"] = expect.get(f"n_{r['record_type'].lower()}", 0) + 1
            for engine in ("polars", "duckdb"):
                fm = build_features(store, as_of, subjects=subjects, engine=engine, feature_dir=sets)
                got = fm.values.loc[sid]
                got = {k: int(v) for k, v in got.items() if v}
                assert got == expect, (engine, subjects, as_of)


@settings(max_examples=20, deadline=None, suppress_health_check=hc)
@given(rows=records(), later=records(n_max=5), as_of=days)
def test_future_records_change_nothing(tmp_path_factory, rows, later, as_of):
    future = []
    for i, r in enumerate(later):
        shift = (as_of + dt.timedelta(days=1)) - r["event_date"]
        r = {k: (v + shift if isinstance(v, dt.date) else v) for k, v in r.items()}
        r["record_id"], r["document_no"] = f"F{i}", (f"FDOC{i}" if r["document_no"] else None)
        if r["event_date"] <= EXPORT:
            future.append({k: (min(v, EXPORT) if isinstance(v, dt.date) else v) for k, v in r.items()})
    d = tmp_path_factory.mktemp("future")
    with _store(d / "a", rows) as a, _store(d / "b", rows + future) as b:
        for subjects in ("persons", "organisations"):
            fa = build_features(a, as_of, subjects=subjects).values
            fb = build_features(b, as_of, subjects=subjects).values
            pd.testing.assert_frame_equal(fa, fb)


def _penalty(**kw):
    row = {
        "record_id": "P1",
        "subject_id": ORG,
        "record_type": "ADM_PENALTY",
        "event_date": dt.date(2022, 3, 10),
        "document_no": "D1",
        "agency": "金华市测试局",
        "severity": "general",
        "amount": 100.0,
    }
    row.update(kw)
    return row


def _count(store, day, feature="penalty_count_publicity"):
    return build_features(store, day, subjects="organisations").values.loc[ORG, feature]


def test_publicity_period_end(tmp_path):
    # general penalty under the 2019 regime: 1 year
    with _store(tmp_path, [_penalty()]) as s:
        assert _count(s, dt.date(2022, 3, 9)) == 0
        assert _count(s, dt.date(2022, 3, 10)) == 1
        assert _count(s, dt.date(2023, 3, 9)) == 1
        assert _count(s, dt.date(2023, 3, 10)) == 0


@settings(max_examples=15, deadline=None, suppress_health_check=hc)
@given(repair_after=st.integers(1, 360))
def test_repair_stops_counting_from_that_day(tmp_path_factory, repair_after):
    r = dt.date(2022, 3, 10) + dt.timedelta(days=repair_after)
    # no earlier than the end of the minimum publicity period (general, 2019 regime: 3 months)
    effective = max(r, dt.date(2022, 6, 10))
    with _store(tmp_path_factory.mktemp("rep"), [_penalty(repaired_on=r)]) as s:
        assert _count(s, effective - dt.timedelta(days=1)) == 1
        assert _count(s, effective) == 0
        assert _count(s, effective + dt.timedelta(days=30)) == 0


@settings(max_examples=15, deadline=None, suppress_health_check=hc)
@given(
    raise_after=st.integers(0, 200), length=st.integers(1, 40), outcome=st.sampled_from(["rejected", "upheld", None])
)
def test_objection_suspends_exactly_while_pending(tmp_path_factory, raise_after, length, outcome):
    raised = dt.date(2022, 3, 10) + dt.timedelta(days=raise_after)
    resolved = raised + dt.timedelta(days=length) if outcome else None
    rec = _penalty(objection_raised_on=raised, objection_resolved_on=resolved, objection_outcome=outcome)
    with _store(tmp_path_factory.mktemp("obj"), [rec]) as s:
        if raise_after > 0:
            assert _count(s, raised - dt.timedelta(days=1)) == 1
        assert _count(s, raised) == 0
        if resolved:
            assert _count(s, resolved - dt.timedelta(days=1)) == 0
            assert _count(s, resolved) == (1 if outcome == "rejected" else 0)
        else:
            assert _count(s, dt.date(2023, 3, 9)) == 0


@pytest.mark.parametrize(
    "day,severity,still_counts_at",
    [
        (dt.date(2023, 4, 30), "minor", dt.date(2024, 4, 29)),  # 2019 regime: minor published up to a year
        (dt.date(2023, 5, 1), "minor", None),  # 2023 regime: minor not published
        (dt.date(2026, 3, 31), "minor", None),
        (dt.date(2026, 4, 1), "minor", dt.date(2026, 6, 30)),  # 2026 regime: at most 3 months
        (dt.date(2023, 4, 30), "serious", dt.date(2026, 4, 29)),
        (dt.date(2019, 6, 30), "serious", dt.date(2022, 6, 29)),  # before 2019-07-01: earliest regime
    ],
)
def test_regime_decided_by_record_date(tmp_path, day, severity, still_counts_at):
    with _store(tmp_path, [_penalty(event_date=day, severity=severity)]) as s:
        if still_counts_at is None:
            assert _count(s, day) == 0
        else:
            assert _count(s, still_counts_at) == 1
            assert _count(s, still_counts_at + dt.timedelta(days=1)) == 0


def test_opt_out_removes_exactly_the_positive_items(tmp_path):
    rows = [
        {
            "record_id": "V1",
            "subject_id": PERSON,
            "record_type": "VOL_SERVICE_HOURS",
            "event_date": dt.date(2025, 1, 5),
            "agency": "志愿",
            "amount": 30.0,
        },
        {
            "record_id": "H1",
            "subject_id": PERSON,
            "record_type": "HON_MUNICIPAL",
            "event_date": dt.date(2025, 2, 5),
            "document_no": "H1",
            "agency": "市政府",
        },
        {
            "record_id": "A1",
            "subject_id": PERSON,
            "record_type": "ADM_PENALTY",
            "event_date": dt.date(2025, 3, 5),
            "document_no": "A1",
            "agency": "公安",
            "severity": "general",
            "amount": 200.0,
        },
        {
            "record_id": "C1",
            "subject_id": PERSON,
            "record_type": "COM_MADE",
            "event_date": dt.date(2025, 1, 5),
            "document_no": "C1",
            "agency": "发改",
        },
    ]
    day = dt.date(2025, 6, 1)
    with _store(tmp_path / "in", rows, opt_out=False) as a, _store(tmp_path / "out", rows, opt_out=True) as b:
        built = build_features(a, day)
        fa = built.values.loc[PERSON]
        fb = build_features(b, day).values.loc[PERSON]
    meta = built.meta.set_index("feature")
    positive = {f for f, recs in meta["records"].items() if all(CAT[c].opt_out_eligible for c in recs.split(","))}
    changed = {f for f in fa.index if not (pd.isna(fa[f]) and pd.isna(fb[f])) and fa[f] != fb[f]}
    assert changed and changed <= positive
    assert (fb[list(positive)].fillna(0) == 0).all()
    assert fa["penalty_count_1y"] == fb["penalty_count_1y"] == 1
    assert {"volunteer_hours_effective", "honour_local_count"} <= changed


def test_linked_features_both_directions(tmp_path):
    rows = [
        {
            "record_id": "S1",
            "subject_id": ORG,
            "record_type": "SDL_SERIOUS_DISHONEST",
            "event_date": dt.date(2024, 1, 5),
            "document_no": "S1",
            "agency": "发改",
            "severity": "serious",
            "list_entry_on": dt.date(2024, 1, 5),
        },
        {
            "record_id": "J1",
            "subject_id": PERSON,
            "record_type": "JUD_DISHONEST_DEBTOR",
            "event_date": dt.date(2024, 2, 5),
            "document_no": "J1",
            "agency": "法院",
            "severity": "serious",
            "list_entry_on": dt.date(2024, 2, 5),
        },
    ]
    with _store(tmp_path, rows) as s:
        p = build_features(s, dt.date(2024, 6, 1)).values
        o = build_features(s, dt.date(2024, 6, 1), subjects="organisations").values
    # small_archive: ORGS[i] has legal representative PERSONS[i]
    assert p.loc[PERSON, "represented_org_serious_dishonesty"] == 1
    assert p.loc[PERSONS[1], "represented_org_serious_dishonesty"] == 0
    assert o.loc[ORG, "legal_rep_dishonest_debtor"] == 1
    assert o.loc[ORGS[1], "legal_rep_dishonest_debtor"] == 0


@pytest.mark.smoke
def test_sample_features_metadata_and_engines_agree(sample_store):
    path, _ = sample_store
    with open_store(path, read_only=True) as s:
        for subjects in ("persons", "organisations"):
            a = build_features(s, "2025-06-30", subjects=subjects, engine="polars")
            b = build_features(s, "2025-06-30", subjects=subjects, engine="duckdb")
            pd.testing.assert_frame_equal(a.values, b.values, check_exact=True)  # exact: see test_determinism
            assert list(a.meta["feature"]) == list(a.values.columns)
            assert a.meta["basis"].str.len().gt(0).all() and a.meta["legal_basis"].str.len().gt(0).all()
            assert set(a.meta["direction"]) <= {"increases_risk", "decreases_risk"}
        ind = build_features(s, "2025-06-30", subjects="organisations", industry="construction")
        assert ind.values.shape[1] > a.values.shape[1]


@settings(max_examples=15, deadline=None, suppress_health_check=hc)
@given(rows=records(), as_of=st.dates(dt.date(2024, 1, 1), dt.date(2026, 6, 30)), years=st.integers(4, 8))
def test_a_record_past_its_publicity_changes_nothing(tmp_path_factory, rows, as_of, years):
    old = {
        "record_id": "OLD",
        "subject_id": ORG,
        "record_type": "ADM_PENALTY",
        "document_no": "OLD1",
        "event_date": as_of - dt.timedelta(days=365 * years),
        "agency": "金华市测试局",
        "severity": "serious",
        "amount": 9999.0,
    }
    assert not record_counts(old, as_of, CAT)
    d = tmp_path_factory.mktemp("expired")
    with _store(d / "a", rows) as a, _store(d / "b", rows + [old]) as b:
        for subjects in ("persons", "organisations"):
            pd.testing.assert_frame_equal(
                build_features(a, as_of, subjects=subjects).values, build_features(b, as_of, subjects=subjects).values
            )


@pytest.mark.parametrize(
    "feature,needle",
    [
        (
            {
                "name": "religion_flag",
                "label_zh": "宗教",
                "label_en": "Religion",
                "records": ["ADM_PENALTY"],
                "agg": "count",
                "direction": "increases_risk",
            },
            "may not be used",
        ),
        (
            {
                "name": "age_band",
                "label_zh": "年龄段",
                "label_en": "Age band",
                "records": ["ADM_PENALTY"],
                "agg": "count",
                "direction": "increases_risk",
            },
            "may not be used",
        ),
        (
            {
                "name": "jaywalks",
                "label_zh": "闯红灯",
                "label_en": "Jaywalking",
                "records": ["JAYWALKING"],
                "agg": "count",
                "direction": "increases_risk",
            },
            "may not be used",
        ),
        (
            {
                "name": "no_basis",
                "label_zh": "无",
                "label_en": "Nothing",
                "records": [],
                "agg": "count",
                "direction": "increases_risk",
            },
            "no record type",
        ),
        (
            {
                "name": "unknown_type",
                "label_zh": "未知",
                "label_en": "Unknown",
                "records": ["PROPERTY_STATUS"],
                "agg": "count",
                "direction": "increases_risk",
            },
            "not in the catalogue",
        ),
        (
            {
                "name": "wrong_subjects",
                "label_zh": "经营异常",
                "label_en": "Abnormal",
                "records": ["ABN_OPERATION_LIST"],
                "agg": "active_list",
                "direction": "increases_risk",
            },
            "applies to",
        ),
    ],
)
def test_invalid_feature_definitions_fail_on_load(tmp_path, feature, needle):
    from scoring.core.errors import ConfigError
    from scoring.features.definitions import load_feature_set

    (tmp_path / "person.yaml").write_text(
        yaml.safe_dump(
            {"set": "person", "label_zh": "x", "subject_types": ["person"], "features": [feature]}, allow_unicode=True
        )
    )
    with pytest.raises(ConfigError) as ei:
        load_feature_set("person", tmp_path)
    assert "person.yaml" in str(ei.value) and "features.0" in str(ei.value) and needle in str(ei.value)
