"""Reasons a regulator can act on: golden files, the words' properties, the score effects, Chinese columns.

Golden files (tests/golden/grade_*.txt): three construction firms of a small archive built here (real
DuckDB store through the archive ingest), graded by a fixed linear grader (:class:`LinearGrader`, the
grader protocol of CONTRACTS14 item 3: ``features_``, ``contributions``, ``margin``, ``calibrator_``,
``predict_proba``, ``info_``, ``version_``, ``class_names_``), so the text depends on the wording, the
as-of rules and the grading rules only, never on a LightGBM fit:

* the performed-contract case: one performed contract where the industry's median is 4 reads
  ``近3年合同履约次数偏少：1次，行业中位数4次`` and lowers the score;
* the tax-grade case: tax grade D reads as the letter against the median B;
* the veto case: on the wage-arrears list, the veto's Chinese label first, then the reasons.

The industry reference (``info_['reference']``) is computed as the fit flow does (median, mean and
share of non-zero values per feature over the training rows: here the archive's firms as of the
training cut-off). To refresh the golden files after an intended change::

    XINYI_UPDATE_GOLDEN=1 .venv/bin/python -m pytest -n 0 -q tests/test_grade_reasons.py

which rewrites them and skips (never passes); review with ``git diff tests/golden`` and commit.
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import EXPORT, small_archive
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring.archive.catalog import load_catalog
from scoring.archive.ingest import ingest
from scoring.archive.store import open_store
from scoring.core.privacy import contains_raw_id
from scoring.features.definitions import feature_set_for
from scoring.features.industry import GRADES, Bands, load_industries
from scoring.grades.explain import explain_organisation
from scoring.grades.lists import (
    CODE_COLUMNS,
    LIST_COLUMNS_ZH,
    feature_reference,
    grade_list,
    grade_population,
    grade_score,
    score_effects,
    write_grade_list,
)
from scoring.grades.ordinal import OrdinalCalibrator
from scoring.grades.wording import (
    DIRECTION_SIGN,
    HIGH_WORDS,
    LOW_WORDS,
    feature_reason,
    grade_explanation_text,
    is_zero_effect,
)

GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("XINYI_UPDATE_GOLDEN") == "1"
AS_OF = dt.date(2026, 6, 30)
TRAIN_CUTOFF = dt.date(2026, 3, 31)
CAT = load_catalog()
FSET = feature_set_for("organisations", "construction", None, CAT)
CJK = re.compile(r"[\u4e00-\u9fff]")

N = 10
SUBJECTS, ORGS, PERSONS = small_archive(N, 2)
SUBJECTS.loc[SUBJECTS["subject_type"] != "person", "industry_code"] = "4710"  # 建筑施工企业
SUBJECTS.loc[SUBJECTS["subject_type"] != "person", "name"] = [f"金华测试建设有限公司{i}" for i in range(N)]
CONTRACTS, TAX, VETO = ORGS[0], ORGS[1], ORGS[2]


def _rows() -> list[dict]:
    rows: list[dict] = []

    def add(subject: str, code: str, day: str, **kw) -> None:
        n = len(rows) + 1
        rows.append(
            {
                "record_id": f"G{n}",
                "subject_id": subject,
                "record_type": code,
                "event_date": day,
                "document_no": f"金建〔{day[:4]}〕{n}号",
                "agency": "金华市建设局",
                **kw,
            }
        )

    contracts = {o: 5 if i % 3 == 0 else 4 for i, o in enumerate(ORGS)}  # the median: 4
    contracts[CONTRACTS] = 1
    for o, k in contracts.items():
        for j in range(k):
            add(o, "CON_PERFORMED", f"2025-{1 + j:02d}-15", amount=str(200_000 + 50_000 * j))
        add(o, "EVAL_TAX_GRADE", "2025-05-01", grade="D" if o == TAX else "B", agency="国家税务总局金华市税务局")
    for j in range(3):
        add(
            VETO,
            "ADM_PENALTY",
            f"2026-0{2 + j}-10",
            severity="general",
            amount="20000",
            agency="金华市住房和城乡建设局",
        )
    add(
        VETO,
        "SDL_WAGE_ARREARS",
        "2026-02-01",
        severity="serious",
        list_entry_on="2026-02-01",
        agency="金华市人力资源和社会保障局",
    )
    return rows


class LinearGrader:
    """A fixed linear grader of the grader protocol: ``margin = bias + Σ w_f (x_f − centre_f)``; the
    contributions are ``w_f (x_f − centre_f)`` plus ``bias`` (they sum exactly to the margin), missing
    values count as the centre; calibrated grade probabilities by a fixed ordinal link."""

    class_names_ = list(GRADES)
    n_classes_ = len(GRADES)

    def __init__(self, weights: dict[str, float], centre: dict[str, float], bias: float, info: dict):
        self.features_ = list(weights)
        self.w = np.array([weights[f] for f in self.features_])
        self.centre = np.array([centre[f] for f in self.features_])
        self.bias = bias
        self.calibrator_ = OrdinalCalibrator.from_dict(
            {"n_classes": 5, "scale": 1.0, "thresholds": [-1.5, 1.0, 2.5, 3.5]}
        )
        self.info_ = info
        # fixed risk bounds in place of bands fitted to the industry's target shares
        policy = load_industries()["construction"].bands
        self.bands_ = Bands(
            kind="risk",
            bounds={"优秀": 0.01, "良好": 0.1, "中等": 0.3, "较差": 0.6},
            targets=dict(policy.targets),
            tolerance=policy.tolerance,
            reference="golden",
        )
        self.version_ = "golden-linear-1"

    def contributions(self, X) -> pd.DataFrame:
        Z = X[self.features_].to_numpy(float)
        Z = np.where(np.isnan(Z), self.centre, Z)
        out = pd.DataFrame((Z - self.centre) * self.w, index=X.index, columns=self.features_)
        out["bias"] = self.bias
        return out

    def margin(self, X) -> np.ndarray:
        return self.contributions(X).sum(axis=1).to_numpy(float)

    def predict_proba(self, X, calibrated: bool = True) -> np.ndarray:
        return self.calibrator_.predict_proba(self.margin(X))

    def predict_risk(self, X, calibrated: bool = True) -> np.ndarray:
        return self.predict_proba(X)[:, -2:].sum(axis=1)

    def predict_class(self, X) -> np.ndarray:
        return self.calibrator_.predict(self.margin(X))


WEIGHTS = {
    "contract_performed_count_3y": -0.5,
    "tax_grade_latest": -0.8,
    "penalty_count_1y": 0.6,
    "reward_count": -0.3,  # nobody has a reward: every contribution is 0, never a reason
    "wage_arrears_list_active": 2.0,
}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """The archive in a real store and the fixed grader with the reference of its training rows."""
    from scoring.features.builder import build_features

    d = tmp_path_factory.mktemp("grade-golden")
    SUBJECTS.to_csv(d / "subjects.csv", index=False)
    pd.DataFrame(_rows()).to_csv(d / "records.csv", index=False)
    with open_store(d / "store.duckdb") as st_:
        res = ingest([d / "subjects.csv", d / "records.csv"], st_, export_date=EXPORT)
        assert res.quarantined == 0, res.by_reason
        train = build_features(st_, TRAIN_CUTOFF, subjects="organisations", industry="construction").values
    reference = feature_reference(train[list(WEIGHTS)])  # as the fit flow stores it (CONTRACTS14 item 4)
    centre = {f: reference[f]["mean"] for f in WEIGHTS}
    info = {"industry": "construction", "label": "expert_grade", "reference": reference, "contender_zh": "测试线性模型"}
    return d / "store.duckdb", LinearGrader(WEIGHTS, centre, 0.0, info)


def _check(name: str, text: str) -> None:
    path = GOLDEN / name
    if UPDATE:  # the test skips at its end (see _refreshed), never passes
        path.parent.mkdir(exist_ok=True)
        path.write_text(text + "\n", encoding="utf-8")
        return
    assert path.exists(), f"{path} is missing; create it with XINYI_UPDATE_GOLDEN=1 (see this module's docstring)"
    assert text + "\n" == path.read_text(encoding="utf-8"), f"{name} differs from the golden file"


def _refreshed() -> None:
    if UPDATE:
        pytest.skip("golden files refreshed: review `git diff tests/golden` and commit")


def _explained(world, subject: str) -> tuple[dict, str, pd.Series]:
    path, model = world
    with open_store(path, read_only=True) as s:
        e = explain_organisation(s, model, subject, AS_OF)
        lst = grade_list(grade_population(s, model, AS_OF), model).set_index("subject_id")
    text = grade_explanation_text(e)
    assert not contains_raw_id(text) and not any(p in text for p in PERSONS)
    assert "inf" not in text and "nan" not in text and "_" not in text and "+0.00" not in text
    # the list's reasons are the explanation's first reasons
    shown = [lst.loc[subject, f"reason_{n}"] for n in (1, 2, 3)]
    assert [t for t in shown if t] == [r["text"] for r in e["reasons"]][: len([t for t in shown if t])]
    # effects sum exactly to the score's difference from the industry base
    assert e["score"]["sum_of_effects"] == pytest.approx(e["score"]["difference"], abs=1e-9)
    p = np.array([e["probabilities"][g] for g in GRADES])
    assert e["score"]["score"] == pytest.approx(100 * (1 - p @ np.arange(5) / 4), abs=1e-9)  # the expected grade
    return e, text, lst.loc[subject]


def test_few_performed_contracts_read_as_too_few_against_the_industry_median(world):
    e, text, row = _explained(world, CONTRACTS)
    first = next(r for r in e["reasons"] if r["kind"] != "veto")
    assert first["feature"] == "contract_performed_count_3y" and first["effect"] < 0
    assert first["text"].startswith("近3年合同履约次数偏少：1次，行业中位数4次（使信用得分降低")
    assert "推高风险" not in text and "较行业基准" not in text
    assert [q["record_type"] for q in first["records"]] == ["CON_PERFORMED"]
    assert "合同履约 2025-01-15" in text  # the record behind it, by its Chinese name
    assert not any(r["feature"] == "reward_count" for r in e["reasons"] if r["kind"] != "veto")
    _check("grade_performed_contracts.txt", text)
    _refreshed()


def test_a_tax_grade_reads_as_its_letter(world):
    e, text, row = _explained(world, TAX)
    tax = next(r for r in e["reasons"] if r.get("feature") == "tax_grade_latest")
    assert tax["text"].startswith("最近纳税信用等级为D，低于行业中位数B") and tax["effect"] < 0
    assert "(A=5" not in text and "等级为1" not in text
    assert "纳税信用等级 2025-05-01" in text and " 等级D，计至2027-05-01" in text  # the record with its grade
    _check("grade_tax_grade.txt", text)
    _refreshed()


def test_a_veto_comes_first_by_its_chinese_label_then_the_reasons(world):
    e, text, row = _explained(world, VETO)
    assert (
        e["grade"] == "差" and e["veto"] == "wage_arrears" and e["veto_zh"] == "列入拖欠农民工工资失信联合惩戒对象名单"
    )
    assert e["reasons"][0]["kind"] == "veto" and e["reasons"][0]["text"].startswith("直接定级：列入拖欠农民工工资失信")
    assert "拖欠农民工工资失信联合惩戒对象名单（严重） 2026-02-01" in text
    assert e["reasons"][1]["text"].startswith("近1年行政处罚次数偏多：3次，行业中位数0次")
    assert not any(r.get("feature") == "wage_arrears_list_active" for r in e["reasons"][1:])  # the veto says it
    assert text.index("直接定级：") < text.index("近1年行政处罚次数偏多")
    assert (
        row["veto_zh"] == e["veto_zh"] and row["veto"] == "wage_arrears" and row["reason_1"] == e["reasons"][0]["text"]
    )
    _check("grade_veto.txt", text)
    _refreshed()


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_every_column_of_a_written_list_is_chinese_and_codes_have_their_own(world, tmp_path, suffix):
    import openpyxl

    path, model = world
    with open_store(path, read_only=True) as s:
        lst = grade_list(grade_population(s, model, AS_OF), model)
    assert set(lst.columns) <= set(LIST_COLUMNS_ZH), set(lst.columns) - set(LIST_COLUMNS_ZH)
    out = write_grade_list(lst, tmp_path / f"list{suffix}")[0]
    if suffix == ".xlsx":
        rows = list(openpyxl.load_workbook(out, read_only=True)["等级名单"].values)
        shown = pd.DataFrame(rows[1:], columns=rows[0])
    else:
        shown = pd.read_csv(out, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    header = list(shown.columns)
    assert all(CJK.search(str(h)) for h in header), [h for h in header if not CJK.search(str(h))]
    assert set(header) <= set(LIST_COLUMNS_ZH.values())
    for code in CODE_COLUMNS:  # documented code columns, next to their Chinese texts
        assert LIST_COLUMNS_ZH[code] in header
    assert {f"{g}概率" for g in GRADES} <= set(header)
    assert (shown["行业"] == "建筑施工企业").all() and (shown["行业代码"] == "construction").all()
    v = shown.set_index("统一社会信用代码").loc[VETO]
    assert v["直接定级规则"] == "列入拖欠农民工工资失信联合惩戒对象名单" and v["直接定级代码"] == "wage_arrears"
    assert set(shown.loc[shown["直接定级代码"].isin(["", None]), "直接定级规则"].fillna("")) <= {""}


# -- properties -----------------------------------------------------------------------------------
def _word_position(text: str, agg: str) -> int:
    """+1 / -1 when the fact's words say the value is above / below its reference, 0 when none
    (a list state: 当前列入 above, 未列入 below the industry's usual state)."""
    fact = text.split("（使信用得分")[0]
    if agg == "active_list":
        return -1 if "未列入" in fact else 1
    high = any(w in fact for w in HIGH_WORDS)
    low = any(w in fact for w in LOW_WORDS)
    assert not (high and low), text
    return 1 if high else -1 if low else 0


def _check_reason(r, value, reference, agg: str) -> None:
    """A reason is never a zero effect; its direction word is true of the fact and agrees with the
    effect's sign and the feature's declared direction."""
    assert not is_zero_effect(r.effect) and not re.search(r"(?<![\d.])0\.0分", r.text)
    assert ("提高" in r.text) == (r.effect > 0) and ("降低" in r.text) == (r.effect < 0)
    pos = _word_position(r.text, agg)
    assert pos == r.position
    if pos:
        if r.compared_with == "state":
            assert pos == (1 if value > 0 else -1), r.text
        else:
            ref = reference["median"] if r.compared_with == "median" else reference["mean"]
            assert np.sign(value - ref) == pos, (r.text, value, ref)  # true of the fact
        d = DIRECTION_SIGN.get(r.direction, 0)
        if d:  # risk-raising (score lowered) only by more of a bad thing or less of a good one
            assert pos * d == -np.sign(r.effect), r.text


SPECS = list(FSET.features)
refs = st.fixed_dictionaries(
    {
        "median": st.one_of(st.none(), st.floats(0, 2000, allow_nan=False)),
        "mean": st.one_of(st.none(), st.floats(0, 2000, allow_nan=False)),
        "share_nonzero": st.floats(0, 1),
    }
)


@settings(max_examples=400, deadline=None)
@given(
    spec=st.sampled_from(SPECS),
    value=st.one_of(st.none(), st.sampled_from([0.0, 1.0, 2.0, 3.0, 5.0]), st.floats(0, 2000, allow_nan=False)),
    ref=refs,
    effect=st.one_of(st.floats(-30, 30, allow_nan=False), st.sampled_from([0.0, 0.04, -0.049, 0.05, -0.06])),
)
def test_no_zero_effect_and_no_direction_word_against_the_fact_or_the_effect(spec, value, ref, effect):
    if spec.agg == "latest_grade":
        value = None if value is None else float(min(spec.grade_values.values(), key=lambda g: abs(g - value)))
    r = feature_reason(spec, value, ref, contribution=-effect, effect=effect, catalog=CAT)
    if r is None:
        return
    assert r.feature == spec.name
    _check_reason(r, value, ref, spec.agg)
    assert "(A=5" not in r.text and "A=5" not in r.text and not re.search(r"等级为\d", r.text)


calibrators = st.builds(
    lambda scale, t0, gaps: {"n_classes": 5, "scale": scale, "thresholds": list(np.cumsum([t0, *gaps]))},
    st.floats(0.05, 5),
    st.floats(-6, 6),
    st.lists(st.floats(0.01, 4), min_size=3, max_size=3),
)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cal=calibrators,
    bias=st.floats(-8, 8),
    contrib=st.lists(st.lists(st.floats(-4, 4), min_size=4, max_size=4), min_size=1, max_size=6),
    zero_row=st.booleans(),
)
def test_score_effects_keep_their_signs_and_sum_to_the_score_difference(cal, bias, contrib, zero_row):
    class Grader:
        calibrator_ = OrdinalCalibrator.from_dict(cal)

    C = pd.DataFrame(contrib + ([[0.0, 0.0, 0.0, 0.0]] if zero_row else []), columns=list("abcd"))
    C["bias"] = bias
    E = score_effects(Grader, C)
    eta, eta0 = C.sum(axis=1).to_numpy(), C["bias"].to_numpy()
    assert np.allclose(E[list("abcd")].sum(axis=1), grade_score(Grader, eta) - grade_score(Grader, eta0), atol=1e-9)
    assert np.allclose(E["score"] - E["base_score"], E[list("abcd")].sum(axis=1), atol=1e-9)
    # a contribution that raises the risk score never raises the grade score
    assert (np.sign(E[list("abcd")].to_numpy()) * np.sign(C[list("abcd")].to_numpy()) <= 0).all()


