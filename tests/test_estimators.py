"""scikit-learn's estimator contract, on every model class: clone, get_params / set_params, the
not-fitted error, feature_names_in_, save / load giving identical predictions (also after clone and
refit), a Pipeline, cross_val_score; one word for "no direction"; unknown direction or cap keys and
text or category columns named in the error. Small synthetic data made with numpy."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml
from sklearn.base import clone, is_classifier
from sklearn.exceptions import NotFittedError as SklearnNotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer, StandardScaler
from sklearn.utils import estimator_checks

from scoring.core.errors import ConfigError, DataError, NotFittedError, XinyiError
from scoring.features.industry import GRADES, Bands
from scoring.grades.baselines import ExpertSheet, OrdinalLogit
from scoring.grades.model import GradeModel
from scoring.grades.ordinal import OrdinalCalibrator
from scoring.points.binning import MonotoneBinning
from scoring.points.card import PointsCard

BINARY_DIRS = {"penalties": "increases_risk", "kept_ratio": "decreases_risk", "noise": "none"}
ORDINAL_DIRS = {"penalties": "increases_risk", "kept_ratio": "decreases_risk"}
THETA = np.array([-1.4, -0.2, 0.9, 2.2])  # cumulative-logit thresholds: every grade holds >= 8% of rows


def binary_data(seed: int = 0, n: int = 1500) -> tuple[pd.DataFrame, np.ndarray]:
    """Monotone synthetic data with a 0/1 outcome: penalties raise the risk, kept_ratio lowers it."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "penalties": rng.poisson(0.8, n).astype(float),
            "kept_ratio": rng.beta(4, 2, n),
            "noise": rng.normal(size=n),
        }
    )
    X.loc[rng.random(n) < 0.05, "kept_ratio"] = np.nan
    z = 0.9 * X["penalties"] - 2.5 * X["kept_ratio"].fillna(0.6) + 0.3
    y = (rng.random(n) < 1 / (1 + np.exp(-z))).astype(int).to_numpy()
    return X, y


def ordinal_data(seed: int = 0, n: int = 2000) -> tuple[pd.DataFrame, np.ndarray]:
    """Monotone synthetic data with an ordinal target 0 (best) .. 4 from a cumulative logit."""
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "penalties": rng.poisson(1.0, n).astype(float),
            "kept_ratio": rng.uniform(0, 1, n),
            "noise": rng.normal(size=n),
        }
    )
    latent = 1.2 * X["penalties"] - 3.0 * X["kept_ratio"] + 1.5 + rng.logistic(size=n)
    return X, np.searchsorted(THETA, latent.to_numpy()).astype(int)


def latent_data(seed: int = 0, n: int = 3000) -> tuple[np.ndarray, np.ndarray]:
    """A latent risk score (one column) and ordinal labels from it."""
    rng = np.random.default_rng(seed)
    eta = rng.normal(size=n)
    y = np.searchsorted(THETA - 1.0, 1.7 * eta + rng.logistic(size=n))
    return eta[:, None], y


@pytest.fixture(scope="module")
def sheet_file(tmp_path_factory) -> Path:
    """An expert sheet on the synthetic ordinal features (same format as configs/points/expert_*.yaml)."""
    p = tmp_path_factory.mktemp("sheet") / "sheet.yaml"
    spec = {
        "name": "synthetic_sheet",
        "total": 100,
        "features": {
            "penalties": {
                "bins": [{"below": 1, "points": 50}, {"below": 3, "points": 25}, {"points": 0}],
                "missing": 0,
            },
            "kept_ratio": {"bins": [{"below": 0.3, "points": 0}, {"below": 0.6, "points": 25}, {"points": 50}]},
        },
    }
    p.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    return p


BANDS = Bands(kind="score", bounds={"优秀": 90, "良好": 70, "中等": 50, "较差": 25})


@dataclass
class Case:
    """One model class: how to build it, its data, its output (compared exactly) and a parameter to change."""

    make: Callable[[Path], Any]
    data: Callable[[], tuple[Any, Any]]
    output: Callable[[Any, Any], Any]
    param: tuple[str, Any]
    pipeline_head: Callable[[], Any] = lambda: FunctionTransformer(feature_names_out="one-to-one")


def _points(m: PointsCard, X: Any) -> Any:
    return (m.predict(X), m.items(X).to_numpy(), m.predict_risk(X))


