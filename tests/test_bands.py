"""Target-share bands (分级分类监管: the platform's share of every grade): fitted bounds come as close
to the targets as ties allow, the same risk always gets the same grade, grades never improve with
risk; resolving the bands a model grades with; and on the realistic sample every outcome-labelled
industry's list is within its configured tolerance of the targets."""

from __future__ import annotations

import types

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.core.errors import ConfigError, DataError
from scoring.features.industry import GRADE_INDEX, GRADES, Bands, load_industries
from scoring.grades.bands import band_graded, bands_text, fit_bands, resolve_bands, share_table

ZHEJIANG = {"优秀": 0.023, "良好": 0.764, "中等": 0.200, "较差": 0.013, "差": 0.0}


@st.composite
def targets(draw) -> dict[str, float]:
    """Target shares summing to exactly 1 (thousandths), zeros allowed."""
    cuts = sorted(draw(st.lists(st.integers(0, 1000), min_size=4, max_size=4)))
    parts = np.diff([0, *cuts, 1000])
    return {g: int(p) / 1000 for g, p in zip(GRADES, parts)}


# risks on a coarse grid, so many organisations share one risk (ties), as records histories do
risks = st.lists(st.integers(0, 40).map(lambda i: i / 40), min_size=1, max_size=120)


def _grades(bands: Bands, r) -> np.ndarray:
    return np.array([GRADE_INDEX[bands.grade(v)] for v in r])


@settings(max_examples=300, deadline=None)
@given(t=targets(), r=risks)
def test_fitted_shares_are_as_close_to_the_targets_as_ties_allow(t, r):
    fitted = fit_bands(Bands(kind="shares", targets=t), r, reference="calibration 2024-06-30")
    assert fitted.kind == "risk" and fitted.targets == t and fitted.reference == "calibration 2024-06-30"
    b = list(fitted.bounds.values())
    assert all(x < y for x, y in zip(b, b[1:]))  # strictly increasing
    r = np.asarray(r)
    values = np.unique(r)
    options = [0.0] + [float((r <= v).mean()) for v in values]  # every cut between distinct risks
    cum_targets = np.cumsum([t[g] for g in GRADES[:-1]])
    for k, target in enumerate(cum_targets):
        got = float((r <= b[k]).mean())
        assert got in options  # a bound never splits organisations of the same risk
        assert all(abs(got - target) <= abs(o - target) + 1e-9 for o in options), (k, got, target)
    g = _grades(fitted, r)
    for v in values:  # same risk, same grade
        assert len(set(g[r == v])) == 1
    # the grade never improves as the risk rises, on the reference and between its risks
    grid = np.sort(np.concatenate([r, np.linspace(-0.1, 1.1, 60), np.array(b)]))
    assert (np.diff(_grades(fitted, grid)) >= 0).all()


@settings(max_examples=200, deadline=None)
@given(t=targets(), r=risks, data=st.data())
def test_only_the_band_graded_organisations_shape_the_bounds(t, r, data):
    keep = data.draw(st.lists(st.booleans(), min_size=len(r), max_size=len(r)))
    if not any(keep):
        with pytest.raises(DataError, match="no organisation"):
            fit_bands(Bands(kind="shares", targets=t), r, keep)
        return
    a = fit_bands(Bands(kind="shares", targets=t), r, keep)
    b = fit_bands(Bands(kind="shares", targets=t), [v for v, k in zip(r, keep) if k])
    assert a == b


def test_ties_force_zero_width_grades():
    # one risk for everyone: all of them share the grade whose cumulative target is nearest
    fitted = fit_bands(Bands(kind="shares", targets=ZHEJIANG), [0.03] * 200)
    g = [fitted.grade(v) for v in [0.03] * 200]
    assert set(g) == {"良好"}  # 2.3% is nearer 0 than 100%; 78.7% nearer 100% than 0
    b = list(fitted.bounds.values())
    assert all(x < y for x, y in zip(b, b[1:]))
    # 90% share the lowest risk: 优秀 and 良好 cannot be split; 中等 takes the rest
    r = [0.01] * 90 + [0.2] * 10
    fitted = fit_bands(Bands(kind="shares", targets=ZHEJIANG), r)
    counts = pd.Series([fitted.grade(v) for v in r]).value_counts()
    assert counts.to_dict() == {"良好": 90, "中等": 10}
    table = share_table([fitted.grade(v) for v in r], fitted)
    assert table.set_index("grade").loc["优秀", "band_graded"] == 0