def test_every_reason_of_a_fitted_model_on_the_sample_holds_the_rules(sample_store):
    """The committed sample, LightGBM (TreeSHAP effects: relative to the expected value, not the
    median): every reason of every firm of the list holds the rules, and none cites a performed
    contract, an honour or a reward as raising the risk."""
    from scoring.features.training import training_set
    from scoring.grades.grading import fit_industry, load_grading_config
    from scoring.grades.lists import organisation_reasons

    path, _ = sample_store
    cfg = load_grading_config()
    ind = load_industries()["construction"]
    with open_store(path, read_only=True) as s:
        model, _ = fit_industry(s, "construction")
        train = training_set(s, [cfg.cutoffs[-1]], subjects="organisations", industry="construction", label=ind.label)
        model.info_["reference"] = feature_reference(train[model.features_])  # as the fit flow stores it
        pop = grade_population(s, model, "2026-06-30")
        lst = grade_list(pop, model)
    assert pop.reference_source == "model"
    effects = score_effects(model, pop.contributions)
    feats = list(model.features_)
    assert np.allclose(effects[feats].sum(axis=1), effects["score"] - effects["base_score"], atol=1e-9)
    p = pop.graded[[f"p_{g}" for g in model.class_names_]].to_numpy(float)
    k = p.shape[1]
    assert np.allclose(effects["score"], 100 * (1 - p @ np.arange(k) / (k - 1)), atol=1e-9)
    n = 0
    for sid in pop.X.index:
        for r in organisation_reasons(pop, sid, effects, FSET, CAT, pop.reference):
            v = pop.X.loc[sid, r.feature]
            _check_reason(r, None if math.isnan(v) else v, pop.reference[r.feature], FSET[r.feature].agg)
            n += 1
    assert n > len(pop.X)  # most firms have reasons
    texts = pd.concat([lst[f"reason_{k}"] for k in (1, 2, 3)])
    texts = texts[texts != ""]
    assert not texts.str.contains("推高风险|（\\+0\\.00）|\\(A=5|=1\\)|(?<![\\d.])0\\.0分").any()
    good = texts[texts.str.contains("合同履约|荣誉|行政奖励") & texts.str.contains("降低")]
    assert not good.str.contains("偏多|偏高").any(), good.head().tolist()
    assert lst.loc[lst["veto"] != "", "reason_1"].str.startswith("直接定级：").all()
    assert (lst.loc[lst["veto"] != "", "veto_zh"] != lst.loc[lst["veto"] != "", "veto"]).all()
