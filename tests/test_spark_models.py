"""Scoring and fitting on Spark equal the embedded path exactly (Spark local mode, the `spark` fixture).

* the 信义金 card's Spark SQL export gives exactly the Python line items and points, and with the
  bottom-line gate exactly :func:`gated_scores` (the fitted card of each sample profile and the
  expert card, on random archives of both profiles);
* the grade model graded and explained per partition (``mapInPandas``, the booster shipped as its
  model string) gives the same grades, probabilities and SHAP contributions bit for bit as
  :func:`grade_population`, and the contributions plus the expected value sum to the raw score;
* the card fitted from counts Spark aggregates is the card the embedded fit gives (same JSON), on
  each profile's training set and on random frames (categories, missing and special values).
"""

from __future__ import annotations

import datetime as dt
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, Phase, assume, given, settings
from hypothesis import strategies as st

from scoring.archive.ingest import ingest
from scoring.archive.store import open_store
from scoring.core.errors import XinyiError
from scoring.features.builder import FeatureBuilder
from scoring.features.training import training_set
from scoring.grades.grading import run_championship
from scoring.grades.lists import grade_population, organisation_inputs
from scoring.grades.spark import SHAP_PREFIX, grade_organisations_spark, graded_with_contributions
from scoring.points.card import PointsCard, load_expert_card
from scoring.points.personal import fit_card, gated_scores, load_card_config, person_inputs
from scoring.points.spark import fit_card_spark, gated_scores_spark, score_card_spark, value_counts_spark
from scoring.sample.generator import generate_sample

pytestmark = pytest.mark.spark

PROFILES = ("realistic", "stress")
FIT_SEED, FIT_PERSONS, FIT_ORGS = 7, 2000, 1000
SMALL_PERSONS, SMALL_ORGS = 80, 60
INDUSTRY = "construction"
AS_OF = dt.date(2025, 12, 31)
hc = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large]
NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)


@dataclass(repr=False)
class Fitted:
    profile: str
    store: Path
    card: PointsCard
    grader: object  # the LightGBM contender (GradeModel) of the construction industry

    def __repr__(self) -> str:
        return f"Fitted({self.profile!r})"


@pytest.fixture(scope="module")
def fitted_by_profile(tmp_path_factory):
    cache: dict[str, Fitted] = {}

    def get(profile: str) -> Fitted:
        if profile not in cache:
            d = tmp_path_factory.mktemp(f"spark-fit-{profile}")
            generate_sample(d / "archive", seed=FIT_SEED, persons=FIT_PERSONS, organisations=FIT_ORGS, profile=profile)
            with open_store(d / "store.duckdb") as s:
                assert ingest([d / "archive"], s).quarantined == 0
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    card, _ = fit_card(s)
                    grader = run_championship(s, INDUSTRY).contenders["lightgbm"].grader
            assert grader is not None
            cache[profile] = Fitted(profile, d / "store.duckdb", card, grader)
        return cache[profile]

    return get


def _small_store(folder: Path, profile: str, seed: int) -> Path:
    generate_sample(folder / "archive", seed=seed, persons=SMALL_PERSONS, organisations=SMALL_ORGS, profile=profile)
    with open_store(folder / "store.duckdb") as s:
        assert ingest([folder / "archive"], s).quarantined == 0
    return folder / "store.duckdb"


def _sdf(spark, frame: pd.DataFrame):
    """A pandas frame (index subject_id) as a Spark DataFrame, through Arrow."""
    return spark.createDataFrame(frame.rename_axis("subject_id").reset_index())


def _keyed(sdf) -> pd.DataFrame:
    """A Spark result collected as pandas, indexed by subject_id."""
    return pd.DataFrame(sdf.toPandas()).set_index("subject_id")


