"""信义金 on whole archives, as properties: 正向累积 both ways, the as-of date, the gate and determinism.

For the fitted card (``fit_card`` on a generated archive of each sample profile, ``realistic`` and
``stress``) and the expert card (configs/points/expert_person.yaml) alike, on small random archives
from the generator (a random seed, both profiles) ingested into a real DuckDB store, with records
added through the ingest:

- adding any negative record (a penalty, an enforcement case, a contract breach, a broken
  commitment, tax arrears, ... every negative person record type of the catalogue that is not a
  gate list) to a person, or a negative record to an organisation the person represents, never
  raises the person's score;
- adding any positive record (a kept commitment, volunteer hours, an honour, a donation, a reward, a
  qualification or licence) never lowers it;
- records dated after the scoring date change nothing;
- a person on a gate list (信用底线) has no number, whatever the card;
- the same input gives bit-identical output (cards and scores).

The fitted cards are fitted once per profile (a module fixture); each example generates and ingests
its own small archive. Nothing here is marked xfail: a card that breaks a property fails the test.
"""

from __future__ import annotations

import datetime as dt
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import EXPORT, small_archive
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from scoring.archive.catalog import Polarity, load_catalog
from scoring.archive.ingest import ingest
from scoring.archive.schema import RECORD_COLUMNS
from scoring.archive.store import Store, open_store
from scoring.core.privacy import mask_id
from scoring.features.builder import FeatureBuilder
from scoring.features.definitions import feature_set_for
from scoring.points.card import PointsCard, load_expert_card
from scoring.points.gate import load_gate
from scoring.points.personal import (
    explain_person,
    fit_card,
    gated_scores,
    load_card_config,
    person_inputs,
    score_persons,
)
from scoring.sample.generator import generate_sample

CAT = load_catalog()
GATE = load_gate(catalog=CAT)
PROFILES = ("realistic", "stress")
COLS = [c.name for c in RECORD_COLUMNS]

# the archive each profile's card is fitted on (the committed sample's seed and size)
FIT_SEED, FIT_PERSONS, FIT_ORGS = 2026, 20_000, 5_000
# the small random archives the properties are checked on
SMALL_PERSONS, SMALL_ORGS = 80, 20

_PERSON_TYPES = CAT.types_for("person")
#: every negative person record type of the catalogue, except the gate lists (they suspend the score)
NEGATIVE = sorted(t.code for t in _PERSON_TYPES if t.polarity == Polarity.negative and t.code not in GATE.record_types)
#: every positive person record type, and the neutral ones the person features count as positive
#: (职称, 职业资格, 行政许可: a licence or qualification)
POSITIVE = sorted(
    {t.code for t in _PERSON_TYPES if t.polarity == Polarity.positive} | {"QUAL_TITLE", "QUAL_PRACTICE", "ADM_LICENCE"}
)
#: negative organisation record types that person features read through a link (所代表企业)
LINKED_NEGATIVE = sorted(
    {
        code
        for f in feature_set_for("persons", catalog=CAT).features
        if f.link != "self"
        for code in f.records
        if CAT[code].polarity == Polarity.negative
    }
)

hc = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large]
# every example generates and ingests an archive: no shrinking (a failing example is reported as drawn,
# with the persons, records and line items that broke the property)
NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)


# -- the cards -----------------------------------------------------------------------------------
@dataclass(repr=False)
class Fitted:
    profile: str
    store: Path  # the archive the card was fitted on, ingested
    cards: dict[str, PointsCard]  # "fitted" and "expert"
    evidence: dict

    def __repr__(self) -> str:  # hypothesis prints it with every failing example
        return f"Fitted({self.profile!r}: the card fitted on a {self.profile} archive, and the expert card)"


