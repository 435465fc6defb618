"""Inspection plans and whitelists on the serving database (SQLite and PostgreSQL): drawn from the
latest published list, saved and loaded as drawn, every draw and export registered; the CLI writes
the workbooks."""

from __future__ import annotations

import io
import json

import openpyxl
import pandas as pd
import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from scoring.cli import app
from scoring.core.errors import NotFoundError, XinyiError
from scoring.features.industry import GRADES, load_industries
from scoring.grades.inspection import stratum_size
from scoring.serving import database, queries, register, synthetic
from scoring.serving.plans import list_plans, load_plan
from scoring.serving.schema import grade_entries, query_register
from scoring.workflows.supervision import credit_whitelist, draw_inspection_plan, plan_of, plans_in

IND = "construction"


@pytest.fixture
def filled(serving_url):
    eng = database.connect(serving_url)
    synthetic.fill(eng, organisations=1500, industries=[IND, "medical"], seed=11)
    return eng


def _register(eng) -> pd.DataFrame:
    with eng.connect() as conn:
        frame, _ = register.entries(conn, limit=1000)
    return frame


def test_a_plan_is_drawn_from_the_latest_list_saved_loaded_and_registered(filled):
    eng = filled
    with eng.connect() as conn:
        pub = queries.latest_list(conn, IND)
        rows, total = queries.list_rows(conn, pub["publication_id"])
    plan = draw_inspection_plan(
        eng, user="reg1", role="regulator", industry=IND, period="2026", seed=99, purpose="random_inspection"
    )
    assert plan.population == total and plan.publication_id == pub["publication_id"] and plan.drawn_by == "reg1"
    ratios = {g: m.sampling_ratio for g, m in load_industries()[IND].supervision.items()}
    counts = rows["grade"].value_counts()
    for s in plan.strata.itertuples():
        assert s.selected == stratum_size(int(counts.get(s.grade, 0)), ratios[s.grade])
    # the selections carry the organisation's district, address and masked legal representative
    assert plan.selections["address"].str.len().gt(0).all()
    assert plan.selections["legal_rep_masked"].str.contains(r"^\S\*+$").all()
    # loaded as drawn
    with eng.connect() as conn:
        back = load_plan(conn, plan.plan_id)
    pd.testing.assert_frame_equal(back.selections, plan.selections, check_dtype=False)
    assert back.strata[["grade", "population", "selected"]].equals(plan.strata[["grade", "population", "selected"]])
    assert back.seed == 99 and back.period == "2026" and back.as_of == pub["as_of"]
    # the same seed again: the same plan, not saved twice, but registered again
    again = draw_inspection_plan(
        eng, user="reg2", role="regulator", industry=IND, period="2026", seed=99, purpose="random_inspection"
    )
    assert again.plan_id == plan.plan_id and again.drawn_by == "reg1"
    other = draw_inspection_plan(
        eng, user="reg1", role="regulator", industry=IND, period="2026", seed=100, purpose="random_inspection"
    )
    assert other.plan_id != plan.plan_id
    assert [p["plan_id"] for p in plans_in(eng, [IND])] and len(plans_in(eng, ["medical"])) == 0
    with eng.connect() as conn:
        assert {p["plan_id"] for p in list_plans(conn)} == {plan.plan_id, other.plan_id}
    reg = _register(eng)
    draws = reg[reg["what"].str.startswith("inspection_plan")]
    assert len(draws) == 3 and set(draws["action"]) == {"write"}
    details = [d if isinstance(d, dict) else json.loads(d) for d in draws["detail"]]
    assert sorted(d["seed"] for d in details) == [99, 99, 100]
    assert draws["legal_basis"].str.contains("双随机").all()
    with eng.connect() as conn:
        assert register.verify(conn).ok


