"""Industry grade model core: monotone, calibrated, exactly explained, deterministic, saved as text."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring.archive.store import open_store
from scoring.features.builder import FeatureBuilder
from scoring.features.industry import GRADE_INDEX, GRADES, load_industries
from scoring.features.training import training_set
from scoring.grades.bands import fit_bands
from scoring.grades.model import GradeModel
from scoring.grades.supervision import assign_grades


@pytest.fixture(scope="module")
def data(sample_store):
    path, _ = sample_store
    with open_store(path, read_only=True) as s:
        meta = FeatureBuilder(s, subjects="organisations", industry="construction").meta.set_index("feature")
        tr = training_set(s, ["2022-06-30", "2023-06-30"], subjects="organisations", industry="construction")
        cal = training_set(s, ["2024-06-30"], subjects="organisations", industry="construction")
        te = training_set(s, ["2025-06-30"], subjects="organisations", industry="construction")
    feats = list(meta.index)
    model = GradeModel(directions=meta["direction"].to_dict()).fit(
        tr[feats], tr["label"], X_cal=cal[feats], y_cal=cal["label"]
    )
    return model, meta, feats, tr, cal, te


@pytest.fixture(scope="module")
def graded(sample_store):
    """The ordinal model on expert grades (5 classes), as the construction config declares."""
    path, _ = sample_store
    with open_store(path, read_only=True) as s:
        meta = FeatureBuilder(s, subjects="organisations", industry="construction").meta.set_index("feature")
        sets = [
            training_set(s, c, subjects="organisations", industry="construction", label="expert_grade")
            for c in (["2022-06-30", "2023-06-30"], ["2024-06-30"], ["2025-06-30"])
        ]
    feats = list(meta.index)
    tr, cal, te = sets
    model = GradeModel(directions=meta["direction"].to_dict(), n_classes=5).fit(
        tr[feats], tr["label"], X_cal=cal[feats], y_cal=cal["label"]
    )
    model.bands_ = fit_bands(load_industries()["construction"].bands, model.predict_risk(cal[feats]))
    model.refresh_version()  # the fitted bands are part of the version
    return model, feats, te


PENALTY_FEATURES = (
    "penalty_count_1y",
    "penalty_count_3y",
    "penalty_count_publicity",
    "penalty_weighted_1y",
    "penalty_weighted_3y",
    "penalty_serious_count_1y",
    "penalty_serious_count_3y",
)


def _with_penalty(x: pd.DataFrame, bump: int) -> pd.DataFrame:
    worse = x.copy()
    for f in PENALTY_FEATURES:
        worse[f] = worse[f] + bump
    worse["days_since_penalty"] = 1.0
    return worse


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(row=st.integers(0, 10_000), bump=st.integers(1, 5))
def test_grade_probabilities_sum_to_one_and_a_penalty_shifts_them_to_worse_grades(graded, row, bump):
    model, feats, te = graded
    x = te[feats].iloc[[row % len(te)]]
    p0, p1 = model.predict_proba(x)[0], model.predict_proba(_with_penalty(x, bump))[0]
    assert p0.shape == (5,) and (p0 >= 0).all() and p0.sum() == pytest.approx(1.0, abs=1e-12)
    assert p1.sum() == pytest.approx(1.0, abs=1e-12)
    # stochastic order: P(grade <= k) never rises, for every k; the median grade never improves
    assert (np.cumsum(p1)[:-1] <= np.cumsum(p0)[:-1] + 1e-12).all()
    assert model.predict_class(_with_penalty(x, bump))[0] >= model.predict_class(x)[0]
    ind = load_industries()["construction"]
    from scoring.grades.grading import grade_organisations

    g = grade_organisations(model, ind, pd.concat([x, _with_penalty(x, bump)]).set_axis(["before", "after"]))
    assert GRADE_INDEX[g.loc["after", "grade"]] >= GRADE_INDEX[g.loc["before", "grade"]]


def test_ordinal_model_sums_deterministic_and_saved(graded, tmp_path):
    from sklearn.metrics import cohen_kappa_score

    model, feats, te = graded
    c = model.contributions(te[feats])
    assert np.allclose(c.sum(axis=1).to_numpy(), model.margin(te[feats]), atol=1e-9)
    assert model.class_names_ == list(GRADES) and model.classes_.tolist() == [0, 1, 2, 3, 4]
    assert np.array_equal(model.predict(te[feats]), model.predict_class(te[feats]))
    assert cohen_kappa_score(te["label"], model.predict_class(te[feats]), weights="quadratic") > 0.5
    loaded = GradeModel.load(model.save(tmp_path / "g.json"))
    assert loaded.version_ == model.version_
    assert np.array_equal(loaded.predict_proba(te[feats]), model.predict_proba(te[feats]))
    text = (tmp_path / "g.json").read_text(encoding="utf-8")
    d = json.loads(text)
    d["calibration"]["scale"] *= 2  # an edited file no longer matches the version it claims
    (tmp_path / "bad.json").write_text(json.dumps(d), encoding="utf-8")
    with pytest.raises(ValueError, match="does not match its version"):
        GradeModel.load(tmp_path / "bad.json")


def test_shap_sums_to_the_margin_on_every_row(data):
    model, _, feats, _, _, te = data
    c = model.contributions(te[feats])
    assert np.allclose(c.sum(axis=1).to_numpy(), model.margin(te[feats]), atol=1e-9)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(row=st.integers(0, 10_000), bump=st.integers(1, 5))
def test_a_penalty_never_improves_the_grade(data, row, bump):
    model, meta, feats, _, cal, te = data
    ind = load_industries()["construction"]
    bands = fit_bands(ind.bands, model.predict_risk(cal[feats]))  # h/bands: construction grades to target shares
    x = te[feats].iloc[[row % len(te)]].copy()
    worse = _with_penalty(x, bump)
    r0, r1 = model.predict_risk(x)[0], model.predict_risk(worse)[0]
    assert model.margin(worse)[0] >= model.margin(x)[0] - 1e-12 and r1 >= r0 - 1e-12
    g0 = assign_grades(ind, pd.Series([r0], index=["o"]), x.set_axis(["o"]), bands=bands)["grade"].iloc[0]
    g1 = assign_grades(ind, pd.Series([r1], index=["o"]), worse.set_axis(["o"]), bands=bands)["grade"].iloc[0]
    assert GRADE_INDEX[g1] >= GRADE_INDEX[g0]


def test_calibrated_discriminating_and_deterministic(data, tmp_path):
    from sklearn.metrics import roc_auc_score

    model, meta, feats, tr, cal, te = data
    risk = model.predict_risk(te[feats])
    assert roc_auc_score(te["label"], risk) > 0.7
    assert abs(risk.mean() - te["label"].mean()) < 0.05  # calibrated on the held-out fold
    again = GradeModel(directions=meta["direction"].to_dict()).fit(
        tr[feats], tr["label"], X_cal=cal[feats], y_cal=cal["label"]
    )
    assert np.array_equal(again.margin(te[feats]), model.margin(te[feats]))
    loaded = GradeModel.load(model.save(tmp_path / "m.json"))
    assert np.array_equal(loaded.predict_risk(te[feats]), risk)
    assert "pickle" not in (tmp_path / "m.json").read_text(encoding="utf-8")[:200]
    t = model.build_table()
    assert set(t["monotone"]) <= {-1, 0, 1} and len(t) == len(feats)


def test_fitted_bands_travel_with_the_model_and_enter_its_version_only_when_set(data, tmp_path):
    """``bands_`` (share bands fitted on the calibration period) is saved and is part of the content
    hash; a model without fitted bands keeps the version it had before bands existed."""
    import hashlib

    from scoring.features.industry import Bands
    from scoring.grades.model import is_grader, load_grader

    model, _, feats, _, _, te = data
    assert model.bands_ is None
    legacy = json.dumps(  # the content hash as computed before bands_ existed
        {
            "booster": model.booster_.model_to_string(),
            "calibration": model.calibrator_.to_dict(),
            "features": model.features_,
            "impute": model.impute_,
            "classes": model.class_names_,
        },
        sort_keys=True,
        ensure_ascii=False,
    )
    assert model.version_ == hashlib.sha256(legacy.encode("utf-8")).hexdigest()[:12]
    before = model.version_
    plain = model.save(tmp_path / "plain.json")
    assert "bands" not in json.loads(plain.read_text(encoding="utf-8"))
    model.bands_ = Bands(
        kind="risk", bounds={"优秀": 0.02, "良好": 0.05, "中等": 0.1, "较差": 0.3}, reference="calibration 2024-06-30"
    )
    try:
        assert model.refresh_version() != before
        back = load_grader(model.save(tmp_path / "banded.json"))
        assert isinstance(back, GradeModel) and is_grader(back)
        assert back.bands_ == model.bands_ and back.version_ == model.version_
        assert np.array_equal(back.predict_proba(te[feats]), model.predict_proba(te[feats]))
    finally:
        model.bands_ = None
        model.refresh_version()
    assert model.version_ == before and load_grader(plain).version_ == before
    (tmp_path / "card.json").write_text(json.dumps({"format": "xinyi.points_card/1"}), encoding="utf-8")
    with pytest.raises(ValueError, match="not a grader file"):
        load_grader(tmp_path / "card.json")