# -- 1. the card's SQL export on Spark ---------------------------------------------------------
@settings(max_examples=3, deadline=None, suppress_health_check=hc, phases=NO_SHRINK)
@given(profile=st.sampled_from(PROFILES), seed=st.integers(0, 10_000), day=st.integers(-900, 0))
def test_card_sql_on_spark_is_the_python_score(spark, fitted_by_profile, tmp_path_factory, profile, seed, day):
    fitted = fitted_by_profile(profile)
    path = _small_store(tmp_path_factory.mktemp("cardsql"), profile, seed)
    as_of = AS_OF + dt.timedelta(days=day)
    with open_store(path, read_only=True) as s:
        X = FeatureBuilder(s, subjects="persons").at(as_of).values
        cards = {"fitted": fitted.card, "expert": load_expert_card()}
        inputs = {name: person_inputs(s, c, as_of) for name, c in cards.items()}
    for name, card in cards.items():
        got = _keyed(score_card_spark(card, _sdf(spark, X[card.features_])))
        got = got.loc[X.index]
        items = card.items(X[card.features_])
        for f in card.features_:
            assert np.array_equal(got[f].to_numpy(np.int64), items[f].to_numpy(np.int64)), (name, f)
        assert np.array_equal(got["points"].to_numpy(np.int64), card.score(X[card.features_]).to_numpy(np.int64))
        # with the gate (信用底线): exactly gated_scores
        inp = inputs[name]
        want = gated_scores(card, inp)
        gated = _keyed(gated_scores_spark(card, _sdf(spark, inp))).loc[inp.index]
        assert (gated["status"].to_numpy() == want["status"].to_numpy()).all()
        pts_w, pts_g = want["points"], gated["points"]
        assert (pts_w.isna().to_numpy() == pts_g.isna().to_numpy()).all()
        ok = pts_w.notna().to_numpy()
        assert np.array_equal(pts_w[ok].to_numpy(np.int64), pts_g[ok].to_numpy(np.int64))
        for c in ("reason", "suspended_until"):
            assert [v if isinstance(v, str) else None for v in gated[c]] == list(want[c]), c


def test_card_sql_reads_nan_null_specials_and_categories_as_python(spark):
    """Missing as NULL and as NaN, a special value and an unseen category: the same bins in SQL."""
    rng = np.random.default_rng(3)
    n = 4000
    X = pd.DataFrame({"a": rng.poisson(1.5, n).astype(float), "b": rng.normal(size=n), "k": rng.choice(list("xyz"), n)})
    X.loc[rng.random(n) < 0.1, "a"] = np.nan
    X.loc[rng.random(n) < 0.1, "b"] = -1.0
    y = (rng.random(n) < 0.1 + 0.1 * (X["a"].fillna(3) > 2) + 0.1 * (X["k"] == "z")).astype(int)
    card = PointsCard(
        directions={"a": "increases_risk", "b": "none"}, dtypes={"k": "categorical"}, special_values={"b": [-1.0]}
    ).fit(X, y)
    test = X.iloc[:300].copy()
    test.loc[test.index[:5], "k"] = "unseen"
    test.index = [f"s{i}" for i in range(len(test))]
    sdf = _sdf(spark, test).selectExpr("*", "CASE WHEN a IS NULL THEN CAST('NaN' AS DOUBLE) ELSE a END AS a_nan")
    got = _keyed(score_card_spark(card, sdf.drop("a").withColumnRenamed("a_nan", "a")))
    items = card.items(test)
    for f in card.features_:
        assert np.array_equal(got.loc[test.index, f].to_numpy(np.int64), items[f].to_numpy(np.int64)), f


# -- 2. grades and SHAP per partition ------------------------------------------------------------
@settings(max_examples=3, deadline=None, suppress_health_check=hc, phases=NO_SHRINK)
@given(profile=st.sampled_from(PROFILES), seed=st.integers(0, 10_000), parts=st.integers(1, 5))
def test_grades_and_shap_on_spark_are_the_embedded_ones(
    spark, fitted_by_profile, tmp_path_factory, profile, seed, parts
):
    fitted = fitted_by_profile(profile)
    model = fitted.grader
    path = _small_store(tmp_path_factory.mktemp("grades"), profile, seed)
    with open_store(path, read_only=True) as s:
        pop = grade_population(s, model, AS_OF, industry=INDUSTRY)
        inputs = organisation_inputs(s, model, AS_OF, industry=INDUSTRY)
    assume(len(inputs) > 0)  # an archive with no construction organisation grades nothing
    ind = pop.industry
    got = _keyed(grade_organisations_spark(model, ind, _sdf(spark, inputs).repartition(parts))).loc[inputs.index]
    want = graded_with_contributions(model, ind, inputs)
    graded = pop.graded.loc[inputs.index]
    for c in graded.columns:  # the embedded graded population, column by column
        w = [v if isinstance(v, str) or not pd.isna(v) else None for v in graded[c]]
        g = [v if isinstance(v, str) or not pd.isna(v) else None for v in got[c]]
        if graded[c].dtype.kind == "f":
            assert np.array_equal(graded[c].to_numpy(float), got[c].to_numpy(float)), c  # bit for bit
        else:
            assert [str(v) if v is not None else None for v in w] == [str(v) if v is not None else None for v in g], c
    contrib = pop.contributions.loc[inputs.index]
    for f in contrib.columns:
        assert np.array_equal(contrib[f].to_numpy(float), got[SHAP_PREFIX + f].to_numpy(float)), f
    assert np.array_equal(want["margin"].to_numpy(float), got["margin"].to_numpy(float))
    # SHAP: contributions + expected value = the raw score (LightGBM sums them apart: 1e-9 at most)
    shap = got[[SHAP_PREFIX + f for f in contrib.columns]].sum(axis=1).to_numpy(float)
    raw = model.margin(inputs[model.features_])
    assert np.max(np.abs(shap - raw)) <= 1e-9 * max(1.0, float(np.max(np.abs(raw))))
    assert np.array_equal(got["margin"].to_numpy(float), raw)


