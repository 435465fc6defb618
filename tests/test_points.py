"""The 信义金 points card: 正向累积 bounds, additivity, monotonicity, caps, exact artefacts."""

from __future__ import annotations

import json

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring.points.binning import MonotoneBinning
from scoring.points.card import PointsCard, allocate


def _data(seed: int, n: int = 3000, missing: float = 0.05):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "penalties": rng.poisson(0.6, n).astype(float),
            "fines": rng.lognormal(6, 1.5, n) * (rng.random(n) < 0.3),
            "kept_ratio": rng.beta(5, 2, n),
            "volunteer": rng.exponential(20, n),
        }
    )
    X.loc[rng.random(n) < missing, "kept_ratio"] = np.nan
    z = 0.8 * X["penalties"] + 0.0003 * X["fines"] - 2.0 * X["kept_ratio"].fillna(0.5) - 0.01 * X["volunteer"]
    y = (rng.random(n) < 1 / (1 + np.exp(-(z - 0.5)))).astype(int)
    return X, y


DIRS = {
    "penalties": "increases_risk",
    "fines": "increases_risk",
    "kept_ratio": "decreases_risk",
    "volunteer": "decreases_risk",
}
hc = [HealthCheck.too_slow]


@settings(max_examples=25, deadline=None, suppress_health_check=hc)
@given(seed=st.integers(0, 10_000), total=st.sampled_from([1000, 100, 997]), max_bins=st.integers(2, 8))
def test_bounds_additivity_and_worst_bin_zero(seed, total, max_bins):
    X, y = _data(seed)
    card = PointsCard(directions=DIRS, total=total, max_bins=max_bins).fit(X, y)
    items = card.items(X)
    score = card.score(X)
    assert (items >= 0).all().all()
    assert (items.sum(axis=1) == score).all()
    assert score.between(0, total).all()
    assert sum(max(p.values()) for p in card.points_.values()) == total  # the best possible person
    for f, pts in card.points_.items():
        b = card.binnings_[f]
        seen = [i for i, n in enumerate(b.bin_n_) if n > 0] + ([-1] if b.missing_stats_[0] else [])
        assert min(pts[i] for i in seen) == 0  # the worst bin that occurs is worth nothing
    assert all(isinstance(v, (int, np.integer)) for p in card.points_.values() for v in p.values())


@settings(max_examples=25, deadline=None, suppress_health_check=hc)
@given(seed=st.integers(0, 10_000), bump=st.floats(0.01, 10))
def test_more_risk_never_raises_points(seed, bump):
    X, y = _data(seed)
    card = PointsCard(directions=DIRS).fit(X, y)
    worse = X.copy()
    worse["penalties"] += np.ceil(bump)  # more penalties
    worse["kept_ratio"] = (worse["kept_ratio"] - bump / 20).clip(lower=0)  # fewer commitments kept
    assert (card.score(worse) <= card.score(X)).all()
    assert (card.items(worse)["penalties"] <= card.items(X)["penalties"]).all()


def test_declared_directions_are_monotone_bins():
    X, y = _data(1)
    card = PointsCard(directions=DIRS).fit(X, y)
    for f, d in DIRS.items():
        b = card.binnings_[f]
        rates = b.bin_events_ / b.bin_n_
        assert (np.diff(rates) >= -1e-12).all() if d == "increases_risk" else (np.diff(rates) <= 1e-12).all()
        pts = [card.points_[f][i] for i in range(b.n_bins)]
        assert pts == sorted(pts, reverse=(d == "increases_risk"))


@pytest.mark.parametrize(
    "caps,groups", [({"volunteer": 50}, {}), ({"社会公德": 50}, {"volunteer": "社会公德", "fines": "社会公德"})]
)
def test_caps(caps, groups):
    X, y = _data(2)
    X["volunteer"] = X["volunteer"] * 0  # strong signal would otherwise take more than the cap
    X2, y2 = _data(3)
    card = PointsCard(directions=DIRS, caps=caps, dimensions=groups).fit(X2, y2)
    key = next(iter(caps))
    members = [f for f in card.features_ if f == key or groups.get(f) == key]
    assert sum(card.max_points_[f] for f in members) <= caps[key]
    assert sum(card.max_points_.values()) == 1000


def test_allocate_exact_and_capped():
    w = {"a": 3.0, "b": 1.0, "c": 1.0, "d": 0.0}
    out = allocate(w, 1000)
    assert sum(out.values()) == 1000 and out["d"] == 0 and out["a"] == 600
    out = allocate(w, 1000, caps={"a": 50})
    assert out["a"] == 50 and sum(out.values()) == 1000
    with pytest.raises(ValueError):
        allocate({"a": 1.0}, 1000, caps={"a": 10})


