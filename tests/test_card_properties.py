"""The 信义金 card's invariants as properties, for the fitted card and the expert card alike.

正向累积 both ways (more of a risk-increasing feature never raises the score, more of a
risk-decreasing one never lowers it), missing values in the declared order, items >= 0 that sum
exactly, the worst bin 0 and the best possible person exactly ``total``, record-family caps and the
single-record effect within them; and, on a generated realistic archive, that informative record
types carry points and the hold-out AUC is reasonable.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring.core.errors import DataError
from scoring.points.card import PointsCard, PointsCardWarning, load_expert_card

hc = [HealthCheck.too_slow, HealthCheck.data_too_large]

# feature -> (direction, record types it counts, one record's largest step; None: any move)
SPEC = {
    "penalties": ("increases_risk", ["PEN"], 1.0),
    "penalties_recent": ("increases_risk", ["PEN"], 1.0),
    "fine_max": ("increases_risk", ["PEN"], None),
    "breaches": ("increases_risk", ["BRE"], 1.0),
    "kept_ratio": ("decreases_risk", ["KEPT", "BROKEN"], None),
    "volunteer": ("decreases_risk", ["VOL"], None),
    "honours": ("decreases_risk", ["HON"], 1.0),
}
DIRS = {f: s[0] for f, s in SPEC.items()}
FAMILIES = {f: s[1] for f, s in SPEC.items()}
STEPS = {f: s[2] for f, s in SPEC.items() if s[2] is not None}


def _archive_like(seed: int, n: int, rare: float, missing: float, signal: float) -> tuple[pd.DataFrame, np.ndarray]:
    """Rows like a city archive: rare negative counts (prevalence ``rare``), a zero-inflated fine,
    a ratio missing for most rows (no commitment resolved), positive records; the outcome follows a
    latent risk through the declared directions."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=n)
    p_neg = rare * np.exp(0.8 * z) / np.exp(0.32)
    pen = rng.poisson(p_neg * 1.2)
    recent = rng.binomial(pen, 0.5)
    fine = np.where(pen > 0, rng.lognormal(7, 1, n), 0.0)
    bre = rng.poisson(p_neg)
    has_c = rng.random(n) > missing
    kept = np.where(has_c, rng.beta(4 * np.exp(-0.3 * z), 1.5), np.nan)
    vol = rng.exponential(10 * np.exp(-0.3 * z)) * (rng.random(n) < 0.4)
    hon = rng.poisson(0.05 * np.exp(-0.5 * z))
    X = pd.DataFrame(
        {
            "penalties": pen.astype(float),
            "penalties_recent": recent.astype(float),
            "fine_max": fine,
            "breaches": bre.astype(float),
            "kept_ratio": kept,
            "volunteer": vol,
            "honours": hon.astype(float),
        }
    )
    lin = -4.0 + signal * (z + 1.5 * np.minimum(pen, 2) + 1.2 * np.minimum(bre, 2))
    y = (rng.random(n) < 1 / (1 + np.exp(-lin))).astype(int)
    return X, y


def _fit(X: pd.DataFrame, y: np.ndarray, total: int = 1000, family_cap: float = 0.25) -> PointsCard:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PointsCardWarning)  # a zeroed feature or a raised family cap
        return PointsCard(
            directions=DIRS, families=FAMILIES, record_steps=STEPS, family_cap=family_cap, total=total
        ).fit(X, y)


def _check_invariants(card: PointsCard, X: pd.DataFrame, directions: dict[str, str], total: int) -> None:
    """Every invariant of the card on X: bounds, exact sums, worst 0 / best total, monotone in the
    declared direction, missing and special values in the declared order, families within their cap."""
    items = card.items(X)
    score = card.score(X)
    assert (items >= 0).all().all()
    assert (items.sum(axis=1) == score).all()
    assert score.between(0, total).all()
    assert sum(max(card.points_[f].values()) for f in card.features_) == total  # the best possible person
    for f in card.features_:
        pts = card.points_[f]
        b = card.binnings_[f]
        assert card.max_points_[f] > 0  # a feature without points is not in the card
        regular = [pts[i] for i in range(b.n_bins)]
        seen = [pts[i] for i, n in enumerate(b.bin_n_) if n > 0]
        if b.n_total_:  # a fitted card: the worst bin that occurs is worth nothing
            seen += [pts[-1]] if b.missing_stats_[0] else []
            assert min(seen) == 0
        else:  # an expert card: its worst bin, missing included, is worth nothing
            assert min(pts.values()) == 0
        d = directions.get(f)
        if d in ("increases_risk", "decreases_risk"):
            assert regular == sorted(regular, reverse=(d == "increases_risk"))
            for i in [k for k in pts if k < 0]:  # missing and special values sit in the declared order
                assert min(regular) <= pts[i] <= max(regular)
    cap = getattr(card, "family_cap_", None)
    fams = dict(card.families or {})
    if cap is not None:
        for t, effect in card.single_record_effect_.items():
            members = [f for f in card.features_ if t in fams.get(f, ())]
            assert sum(card.max_points_[f] for f in members) <= cap
            assert 0 <= effect <= cap