def test_a_smooth_risk_gets_the_targets_to_one_organisation():
    r = np.random.default_rng(7).beta(1, 30, 1000)
    fitted = fit_bands(Bands(kind="shares", targets=ZHEJIANG), r)
    shares = share_table([fitted.grade(v) for v in r], fitted).set_index("grade")
    assert (shares["difference"].abs() <= 0.5 / 1000 + 1e-12).all()
    assert shares["within_tolerance"].all()


def test_other_kinds_are_returned_unchanged_and_bad_input_is_refused():
    risk = Bands(kind="risk", bounds={"优秀": 0.1, "良好": 0.2, "中等": 0.3, "较差": 0.4})
    assert fit_bands(risk, [0.5, 0.1]) is risk
    with pytest.raises(DataError, match="no organisation"):
        fit_bands(Bands(kind="shares", targets=ZHEJIANG), [float("nan")])
    with pytest.raises(DataError, match="flags"):
        fit_bands(Bands(kind="shares", targets=ZHEJIANG), [0.1, 0.2], [True])
    with pytest.raises(ValueError, match="tolerance per grade"):
        Bands(kind="shares", targets=ZHEJIANG, tolerance={"优秀": 0.01})
    with pytest.raises(ValueError, match="sum to 1"):
        Bands(kind="shares", targets={**ZHEJIANG, "差": 0.1})


def test_share_table_counts_only_the_band_graded_and_flags_misses():
    bands = Bands(kind="risk", bounds={"优秀": 0.1, "良好": 0.2, "中等": 0.3, "较差": 0.4}, targets=ZHEJIANG)
    grades = ["良好"] * 8 + ["中等"] * 2 + ["差"] * 5
    eligible = [True] * 10 + [False] * 5  # the five 差 are vetoed
    t = share_table(grades, bands, eligible).set_index("grade")
    assert t["band_graded"].sum() == 10 and t.loc["差", "band_graded"] == 0
    assert t.loc["良好", "share"] == pytest.approx(0.8)
    # default tolerance ±2 points: 良好 80% misses 76.4%, 优秀 0% misses 2.3%, 中等 20% and 较差 0% are within
    assert t["within_tolerance"].tolist() == [False, False, True, True, True]
    assert share_table(grades, None)["within_tolerance"].isna().all()  # no targets: nothing to flag
    graded = pd.DataFrame({"veto": ["", "x", ""], "new_entrant": [False, False, True]})
    assert band_graded(graded).tolist() == [True, False, False]


def test_resolve_bands_uses_the_fitted_bands_or_says_refit():
    inds = load_industries()
    shares = next(i for i in inds.values() if i.bands.kind == "shares")
    fixed = Bands(kind="risk", bounds={"优秀": 0.01, "良好": 0.05, "中等": 0.2, "较差": 0.4}, targets=ZHEJIANG)
    other = shares.model_copy(update={"bands": fixed})  # an industry with fixed bounds (targets reported)
    with pytest.raises(ConfigError, match="refit"):
        resolve_bands(types.SimpleNamespace(bands_=None), shares)
    with pytest.raises(ConfigError, match="refit"):
        resolve_bands(types.SimpleNamespace(), shares)  # a grader saved before bands were fitted
    fitted = fit_bands(shares.bands, np.linspace(0, 0.2, 500), reference="calibration 2024-06-30")
    got = resolve_bands(types.SimpleNamespace(bands_=fitted), shares)
    assert got.kind == "risk" and got.bounds == fitted.bounds and got.tolerance == shares.bands.tolerance
    stale = fitted.model_copy(update={"targets": {"优秀": 0.1, "良好": 0.6, "中等": 0.2, "较差": 0.1, "差": 0.0}})
    with pytest.raises(ConfigError, match="fitted for target shares"):
        resolve_bands(types.SimpleNamespace(bands_=stale), shares)
    assert resolve_bands(types.SimpleNamespace(bands_=fitted), other) is other.bands
    text = bands_text(got)
    assert "校准期 2024-06-30" in text and "目标占比" in text and "优秀2.3%" in text


def test_a_grade_model_keeps_its_fitted_bands(tmp_path):
    from scoring.grades.model import GradeModel

    rng = np.random.default_rng(0)
    X = pd.DataFrame({"a": rng.normal(size=600), "b": rng.normal(size=600)})
    y = (X["a"] + rng.normal(size=600) > 1.2).astype(int)
    m = GradeModel(n_estimators=20, n_classes=2).fit(X, y)
    assert m.bands_ is None
    m.bands_ = fit_bands(Bands(kind="shares", targets=ZHEJIANG), m.predict_risk(X), reference="calibration x")
    m.refresh_version()  # the fitted bands decide grades: they are part of the version
    back = GradeModel.load(m.save(tmp_path / "m.json"))
    assert back.bands_ == m.bands_