CASES = {
    "MonotoneBinning": Case(
        make=lambda _: MonotoneBinning("penalties", direction="increases_risk", max_bins=5),
        data=lambda: (binary_data()[0][["penalties"]], binary_data()[1]),
        output=lambda m, X: (m.transform(X), m.transform(X, metric="bins")),
        param=("max_bins", 3),
    ),
    "PointsCard": Case(
        make=lambda _: PointsCard(directions=BINARY_DIRS, caps={"noise": 100}, max_bins=5),
        data=binary_data,
        output=_points,
        param=("total", 100),
    ),
    "GradeModel": Case(
        make=lambda _: GradeModel(directions=ORDINAL_DIRS, n_classes=5, n_estimators=40, min_child_samples=20),
        data=ordinal_data,
        output=lambda m, X: (m.predict_proba(X), m.predict(X), m.contributions(X).to_numpy()),
        param=("n_estimators", 20),
    ),
    "OrdinalCalibrator": Case(
        make=lambda _: OrdinalCalibrator(5),
        data=latent_data,
        output=lambda m, X: (m.predict_proba(X), m.predict(X)),
        param=("n_classes", 4),
        pipeline_head=StandardScaler,
    ),
    "OrdinalLogit": Case(
        make=lambda _: OrdinalLogit(5),
        data=ordinal_data,
        output=lambda m, X: (m.predict_proba(X), m.predict(X), m.margin(X)),
        param=("maxiter", 500),
    ),
    "ExpertSheet": Case(
        make=lambda sheet: ExpertSheet(sheet, BANDS, 5),
        data=lambda: (ordinal_data()[0][["penalties", "kept_ratio"]], ordinal_data()[1]),
        output=lambda m, X: (m.predict(X), m.predict_proba(X), m.margin(X)),
        param=("n_classes", 2),
    ),
}
ids = list(CASES)


@pytest.fixture(params=ids)
def case(request, sheet_file) -> tuple[str, Case, Any]:
    c = CASES[request.param]
    return request.param, c, c.make(sheet_file)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, tuple):
        return len(a) == len(b) and all(_same(x, z) for x, z in zip(a, b))
    return bool(np.array_equal(np.asarray(a), np.asarray(b)))


def test_clone_get_params_set_params_and_repr(case):
    name, c, est = case
    params = est.get_params()
    twin = clone(est)
    assert twin is not est and type(twin) is type(est)
    assert twin.get_params().keys() == params.keys()
    for k, v in params.items():  # constructor arguments are stored untouched (no validation, no copies)
        assert getattr(est, k) is v
        assert twin.get_params()[k] == v
    key, value = c.param
    assert est.set_params(**{key: value}) is est and est.get_params()[key] == value
    est.set_params(**params)
    assert est.get_params() == params
    text = repr(est)
    assert text.startswith(name + "(") and len(text) < 1000
    if value != params[key]:
        assert f"{key}={value!r}" in repr(clone(est).set_params(**{key: value}))


def test_sklearn_api_checks_that_apply(case):
    """scikit-learn's own checks of the API (construction, params, tags, clone, repr, unfitted
    use); the fitting checks assume arbitrary labels and features, which these models refuse."""
    name, _, est = case
    checks = [
        "check_parameters_default_constructible",
        "check_no_attributes_set_in_init",
        "check_do_not_raise_errors_in_init_or_set_params",
        "check_get_params_invariance",
        "check_set_params",
        "check_estimator_cloneable",
        "check_estimator_repr",
        "check_mixin_order",
        "check_estimator_tags_renamed",
        "check_valid_tag_types",
    ]
    for check in checks:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            getattr(estimator_checks, check)(name, clone(est))


def test_not_fitted_error_says_to_fit_or_load(case):
    name, c, est = case
    X, _ = c.data()
    with pytest.raises(NotFittedError, match=r"fit.*load") as e:
        c.output(est, X)
    assert isinstance(e.value, SklearnNotFittedError) and isinstance(e.value, XinyiError)
    assert name in str(e.value)