RATIOS = ("kept_ratio", "commitment_kept_ratio_3y")  # a share: at most 1


def _bumped(X: pd.DataFrame, f: str, by: float) -> pd.DataFrame:
    out = X.copy()
    out[f] = (out[f] + by).clip(upper=1.0) if f in RATIOS else out[f] + by
    return out


@settings(max_examples=12, deadline=None, suppress_health_check=hc)
@given(
    seed=st.integers(0, 10_000),
    rare=st.sampled_from([0.01, 0.015, 0.03, 0.1]),
    missing=st.floats(0.0, 0.95),
    signal=st.floats(0.6, 1.5),
    total=st.sampled_from([1000, 997, 100]),
    bump=st.floats(0.01, 3.0),
)
def test_fitted_card_invariants_on_random_archives(seed, rare, missing, signal, total, bump):
    X, y = _archive_like(seed, 6000, rare, missing, signal)
    try:
        card = _fit(X, y, total=total)
    except DataError as e:  # a weak archive where no bin passes the test: refused, not a card of noise
        assert "no feature separates risk" in str(e)
        return
    _check_invariants(card, X, DIRS, total)
    base = card.score(X)
    for f in card.features_:
        moved = card.score(_bumped(X, f, bump))
        if DIRS[f] == "increases_risk":
            assert (moved <= base).all(), f  # a negative record never raises the score
        else:
            assert (moved >= base).all(), f  # a positive record never lowers it
    # missing in the declared order: having no ratio never scores above the best ratio nor below the worst
    if "kept_ratio" in card.features_:
        none = card.items(X.assign(kept_ratio=np.nan))["kept_ratio"]
        best = card.items(X.assign(kept_ratio=1.0))["kept_ratio"]
        worst = card.items(X.assign(kept_ratio=0.0))["kept_ratio"]
        assert (worst <= none).all() and (none <= best).all()
    # one added record of a family never moves the score by more than the reported effect
    one_more = X.copy()
    for f in ("penalties", "penalties_recent"):
        one_more[f] = X[f] + 1
    one_more["fine_max"] = X["fine_max"].where(X["fine_max"] > 0, 5000.0)
    drop = (card.score(X) - card.score(one_more)).max()
    assert drop <= card.single_record_effect_.get("PEN", 0)
    # the evidence names every feature, scored or dropped, and why
    ev = card.evidence_.set_index("feature")
    assert set(ev.index) == set(X.columns)
    assert set(ev.index[ev["status"] == "scored"]) == set(card.features_)
    assert (ev.loc[ev["status"] == "dropped", "reason"].str.len() > 0).all()


def test_a_rare_penalty_that_separates_risk_keeps_its_bin_and_points():
    """1.5% prevalence on 20k rows, ten times the event rate: its own bin, and points."""
    rng = np.random.default_rng(7)
    n = 20_000
    pen = (rng.random(n) < 0.015).astype(float)
    noise = rng.normal(size=n)
    y = (rng.random(n) < np.where(pen > 0, 0.08, 0.008)).astype(int)
    X = pd.DataFrame({"penalties": pen, "noise": noise})
    card = PointsCard(directions={"penalties": "increases_risk", "noise": "none"}).fit(X, y)
    assert "penalties" in card.features_ and card.binnings_["penalties"].n_bins == 2
    assert card.max_points_["penalties"] > 500
    # the same share with no difference in risk is merged: no bin, no points, a reason in the evidence
    y0 = (rng.random(n) < 0.01).astype(int)
    flat = PointsCard(directions={"penalties": "increases_risk", "noise": "none"}, max_bins=3)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PointsCardWarning)
        try:
            flat.fit(X, y0)
        except ValueError:  # nothing separates risk at all: also acceptable
            return
    assert "penalties" not in flat.features_ or flat.binnings_["penalties"].n_bins == 1