@pytest.fixture(scope="module")
def cards_by_profile(tmp_path_factory):
    """profile -> :class:`Fitted`, each fitted once on demand (generate, ingest, ``fit_card``)."""
    cache: dict[str, Fitted] = {}

    def get(profile: str) -> Fitted:
        if profile not in cache:
            d = tmp_path_factory.mktemp(f"fit-{profile}")
            generate_sample(d / "archive", seed=FIT_SEED, persons=FIT_PERSONS, organisations=FIT_ORGS, profile=profile)
            with open_store(d / "store.duckdb") as s:
                res = ingest([d / "archive"], s)
                assert res.quarantined == 0, res.by_reason
                card, evidence = fit_card(s)
            cache[profile] = Fitted(
                profile, d / "store.duckdb", {"fitted": card, "expert": load_expert_card()}, evidence
            )
        return cache[profile]

    return get


@pytest.fixture(scope="module", params=PROFILES)
def fitted(request, cards_by_profile) -> Fitted:
    return cards_by_profile(request.param)


# -- archives and records ------------------------------------------------------------------------
def _small_store(folder: Path, profile: str, seed: int) -> tuple[Store, pd.DataFrame]:
    """A small generated archive of ``profile`` ingested into a fresh store: (store, subjects)."""
    generate_sample(folder / "archive", seed=seed, persons=SMALL_PERSONS, organisations=SMALL_ORGS, profile=profile)
    s = open_store(folder / "store.duckdb")
    res = ingest([folder / "archive"], s)
    assert res.quarantined == 0, res.by_reason
    subjects = pd.read_parquet(folder / "archive" / "subjects.parquet")
    return s, subjects


def _add(s: Store, folder: Path, rows: list[dict]) -> None:
    """Ingest ``rows`` (records) into the store; every one must be accepted."""
    if not rows:
        return
    df = pd.DataFrame(rows, columns=COLS)
    for c in COLS:
        df[c] = df[c].map(lambda v: v.isoformat() if isinstance(v, dt.date) else v)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "added.csv"
    df.to_csv(path, index=False)
    res = ingest([path], s, export_date=EXPORT)
    assert res.quarantined == 0, (res.by_reason, s.sql("SELECT reason, field, detail FROM quarantine"))


@st.composite
def record_specs(draw, codes: list[str], earliest_days: int, latest_days: int) -> dict:
    """What a record is: type, severity, amount, its date relative to the scoring date (days, may be
    negative = before), and for a list record whether (and after how long) it has an exit."""
    code = draw(st.sampled_from(codes))
    rt = CAT[code]
    sev = draw(st.sampled_from([s.value for s in rt.severities])) if rt.severities else None
    amount = None
    if rt.amount is not None and (rt.amount.required or draw(st.booleans())):
        hi = 300.0 if rt.amount.unit == "hours" else 2_000_000.0
        amount = round(draw(st.floats(0.5, hi, allow_nan=False)), 2)
    exit_days = draw(st.one_of(st.none(), st.integers(30, 900))) if rt.list_type else None
    return {
        "code": code,
        "severity": sev,
        "amount": amount,
        "offset": draw(st.integers(earliest_days, latest_days)),
        "exit_days": exit_days,
    }


def _rows(spec: dict, subject: str, as_of: dt.date, tag: str, earliest: dt.date | None = None) -> list[dict]:
    """The record rows of ``spec`` for ``subject``: the record itself, and for a commitment's
    outcome (COM_KEPT / COM_BROKEN) the commitment it follows (COM_MADE, a month to a year before)."""
    rt = CAT[spec["code"]]
    day = min(as_of + dt.timedelta(days=spec["offset"]), EXPORT)
    if earliest is not None:
        day = max(day, earliest)
    row = {
        "record_id": f"ADD{tag}",
        "subject_id": subject,
        "record_type": rt.code,
        "event_date": day,
        "document_no": f"金测〔{day.year}〕{tag}号",
        "agency": "金华市测试局",
        "severity": spec["severity"],
        "amount": spec["amount"],
    }
    out = []
    if rt.list_type:
        row["list_entry_on"] = day
        if spec["exit_days"] is not None:
            ex = day + dt.timedelta(days=spec["exit_days"])
            row["list_exit_on"] = ex if ex <= EXPORT else None
    if rt.follows:
        made_on = day - dt.timedelta(days=30 + abs(spec["offset"]) % 330)
        if earliest is not None:
            made_on = max(made_on, earliest)
        out.append(
            {
                "record_id": f"ADD{tag}M",
                "subject_id": subject,
                "record_type": rt.follows,
                "event_date": made_on,
                "document_no": f"金测诺〔{made_on.year}〕{tag}号",
                "agency": "金华市测试局",
            }
        )
        row["related_record_id"] = f"ADD{tag}M"
    return [*out, row]