def test_feature_names_in_after_fit(case):
    _, c, est = case
    X, y = c.data()
    fitted = est.fit(X, y)
    assert fitted is est
    names = list(X.columns) if isinstance(X, pd.DataFrame) else ["eta"]
    assert list(est.feature_names_in_) == names and est.n_features_in_ == len(names)
    if is_classifier(est):
        assert list(est.classes_) == list(range(est.n_classes))
        proba = est.predict_proba(X)
        assert proba.shape == (len(X), est.n_classes) and np.allclose(proba.sum(axis=1), 1.0)
        assert set(np.unique(est.predict(X))) <= set(est.classes_)


def test_save_load_round_trip_also_after_clone_and_refit(case, tmp_path):
    _, c, est = case
    X, y = c.data()
    est.fit(X, y)
    before = c.output(est, X)
    loaded = type(est).load(est.save(tmp_path / "model.json"))
    assert _same(c.output(loaded, X), before)
    assert list(loaded.feature_names_in_) == list(est.feature_names_in_)
    assert loaded.get_params().keys() == est.get_params().keys()
    twin = clone(est)  # unfitted again, then fitted the same way: the same model
    with pytest.raises(NotFittedError):
        c.output(twin, X)
    twin.fit(X, y)
    assert _same(c.output(twin, X), before)
    again = type(est).load(twin.save(tmp_path / "twin.json"))
    assert _same(c.output(again, X), before)
    assert "pickle" not in (tmp_path / "twin.json").read_text(encoding="utf-8")[:200]


def test_in_a_pipeline(case):
    _, c, est = case
    X, y = c.data()
    if isinstance(est, MonotoneBinning):  # a transformer: WoE into a logistic regression
        pipe = make_pipeline(est, LogisticRegression())
        pipe.fit(X, y)
        assert roc_auc_score(y, pipe.predict_proba(X)[:, 1]) > 0.6
        woe = pipe[0].transform(X)
        assert woe.shape == (len(X), 1) and list(pipe[0].get_feature_names_out()) == ["penalties"]
        return
    pipe = make_pipeline(c.pipeline_head(), est).fit(X, y)
    alone = clone(est).fit(c.pipeline_head().fit_transform(X), y)
    assert np.array_equal(pipe.predict(X), alone.predict(c.pipeline_head().fit_transform(X)))


def test_cross_val_score_gives_finite_scores(case):
    _, c, est = case
    X, y = c.data()
    model = make_pipeline(est, LogisticRegression()) if isinstance(est, MonotoneBinning) else est
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)  # a failing fold would only warn and score nan
        scores = cross_val_score(model, X, y, cv=3, error_score="raise")
    assert scores.shape == (3,) and np.isfinite(scores).all()
    if isinstance(est, PointsCard):  # the card's default score: its AUC, fewer points = riskier
        assert (scores > 0.6).all()
    elif isinstance(est, (GradeModel, OrdinalLogit)):  # accuracy of the median class, better than chance
        assert (scores > 1 / 5).all()


def test_points_card_scoring_methods_agree():
    X, y = binary_data()
    card = PointsCard(directions=BINARY_DIRS).fit(X, y)
    points = card.score(X)
    assert isinstance(points, pd.Series) and points.name == "points"
    assert np.array_equal(card.predict(X), points.to_numpy()) and (card.items(X).sum(axis=1) == points).all()
    assert card.score(X, y) == pytest.approx(roc_auc_score(y, -points.to_numpy()))
    assert np.allclose(card.predict_proba(X)[:, 1], card.predict_risk(X))
    with pytest.raises(DataError, match="kept_ratio"):
        card.predict(X.drop(columns="kept_ratio"))


def test_grade_model_calibrates_on_a_keyword_fold_or_a_seeded_stratified_split():
    X, y = ordinal_data()
    Xc, yc = ordinal_data(seed=1, n=800)
    explicit = GradeModel(directions=ORDINAL_DIRS, n_estimators=30).fit(X, y, X_cal=Xc, y_cal=yc)
    inner = GradeModel(directions=ORDINAL_DIRS, n_estimators=30).fit(X, y)
    assert inner.n_classes_ == explicit.n_classes_ == 5
    assert explicit.calibrator_.to_dict() != inner.calibrator_.to_dict()
    again = GradeModel(directions=ORDINAL_DIRS, n_estimators=30).fit(X, y)
    assert np.array_equal(again.predict_proba(X), inner.predict_proba(X))  # the split is seeded
    other = GradeModel(directions=ORDINAL_DIRS, n_estimators=30, calibration_share=0.4).fit(X, y)
    assert other.calibrator_.to_dict() != inner.calibrator_.to_dict()
    with pytest.raises(DataError, match="both X_cal and y_cal"):
        GradeModel().fit(X, y, X_cal=Xc)
    with pytest.raises(TypeError):
        GradeModel().fit(X, y, Xc, yc)  # type: ignore[call-arg]  # the fold is keyword-only now
    tiny = np.array([0] * 60 + [1] * 60 + [2])  # one row of class 2: no stratified fold can hold it
    with pytest.raises(DataError, match="stratified calibration fold"):
        GradeModel(n_estimators=5).fit(ordinal_data(n=121)[0], tiny)