def test_a_grade_change_in_the_published_list_moves_the_organisation(filled):
    eng = filled
    with eng.connect() as conn:
        pub = queries.latest_list(conn, IND)
        rows, _ = queries.list_rows(conn, pub["publication_id"], grade="良好")
    target = rows["subject_id"].iloc[0]
    before = draw_inspection_plan(eng, user="r", role="admin", industry=IND, period="2026H1", seed=1)
    with eng.begin() as conn:
        conn.execute(
            sa.update(grade_entries)
            .where(grade_entries.c.publication_id == pub["publication_id"], grade_entries.c.subject_id == target)
            .values(grade="差")
        )
    after = draw_inspection_plan(eng, user="r", role="admin", industry=IND, period="2026H1", seed=1)
    assert after.plan_id != before.plan_id
    row = after.selections.set_index("subject_id").loc[target]  # 差 is inspected at 100%
    assert row["grade"] == "差" and row["reason_zh"].startswith("差等级主体全部纳入检查")


def test_regions_purposes_and_unknowns(filled):
    eng = filled
    with eng.connect() as conn:
        pub = queries.latest_list(conn, IND)
        rows, _ = queries.list_rows(conn, pub["publication_id"])
    region = rows["region_code"].value_counts().index[0]
    plan = draw_inspection_plan(
        eng, user="r", role="regulator", industry=IND, region=region, period="2026Q3", seed=3,
        purpose="random_inspection",
    )  # fmt: skip
    assert plan.population == int((rows["region_code"] == region).sum()) and plan.region == region
    assert plan.selections["district_zh"].nunique() == 1
    with pytest.raises(XinyiError, match="purpose"):
        draw_inspection_plan(eng, user="r", role="regulator", industry=IND, period="2026", seed=3)
    with pytest.raises(NotFoundError, match="unknown industry"):
        draw_inspection_plan(eng, user="r", role="admin", industry="shipping", period="2026", seed=3)
    with pytest.raises(NotFoundError, match="no published grade list"):
        draw_inspection_plan(eng, user="r", role="admin", industry="food", period="2026", seed=3)
    with pytest.raises(NotFoundError, match="no inspection plan"):
        plan_of(eng, "plan-guessed", user="r", role="admin")
    reg = _register(eng)
    assert "not_found" in set(reg["result"])


def test_the_whitelist_is_drawn_from_the_latest_list_and_registered_as_an_export(filled):
    eng = filled
    frame, rule = credit_whitelist(eng, user="bank-desk", role="regulator", industry=IND, purpose="credit_loans")
    with eng.connect() as conn:
        pub = queries.latest_list(conn, IND)
        rows, total = queries.list_rows(conn, pub["publication_id"])
    assert frame.attrs["publication_id"] == pub["publication_id"] and frame.attrs["population"] == total
    ok = rows[rows["grade"].isin(GRADES[:2]) & (rows["veto"].fillna("") == "")]
    assert set(frame["subject_id"]) == set(ok["subject_id"]) and len(frame)
    reg = _register(eng)
    ex = reg[reg["what"] == f"whitelist {rule.code} {IND}"]
    assert len(ex) == 1 and ex["action"].iloc[0] == "export" and "国办发〔2021〕52号" in ex["legal_basis"].iloc[0]


