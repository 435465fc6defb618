"""A small, rare-event industry never ends without a grade list (issue 14, point 2).

The test industry is added by config, as a platform would: a copy of the configs where the food
producers' class 1491 (营养食品制造) becomes its own industry ``nutrition_food`` (outcome label,
risk bands), leaving 1411 and 1431 to ``food``. On the committed sample it holds about 200
organisations at the calibration cut-off with fewer than 10 outcomes: too few for an industry model
of its own to be trusted, enough for the pooled organisation model (全市合并模型,
:func:`scoring.grades.pooled.fit_pooled`) to calibrate with the industry's level shrunk towards
the city's, and to grade every organisation of the industry.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from scoring.archive.store import open_store
from scoring.core.errors import DataError
from scoring.features.industry import GRADES, load_industries
from scoring.grades.grading import _datasets, fit_industry, load_grading_config
from scoring.grades.lists import grade_list, grade_population, write_grade_list
from scoring.grades.model import GradeModel
from scoring.grades.ordinal import OrdinalCalibrator, bad_end, shrunk_shifts
from scoring.grades.pooled import CONTENDER, CONTENDER_ZH, fit_pooled, pooled_sets

CODE = "nutrition_food"
AS_OF = dt.date(2026, 6, 30)
FALLBACKS = {"pooled_lightgbm", "expert_sheet", "ordinal_logistic"}

INDUSTRY_YAML = """\
code: nutrition_food
name_zh: 营养食品制造企业
name_en: Nutritional food manufacturers
regulator: 市市场监管局
gbt4754: ["1491"]
label: outcome
features: all
monotone: {}
vetoes:
  - {code: serious_dishonesty, label_zh: 列入严重失信主体名单, feature: serious_dishonesty_active, grade: 差}
  - {code: dishonest_debtor, label_zh: 失信被执行人, feature: dishonest_debtor_active, grade: 差}
bands:
  kind: risk
  bounds: {优秀: 0.01, 良好: 0.04, 中等: 0.10, 较差: 0.25}
upgrade_limit: 1
new_entrant_grade: 中等
new_entrant_months: 12
supervision:
  优秀: {sampling_ratio: 0.03, frequency: 每年抽查不超过1次}
  良好: {sampling_ratio: 0.10, frequency: 每年抽查1次}
  中等: {sampling_ratio: 0.25, frequency: 每年抽查1-2次}
  较差: {sampling_ratio: 0.60, frequency: 每半年抽查1次}
  差: {sampling_ratio: 1.00, frequency: 每季度检查1次}
"""


@pytest.fixture(scope="module")
def small_configs(tmp_path_factory) -> Path:
    """A copy of the configs with the industry ``nutrition_food`` (class 1491) added by config."""
    from scoring.core.resources import configs_dir

    d = tmp_path_factory.mktemp("small-industry") / "configs"
    shutil.copytree(configs_dir(), d)
    food = d / "industries" / "food.yaml"
    text = food.read_text(encoding="utf-8")
    assert '"1491"' in text
    food.write_text(text.replace(', "1491"', "").replace('"1491", ', ""), encoding="utf-8")
    (d / "industries" / f"{CODE}.yaml").write_text(INDUSTRY_YAML, encoding="utf-8")
    return d


@pytest.fixture
def configs(small_configs, monkeypatch) -> Path:
    monkeypatch.setenv("XINYI_CONFIGS", str(small_configs))
    return small_configs


@pytest.fixture(scope="module")
def fitted(sample_store, small_configs):
    """The industry's sets, the pooled frames and the pooled model on the committed sample."""
    path, _ = sample_store
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XINYI_CONFIGS", str(small_configs))
        assert CODE in load_industries() and "1491" not in load_industries()["food"].gbt4754
        cfg = load_grading_config()
        with open_store(path, read_only=True) as st:
            _, _, _, sets = _datasets(st, CODE, cfg)
            pooled = pooled_sets(st, CODE, cfg)
            model = fit_pooled(st, CODE, cfg, sets, pooled=pooled)
    return path, cfg, sets, pooled, model


def _outcomes(frame: pd.DataFrame) -> int:
    return int(frame["outcome"].sum())


def test_the_industry_is_small_and_rare_event(fitted):
    """The premise: about 200 organisations at the calibration cut-off, fewer than 10 outcomes."""
    _, _, sets, pooled, _ = fitted
    cal = sets["calibration"]
    assert 150 <= len(cal) <= 300, len(cal)
    assert 0 < _outcomes(cal) < 10, _outcomes(cal)
    # the pooled calibration fold holds every industry's organisations, the small one among them
    pc = pooled["calibration"]
    assert (pc["industry"] == CODE).sum() == len(cal)
    assert pc["industry"].nunique() >= 5 and len(pc) > 10 * len(cal)