def test_grade_model_threads_are_a_parameter_and_do_not_change_predictions():
    X, y = ordinal_data()
    assert GradeModel().get_params()["n_jobs"] == 2
    one = GradeModel(directions=ORDINAL_DIRS, n_estimators=30, n_jobs=1).fit(X, y)
    two = GradeModel(directions=ORDINAL_DIRS, n_estimators=30).fit(X, y)
    assert np.array_equal(one.margin(X), two.margin(X))
    with pytest.raises(ConfigError, match="n_jobs"):
        GradeModel(n_jobs="all").fit(X, y)  # type: ignore[arg-type]  # a wrong type on purpose


@pytest.mark.parametrize("kind", ["PointsCard", "GradeModel"])
def test_unknown_direction_keys_are_named(kind):
    X, y = binary_data() if kind == "PointsCard" else ordinal_data()
    dirs = {"penalties": "increases_risk", "kept_ratoi": "decreases_risk", "volunteer": "decreases_risk"}
    model = PointsCard(directions=dirs) if kind == "PointsCard" else GradeModel(directions=dirs)
    with pytest.raises(ConfigError, match=r"directions names \['kept_ratoi', 'volunteer'\]"):
        model.fit(X, y)


def test_unknown_cap_keys_are_named_and_dimension_caps_apply():
    X, y = binary_data()
    with pytest.raises(ConfigError, match=r"caps names \['noize'\]"):
        PointsCard(directions=BINARY_DIRS, caps={"noize": 50}).fit(X, y)
    with pytest.raises(ConfigError, match=r"dimensions names \['volunteer'\]"):
        PointsCard(dimensions={"volunteer": "社会公德"}).fit(X, y)
    dims = {"noise": "社会公德", "kept_ratio": "社会公德"}
    card = PointsCard(directions=BINARY_DIRS, dimensions=dims, caps={"社会公德": 120}).fit(X, y)
    assert card.max_points_["noise"] + card.max_points_["kept_ratio"] <= 120
    assert sum(card.max_points_.values()) == 1000


def test_the_readme_example_builds_directions_from_the_feature_index():
    """meta with a RangeIndex gave directions keyed 0, 1, ...: now an error naming the keys."""
    X, y = binary_data()
    meta = pd.DataFrame({"feature": list(BINARY_DIRS), "direction": list(BINARY_DIRS.values())})
    with pytest.raises(ConfigError, match=r"directions names \[0, 1, 2\]"):
        PointsCard(directions=meta["direction"].to_dict()).fit(X, y)
    card = PointsCard(directions=meta.set_index("feature")["direction"].to_dict()).fit(X, y)
    assert card.binnings_["penalties"].trend_ == "ascending" and card.binnings_["kept_ratio"].trend_ == "descending"


def test_one_word_for_no_direction():
    X, y = binary_data()
    Xo, yo = ordinal_data()
    none_card = PointsCard(directions={"noise": "none"}).fit(X, y)
    default_card = PointsCard().fit(X, y)
    assert none_card.to_dict()["points"] == default_card.to_dict()["points"]
    with pytest.warns(FutureWarning, match="'auto' is deprecated, say 'none'"):
        auto_card = PointsCard(directions={"noise": "auto"}).fit(X, y)
    assert auto_card.to_dict()["points"] == none_card.to_dict()["points"]
    none_model = GradeModel(directions={"noise": "none"}, n_estimators=20).fit(Xo, yo)
    with pytest.warns(FutureWarning, match="say 'none'"):
        auto_model = GradeModel(directions={"noise": "auto"}, n_estimators=20).fit(Xo, yo)
    assert none_model.monotone_ == auto_model.monotone_ == [0, 0, 0]
    assert np.array_equal(none_model.margin(Xo), auto_model.margin(Xo))
    for model in (PointsCard(directions={"noise": "flat"}), GradeModel(directions={"noise": "flat"})):
        with pytest.raises(ConfigError, match=r"increases_risk, decreases_risk or none"):
            model.fit(X, y)
    with pytest.raises(ConfigError, match="none"):
        MonotoneBinning(direction="up").fit(X["noise"], y)  # type: ignore[arg-type]  # a wrong word on purpose


