"""分级分类监管 rules: vetoes win, upgrades are limited, new entrants, bands, measures, configs."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.core.errors import ConfigError
from scoring.core.resources import configs_dir
from scoring.features.industry import GRADE_INDEX, GRADES, load_industries, load_industry
from scoring.grades.bands import band_graded, fit_bands
from scoring.grades.supervision import assign_grades, graded_by_bands

INDUSTRIES = load_industries()
VETO_FEATURES = sorted({v.feature for ind in INDUSTRIES.values() for v in ind.vetoes})


@st.composite
def population(draw):
    n = draw(st.integers(1, 30))
    ids = [f"o{i}" for i in range(n)]
    risk = pd.Series(draw(st.lists(st.floats(0, 1), min_size=n, max_size=n)), index=ids)
    feats = pd.DataFrame(
        {f: draw(st.lists(st.sampled_from([0.0, 0.0, 0.0, 1.0, 7.0]), min_size=n, max_size=n)) for f in VETO_FEATURES},
        index=ids,
    )
    prev = pd.Series(draw(st.lists(st.sampled_from(list(GRADES) + [None]), min_size=n, max_size=n)), index=ids)
    return risk, feats, prev.dropna()


def _applied(code: str):
    """The band table an industry grades with: its own, or share bands fitted on a reference of risks
    (the same reference for every test)."""
    ind = INDUSTRIES[code]
    return fit_bands(ind.bands, np.linspace(0, 0.3, 301) ** 2, reference="calibration 2024-06-30")


@settings(max_examples=100, deadline=None)
@given(data=population(), code=st.sampled_from(sorted(INDUSTRIES)))
def test_vetoes_always_win_and_upgrades_are_limited(data, code):
    ind = INDUSTRIES[code]
    risk, feats, prev = data
    out = assign_grades(ind, risk, feats, previous=prev, bands=_applied(code))
    g = out["grade"].map(GRADE_INDEX)
    for v in ind.vetoes:
        hit = feats[v.feature].map(v.applies)
        assert (g[hit] >= GRADE_INDEX[v.grade or v.at_most]).all()
        assert (out.loc[hit, "veto"] != "").all()
    no_veto = out["veto"] == ""
    p = prev.reindex(out.index).map(GRADE_INDEX)
    limited = p.notna() & no_veto
    assert (g[limited] >= p[limited] - ind.upgrade_limit).all()
    assert (out["sampling_ratio"] > 0).all()


@settings(max_examples=100, deadline=None)
@given(a=st.floats(0, 1), b=st.floats(0, 1), code=st.sampled_from(sorted(INDUSTRIES)))
def test_higher_risk_never_gets_a_better_grade(a, b, code):
    bands = _applied(code)
    lo, hi = sorted([a, b])
    assert GRADE_INDEX[bands.grade(hi)] >= GRADE_INDEX[bands.grade(lo)]


def test_share_bands_grade_only_once_fitted_and_vetoes_and_new_entrants_stay_apart():
    code = next(c for c, i in INDUSTRIES.items() if i.bands.kind == "shares")
    ind = INDUSTRIES[code]
    ids = ["a", "b", "vetoed", "new"]
    feats = pd.DataFrame(dict.fromkeys(VETO_FEATURES, 0.0), index=ids)
    feats.loc["vetoed", "serious_dishonesty_active"] = 1
    reg = pd.Series(["2010-01-01", "2010-01-01", "2010-01-01", "2026-03-01"], index=ids)
    risk = pd.Series([0.001, 0.5, 0.001, 0.001], index=ids)
    with pytest.raises(ConfigError, match="refit"):
        assign_grades(ind, risk, feats)  # shares bands have no bounds of their own
    fitted = _applied(code)
    out = assign_grades(ind, risk, feats, registered_on=reg, as_of=dt.date(2026, 6, 30), bands=fitted)
    assert out.loc["a", "grade"] == fitted.grade(0.001) and out.loc["b", "grade"] == fitted.grade(0.5)
    assert out.loc["vetoed", "grade"] == "差" and out.loc["new", "grade"] == ind.new_entrant_grade
    assert graded_by_bands(ind, feats, reg, dt.date(2026, 6, 30)).tolist() == [True, True, False, False]
    assert band_graded(out).tolist() == [True, True, False, False]


def test_every_industry_declares_target_shares_with_a_tolerance():
    for code, ind in INDUSTRIES.items():
        b = ind.bands
        assert list(b.targets) == list(GRADES) and sum(b.targets.values()) == pytest.approx(1), code
        assert all(0 < b.tolerance_of(g) <= 0.05 for g in GRADES), code
        # every industry is graded to the platform's shares (bench/README.md: grade shares)
        assert b.kind == "shares", code


def test_new_entrants_get_the_default_grade_unless_vetoed():
    ind = INDUSTRIES["food"]
    ids = ["new", "old", "new_vetoed"]
    feats = pd.DataFrame(dict.fromkeys(VETO_FEATURES, 0.0), index=ids)
    feats.loc["new_vetoed", "serious_dishonesty_active"] = 1
    reg = pd.Series(["2026-03-01", "2010-01-01", "2026-03-01"], index=ids)
    out = assign_grades(
        ind, pd.Series(0.0, index=ids), feats, registered_on=reg, as_of=dt.date(2026, 6, 30), bands=_applied("food")
    )
    assert out.loc["new", "grade"] == ind.new_entrant_grade and out.loc["new", "new_entrant"]
    assert out.loc["old", "grade"] == "优秀"
    assert out.loc["new_vetoed", "grade"] == "差" and out.loc["new_vetoed", "reasons"].startswith("直接定级")


def test_every_sample_industry_has_a_config_and_no_exempt_grade():
    assert {"elderly_care", "travel_agency", "construction", "medical", "food", "property_services"} <= set(INDUSTRIES)
    for ind in INDUSTRIES.values():
        assert list(ind.supervision) == list(GRADES)
        assert all(m.sampling_ratio > 0 for m in ind.supervision.values())


def _mutated(tmp_path, mutate):
    data = yaml.safe_load((configs_dir() / "industries" / "food.yaml").read_text(encoding="utf-8"))
    mutate(data)
    p = tmp_path / "food.yaml"
    p.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return p


@pytest.mark.parametrize(
    "mutate,needle",
    [
        (lambda d: d["supervision"]["优秀"].update(sampling_ratio=0), "greater than 0"),
        (lambda d: d["supervision"].pop("良好"), "every grade"),
        (
            lambda d: d["bands"].update(kind="risk", bounds={"优秀": 0.2, "良好": 0.1, "中等": 0.3, "较差": 0.4}),
            "increase",
        ),
        (lambda d: d["bands"].update(bounds={"优秀": 0.2}), "no bounds"),
        (lambda d: (d["bands"].update(kind="ordinal"), d.update(label="outcome")), "needs label: expert_grade"),
        (
            lambda d: d["vetoes"].append({"code": "x", "label_zh": "x", "feature": "religion_flag", "grade": "差"}),
            "not a feature",
        ),
        (
            lambda d: d["vetoes"].append(
                {"code": "y", "label_zh": "y", "feature": "penalty_count_1y", "grade": "差", "at_most": "较差"}
            ),
            "exactly one",
        ),
        (lambda d: d.update(new_entrant_grade="A"), "new_entrant_grade"),
        (lambda d: d["bands"].update(kind="shares", targets={"优秀": 0.5, "良好": 0.6}), "targets must list"),
        (lambda d: d["bands"].update(tolerance={"优秀": 0.01}), "tolerance per grade"),
        (lambda d: d["bands"].update(tolerance=0), "tolerance must be"),
    ],
)
def test_invalid_industry_configs_fail_precisely(tmp_path, mutate, needle):
    with pytest.raises(ConfigError) as ei:
        load_industry(_mutated(tmp_path, mutate))
    assert "food.yaml" in str(ei.value) and needle in str(ei.value)
