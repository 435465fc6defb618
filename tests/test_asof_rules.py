"""The as-of rules of DOMAIN.md section 4 that need more than a record's own dates: a repair waits for
the end of the minimum publicity period, a planned list exit (a court's extension) is honoured, and
person-organisation links have a history. Each rule on both sides of each date, in the plain-Python
reference and in both engines."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pandas as pd
import pytest
from conftest import EXPORT, small_archive
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from scoring.archive.catalog import load_catalog
from scoring.archive.ingest import ingest
from scoring.archive.snapshot import snapshot
from scoring.archive.store import open_store
from scoring.features.asof import link_valid, record_counts
from scoring.features.builder import build_features, records_behind
from scoring.points.gate import load_gate, suspensions

CAT = load_catalog()
GATE = load_gate(catalog=CAT)
SUBJECTS, ORGS, PERSONS = small_archive(2, 3)
ORG, P0, P1, P2 = ORGS[0], PERSONS[0], PERSONS[1], PERSONS[2]
ENGINES = ("polars", "duckdb")
ONE = dt.timedelta(days=1)
hc = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
COLS = [
    "record_id",
    "subject_id",
    "record_type",
    "event_date",
    "document_no",
    "agency",
    "severity",
    "amount",
    "repaired_on",
    "list_entry_on",
    "list_exit_on",
]


def _write(folder: Path, rows: list[dict], subjects: pd.DataFrame | None = None) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    (SUBJECTS if subjects is None else subjects).to_csv(folder / "subjects.csv", index=False)
    df = pd.DataFrame(rows, columns=COLS)
    for c in COLS:
        df[c] = df[c].map(lambda v: v.isoformat() if isinstance(v, dt.date) else v)
    df.to_csv(folder / "records.csv", index=False)
    return [folder / "subjects.csv", folder / "records.csv"]


def _ingest(store, folder: Path, rows: list[dict], subjects=None, export=EXPORT):
    return ingest(_write(folder, rows, subjects), store, export_date=export)


def _feature(store, day: dt.date, subjects: str, sid: str, feature: str) -> float:
    """The feature from both engines, which must agree."""
    got = {e: build_features(store, day, subjects=subjects, engine=e).values.loc[sid, feature] for e in ENGINES}
    assert got["polars"] == got["duckdb"], (feature, day, got)
    return float(got["polars"])


# -- 1. a repair takes effect no earlier than the end of the minimum publicity period ----------
def _penalty(day: dt.date, severity: str, repaired: dt.date | None, record_type: str = "ADM_PENALTY", **kw) -> dict:
    return {
        "record_id": "P1",
        "subject_id": ORG,
        "record_type": record_type,
        "event_date": day,
        "document_no": "金市监罚〔2024〕1号",
        "agency": "金华市市场监督管理局",
        "severity": severity,
        "amount": 5000.0 if record_type != "COM_BROKEN" else None,
        "repaired_on": repaired,
        **kw,
    }


@pytest.mark.parametrize(
    "day,severity,repaired,counts_until,warned",
    [
        # the issue's case: serious, 2023 regime (minimum 1 year), repaired after 3 months
        (dt.date(2024, 12, 1), "serious", dt.date(2025, 3, 1), dt.date(2025, 11, 30), True),
        # repaired on the very day the minimum ends, and after it: honoured as given
        (dt.date(2024, 12, 1), "serious", dt.date(2025, 12, 1), dt.date(2025, 11, 30), False),
        (dt.date(2024, 12, 1), "serious", dt.date(2026, 2, 10), dt.date(2026, 2, 9), False),
        # 2019 regime: serious minimum 6 months, general 3 months
        (dt.date(2022, 3, 10), "serious", dt.date(2022, 5, 1), dt.date(2022, 9, 9), True),
        (dt.date(2022, 3, 10), "general", dt.date(2022, 4, 1), dt.date(2022, 6, 9), True),
        (dt.date(2022, 3, 10), "general", dt.date(2022, 7, 1), dt.date(2022, 6, 30), False),
    ],
)
def test_an_early_repair_counts_until_the_minimum_period_ends(tmp_path, day, severity, repaired, counts_until, warned):
    rec = _penalty(day, severity, repaired)
    with open_store(tmp_path / "s.duckdb") as s:
        res = _ingest(s, tmp_path, [rec])
        assert res.quarantined == 0, res.by_reason
        rep = res.report.to_dict()
        if warned:
            assert rep["accepted_with_warning"] == {"REPAIR_BEFORE_MIN_PERIOD": 1}
            (ex,) = rep["warning_examples"]
            assert ex["field"] == "repaired_on" and (counts_until + ONE).isoformat() in ex["detail"]
            assert "REPAIR_BEFORE_MIN_PERIOD" in res.report.to_text()
        else:
            assert rep["accepted_with_warning"] == {}
        # the store keeps the repair date as given (lineage); the rule applies when it is used
        assert s.sql("SELECT repaired_on FROM records")["repaired_on"].dt.date.tolist() == [repaired]
        for d, expect in (
            (day, 1),
            (min(repaired, counts_until) - ONE, 1),
            (counts_until, 1),
            (counts_until + ONE, 0),
            (counts_until + dt.timedelta(days=400), 0),
        ):
            assert record_counts(rec, d, CAT) == bool(expect), d
            assert _feature(s, d, "organisations", ORG, "penalty_count_publicity") == expect, d


def test_the_issue_case_counts_at_2025_06_30(tmp_path):
    rec = _penalty(dt.date(2024, 12, 1), "serious", dt.date(2025, 3, 1))
    with open_store(tmp_path / "s.duckdb") as s:
        _ingest(s, tmp_path, [rec])
        assert _feature(s, dt.date(2025, 6, 30), "organisations", ORG, "penalty_count_publicity") == 1
        (behind,) = records_behind(s, ORG, _spec("penalty_count_publicity"), dt.date(2025, 6, 30)).to_dict("records")
        assert pd.Timestamp(behind["expires_on"]).date() == dt.date(2025, 12, 1)


def _spec(name: str, subjects: str = "organisations"):
    from scoring.features.definitions import feature_set_for

    return feature_set_for(subjects, catalog=CAT)[name]


def test_a_type_without_a_minimum_period_is_repaired_when_it_says(tmp_path):
    # COM_BROKEN (3 years fixed) has no minimum publicity period: the repair date is the end
    rec = _penalty(dt.date(2025, 1, 10), "general", dt.date(2025, 2, 1), record_type="COM_BROKEN")
    with open_store(tmp_path / "s.duckdb") as s:
        res = _ingest(s, tmp_path, [rec])
        assert res.quarantined == 0 and res.report.accepted_with_warning == {}
        assert record_counts(rec, dt.date(2025, 1, 31), CAT) and not record_counts(rec, dt.date(2025, 2, 1), CAT)


# -- 2. a planned list exit after the export date (a court's extension) -----------------------
def _listing(sid: str, code: str, entry: dt.date, exit_: dt.date | None, rid: str = "J1") -> dict:
    return {
        "record_id": rid,
        "subject_id": sid,
        "record_type": code,
        "event_date": entry,
        "document_no": f"(2025)浙0702执{rid}号",
        "agency": "金华市婺城区人民法院",
        "severity": "serious",
        "list_entry_on": entry,
        "list_exit_on": exit_,
    }


ENTRY = dt.date(2025, 1, 10)
DEFAULT_END = dt.date(2027, 1, 10)  # entry + 2 years
EXTENDED = dt.date(2028, 1, 10)  # extended by a year, after the export date 2026-06-30


@pytest.mark.parametrize("exit_,ends", [(None, DEFAULT_END), (EXTENDED, EXTENDED), (dt.date(2026, 3, 1), None)])
def test_a_planned_exit_ends_the_listing_and_the_gate(tmp_path, exit_, ends):
    ends = ends or exit_
    rec = _listing(P0, "JUD_DISHONEST_DEBTOR", ENTRY, exit_)
    with open_store(tmp_path / "s.duckdb") as s:
        res = _ingest(s, tmp_path, [rec])
        assert res.quarantined == 0, res.by_reason
        for d, expect in ((ENTRY - ONE, 0), (ENTRY, 1), (ends - ONE, 1), (ends, 0)):
            assert record_counts(rec, d, CAT) == bool(expect), d
            assert _feature(s, d, "persons", P0, "dishonest_debtor_active") == expect, d
            # the organisation P0 represents sees it through the link
            assert _feature(s, d, "organisations", ORG, "legal_rep_dishonest_debtor") == expect, d
            sus = suspensions(s, d, GATE, CAT)
            if expect:
                (row,) = sus.to_dict("records")
                assert row["subject_id"] == P0 and row["suspended_until"] == ends
            else:
                assert sus.empty
        if exit_ == EXTENDED:  # past the default two years the person is still listed, and suspended
            assert _feature(s, DEFAULT_END, "persons", P0, "dishonest_debtor_active") == 1
            assert suspensions(s, DEFAULT_END + dt.timedelta(days=100), GATE, CAT)["subject_id"].tolist() == [P0]


def test_an_extension_in_a_later_export_is_honoured(tmp_path):
    with open_store(tmp_path / "s.duckdb") as s:
        _ingest(s, tmp_path / "a", [_listing(P0, "JUD_DISHONEST_DEBTOR", ENTRY, None)], export=dt.date(2025, 12, 31))
        assert _feature(s, DEFAULT_END, "persons", P0, "dishonest_debtor_active") == 0
        res = _ingest(s, tmp_path / "b", [_listing(P0, "JUD_DISHONEST_DEBTOR", ENTRY, EXTENDED)])
        assert res.updated == 1 and res.quarantined == 0
        assert _feature(s, DEFAULT_END, "persons", P0, "dishonest_debtor_active") == 1
        assert suspensions(s, DEFAULT_END, GATE, CAT)["suspended_until"].tolist() == [EXTENDED]


def test_a_planned_exit_on_an_open_ended_list(tmp_path):
    # 严重失信主体名单 has no default period: without an exit the suspension is open-ended
    exit_ = dt.date(2027, 5, 1)
    rows = [_listing(P0, "SDL_SERIOUS_DISHONEST", ENTRY, exit_)]
    with open_store(tmp_path / "s.duckdb") as s:
        assert _ingest(s, tmp_path, rows).quarantined == 0
        assert suspensions(s, exit_ - ONE, GATE, CAT)["suspended_until"].tolist() == [exit_]
        assert suspensions(s, exit_, GATE, CAT).empty
        assert _feature(s, exit_ - ONE, "organisations", ORG, "legal_rep_serious_dishonesty") == 1
        assert _feature(s, exit_, "organisations", ORG, "legal_rep_serious_dishonesty") == 0


def test_a_planned_exit_may_lie_up_to_ten_years_ahead(tmp_path):
    ok = EXPORT.replace(year=EXPORT.year + 10)
    rows = [
        _listing(P0, "JUD_DISHONEST_DEBTOR", ENTRY, ok, "J1"),
        _listing(P1, "JUD_DISHONEST_DEBTOR", ENTRY, ok + ONE, "J2"),
    ]
    with open_store(tmp_path / "s.duckdb") as s:
        res = _ingest(s, tmp_path, rows)
        assert res.by_reason == {"DATE_AFTER_EXPORT": 1}
        q = s.sql("SELECT field, detail FROM quarantine").to_dict("records")
        assert q[0]["field"] == "list_exit_on" and "10 years" in q[0]["detail"]
        assert s.sql("SELECT record_id FROM records")["record_id"].tolist() == ["J1"]


# -- 3. person-organisation links have a history ----------------------------------------------
E1, E2 = dt.date(2025, 12, 31), dt.date(2026, 6, 30)


def _subjects(rep: str | None, since: dt.date | None = None, controller: str | None = None) -> pd.DataFrame:
    s = SUBJECTS.copy()
    s.loc[s["subject_id"] == ORG, "legal_rep_id"] = rep
    s.loc[s["subject_id"] == ORG, "actual_controller_id"] = controller
    s["legal_rep_since"] = None
    s.loc[s["subject_id"] == ORG, "legal_rep_since"] = since.isoformat() if since else None
    return s


def _links(s) -> list[tuple]:
    df = s.sql("SELECT person_id, role, valid_from, valid_to FROM links WHERE organisation_id = ? ORDER BY ALL", [ORG])
    return [
        (
            r["person_id"],
            r["role"],
            None if pd.isna(r["valid_from"]) else r["valid_from"].date(),
            None if pd.isna(r["valid_to"]) else r["valid_to"].date(),
        )
        for r in df.to_dict("records")
    ]


DEBTOR = [_listing(P0, "JUD_DISHONEST_DEBTOR", dt.date(2024, 2, 5), None)]  # P0 listed 2024-02-05 .. 2026-02-05


def test_a_new_legal_representative_does_not_rewrite_the_past(tmp_path):
    with open_store(tmp_path / "s.duckdb") as s:
        first = _ingest(s, tmp_path / "a", DEBTOR, _subjects(P0), export=E1)
        assert first.report.links == {"opened": 2, "closed": 0}  # ORGS[1] is represented by P1
        before = {
            (d, sub): build_features(s, d, subjects=sub).values
            for d in ("2025-06-30", "2025-12-31")
            for sub in ("persons", "organisations")
        }
        assert _feature(s, dt.date(2025, 6, 30), "organisations", ORG, "legal_rep_dishonest_debtor") == 1
        second = _ingest(s, tmp_path / "b", DEBTOR, _subjects(P1), export=E2)
        assert second.report.links == {"opened": 1, "closed": 1}
        assert _links(s) == [(P0, "legal_rep", None, E2), (P1, "legal_rep", E2, None)]
        # the issue's case: at 2025-06-30 the organisation was represented by a listed person
        assert _feature(s, dt.date(2025, 6, 30), "organisations", ORG, "legal_rep_dishonest_debtor") == 1
        for (d, sub), frame in before.items():
            pd.testing.assert_frame_equal(build_features(s, d, subjects=sub).values, frame)
        # from the new export date the link is P1's
        spec = _spec("legal_rep_penalty_count_3y")
        pen = [_penalty(dt.date(2026, 5, 1), "general", None) | {"subject_id": P1, "record_id": "Q1"}]
        _ingest(s, tmp_path / "c", DEBTOR + pen, _subjects(P1), export=E2)
        assert _feature(s, E2 - ONE, "organisations", ORG, spec.name) == 0
        assert _feature(s, E2, "organisations", ORG, spec.name) == 1
        assert _feature(s, E2 - ONE, "persons", P0, "represented_org_dishonest_debtor") == 0  # ORG has none
        assert records_behind(s, ORG, spec, E2 - ONE).empty
        assert len(records_behind(s, ORG, spec, E2)) == 1


def test_a_stated_start_date_dates_the_change(tmp_path):
    day = dt.date(2026, 3, 1)
    with open_store(tmp_path / "s.duckdb") as s:
        _ingest(s, tmp_path / "a", DEBTOR, _subjects(P1), export=E1)
        res = _ingest(s, tmp_path / "b", DEBTOR, _subjects(P0, since=day), export=E2)
        assert res.report.accepted_with_warning == {}
        assert _links(s) == [(P0, "legal_rep", day, None), (P1, "legal_rep", None, day)]
        # P0 was listed until 2026-02-05: not yet the representative then
        assert _feature(s, day - ONE, "organisations", ORG, "legal_rep_dishonest_debtor") == 0
        assert _feature(s, dt.date(2026, 2, 1), "organisations", ORG, "legal_rep_dishonest_debtor") == 0


def test_a_start_date_before_the_previous_export_is_moved_with_a_warning(tmp_path):
    with open_store(tmp_path / "s.duckdb") as s:
        _ingest(s, tmp_path / "a", DEBTOR, _subjects(P1), export=E1)
        res = _ingest(s, tmp_path / "b", DEBTOR, _subjects(P0, since=dt.date(2025, 3, 1)), export=E2)
        assert res.report.accepted_with_warning == {"LINK_SINCE_ADJUSTED": 1}
        assert res.report.warning_examples[0]["field"] == "legal_rep_since"
        after_e1 = E1 + ONE
        assert _links(s) == [(P0, "legal_rep", after_e1, None), (P1, "legal_rep", None, after_e1)]
        # what the store said at 2025-06-30 (P1 represented ORG) stays so
        assert _feature(s, dt.date(2025, 6, 30), "organisations", ORG, "legal_rep_dishonest_debtor") == 0
        assert _feature(s, after_e1, "organisations", ORG, "legal_rep_dishonest_debtor") == 1


def test_a_first_export_with_a_start_date(tmp_path):
    day = dt.date(2025, 1, 1)
    with open_store(tmp_path / "s.duckdb") as s:
        _ingest(s, tmp_path, DEBTOR, _subjects(P0, since=day), export=E1)
        assert _links(s) == [(P0, "legal_rep", day, None)]
        assert _feature(s, day - ONE, "organisations", ORG, "legal_rep_dishonest_debtor") == 0
        assert _feature(s, day, "organisations", ORG, "legal_rep_dishonest_debtor") == 1


def test_link_start_dates_are_checked(tmp_path):
    s_ = _subjects(P0)
    s_.loc[s_["subject_id"] == ORG, "legal_rep_since"] = "2027-01-01"
    s_.loc[s_["subject_id"] == ORGS[1], "legal_rep_id"] = None
    s_.loc[s_["subject_id"] == ORGS[1], "legal_rep_since"] = "2020-01-01"
    with open_store(tmp_path / "s.duckdb") as s:
        res = _ingest(s, tmp_path, [], s_, export=E1)
        q = s.sql("SELECT reason, field FROM quarantine ORDER BY reason").to_dict("records")
        assert q == [
            {"reason": "BAD_LINK", "field": "legal_rep_since"},
            {"reason": "DATE_AFTER_EXPORT", "field": "legal_rep_since"},
        ]
        assert res.rows_read == res.accepted + res.quarantined
        # the optional column is not a column of the stored subjects, but is kept in the original values
        assert "legal_rep_since" not in s.sql("SELECT * FROM subjects LIMIT 0").columns
        assert all("legal_rep_since" in o for o in s.sql("SELECT CAST(original AS VARCHAR) o FROM quarantine")["o"])
        again = ingest([tmp_path / "subjects.csv", tmp_path / "records.csv"], s, export_date=E1)
        assert again.quarantine_added == 0 and s.count("quarantine") == 2


def test_the_atomic_ingest_keeps_the_link_history(tmp_path):
    from scoring.archive.ingest import ingest_path

    path = tmp_path / "s.duckdb"
    ingest_path(path, _write(tmp_path / "a", DEBTOR, _subjects(P0)), export_date=E1)
    res = ingest_path(path, _write(tmp_path / "b", DEBTOR, _subjects(P1)), export_date=E2)
    assert res.report.links == {"opened": 1, "closed": 1}
    with open_store(path, read_only=True) as s:
        assert _links(s) == [(P0, "legal_rep", None, E2), (P1, "legal_rep", E2, None)]
        assert _feature(s, dt.date(2025, 6, 30), "organisations", ORG, "legal_rep_dishonest_debtor") == 1


def test_removing_and_reingesting_links(tmp_path):
    with open_store(tmp_path / "s.duckdb") as s:
        _ingest(s, tmp_path / "a", DEBTOR, _subjects(P0, controller=P2), export=E1)
        fp = s.fingerprint()
        again = _ingest(s, tmp_path / "a", DEBTOR, _subjects(P0, controller=P2), export=E1)
        assert again.report.links == {"opened": 0, "closed": 0} and s.fingerprint() == fp
        _ingest(s, tmp_path / "b", DEBTOR, _subjects(P0, controller=None), export=E2)
        assert _links(s) == [(P0, "legal_rep", None, None), (P2, "actual_controller", None, E2)]
        # an organisation missing from a later export keeps its links (exports may be partial)
        only_persons = SUBJECTS[SUBJECTS["subject_type"] == "person"]
        _ingest(s, tmp_path / "c", [], only_persons, export=E2 + ONE)
        assert _links(s) == [(P0, "legal_rep", None, None), (P2, "actual_controller", None, E2)]
        day = dt.date(2025, 1, 1)
        assert _feature(s, day, "persons", P2, "represented_org_dishonest_debtor") == 0  # ORG has no listing


def test_the_same_archive_gives_the_same_fingerprint_with_links(tmp_path):
    prints = []
    for name in ("a", "b"):
        with open_store(tmp_path / f"{name}.duckdb") as s:
            _ingest(s, tmp_path / f"{name}1", DEBTOR, _subjects(P0), export=E1)
            _ingest(s, tmp_path / f"{name}2", DEBTOR, _subjects(P1), export=E2)
            prints.append(s.fingerprint())
    assert prints[0] == prints[1]
    with open_store(tmp_path / "c.duckdb") as s:
        _ingest(s, tmp_path / "c1", DEBTOR, _subjects(P1), export=E2)
        assert s.fingerprint() != prints[0]  # same subjects now, another history


def test_a_snapshot_keeps_the_links_as_they_were(tmp_path):
    with open_store(tmp_path / "s.duckdb") as s:
        b1 = _ingest(s, tmp_path / "a", DEBTOR, _subjects(P0), export=E1).batch_id
        _ingest(s, tmp_path / "b", DEBTOR, _subjects(P1), export=E2)
        with snapshot(s, b1, [ORG], tmp_path / "snap.duckdb") as snap:
            assert _links(snap) == [(P0, "legal_rep", None, None)]
            assert _feature(snap, E2, "organisations", ORG, "legal_rep_dishonest_debtor") == 0  # listing over
            assert _feature(snap, dt.date(2025, 6, 30), "organisations", ORG, "legal_rep_dishonest_debtor") == 1


def test_a_store_from_before_the_link_history(tmp_path):
    path = tmp_path / "s.duckdb"
    with open_store(path) as s:
        _ingest(s, tmp_path, DEBTOR, _subjects(P0, controller=P2), export=E1)
        want = build_features(s, "2025-06-30", subjects="organisations").values
        s.con.execute("DROP TABLE links")
        old_print = s.fingerprint()
    with open_store(path, read_only=True) as s:  # read as before: the subjects' links, throughout
        pd.testing.assert_frame_equal(build_features(s, "2025-06-30", subjects="organisations").values, want)
        assert s.fingerprint() == old_print
    with open_store(path) as s:  # opened for writing: the links are taken over, valid from the beginning
        assert _links(s) == [(P0, "legal_rep", None, None), (P2, "actual_controller", None, None)]
        pd.testing.assert_frame_equal(build_features(s, "2025-06-30", subjects="organisations").values, want)


def test_a_store_from_before_the_link_history_rebuilds_it_from_subject_versions(tmp_path):
    path = tmp_path / "s.duckdb"
    renamed = _subjects(P1, controller=P2)
    renamed.loc[renamed["subject_id"] == ORG, "name"] = "改名企业"  # a new version, same links
    exports = [(E1, _subjects(P0)), (E2, _subjects(P1)), (E2 + ONE, renamed), (E2 + 2 * ONE, _subjects(None))]
    with open_store(path) as s:
        for i, (export, subjects) in enumerate(exports):
            _ingest(s, tmp_path / str(i), DEBTOR, subjects, export=export)
        kept = s.sql("SELECT * EXCLUDE (opened_batch, closed_batch) FROM links ORDER BY ALL")
        batches = s.sql("SELECT opened_batch, closed_batch FROM links ORDER BY ALL")
        assert _links(s) == [
            (P0, "legal_rep", None, E2),
            (P1, "legal_rep", E2, E2 + 2 * ONE),
            (P2, "actual_controller", E2 + ONE, E2 + 2 * ONE),
        ]
        s.con.execute("DROP TABLE links")  # as a store made before the link history
    with open_store(path) as s:
        rebuilt = s.sql("SELECT * EXCLUDE (opened_batch, closed_batch) FROM links ORDER BY ALL")
        pd.testing.assert_frame_equal(rebuilt, kept)
        assert s.sql("SELECT opened_batch, closed_batch FROM links ORDER BY ALL").equals(batches)


# -- the link history against a plain-Python statement of it, on random export sequences -------
def _model_history(exports: list[tuple[dt.date, str | None, dt.date | None]]) -> list[tuple]:
    """The link history README "The archive format" describes, for ORG's legal representative."""
    links: list[list] = []
    prev: dt.date | None = None
    for i, (export, rep, since) in enumerate(exports):
        cur = next((lk for lk in links if lk[3] is None), None)
        if i == 0:
            if rep is not None:
                links.append([rep, "legal_rep", since, None])
        elif (cur[0] if cur else None) != rep:
            earliest = max(d for d in [dt.date(1900, 1, 1), cur[2] if cur else None, prev + ONE] if d is not None)
            on = min(export, max(since or export, earliest))
            if cur:
                cur[3] = on
            if rep is not None:
                links.append([rep, "legal_rep", on, None])
        prev = export
    # in the order of the store's ORDER BY ALL: an open date (None) after every date
    return sorted((tuple(lk) for lk in links), key=lambda lk: tuple((v is None, v or dt.date.min) for v in lk))