def test_points_card_bins_category_and_text_columns(tmp_path):
    X, y = binary_data()
    X["sector"] = pd.Categorical(np.where(X["penalties"] > 1, "food", np.where(X["noise"] > 0, "travel", "care")))
    X["city"] = pd.Series(np.where(X["kept_ratio"] > 0.7, "福州", "厦门"), dtype="string")
    X["kind"] = np.where(X["penalties"] > 0, "x", "y").astype(object)
    card = PointsCard(directions=BINARY_DIRS).fit(X, y)
    for f in ("sector", "city", "kind"):
        assert card.binnings_[f].dtype == "categorical"
    assert set(card.items(X).columns) == set(card.features_)  # features without points are not items
    assert set(card.features_) | set(card.evidence_.query("status == 'dropped'")["feature"]) == set(X.columns)
    loaded = PointsCard.load(card.save(tmp_path / "card.json"))
    assert np.array_equal(loaded.predict(X), card.predict(X))
    with pytest.raises(DataError, match="city.*categorical"):
        PointsCard(dtypes={"city": "numerical"}).fit(X, y)
    with pytest.raises(DataError, match="sector.*categorical"):
        MonotoneBinning("sector").fit(X["sector"], y)
    b = MonotoneBinning("sector", dtype="categorical").fit(X["sector"], y)
    assert b.n_bins >= 1 and b.transform(X[["sector"]]).shape == (len(X), 1)


@pytest.mark.parametrize("kind", ["GradeModel", "OrdinalLogit", "ExpertSheet"])
def test_models_on_numbers_name_category_and_text_columns(kind, sheet_file):
    X, y = ordinal_data()
    X["kept_ratio"] = pd.cut(X["kept_ratio"], 4)  # a category column
    models: dict[str, Any] = {"GradeModel": GradeModel(), "OrdinalLogit": OrdinalLogit()}
    models["ExpertSheet"] = ExpertSheet(sheet_file, BANDS)
    model = models[kind]
    if kind == "ExpertSheet":  # the sheet learns nothing: the text column is named when scored
        with pytest.raises(DataError, match="kept_ratio"):
            model.fit(X, y).predict(X)
        return
    with pytest.raises(DataError, match=r"\['kept_ratio'\].*categories or text"):
        model.fit(X, y)
    X["kept_ratio"] = X["kept_ratio"].astype(str)  # text
    with pytest.raises(DataError, match=r"\['kept_ratio'\]"):
        model.fit(X, y)


def test_a_model_fitted_on_a_table_of_arrays():
    """A 2-D array is a table with columns x0, x1, ... (as after a scaler in a Pipeline)."""
    X, y = binary_data()
    card = PointsCard(directions={"x0": "increases_risk"}).fit(X.to_numpy(), y)
    assert list(card.feature_names_in_) == ["x0", "x1", "x2"]
    assert np.array_equal(card.predict(X.to_numpy()), card.predict(X.set_axis(["x0", "x1", "x2"], axis=1)))
    with pytest.raises(DataError, match="table"):
        card.predict(X["penalties"].to_numpy())


def test_grade_names_stay_with_the_model():
    X, y = ordinal_data()
    m = GradeModel(n_estimators=20).fit(X, y)
    assert m.class_names_ == list(GRADES) and list(m.classes_) == [0, 1, 2, 3, 4]
    Xb, yb = binary_data()
    b = GradeModel(n_estimators=20).fit(Xb, yb)
    assert b.class_names_ == ["无严重违法失信", "发生严重违法失信"] and list(b.classes_) == [0, 1]
    scores = cross_val_score(b, Xb, yb, cv=3, scoring="roc_auc")
    assert np.isfinite(scores).all() and (scores > 0.6).all()