def test_round_trip_and_sql_give_exactly_the_same_scores(tmp_path):
    X, y = _data(4)
    X["kind"] = np.where(X["penalties"] > 1, "x", np.where(X["fines"] > 0, "y", "z"))
    card = PointsCard(directions=DIRS, dtypes={"kind": "categorical"}).fit(X, y)
    path = card.save(tmp_path / "card.json")
    again = PointsCard.load(path)
    assert again.to_dict() == card.to_dict()
    pd.testing.assert_frame_equal(again.items(X), card.items(X))
    con = duckdb.connect()
    con.register("features", X.assign(subject_id=np.arange(len(X))))
    got = con.sql(card.to_sql()).df().sort_values("subject_id")
    assert (got["points"].to_numpy() == card.score(X).to_numpy()).all()
    for f in card.features_:
        assert (got[f].to_numpy() == card.items(X)[f].to_numpy()).all()


def test_card_prints_as_a_table_without_tiers():
    X, y = _data(5)
    card = PointsCard(directions=DIRS, basis={"penalties": "C03 行政管理信息"}).fit(X, y)
    t = card.build_table()
    assert {"feature", "bin", "points", "woe", "count", "event_rate", "basis"} <= set(t.columns)
    assert (t.loc[t["feature"] == "penalties", "basis"] == "C03 行政管理信息").all()
    text = t.to_string() + card.summary().to_string()
    for word in ("tier", "grade", "等级", "优秀", "较差"):
        assert word not in text


def test_binning_validation_and_unseen_category():
    with pytest.raises(ValueError, match="direction"):
        MonotoneBinning("x", direction="up").fit([1, 2], [0, 1])  # type: ignore[arg-type]  # a wrong word on purpose
    with pytest.raises(ValueError, match="0/1"):
        MonotoneBinning("x").fit([1, 2], [0, 2])
    b = MonotoneBinning("k", dtype="categorical").fit(["a"] * 50 + ["b"] * 50, [0] * 45 + [1] * 5 + [0] * 20 + [1] * 30)
    assert b.bin_index(["never-seen"])[0] == b.n_bins - 1  # unseen category: the riskiest bin


def test_allocate_with_overlapping_cap_groups():
    """A feature in its dimension and in several record families: every group's cap holds."""
    w = {"a": 3.0, "b": 1.0, "c": 1.0, "d": 0.0}
    groups = {"a": ["g1", "g2"], "b": "g1", "c": ["g2"]}
    out = allocate(w, 1000, groups, {"g1": 400, "g2": 700})
    assert sum(out.values()) == 1000 and out["d"] == 0
    assert out["a"] + out["b"] <= 400 and out["a"] + out["c"] <= 700
    assert allocate(w, 1000, groups, {"g1": 900}) == allocate(w, 1000)  # a slack cap changes nothing
    with pytest.raises(ValueError, match="no room"):
        allocate(w, 1000, groups, {"g1": 100, "g2": 100})


def test_zero_inflated_amount_keeps_its_rare_tail():
    """99% without a fine (a point mass at 0) and a risky 1% tail: the tail is a bin of its own."""
    rng = np.random.default_rng(0)
    n = 20_000
    fined = rng.random(n) < 0.01
    fine = np.where(fined, rng.lognormal(7, 1, n), 0.0)
    y = (rng.random(n) < np.where(fined, 0.1, 0.01)).astype(int)
    b = MonotoneBinning("fine", direction="increases_risk", min_bin_share=0.03).fit(fine, y)
    assert b.n_bins == 2 and b.iv_ > 0.1
    # a 1% tail with the same event rate (1 in 100 in both groups) is merged: no proven difference
    y0 = np.zeros(n, dtype=int)
    for group in (np.flatnonzero(fined), np.flatnonzero(~fined)):
        y0[group[::100]] = 1
    assert MonotoneBinning("fine", direction="increases_risk", min_bin_share=0.03).fit(fine, y0).n_bins == 1


def test_old_formats_still_load(tmp_path):
    import json

    X, y = _data(6)
    card = PointsCard(directions=DIRS).fit(X, y)
    d = card.to_dict()
    d["format"] = "xinyi.points_card/1"
    for k in ("evidence", "family_cap", "single_record_effect"):
        d.pop(k)
    for k in ("families", "family_cap", "record_steps", "min_bin_events", "min_bin_non_events", "max_pvalue"):
        d["params"].pop(k)
    for b in d["binnings"].values():
        for k in ("min_bin_events", "min_bin_non_events", "max_pvalue"):
            b.pop(k)
    old = tmp_path / "old.json"
    old.write_text(json.dumps(d), encoding="utf-8")
    again = PointsCard.load(old)
    pd.testing.assert_frame_equal(again.items(X), card.items(X))
    assert set(again.evidence_["feature"]) == set(card.features_)
    b = card.binnings_["penalties"]
    path = b.save(tmp_path / "b.json")
    raw = json.loads(path.read_text(encoding="utf-8"))
    raw["format"] = "xinyi.monotone_binning/1"
    path.write_text(json.dumps(raw), encoding="utf-8")
    assert np.array_equal(MonotoneBinning.load(path).transform(X["penalties"]), b.transform(X["penalties"]))