@st.composite
def export_sequences(draw):
    out, day = [], dt.date(2024, 6, 30)
    for _ in range(draw(st.integers(1, 4))):
        day = day + dt.timedelta(days=draw(st.integers(1, 200)))
        rep = draw(st.sampled_from([P0, P1, P2, None]))
        since = None
        if rep is not None and draw(st.booleans()):
            since = day - dt.timedelta(days=draw(st.integers(0, 400)))
        out.append((day, rep, since))
    return out


@settings(max_examples=25, deadline=None, suppress_health_check=hc)
# a person who comes back as the representative (two links of one person, one of them open)
@example(
    exports=[(dt.date(2024, 7, 1), P0, None), (dt.date(2024, 7, 2), P1, None), (dt.date(2024, 7, 3), P0, None)], days=[]
)
@given(exports=export_sequences(), days=st.lists(st.dates(dt.date(2023, 1, 1), dt.date(2026, 6, 30)), max_size=4))
def test_link_history_follows_the_rule(tmp_path_factory, exports, days):
    d = tmp_path_factory.mktemp("links")
    rows = [
        _listing(P0, "JUD_DISHONEST_DEBTOR", dt.date(2024, 2, 5), None, "J0"),
        _listing(P1, "JUD_DISHONEST_DEBTOR", dt.date(2025, 1, 5), dt.date(2025, 9, 1), "J1"),
        _listing(P2, "JUD_DISHONEST_DEBTOR", dt.date(2023, 5, 5), None, "J2"),
    ]
    with open_store(d / "s.duckdb") as s:
        for i, (export, rep, since) in enumerate(exports):
            res = _ingest(s, d / str(i), [r for r in rows if r["event_date"] <= export], _subjects(rep, since), export)
            assert res.quarantined == 0, res.by_reason
        history = _links(s)
        assert history == _model_history(exports)
        links = [dict(zip(("person_id", "role", "valid_from", "valid_to"), lk)) for lk in history]
        for day in days + [e for e, _, _ in exports]:
            expect = int(
                any(
                    link_valid(lk, day) and record_counts(r, day, CAT)
                    for lk in links
                    for r in rows
                    if r["subject_id"] == lk["person_id"] and r["event_date"] <= exports[-1][0]
                )
            )
            assert _feature(s, day, "organisations", ORG, "legal_rep_dishonest_debtor") == expect, day