def test_cli_draws_shows_and_exports(filled, serving_url, tmp_path):
    runner = CliRunner()
    out = tmp_path / "plan.xlsx"
    args = ["plans", "draw", "--industry", IND, "--period", "2026", "--seed", "7", "--out", str(out)]
    r = runner.invoke(app, [*args, "--serving", serving_url, "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    wb = openpyxl.load_workbook(out)
    assert wb.sheetnames == ["抽查名单", "各等级抽查比例", "说明"]
    assert wb["抽查名单"].max_row - 1 == d["selected"] and dict(list(wb["说明"].values)[1:])["计划编号"] == d["plan"]
    again = runner.invoke(app, [*args[:-1], str(tmp_path / "again.xlsx"), "--serving", serving_url, "--json"])
    assert json.loads(again.stdout)["plan"] == d["plan"]  # the same seed, the same plan
    assert runner.invoke(app, [*args, "--serving", serving_url]).exit_code == 2  # never overwrites
    show = runner.invoke(app, ["plans", "show", d["plan"], "--serving", serving_url])
    assert show.exit_code == 0 and d["plan"] in show.stdout and "等级主体" in show.stdout
    wl = tmp_path / "wl.xlsx"
    r = runner.invoke(app, ["whitelist", "--industry", IND, "--out", str(wl), "--serving", serving_url, "--json"])
    assert r.exit_code == 0, r.output
    listed = json.loads(r.stdout)["listed"]
    book = openpyxl.load_workbook(io.BytesIO(wl.read_bytes()))
    assert (
        book["白名单"].max_row - 1 == listed
        and "不是对主体的信用标签" in dict(list(book["说明"].values)[1:])["场景规则"]
    )
    lst = runner.invoke(app, ["plans", "list", "--serving", serving_url, "--json"])
    assert [p["plan_id"] for p in json.loads(lst.stdout)] == [d["plan"]]
    eng = database.connect(serving_url)
    with eng.connect() as conn:
        n = conn.execute(sa.select(sa.func.count()).select_from(query_register)).scalar_one()
    assert n >= 4  # draw, draw again, show, whitelist


def test_the_serving_rows_write_as_a_grade_list_workbook(filled):
    from scoring.grades.lists import grade_list_workbook, publication_notes

    eng = filled
    with eng.connect() as conn:
        pub = queries.latest_list(conn, IND)
        rows, total = queries.list_rows(conn, pub["publication_id"])
    wb = openpyxl.load_workbook(io.BytesIO(grade_list_workbook(rows, publication_notes(pub))))
    ws = wb["等级名单"]
    head = [c.value for c in ws[1]]
    assert head[:6] == ["统一社会信用代码", "名称", "信用等级", "所属区县", "住所", "法定代表人"]
    assert "行政区划代码" in head and ws.max_row - 1 == total and ws.print_title_cols == "$A:$C"
    notes = dict(list(wb["说明"].values)[1:])
    assert notes["发布编号"] == pub["publication_id"] and "免责声明" in notes
    assert any(k.startswith("直接定级规则") for k in notes) and any(k.startswith("分级表：") for k in notes)


def test_a_regulator_draws_and_reads_within_its_scope_only(filled):
    from scoring.serving.identity import User

    eng = filled
    local = User(1, "wucheng", "婺城区建设局", "regulator", industries=(IND,), regions=("330702",))
    plan = draw_inspection_plan(
        eng, user=local, role="regulator", industry=IND, period="2026", seed=4, purpose="random_inspection"
    )
    with eng.connect() as conn:
        rows, n_local = queries.list_rows(conn, queries.latest_list(conn, IND)["publication_id"], region="330702")
    assert plan.population == n_local and set(plan.selections["district_zh"]) == {"婺城区"} and plan.region == "330702"
    assert plan.drawn_by == "wucheng"
    with pytest.raises(NotFoundError, match="scope"):
        draw_inspection_plan(
            eng, user=local, role="regulator", industry="medical", period="2026", seed=4, purpose="random_inspection"
        )
    with pytest.raises(NotFoundError, match="scope"):
        draw_inspection_plan(
            eng, user=local, role="regulator", industry=IND, region="330703", period="2026", seed=4,
            purpose="random_inspection",
        )  # fmt: skip
    whole = draw_inspection_plan(eng, user="cli:ops", role="admin", industry=IND, period="2026", seed=4)
    with pytest.raises(NotFoundError, match="scope"):  # a whole-jurisdiction plan holds other districts
        plan_of(eng, whole.plan_id, user=local, role="regulator", purpose="random_inspection")
    assert plan_of(eng, plan.plan_id, user=local, role="regulator", purpose="random_inspection").plan_id == plan.plan_id
    two = User(2, "two", "两区", "regulator", industries=(IND,), regions=("330702", "330703"))
    with pytest.raises(XinyiError, match="region"):
        draw_inspection_plan(
            eng, user=two, role="regulator", industry=IND, period="2026", seed=4, purpose="random_inspection"
        )
    listed, _ = credit_whitelist(eng, user=local, role="regulator", industry=IND, purpose="credit_loans")
    assert set(listed["district_zh"]) <= {"婺城区"} and listed.attrs["population"] == n_local
    reg = _register(eng)
    assert (reg["result"] == "denied").sum() == 3
    with eng.connect() as conn:
        assert register.verify(conn).ok
