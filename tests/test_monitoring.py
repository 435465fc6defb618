"""Monitoring between snapshots: PSI/CSI as optbinning computes them, migration, calibration drift,
thresholds from config, champion/challenger."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from scoring.archive.store import open_store
from scoring.cli import app
from scoring.grades.grading import run_championship
from scoring.oversight.monitoring import (
    MonitoringConfig,
    Thresholds,
    champion_challenger,
    migration,
    monitor_grades,
    monitor_points,
    psi_table,
    score_splits,
)
from scoring.points.personal import fit_card

REF, CUR = dt.date(2025, 6, 30), dt.date(2026, 6, 30)


@settings(max_examples=100, deadline=None)
@given(
    e=st.lists(st.floats(-5, 5), min_size=20, max_size=200),
    a=st.lists(st.floats(-5, 5), min_size=20, max_size=200),
    n=st.integers(2, 10),
)
def test_psi_is_the_jeffreys_divergence_of_the_bin_shares(e, a, n):
    splits = score_splits(e, method="quantile", n_bins=n)
    t = psi_table(e, a, splits)

    # the plain statement: bin i holds splits[i-1] < v <= splits[i]
    def shares(v):
        idx = [sum(x > s for s in splits) for x in v]
        return np.bincount(idx, minlength=len(splits) + 1) / len(v)

    pa, pe = shares(a), shares(e)
    assert np.allclose(t["Count A (%)"].iloc[:-1], pa) and np.allclose(t["Count E (%)"].iloc[:-1], pe)
    with np.errstate(divide="ignore", invalid="ignore"):
        expect = np.where(pa == pe, 0.0, (pa - pe) * np.log(pa / pe))
    total = t.loc["Totals", "PSI"]
    if np.isfinite(expect).all():
        assert total == pytest.approx(expect.sum(), abs=1e-12) and total >= -1e-12
        assert psi_table(a, e, splits).loc["Totals", "PSI"] == pytest.approx(total, abs=1e-12)  # symmetric
    assert psi_table(e, e, splits).loc["Totals", "PSI"] == 0


def test_cart_splits_follow_the_reference_outcome_and_a_shift_is_flagged():
    rng = np.random.default_rng(0)
    s = rng.normal(size=5000)
    y = (rng.random(5000) < 1 / (1 + np.exp(-2 * s))).astype(int)
    splits = score_splits(s, y, "cart", n_bins=20, min_bin_size=0.05)
    assert 2 <= len(splits) <= 19 and np.all(np.diff(splits) > 0)
    t = psi_table(s, s + 1.0, splits)
    assert t.loc["Totals", "PSI"] > 0.25
    m, summary = migration(
        pd.Series(["优秀", "良好", "差"], index=list("abc")), pd.Series(["良好", "良好", "中等"], index=list("abc"))
    )
    assert int(m.to_numpy().sum()) == 3 and summary["moved_two_plus"] == pytest.approx(1 / 3)


@pytest.fixture(scope="module")
def models(stress_store):
    """Models fitted on the stress archive: every grade is predicted at both dates there, so the
    calibration-by-grade figures below exist for all five grades."""
    path, _ = stress_store
    with open_store(path, read_only=True) as s:
        # two LightGBM versions (fit_industry returns the champion by evidence, which may be any contender)
        a = run_championship(s, "construction").contenders["lightgbm"].grader
        b = (
            run_championship(s, "construction", params={"n_estimators": 60, "num_leaves": 7})
            .contenders["lightgbm"]
            .grader
        )
        card, _ = fit_card(s)
    a.info_["label"] = b.info_["label"] = "expert_grade"
    return path, a, b, card


def test_monitor_grades_between_two_snapshots(models):
    path, a, _, _ = models
    with open_store(path, read_only=True) as s:
        r = monitor_grades(s, a, industry="construction", reference=REF, current=CUR)
        later = monitor_grades(s, a, industry="construction", reference=CUR, current=CUR)
        strict = monitor_grades(
            s,
            a,
            industry="construction",
            reference=REF,
            current=CUR,
            config=MonitoringConfig(
                thresholds=Thresholds(psi_warn=0.0001, psi_alert=0.0002, csi_warn=1e-6, csi_alert=1e-5)
            ),
        )
    assert 0 <= r["psi"] < 0.25 and r["psi_table"].loc["Totals", "Count E"] == r["rows"]["reference"]
    assert int(r["migration"].to_numpy().sum()) == r["migration_summary"]["subjects"] > 1000
    cal = r["calibration"]
    # h/bands: 差 comes from the vetoes (its target share is 0), whatever the model's risk, so the
    # predicted risk rises over the grades the band table gives: 优秀..较差
    assert list(cal["group"]) == ["优秀", "良好", "中等", "较差", "差"] and cal["predicted"][:4].is_monotonic_increasing
    assert later["calibration"] is None and later["psi"] == 0  # outcomes after 2026-06-30 are not in the archive
    assert any(x["what"] == "score PSI" and x["level"] == "alert" for x in strict["alerts"])
    assert sum(x["what"].startswith("CSI") for x in strict["alerts"]) > 0


def test_monitor_points_and_champion_challenger(models):
    path, a, b, card = models
    with open_store(path, read_only=True) as s:
        p = monitor_points(s, card, reference=REF, current=CUR)
        cc = champion_challenger(s, a, b, industry="construction", as_of=REF)
    assert set(p["csi"]["feature"]) == set(card.features_) and p["psi"] >= 0
    assert len(p["calibration"]) == 10
    assert 0.5 < cc["same_grade"] < 1 and int(cc["agreement"].to_numpy().sum()) == cc["organisations"]
    assert set(cc["metrics"]["model"]) == {"champion", "challenger"} and (cc["metrics"]["auc_risk"] > 0.7).all()


def test_monitor_cli(models, tmp_path):
    path, a, _, _ = models
    f = a.save(tmp_path / "m.json")
    r = CliRunner().invoke(
        app,
        [
            "monitor",
            "grades",
            "--industry",
            "construction",
            "--reference",
            str(REF),
            "--current",
            str(CUR),
            "--store",
            str(path),
            "--model",
            str(f),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    assert d["psi"] >= 0 and d["alerts"] == [] and len(d["calibration"]) == 5