def test_a_diff_names_a_change_of_legal_representative(tmp_path):
    """信义金变化: becoming the representative of a listed organisation is its own part, on the
    link's start date, and the parts still add up to the change."""
    from scoring.points.card import load_expert_card
    from scoring.points.diff import diff_person

    day = dt.date(2026, 3, 1)
    listed = [_listing(ORG, "SDL_SERIOUS_DISHONEST", dt.date(2025, 9, 10), None, rid="S1")]
    card = load_expert_card()
    with open_store(tmp_path / "s.duckdb") as s:
        _ingest(s, tmp_path / "a", listed, _subjects(P1), export=E1)
        _ingest(s, tmp_path / "b", listed, _subjects(P0, since=day), export=E2)
        d = diff_person(s, card, P0, dt.date(2026, 1, 1), E2)
        assert d["status_from"] == d["status_to"] == "scored"
        assert d["change"] < 0
        assert sum(p["points"] for p in d["parts"]) == d["change"]
        (part,) = d["parts"]
        assert part["event"] == "link_started" and part["date"] == day.isoformat()
        assert "关联关系开始" in part["event_zh"] and part["record"]["name_zh"].startswith("关联企业")
        assert P0 not in str(d) and P1 not in str(d)  # person ID numbers masked (organisation codes are public)
        # and the former representative's score rises on the same day
        d1 = diff_person(s, card, P1, dt.date(2026, 1, 1), E2)
        assert [p["event"] for p in d1["parts"]] == ["link_ended"] and d1["change"] == -d["change"]


def test_a_diff_calls_an_early_repair_a_repair_on_the_day_it_takes_effect(tmp_path):
    from scoring.points.card import load_expert_card
    from scoring.points.diff import diff_person

    pen = _penalty(dt.date(2024, 12, 1), "serious", dt.date(2025, 3, 1)) | {"subject_id": P0}
    with open_store(tmp_path / "s.duckdb") as s:
        _ingest(s, tmp_path / "a", [pen])
        d = diff_person(s, load_expert_card(), P0, dt.date(2025, 6, 30), dt.date(2026, 1, 31))
        repaired = [p for p in d["parts"] if p["event"] == "repaired"]
        assert [p["date"] for p in repaired] == ["2025-12-01"] and repaired[0]["points"] > 0
        assert sum(p["points"] for p in d["parts"]) == d["change"]