def test_vetoed_organisations_are_graded_by_the_veto_on_spark(spark, fitted_by_profile):
    """On the stress archive (many penalties): a 直接定级 veto decides on Spark as embedded."""
    fitted = fitted_by_profile("stress")
    with open_store(fitted.store, read_only=True) as s:
        pop = grade_population(s, fitted.grader, AS_OF, industry=INDUSTRY)
        inputs = organisation_inputs(s, fitted.grader, AS_OF, industry=INDUSTRY)
    got = _keyed(grade_organisations_spark(fitted.grader, pop.industry, _sdf(spark, inputs)))
    vetoed = pop.graded.index[pop.graded["veto"] != ""]
    assert len(vetoed) > 0, "the stress archive should have vetoed organisations"
    assert (got.loc[vetoed, "veto"] == pop.graded.loc[vetoed, "veto"]).all()
    assert (got.loc[pop.graded.index, "grade"] == pop.graded["grade"]).all()
    # no previous grade anywhere (an all-empty column reaches Spark untyped): still the embedded grades
    blank = inputs.assign(previous_grade=None)
    again = _keyed(grade_organisations_spark(fitted.grader, pop.industry, _sdf(spark, blank))).loc[blank.index]
    want = graded_with_contributions(fitted.grader, pop.industry, blank)
    assert (again["grade"] == want["grade"]).all() and (again["upgrade_capped"] == want["upgrade_capped"]).all()
    assert again["previous_grade"].isna().all()


# -- 3. the card fitted from Spark's counts ------------------------------------------------------
@pytest.mark.parametrize("profile", PROFILES)
def test_card_fitted_on_spark_is_the_embedded_card(spark, fitted_by_profile, profile):
    fitted = fitted_by_profile(profile)
    cfg = load_card_config()
    with open_store(fitted.store, read_only=True) as s:
        train = training_set(s, cfg.cutoffs, subjects="persons")
    card = fitted.card
    params = card.get_params()
    cols = list(params["features"])  # every feature the card was given (features_: those that scored)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        embedded = PointsCard(**params).fit(train[cols], train["label"])
        sdf = spark.createDataFrame(train[[*cols, "label"]]).repartition(3)
        on_spark = fit_card_spark(PointsCard(**params), sdf)
    assert json.dumps(on_spark.to_dict(), sort_keys=True) == json.dumps(embedded.to_dict(), sort_keys=True)
    pd.testing.assert_frame_equal(on_spark.build_table(), embedded.build_table())
    # and the counts themselves: Spark's per-value table is pandas' table
    from scoring.points.binning import value_counts

    f = card.features_[0]
    pd.testing.assert_frame_equal(
        value_counts_spark(sdf, f, "label"), value_counts(train[f].to_numpy(float), train["label"])
    )


@settings(max_examples=8, deadline=None, suppress_health_check=hc)
@given(seed=st.integers(0, 10_000), n=st.integers(200, 3000), rate=st.floats(0.02, 0.4))
def test_card_fit_from_spark_counts_on_random_frames(spark, seed, n, rate):
    rng = np.random.default_rng(seed)
    X = pd.DataFrame(
        {
            "count": rng.poisson(rng.uniform(0.1, 3), n).astype(float),
            "amount": np.round(rng.lognormal(2, 1.5, n), 1),
            "kind": rng.choice(["a", "b", "c", "d"], n),
        }
    )
    X.loc[rng.random(n) < 0.15, "amount"] = np.nan
    X.loc[rng.random(n) < 0.05, "count"] = -1.0
    logit = np.log(rate / (1 - rate)) + 0.4 * X["count"].clip(0) + 0.5 * (X["kind"] == "d")
    y = (rng.random(n) < 1 / (1 + np.exp(-logit))).astype(int)
    params: dict[str, Any] = {
        "directions": {"count": "increases_risk", "amount": "none"},
        "dtypes": {"kind": "categorical"},
        "special_values": {"count": [-1.0]},
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            embedded = PointsCard(**params).fit(X, y).to_dict()
        except XinyiError as e:
            embedded = {"error": type(e).__name__, "message": str(e)}
        sdf = spark.createDataFrame(X.assign(label=y))
        try:
            on_spark = fit_card_spark(PointsCard(**params), sdf).to_dict()
        except XinyiError as e:
            on_spark = {"error": type(e).__name__, "message": str(e)}
    assert json.dumps(on_spark, sort_keys=True) == json.dumps(embedded, sort_keys=True)