def _states(s: Store, cards: dict[str, PointsCard], as_of: dt.date) -> dict[str, pd.DataFrame]:
    """card name -> every person's status and points (``score_persons``) with the line items."""
    values = FeatureBuilder(s, subjects="persons", catalog=CAT).at(as_of).values
    out = {}
    for name, card in cards.items():
        sc = score_persons(s, card, as_of, GATE, CAT).set_index("subject_id").drop(columns="as_of")
        items = card.items(values[card.features_]).add_prefix("item:")
        scored = sc["status"] == "scored"
        # items sum exactly to the score; the worst is 0, the best the card's total
        assert (items.loc[sc.index[scored]].sum(axis=1) == sc.loc[scored, "points"].astype(int)).all(), name
        assert sc.loc[scored, "points"].between(0, card.total).all(), name
        out[name] = sc.join(items)
    return out


def _violations(before: pd.DataFrame, after: pd.DataFrame, added: dict[str, str], worse: bool) -> list[str]:
    """Persons whose score moved the wrong way: up after a negative record (``worse``), down after a
    positive one; with what was added and which line items moved."""
    both = (before["status"] == "scored") & (after["status"] == "scored")
    b = before.loc[both, "points"].astype(int)
    a = after.loc[both, "points"].astype(int)
    wrong = a > b if worse else a < b
    out = []
    for pid in b.index[wrong.to_numpy()]:
        moved = {
            c[5:]: f"{int(before.loc[pid, c])}->{int(after.loc[pid, c])}"
            for c in before.columns
            if c.startswith("item:") and before.loc[pid, c] != after.loc[pid, c]
        }
        out.append(f"{mask_id(pid)} + {added.get(pid, '?')}: {b[pid]} -> {a[pid]} ({moved})")
    return out


as_of_dates = st.dates(dt.date(2020, 1, 1), dt.date(2026, 6, 29))
seeds = st.integers(0, 2**20)
profiles = st.sampled_from(PROFILES)


def _check_direction(fitted: Fitted, tmp_path_factory, profile, seed, as_of, data, worse: bool) -> None:
    d = tmp_path_factory.mktemp("dir")
    s, subjects = _small_store(d, profile, seed)
    with s:
        persons = subjects.loc[subjects["subject_type"] == "person", "subject_id"].tolist()
        orgs = subjects[subjects["subject_type"] != "person"]
        before = _states(s, fitted.cards, as_of)
        rows: list[dict] = []
        added: dict[str, str] = {}
        codes = NEGATIVE if worse else POSITIVE
        for i, pid in enumerate(persons):
            spec = data.draw(record_specs(codes, -5 * 365, 0), label=f"person {i}")
            rows += _rows(spec, pid, as_of, f"P{i}")
            added[pid] = f"{spec['code']}/{spec['severity'] or '-'} on {rows[-1]['event_date']}"
        if worse:  # negative records of organisations the persons represent (所代表企业)
            for j, (oid, rep, reg) in enumerate(zip(orgs["subject_id"], orgs["legal_rep_id"], orgs["registered_on"])):
                if rep is None or not data.draw(st.booleans(), label=f"org {j} gets a record"):
                    continue
                spec = data.draw(record_specs(LINKED_NEGATIVE, -5 * 365, 0), label=f"org {j}")
                first = dt.date.fromisoformat(reg) + dt.timedelta(days=1) if reg else None
                if first is not None and first > as_of:
                    continue
                rows += _rows(spec, oid, as_of, f"O{j}", earliest=first)
                added[rep] = added.get(rep, "") + f" and its organisation {rows[-1]['record_type']}"
        _add(s, d / "more", rows)
        after = _states(s, fitted.cards, as_of)
    shutil.rmtree(d, ignore_errors=True)
    for name in fitted.cards:
        assert (before[name]["status"] == after[name]["status"]).all(), name  # no gate list was added
        bad = _violations(before[name], after[name], added, worse)
        what = "a negative record raised" if worse else "a positive record lowered"
        assert not bad, (
            f"{fitted.profile} {name} card, {profile} archive seed {seed} at {as_of}: {what} "
            f"{len(bad)} of {len(persons)} scores:\n" + "\n".join(bad[:12])
        )