def test_selection_drops_the_weaker_of_a_duplicate_pair_with_a_reason():
    from scoring.points.selection import FeatureSelector, select_features

    X, y = _data(7)
    X["penalties_again"] = X["penalties"]  # the same records counted twice
    X["noise"] = np.random.default_rng(0).normal(size=len(X))
    groups = np.repeat(["2023-06-30", "2024-06-30"], len(X) // 2)
    dirs = DIRS | {"penalties_again": "increases_risk", "noise": "increases_risk"}
    t = select_features(X, y, dirs, groups).set_index("feature")
    assert t.loc["penalties", "kept"] and not t.loc["penalties_again", "kept"]
    assert (
        t.loc["penalties_again", "correlated_with"] == "penalties" and "高度相关" in t.loc["penalties_again", "reason"]
    )
    assert not t.loc["noise", "kept"] and "IV" in t.loc["noise", "reason"]
    assert (t["psi"] >= 0).all()
    drifted = X.copy()
    drifted.loc[: len(X) // 2, "volunteer"] *= 5  # the first cut-off's volunteering is 5 times larger
    t2 = select_features(drifted, y, DIRS, groups).set_index("feature")
    assert not t2.loc["volunteer", "kept"] and "PSI" in t2.loc["volunteer", "reason"]
    sel = FeatureSelector(dirs).fit(X, y, groups=groups)
    assert "penalties_again" not in list(sel.transform(X).columns)


def test_family_cap_holds_or_is_raised_with_a_warning():
    from scoring.points.card import PointsCardWarning

    X, y = _data(8)
    fams = {"penalties": ["PEN"], "fines": ["PEN"], "kept_ratio": ["COM"], "volunteer": ["VOL"]}
    steps = {"penalties": 1.0}
    card = PointsCard(directions=DIRS, families=fams, record_steps=steps, family_cap=0.4).fit(X, y)
    assert card.family_cap_ == 400
    assert card.max_points_["penalties"] + card.max_points_["fines"] <= 400
    assert all(v <= 400 for v in card.single_record_effect_.values())
    table = card.record_table().set_index("record_type")
    assert (table["single_record_effect"] <= table["cap"]).all() and (table["points"] <= 400).all()
    with pytest.warns(PointsCardWarning, match="raised"):
        tight = PointsCard(directions=DIRS, families=fams, family_cap=100).fit(X, y)
    cap = tight.family_cap_
    assert cap is not None and cap > 100 and sum(tight.max_points_.values()) == 1000
    assert all(v <= cap for v in tight.single_record_effect_.values())


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 100_000), n=st.integers(50, 4000), kind=st.sampled_from(["counts", "amounts", "normal"]))
def test_binning_from_counts_is_the_binning_from_rows(seed, n, kind):
    """The pre-binning tree fitted on per-value counts (sample weights) is the tree on the rows, and
    quantile pre-bins from counts are numpy's inverted-CDF quantiles of the rows: a fit from
    counts (``fit_counts``, what Spark feeds) loses nothing."""
    from sklearn.tree import DecisionTreeClassifier

    from scoring.points.binning import _inverted_cdf, value_counts

    rng = np.random.default_rng(seed)
    if kind == "counts":
        x = rng.integers(0, int(rng.integers(25, 400)), n).astype(float)
    elif kind == "amounts":
        x = np.round(rng.lognormal(3, 2, n), 1)
    else:
        x = rng.normal(size=n)
    x[rng.random(n) < rng.uniform(0, 0.5)] = 0.0
    y = (rng.random(n) < 0.3 / (1 + np.exp(-(x - np.median(x)) / (x.std() + 1e-9)))).astype(float)
    uniq = np.unique(x)
    c = value_counts(x, y)
    b = MonotoneBinning(max_prebins=20)
    if len(uniq) > 20:
        got = b._tree_splits(c["value"].to_numpy(), c["n"].to_numpy(), c["events"].to_numpy())
        leaf = max(1, int(np.ceil(b.min_prebin_share * n)))
        t = DecisionTreeClassifier(max_leaf_nodes=20, min_samples_leaf=leaf, random_state=0).fit(x[:, None], y).tree_
        snapped = uniq[
            np.searchsorted(uniq, np.sort(t.threshold[t.children_left != t.children_right]), side="right").clip(
                max=len(uniq) - 1
            )
        ]
        assert np.array_equal(got, np.unique(snapped[snapped > uniq[0]]))
    qs = np.linspace(0, 1, 21)[1:-1]
    assert np.array_equal(
        _inverted_cdf(c["value"].to_numpy(), c["n"].to_numpy(), qs), np.quantile(x, qs, method="inverted_cdf")
    )
    for pre in ("tree", "quantile"):
        rows = MonotoneBinning(prebinning=pre, direction="none").fit(x, y)
        counted = MonotoneBinning(prebinning=pre, direction="none").fit_counts(c.sample(frac=1.0, random_state=seed))
        assert json.dumps(rows.to_dict()) == json.dumps(counted.to_dict())
