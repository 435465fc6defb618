"""双随机 inspection plans (scoring.grades.inspection): ceil(ratio * n) per grade within each stratum,
no grade exempt, the same seed gives the same plan, another seed another, and a grade change moves an
organisation between strata."""

from __future__ import annotations

import io
import json
import math

import numpy as np
import openpyxl
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring.core.errors import ConfigError, DataError
from scoring.features.industry import GRADES, load_industries
from scoring.grades.inspection import SELECTION_COLUMNS, draw_plan, ratios_of, stratum_reason, stratum_size

RATIOS = {"优秀": 0.03, "良好": 0.10, "中等": 0.25, "较差": 0.60, "差": 1.0}


def _population(n: int = 400, seed: int = 1, shares=(0.03, 0.7, 0.2, 0.05, 0.02)) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    grades = rng.choice(list(GRADES), size=n, p=np.array(shares) / sum(shares))
    return pd.DataFrame(
        {
            "subject_id": [f"91330700{i:09d}X" for i in rng.permutation(n)],
            "name": [f"金华市测试{i}有限公司" for i in range(n)],
            "grade": grades,
            "district_zh": rng.choice(["婺城区", "金东区"], size=n),
            "region_code": "330702",
            "address": [f"浙江省金华市婺城区某路{i}号" for i in range(n)],
            "legal_rep_masked": "张*",
            "frequency": "",
            "as_of": "2026-06-30",
            "industry_zh": "建筑施工企业",
        }
    )


def _draw(frame, seed=42, ratios=RATIOS, **kw):
    return draw_plan(frame, ratios, seed=seed, period="2026", industry="construction", **kw)


def test_stratum_size_is_the_ceiling_of_ratio_times_n():
    assert stratum_size(30, 0.1) == 3  # not 4: 0.1 * 30 = 3.0000000000000004
    assert stratum_size(31, 0.1) == 4
    assert stratum_size(1, 0.03) == 1  # no grade exempt: a non-empty stratum gives at least one
    assert stratum_size(0, 0.5) == 0 and stratum_size(7, 1.0) == 7


def test_every_stratum_draws_ceil_ratio_n_of_its_own_grade():
    pop = _population()
    plan = _draw(pop)
    counts = pop["grade"].value_counts()
    for row in plan.strata.itertuples():
        n = int(counts.get(row.grade, 0))
        assert row.population == n and row.selected == math.ceil(round(RATIOS[row.grade] * n, 9))
        chosen = plan.selections[plan.selections["grade"] == row.grade]
        assert len(chosen) == row.selected and chosen["subject_id"].is_unique
        members = set(pop.loc[pop["grade"] == row.grade, "subject_id"])
        assert set(chosen["subject_id"]) <= members  # drawn within its stratum only
        assert (chosen["reason_zh"] == row.reason_zh).all()
    assert plan.selected == plan.strata["selected"].sum() == len(plan.selections)
    assert list(plan.selections.columns) == list(SELECTION_COLUMNS)
    assert plan.selections["draw_order"].tolist() == list(range(1, plan.selected + 1))
    # the worst grade at ratio 1: everyone; addresses and masked legal representatives carried
    bad = pop[pop["grade"] == "差"]
    assert set(plan.selections.loc[plan.selections["grade"] == "差", "subject_id"]) == set(bad["subject_id"])
    assert (
        plan.selections["legal_rep_masked"].eq("张*").all()
        and plan.selections["address"].str.startswith("浙江省").all()
    )


def test_reasons_per_stratum_are_chinese_with_the_frequency():
    ind = load_industries()["construction"]
    plan = _draw(_population(), ratios=ratios_of(ind))
    reasons = dict(zip(plan.strata["grade"], plan.strata["reason_zh"]))
    assert reasons["中等"] == "中等等级主体按25%比例随机抽取（每年抽查1-2次）"
    assert reasons["优秀"].startswith("优秀等级主体按3%比例随机抽取（每年抽查不超过1次；无事不扰")
    assert reasons["差"].startswith("差等级主体全部纳入检查")
    assert stratum_reason("良好", 0.125) == "良好等级主体按12.5%比例随机抽取"


def test_same_seed_same_plan_other_seed_other_plan_whatever_the_row_order():
    pop = _population()
    a, b = _draw(pop, seed=7), _draw(pop.sample(frac=1, random_state=3), seed=7)
    assert a.plan_id == b.plan_id
    pd.testing.assert_frame_equal(a.selections, b.selections)
    c = _draw(pop, seed=8)
    assert c.plan_id != a.plan_id
    assert set(c.selections["subject_id"]) != set(a.selections["subject_id"])
    assert len(c.selections) == len(a.selections)  # same sizes, other organisations