# -- 正向累积 both ways ----------------------------------------------------------------------------
@settings(max_examples=8, deadline=None, suppress_health_check=hc, phases=NO_SHRINK)
@given(profile=profiles, seed=seeds, as_of=as_of_dates, data=st.data())
def test_a_negative_record_never_raises_a_score(fitted, tmp_path_factory, profile, seed, as_of, data):
    _check_direction(fitted, tmp_path_factory, profile, seed, as_of, data, worse=True)


@settings(max_examples=8, deadline=None, suppress_health_check=hc, phases=NO_SHRINK)
@given(profile=profiles, seed=seeds, as_of=as_of_dates, data=st.data())
def test_a_positive_record_never_lowers_a_score(fitted, tmp_path_factory, profile, seed, as_of, data):
    _check_direction(fitted, tmp_path_factory, profile, seed, as_of, data, worse=False)


def _severities(code: str) -> list[str | None]:
    """The record type's severity classes, or [None] for a type without them."""
    return [s.value for s in CAT[code].severities] or [None]


def test_one_record_on_a_clean_person_moves_the_score_the_right_way(fitted, tmp_path):
    """The no-record state sits in the declared order: a person with no record at all, beside one
    person per record type (and severity) with that single record, and one person per linked type
    whose organisation has it. No positive record scores below none; no negative one above none."""
    as_of = dt.date(2025, 6, 30)
    day = dt.date(2025, 3, 1)
    cases = [(c, sev) for c in NEGATIVE + POSITIVE for sev in _severities(c)]
    linked = [(c, sev) for c in LINKED_NEGATIVE for sev in _severities(c)]
    subjects, orgs, persons = small_archive(len(linked), 1 + len(cases) + len(linked))
    clean = persons[0]
    reps = persons[1 + len(cases) :]
    is_org = subjects["subject_type"] != "person"
    subjects.loc[is_org, "legal_rep_id"] = reps  # organisation k is represented by reps[k] only
    d = tmp_path / "a"
    d.mkdir()
    subjects.to_csv(d / "subjects.csv", index=False)
    rows, added = [], {}
    for i, ((code, sev), pid) in enumerate(zip(cases, persons[1:])):
        spec = {"code": code, "severity": sev, "amount": 500.0 if CAT[code].amount else None, "offset": 0}
        rows += _rows({**spec, "exit_days": None}, pid, day, f"C{i}")
        added[pid] = f"{code}/{sev or '-'}"
    for k, ((code, sev), oid) in enumerate(zip(linked, orgs)):
        spec = {"code": code, "severity": sev, "amount": 500.0 if CAT[code].amount else None, "offset": 0}
        rows += _rows({**spec, "exit_days": None}, oid, day, f"L{k}")
        added[reps[k]] = f"its organisation's {code}/{sev or '-'}"
    with open_store(d / "s.duckdb") as s:
        res = ingest([d / "subjects.csv"], s, export_date=EXPORT)
        assert res.quarantined == 0, res.by_reason
        _add(s, d / "more", rows)
        states = _states(s, fitted.cards, as_of)
    problems = []
    for name, df in states.items():
        base = df.loc[clean]
        assert base["status"] == "scored"
        for pid, what in added.items():
            row = df.loc[pid]
            if row["status"] != "scored":
                problems.append(f"{name}: {what}: suspended")
                continue
            positive = any(what.startswith(c + "/") for c in POSITIVE)
            if (positive and row["points"] < base["points"]) or (not positive and row["points"] > base["points"]):
                moved = {
                    c[5:]: f"{int(base[c])}->{int(row[c])}"
                    for c in df.columns
                    if c.startswith("item:") and base[c] != row[c]
                }
                problems.append(f"{name}: {what}: {int(base['points'])} -> {int(row['points'])} ({moved})")
    assert not problems, f"{fitted.profile}-fitted cards, a clean person and one record:\n" + "\n".join(problems)