def test_the_pooled_model_is_calibrated_and_ranks_the_holdout(fitted, configs):
    path, _, sets, _, model = fitted
    assert isinstance(model, GradeModel)
    info = model.info_
    assert (
        info["contender"] == CONTENDER == "pooled_lightgbm" and info["contender_zh"] == CONTENDER_ZH == "全市合并模型"
    )
    assert info["industry"] == CODE and info["label"] == "outcome"
    assert info["pooled_rows"] > 10 * info["industry_rows"] > 0 and info["pooled_outcomes"] > 100
    assert info["industry_calibration_rows"] == len(sets["calibration"])
    assert info["industry_calibration_outcomes"] == _outcomes(sets["calibration"])
    assert 0 < info["shrinkage_weight"] < 1
    assert info["selection"] and "全市合并模型" in info["selection"]
    # the common organisation features only: the industry's feature builder produces every one
    hold = sets["holdout"]
    X = hold[model.features_]
    eta = model.margin(X)
    risk = model.predict_risk(X)
    assert np.isfinite(risk).all() and ((risk > 0) & (risk < 1)).all()
    order = np.argsort(eta, kind="stable")
    assert (np.diff(risk[order]) >= -1e-12).all(), "the calibrated risk must follow the margin"
    assert np.corrcoef(eta, risk)[0, 1] > 0
    proba = model.predict_proba(X)
    assert np.allclose(proba.sum(axis=1), 1.0) and np.allclose(bad_end(proba), risk)
    # ranks the industry's hold-out better than random where it has outcomes
    assert 0 < _outcomes(hold) < len(hold)
    auc = roc_auc_score(hold["outcome"], risk)
    assert auc > 0.6, auc
    # calibrated: the mean risk is of the order of the industry's outcome rate (not the pooled link's)
    rate = hold["outcome"].mean()
    assert rate / 3 < risk.mean() < rate * 3, (risk.mean(), rate)
    # contributions sum exactly to the margin (the industry's level lives in the calibrator)
    c = model.contributions(X)
    assert list(c.columns) == model.features_ + ["bias"]
    assert np.allclose(c.sum(axis=1).to_numpy(), eta, atol=1e-9)


def test_the_pooled_model_saves_and_loads_as_a_grade_model(fitted, configs, tmp_path):
    _, _, sets, _, model = fitted
    f = model.save(tmp_path / "pooled.json")
    back = GradeModel.load(f)
    X = sets["holdout"][model.features_]
    assert back.version_ == model.version_ and back.info_["contender"] == CONTENDER
    assert np.array_equal(back.predict_proba(X), model.predict_proba(X))


def _without_outcomes(sets: dict, pooled: dict, keep_train: int) -> tuple[dict, dict]:
    """The industry's folds with no outcome in its calibration fold and ``keep_train`` of its
    training outcomes (the other industries untouched)."""
    cal = sets["calibration"]
    tr = pooled["train"]
    own_pos = tr.index[(tr["industry"] == CODE) & (tr["outcome"] == 1)]
    drop = own_pos[keep_train:]
    return {**sets, "calibration": cal[cal["outcome"] == 0]}, {**pooled, "train": tr.drop(index=drop)}