def test_a_grade_change_moves_an_organisation_between_strata():
    pop = _population()
    target = pop.loc[pop["grade"] == "良好", "subject_id"].iloc[0]
    before = _draw(pop, seed=5)
    moved = pop.assign(grade=np.where(pop["subject_id"] == target, "差", pop["grade"]))
    after = _draw(moved, seed=5)
    assert after.plan_id != before.plan_id
    s_before = before.strata.set_index("grade")
    s_after = after.strata.set_index("grade")
    assert s_after.loc["良好", "population"] == s_before.loc["良好", "population"] - 1
    assert s_after.loc["差", "population"] == s_before.loc["差", "population"] + 1
    # at ratio 1 for 差 it is now certainly drawn, under its new grade and its stratum's reason
    row = after.selections.set_index("subject_id").loc[target]
    assert row["grade"] == "差" and row["reason_zh"] == s_after.loc["差", "reason_zh"]
    # the other strata's draws do not depend on the move
    for g in ("优秀", "中等", "较差"):
        assert set(before.selections.loc[before.selections["grade"] == g, "subject_id"]) == set(
            after.selections.loc[after.selections["grade"] == g, "subject_id"]
        )


def test_no_grade_is_exempt_and_bad_inputs_are_refused():
    pop = _population()
    with pytest.raises(ConfigError, match="exempt"):
        _draw(pop, ratios={**RATIOS, "优秀": 0.0})
    with pytest.raises(ConfigError, match="exempt"):
        _draw(pop, ratios={g: r for g, r in RATIOS.items() if g != "良好"})
    with pytest.raises(ConfigError, match="not grades"):
        _draw(pop, ratios={**RATIOS, "A": 0.5})
    with pytest.raises(ConfigError, match="between 0 and 1"):
        _draw(pop, ratios={**RATIOS, "差": 1.5})
    with pytest.raises(DataError, match="seed"):
        _draw(pop, seed=-1)
    with pytest.raises(DataError, match="period"):
        draw_plan(pop, RATIOS, seed=1, period="next year", industry="construction")
    with pytest.raises(DataError, match="region"):
        _draw(pop, region="3307")
    with pytest.raises(DataError, match="twice"):
        _draw(pd.concat([pop, pop.head(1)]))
    with pytest.raises(DataError, match="grades"):
        _draw(pop.assign(grade="A"))


def test_region_restricts_the_population():
    pop = _population()
    pop.loc[pop.index[:100], "region_code"] = "330703"
    plan = _draw(pop, region="330703")
    assert plan.population == 100 and plan.region == "330703"
    assert set(plan.selections["subject_id"]) <= set(pop.loc[pop.index[:100], "subject_id"])


def test_workbook_and_repr():
    plan = _draw(_population(), ratios=ratios_of(load_industries()["construction"]))
    wb = openpyxl.load_workbook(io.BytesIO(plan.to_workbook()))
    assert wb.sheetnames == ["抽查名单", "各等级抽查比例", "说明"]
    sel = wb["抽查名单"]
    assert [c.value for c in sel[1]][:4] == ["抽取序号", "统一社会信用代码", "名称", "信用等级"]
    assert sel.max_row - 1 == plan.selected and sel.freeze_panes == "E2"
    assert sel.page_setup.orientation == "landscape" and sel.print_title_cols == "$A:$D"
    strata = wb["各等级抽查比例"]
    head = [c.value for c in strata[1]]
    ratio = strata.cell(2, head.index("抽查比例") + 1)
    assert ratio.number_format == "0%" and ratio.value == pytest.approx(0.03)
    notes = dict(list(wb["说明"].values)[1:])
    assert notes["计划编号"] == plan.plan_id and notes["随机种子"] == "42" and "不免检" in notes["免责声明"]
    d = plan.to_dict()
    assert json.loads(json.dumps(d))["selected"] == plan.selected and len(d["selections"]) == plan.selected
    assert [s["grade"] for s in d["strata"]] == list(GRADES)
    text = repr(plan)
    assert plan.plan_id in text and "中等等级主体按25%比例随机抽取" in text and "种子 42" in text


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    n=st.integers(0, 300),
    shares=st.lists(st.floats(0, 1), min_size=5, max_size=5),
    ratios=st.lists(st.floats(0.001, 1), min_size=5, max_size=5),
    seed=st.integers(0, 2**32),
    pop_seed=st.integers(0, 1000),
)
def test_any_population_and_ratios(n, shares, ratios, seed, pop_seed):
    if sum(shares) == 0:
        shares = [1, 1, 1, 1, 1]
    pop = _population(n, pop_seed, shares)
    r = dict(zip(GRADES, ratios))
    plan = _draw(pop, seed=seed, ratios=r)
    counts = pop["grade"].value_counts()
    for row in plan.strata.itertuples():
        n_g = int(counts.get(row.grade, 0))
        assert row.selected == stratum_size(n_g, r[row.grade]) == math.ceil(round(r[row.grade] * n_g, 9))
        assert (row.selected >= 1) == (n_g >= 1)  # no grade exempt
        got = plan.selections[plan.selections["grade"] == row.grade]["subject_id"]
        assert got.is_unique and set(got) <= set(pop.loc[pop["grade"] == row.grade, "subject_id"])
    again = _draw(pop.iloc[::-1], seed=seed, ratios=r)
    assert again.plan_id == plan.plan_id and again.selections.equals(plan.selections)
