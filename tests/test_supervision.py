"""分级分类监管 rules: vetoes win, upgrades are limited, new entrants, bands, measures, configs."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.core.errors import ConfigError
from scoring.core.resources import configs_dir
from scoring.features.industry import GRADE_INDEX, GRADES, load_industries, load_industry
from scoring.grades.supervision import assign_grades

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


@settings(max_examples=100, deadline=None)
@given(data=population(), code=st.sampled_from(sorted(INDUSTRIES)))
def test_vetoes_always_win_and_upgrades_are_limited(data, code):
    ind = INDUSTRIES[code]
    risk, feats, prev = data
    out = assign_grades(ind, risk, feats, previous=prev)
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
    bands = INDUSTRIES[code].bands
    lo, hi = sorted([a, b])
    assert GRADE_INDEX[bands.grade(hi)] >= GRADE_INDEX[bands.grade(lo)]


def test_new_entrants_get_the_default_grade_unless_vetoed():
    ind = INDUSTRIES["food"]
    ids = ["new", "old", "new_vetoed"]
    feats = pd.DataFrame(dict.fromkeys(VETO_FEATURES, 0.0), index=ids)
    feats.loc["new_vetoed", "serious_dishonesty_active"] = 1
    reg = pd.Series(["2026-03-01", "2010-01-01", "2026-03-01"], index=ids)
    out = assign_grades(ind, pd.Series(0.01, index=ids), feats, registered_on=reg, as_of=dt.date(2026, 6, 30))
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
        (lambda d: d.update(label="outcome"), "needs label: expert_grade"),
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
    ],
)
def test_invalid_industry_configs_fail_precisely(tmp_path, mutate, needle):
    with pytest.raises(ConfigError) as ei:
        load_industry(_mutated(tmp_path, mutate))
    assert "food.yaml" in str(ei.value) and needle in str(ei.value)