def test_an_informative_feature_zeroed_by_the_sign_rule_is_reported():
    """A feature informative alone whose effect reverses once another is known: a warning and a row."""
    rng = np.random.default_rng(3)
    n = 8000
    a = rng.poisson(0.5, n).astype(float)
    b = a + rng.binomial(1, 0.3, n)  # b carries a's risk, but given a more b means less risk
    lin = -3 + 1.2 * a - 0.6 * (b - a)
    y = (rng.random(n) < 1 / (1 + np.exp(-lin))).astype(int)
    X = pd.DataFrame({"a": a, "b": b})
    with pytest.warns(PointsCardWarning, match="b \\(IV"):
        card = PointsCard(directions={"a": "increases_risk", "b": "increases_risk"}).fit(X, y)
    row = card.evidence_.set_index("feature").loc["b"]
    assert row["status"] == "dropped" and "非负约束" in row["reason"] and row["iv"] >= 0.02
    assert card.features_ == ["a"] and list(card.items(X).columns) == ["a"]


def _expert_families():
    from scoring.features.definitions import load_feature_set
    from scoring.points.personal import card_families

    fs = load_feature_set("person")
    return fs, card_families(fs, [f.name for f in fs.features])


@settings(max_examples=40, deadline=None, suppress_health_check=hc)
@given(data=st.data())
def test_expert_card_invariants(data):
    fs, (families, steps) = _expert_families()
    card = load_expert_card(families=families, record_steps=steps)
    dirs = {f.name: f.direction for f in fs.features if f.name in card.features_}
    n = 30
    cols = {}
    for f in card.features_:
        if f == "commitment_kept_ratio_3y":
            v = data.draw(st.lists(st.one_of(st.none(), st.floats(0, 1)), min_size=n, max_size=n))
            cols[f] = [np.nan if x is None else x for x in v]
        else:
            cols[f] = [float(x) for x in data.draw(st.lists(st.integers(0, 6), min_size=n, max_size=n))]
    X = pd.DataFrame(cols)
    _check_invariants(card, X, dirs, card.total)
    base = card.score(X)
    f = data.draw(st.sampled_from(card.features_))
    by = data.draw(st.floats(0.01, 4))
    moved = card.score(_bumped(X, f, by))
    if dirs[f] == "increases_risk":
        assert (moved <= base).all()
    else:
        assert (moved >= base).all()
    # the expert card's largest single-record effect is within the configured family cap
    from scoring.points.personal import load_card_config

    cap = load_card_config().family_cap
    assert cap is not None and max(card.single_record_effect_.values()) <= cap
    assert card.single_record_effect_["ADM_PENALTY"] == 250  # one serious penalty: 100 + 150


@pytest.fixture(scope="module")
def realistic_fit(tmp_path_factory):
    """A small realistic archive (4000 persons), ingested and the card fitted as `scoring points fit` does."""
    from scoring.archive.ingest import ingest
    from scoring.archive.store import open_store
    from scoring.features.training import training_set
    from scoring.points.personal import fit_card
    from scoring.sample.generator import generate_sample

    d = tmp_path_factory.mktemp("realistic")
    generate_sample(d / "archive", seed=1, persons=4000, organisations=500, profile="realistic")
    with open_store(d / "store.duckdb") as s:
        ingest([d / "archive"], s)
    with open_store(d / "store.duckdb", read_only=True) as s:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", PointsCardWarning)
            card, evidence = fit_card(s)
        hold = training_set(s, [evidence["holdout_cutoff"]], subjects="persons")
    return card, evidence, hold


def test_realistic_archive_informative_records_carry_points(realistic_fit):
    from scoring.features.definitions import load_feature_set

    card, ev, hold = realistic_fit
    fs = load_feature_set("person")
    fams = dict(card.families or {})
    carried = {t for f in card.features_ for t in fams.get(f, ())}
    for f, iv in ev["iv"].items():
        if iv >= 0.1:  # an informative feature: at least one record type it counts carries points
            assert set(fs[f].all_records) & carried, (f, iv)
    _check_invariants(card, hold[card.features_], card.directions or {}, card.total)
    assert ev["single_record_effect"] == card.single_record_effect_
    assert all(v <= ev["family_cap"] for v in ev["single_record_effect"].values())
    dropped = {r["feature"] for r in ev["dropped"]}
    assert dropped.isdisjoint(card.features_) and dropped | set(card.features_) == set(ev["iv"])
    # the double count of the committed sample is gone: one of two identical penalty counts at most
    assert not {"penalty_count_3y", "penalty_count_publicity"} <= set(card.features_)


def test_realistic_archive_hold_out_auc_is_reasonable(realistic_fit):
    from sklearn.metrics import roc_auc_score

    card, ev, hold = realistic_fit
    expert = load_expert_card()
    y = hold["label"].to_numpy()
    auc_card = roc_auc_score(y, -card.score(hold[card.features_]))
    auc_expert = roc_auc_score(y, -expert.score(hold[expert.features_]))
    assert auc_card == pytest.approx(ev["points_auc"])
    assert auc_card > 0.58 and auc_card > auc_expert - 0.02