# -- Done when: on the realistic profile every industry is within its tolerance of the targets --
OUTCOME_INDUSTRIES = sorted(c for c, i in load_industries().items() if i.label == "outcome")
SHARE_INDUSTRIES = sorted(c for c, i in load_industries().items() if i.bands.kind == "shares")


@pytest.fixture(scope="module")
def realistic_lists(sample_store):
    from scoring.archive.store import open_store
    from scoring.grades.grading import fit_industry
    from scoring.grades.lists import grade_list, grade_population

    path, _ = sample_store
    out = {}
    with open_store(path, read_only=True) as s:
        latest = s.con.execute("SELECT max(export_date) FROM ingest_batches").fetchall()[0][0]
        for code in SHARE_INDUSTRIES:
            model, ev = fit_industry(s, code)
            pop = grade_population(s, model, latest, industry=code)
            out[code] = (model, ev, pop, grade_list(pop, model))
    return out


def test_the_outcome_industries_declare_target_shares():
    assert OUTCOME_INDUSTRIES, "no outcome-labelled industry configured"
    assert set(OUTCOME_INDUSTRIES) <= set(SHARE_INDUSTRIES)
    for code in OUTCOME_INDUSTRIES:
        b = load_industries()[code].bands
        assert b.kind == "shares" and sum(b.targets.values()) == pytest.approx(1)


@pytest.mark.parametrize("code", SHARE_INDUSTRIES)
def test_every_industry_list_is_within_tolerance_of_its_targets(realistic_lists, code):
    from scoring.grades.lists import summary

    model, ev, pop, lst = realistic_lists[code]
    ind = load_industries()[code]
    bands = resolve_bands(model, ind)
    assert bands.kind == "risk" and bands.reference.startswith("hold-out ")
    # the list at the latest date: the band table's grade among the organisations it grades
    g = pop.graded
    eligible = band_graded(g)
    assert int(eligible.sum()) + int((g["veto"] != "").sum()) + int(
        (g["new_entrant"] & (g["veto"] == "")).sum()
    ) == len(g)
    table = share_table(g["model_grade"], bands, eligible).set_index("grade")
    for grade in GRADES:
        share, target = table.loc[grade, "share"], ind.bands.targets[grade]
        assert abs(share - target) <= ind.bands.tolerance_of(grade) + 1e-12, (code, grade, share, target)
    # the list's summary says the same, with vetoed organisations and new entrants apart
    dist, _ = summary(lst)
    d = dist.set_index("grade")
    assert d["within_tolerance"].all()
    assert np.allclose(d["band_share"].to_numpy(float), table["share"].to_numpy(float))
    assert d["vetoed"].sum() == (lst["veto"] != "").sum() and d["organisations"].sum() == len(lst)
    assert d["new_entrants"].sum() == int(g["new_entrant"].sum())
    # and the fit's evidence on the hold-out reports every share next to its target
    assert ev["shares_within_tolerance"] is True
    for row in ev["per_grade"]:
        assert row["target"] == ind.bands.targets[row["grade"]] and row["within_tolerance"] is True
    assert ev["band_graded"] + ev["vetoed"] <= ev["rows"]["holdout"] and ev["bands"]["kind"] == "risk"


def test_the_list_shows_the_bands_the_grader_and_every_share_against_its_target(realistic_lists, tmp_path):
    import openpyxl

    from scoring.grades.lists import list_notes, write_grade_list

    model, _, pop, lst = realistic_lists["elderly_care"]
    model.info_ |= {"contender_zh": "行业模型", "selection": "按留出期AUC选定（示例）"}
    notes = list_notes(pop, model, registered="(model file)", run_id="", fingerprint="f")
    assert notes["评价模型"] == "行业模型" and notes["选用依据"].startswith("按留出期AUC")
    assert "风险概率上限" in notes["分级表"] and "留出期 2025-06-30" in notes["分级表"]
    assert "优秀2.3%±1.5" in notes["分级表"] and "不含直接定级与新设主体" in notes["分级表"]
    (path,) = write_grade_list(lst, tmp_path / "list.xlsx", notes)
    rows = list(openpyxl.load_workbook(path, read_only=True)["等级分布"].values)
    head = rows[0]
    for zh in ("信用等级", "主体数", "其中直接定级", "其中新设主体", "占按分级表定级主体比例", "目标占比", "允许偏差"):
        assert zh in head, zh
    body = [dict(zip(head, r)) for r in rows[1:]]
    assert [r["信用等级"] for r in body] == list(GRADES)
    assert [r["是否在允许偏差内"] for r in body] == ["是"] * 5
    assert sum(r["其中直接定级"] for r in body) == int((lst["veto"] != "").sum())