# -- the as-of date ------------------------------------------------------------------------------
def _after(rows: list[dict], as_of: dt.date) -> list[dict]:
    """Only the rows dated after ``as_of``: a commitment made on or before it is left out, and its
    outcome then follows no record of the archive."""
    kept = [dict(r) for r in rows if r["event_date"] > as_of]
    ids = {r["record_id"] for r in kept}
    for r in kept:
        if r.get("related_record_id") not in ids:
            r["related_record_id"] = None
    return kept


@settings(max_examples=8, deadline=None, suppress_health_check=hc, phases=NO_SHRINK)
@given(profile=profiles, seed=seeds, as_of=as_of_dates, data=st.data())
def test_records_after_the_scoring_date_change_nothing(fitted, tmp_path_factory, profile, seed, as_of, data):
    d = tmp_path_factory.mktemp("future")
    s, subjects = _small_store(d, profile, seed)
    later = (EXPORT - as_of).days
    with s:
        before = _states(s, fitted.cards, as_of)
        rows: list[dict] = []
        for i, pid in enumerate(subjects.loc[subjects["subject_type"] == "person", "subject_id"]):
            spec = data.draw(record_specs(NEGATIVE + POSITIVE + list(GATE.record_types), 1, later), label=f"p{i}")
            rows += _after(_rows(spec, pid, as_of, f"F{i}"), as_of)
        orgs = subjects[subjects["subject_type"] != "person"]
        for j, (oid, reg) in enumerate(zip(orgs["subject_id"], orgs["registered_on"])):
            spec = data.draw(record_specs(LINKED_NEGATIVE, 1, later), label=f"o{j}")
            first = dt.date.fromisoformat(reg) + dt.timedelta(days=1) if reg else None
            rows += _after(_rows(spec, oid, as_of, f"G{j}", earliest=first), as_of)
        _add(s, d / "more", rows)
        after = _states(s, fitted.cards, as_of)
    shutil.rmtree(d, ignore_errors=True)
    for name in fitted.cards:
        pd.testing.assert_frame_equal(before[name], after[name], check_exact=True, obj=f"{name} card at {as_of}")


# -- the gate ------------------------------------------------------------------------------------
@settings(max_examples=6, deadline=None, suppress_health_check=hc, phases=NO_SHRINK)
@given(profile=profiles, seed=seeds, as_of=as_of_dates, data=st.data())
def test_a_person_on_a_gate_list_has_no_number(fitted, tmp_path_factory, profile, seed, as_of, data):
    d = tmp_path_factory.mktemp("gate")
    s, subjects = _small_store(d, profile, seed)
    persons = subjects.loc[subjects["subject_type"] == "person", "subject_id"].tolist()
    listed = persons[:: data.draw(st.integers(2, 6), label="every nth person")]
    rows: list[dict] = []
    for i, pid in enumerate(listed):
        spec = data.draw(record_specs(list(GATE.record_types), -600, 0), label=f"listing {i}")
        ex = spec["exit_days"]
        if ex is not None and spec["offset"] + ex <= 0:  # the exit must come after the scoring date
            spec["exit_days"] = -spec["offset"] + 1 + ex % 30
        rows += _rows(spec, pid, as_of, f"S{i}")
    with s:
        _add(s, d / "more", rows)
        for name, card in fitted.cards.items():
            sc = score_persons(s, card, as_of, GATE, CAT).set_index("subject_id")
            on = sc.loc[listed]
            assert (on["status"] == "suspended").all() and on["points"].isna().all(), name
            assert on["reason"].notna().all(), name
            gated = gated_scores(card, person_inputs(s, card, as_of, GATE, CAT))  # the registered model's path
            assert (gated.loc[listed, "status"] == "suspended").all() and gated.loc[listed, "points"].isna().all()
            # every suspended person is suspended on both paths, and only they have no number
            sus = sc["status"] == "suspended"
            assert (gated["status"] == sc["status"]).all() and sc.loc[~sus, "points"].notna().all()
            e = explain_person(s, card, listed[0], as_of, CAT, GATE)
            assert e["status"] == "suspended" and e["points"] is None, name
    shutil.rmtree(d, ignore_errors=True)