def test_few_or_no_outcomes_still_calibrate_with_a_falling_weight(fitted, configs):
    """Fewer outcomes, then none at all, in the industry's own folds: an industry model cannot
    calibrate on a fold without outcomes; the pooled one does, and its weight on the industry's own
    level falls with the outcomes."""
    path, cfg, sets, pooled, model = fitted
    n_train = model.info_["industry_outcomes"]
    assert n_train >= 4
    fits = [model]
    with open_store(path, read_only=True) as st:
        for keep in (n_train // 2, 0):
            s, p = _without_outcomes(sets, pooled, keep)
            fits.append(fit_pooled(st, CODE, cfg, s, pooled=p))
    # the industry's own fold without outcomes cannot calibrate a model of its own
    s0, _ = _without_outcomes(sets, pooled, 0)
    with pytest.raises(DataError, match="at least two"):
        OrdinalCalibrator(2).fit(model.margin(s0["calibration"][model.features_]), s0["calibration"]["label"])
    half, none = fits[1].info_, fits[2].info_
    assert half["industry_outcomes"] == n_train // 2 and none["industry_outcomes"] == 0
    assert half["industry_calibration_outcomes"] == none["industry_calibration_outcomes"] == 0
    weights = [m.info_["shrinkage_weight"] for m in fits]
    assert all(a > b for a, b in zip(weights, weights[1:])), weights
    assert 0 < weights[-1] and weights[0] < 1
    hold = sets["holdout"]
    means = []
    for m in fits:
        risk = m.predict_risk(hold[m.features_])
        assert np.isfinite(risk).all() and ((risk > 0) & (risk < 1)).all()
        assert roc_auc_score(hold["outcome"], risk) > 0.6
        means.append(risk.mean())
    # without its outcomes the industry's level falls, but stays a shrunk estimate near the city's
    assert means[0] > means[1] > means[2] > means[0] / 5, means
    assert none["training_offset"] < half["training_offset"] < model.info_["training_offset"]


def test_the_shrinkage_weight_falls_as_the_outcomes_fall(fitted):
    """The empirical-Bayes weight on the industry's own calibration fold, with its outcomes dropped
    one by one (the same link, the same prior): strictly falling, and still defined at none."""
    _, _, sets, pooled, model = fitted
    pc = pooled["calibration"]
    link = model.info_["pooled_link"]
    feats = model.features_
    others = pc[pc["industry"] != CODE]
    levels = model.info_["training_offsets"]
    eta_o = model.margin(others[feats]) + others["industry"].map(levels).fillna(0.0).to_numpy(float)
    cal = sets["calibration"]
    pos = cal[cal["outcome"] == 1]
    weights = []
    for kept in range(len(pos), -1, -1):
        own = pd.concat([cal[cal["outcome"] == 0], pos.iloc[:kept]])
        eta = np.concatenate([eta_o, model.margin(own[feats]) + levels[CODE]])
        y = np.concatenate([others["label"].to_numpy(int), own["label"].to_numpy(int)])
        g = np.concatenate([others["industry"].to_numpy(str), np.full(len(own), CODE)])
        shifts, _ = shrunk_shifts(eta, y, g, link["thresholds"], link["scale"], prior_sd=0.3)
        weights.append(shifts[CODE].weight)
        assert np.isfinite(shifts[CODE].shift)
        assert (shifts[CODE].mle is None) == (kept == 0)
    assert all(a > b for a, b in zip(weights, weights[1:])), weights
    assert 0 < weights[-1] < weights[0] < 1


def test_a_grade_list_for_every_organisation_of_the_industry(fitted, configs, tmp_path):
    path, _, _, _, model = fitted
    with open_store(path, read_only=True) as st:
        pop = grade_population(st, model, AS_OF, industry=CODE)
        n_orgs = len(
            st.sql(
                "SELECT subject_id FROM subjects WHERE industry_code = '1491' AND subject_type <> 'person' "
                f"AND (registered_on IS NULL OR registered_on <= DATE '{AS_OF}')"
            )
        )
    lst = grade_list(pop, model)
    assert len(lst) == n_orgs > 150 and lst["subject_id"].is_unique
    assert lst["grade"].isin(GRADES).all() and (lst["industry"] == CODE).all()
    assert np.isfinite(lst["risk"]).all() and ((lst["risk"] > 0) & (lst["risk"] < 1)).all()
    assert (lst["model_version"] == model.version_).all()
    c = pop.contributions
    assert np.allclose(c.sum(axis=1).to_numpy(), model.margin(pop.X[model.features_]), atol=1e-9)
    assert lst["grade"].nunique() >= 2
    paths = write_grade_list(lst, tmp_path / "nutrition_food.csv", info={"说明": model.info_["selection"]})
    assert paths and all(p.exists() for p in paths)
    assert len(pd.read_csv(paths[0], encoding="utf-8-sig")) == n_orgs


def test_fit_industry_falls_back_and_the_industry_gets_its_list(sample_store, configs, tmp_path):
    """End to end: the fit flow ends a small industry with a calibrated grader chosen by evidence or
    by the declared fallback chain (the pooled model among the contenders, fitted), records why, and
    the list is written."""
    path, _ = sample_store
    with open_store(path, read_only=True) as st:
        model, ev = fit_industry(st, CODE)
        rows = {r["model"]: r for r in ev["baselines"]}
        assert rows["pooled_lightgbm"]["status"] != "excluded", rows["pooled_lightgbm"]
        assert model.info_["contender"] in {"lightgbm", "ordinal_logistic", *FALLBACKS}, model.info_.get("contender")
        assert model.info_["contender_zh"] and model.info_["selection"]
        assert ev["champion"]["champion"] in rows
        pop = grade_population(st, model, AS_OF, industry=CODE)
    lst = grade_list(pop, model)
    assert len(lst) == len(pop.X) > 150 and lst["grade"].isin(GRADES).all()
    paths = write_grade_list(lst, tmp_path / "list.csv", info={"说明": model.info_["selection"]})
    assert all(p.exists() for p in paths)