def test_no_suspended_person_has_a_number_on_the_fitting_archive(fitted):
    with open_store(fitted.store, read_only=True) as s:
        for name, card in fitted.cards.items():
            sc = score_persons(s, card, load_card_config().holdout_cutoff, GATE, CAT)
            sus = sc["status"] == "suspended"
            assert sus.any(), f"{fitted.profile}: the archive should have persons on a gate list"
            assert sc.loc[sus, "points"].isna().all() and sc.loc[~sus, "points"].notna().all(), name


# -- determinism ---------------------------------------------------------------------------------
def test_the_same_input_gives_bit_identical_cards_and_scores(fitted, tmp_path):
    """Fitting again on the same store gives the same card; the same archive, generated and ingested
    twice into separate stores, gives bit-identical scores and line items with both cards."""
    cfg = load_card_config()
    with open_store(fitted.store, read_only=True) as s:
        again, evidence = fit_card(s)
        card = fitted.cards["fitted"]
        assert again.to_dict() == card.to_dict()
        assert evidence["auc"] == fitted.evidence["auc"]
        X = FeatureBuilder(s, subjects="persons", catalog=CAT).at(cfg.holdout_cutoff).values
        np.testing.assert_array_equal(again.score(X[again.features_]), card.score(X[card.features_]))
    seed = 20261201
    states = []
    for k in ("a", "b"):
        st_, _ = _small_store(tmp_path / k, fitted.profile, seed)
        with st_:
            states.append({d: _states(st_, fitted.cards, d) for d in (dt.date(2023, 6, 30), cfg.holdout_cutoff)})
    for d in states[0]:
        for name in fitted.cards:
            pd.testing.assert_frame_equal(states[0][d][name], states[1][d][name], check_exact=True)


# -- discrimination ------------------------------------------------------------------------------
AUC_MARGIN = 0.02


def holdout_aucs(store: Path, cards: dict[str, PointsCard]) -> dict[str, float]:
    """Hold-out AUCs on the card config's split (configs/points/card.yaml: trained on ``cutoffs``,
    checked at ``holdout_cutoff``): of each card's points (fewer points = riskier), of the fitted
    card's model probability, and of LightGBM trained on the same rows and the fitted card's features."""
    from sklearn.metrics import roc_auc_score

    from scoring.evaluation.peers import lightgbm_peer
    from scoring.features.training import training_set

    cfg = load_card_config()
    with open_store(store, read_only=True) as s:
        train = training_set(s, cfg.cutoffs, subjects="persons")
        hold = training_set(s, [cfg.holdout_cutoff], subjects="persons")
    y = hold["label"].to_numpy()
    out = {
        f"{name} card": float(roc_auc_score(y, -c.score(hold[c.features_]).to_numpy(float)))
        for name, c in cards.items()
    }
    fitted = cards["fitted"]
    out["fitted card (model probability)"] = float(roc_auc_score(y, fitted.predict_risk(hold[fitted.features_])))
    feats = fitted.features_
    gbm = lightgbm_peer()
    gbm.fit(train[feats], train["label"])
    out["lightgbm"] = float(roc_auc_score(y, np.asarray(gbm.predict_proba(hold[feats]))[:, 1]))
    return out


@pytest.mark.slow
def test_the_fitted_card_ranks_within_a_margin_of_the_best_peer(fitted):
    """On a 20,000-person archive of each profile: the fitted card's hold-out AUC (of its points, what
    a person is given) is within 0.02 of the better of the expert card and LightGBM on the same
    features and the same training / hold-out split."""
    auc = holdout_aucs(fitted.store, fitted.cards)
    best = max(auc["expert card"], auc["lightgbm"])
    figures = ", ".join(f"{k} {v:.4f}" for k, v in auc.items())
    assert auc["fitted card"] >= best - AUC_MARGIN, f"{fitted.profile} archive: {figures}"
