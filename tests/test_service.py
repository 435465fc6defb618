"""The regulator's console and the API on a filled serving database (synthetic.fill), SQLite and
PostgreSQL: list filters, distribution, migration, pages; the organisation page; downloads opened
with openpyxl; plans and whitelists; the register written for reads, denials and misses; citizens
see their own score only; no raw ID number in any answer or register row."""

from __future__ import annotations

import io
import re
from urllib.parse import unquote

import openpyxl
import pytest

from scoring.core.privacy import contains_raw_id
from scoring.features.industry import GRADES
from scoring.serving import register
from scoring.serving.regions import load_regions
from tests.service_helpers import IND, build, login, register_rows, token_of

RAW_ID = "11010519491231002X"  # a valid GB 11643 number (DOMAIN.md): must never come back


@pytest.fixture
def svc(serving_url):
    s = build(serving_url)
    yield s
    s.engine.dispose()


def codes_in(html: str) -> list[str]:
    return re.findall(r'<a href="/organisations/([0-9A-Z]{18})">', html)


def grades_in(html: str) -> list[str]:
    return re.findall(r'<td class="grade g-[^"]+">([^<]+)</td>', html)


def test_home_and_list_filters(svc):
    c = svc.client()
    login(c, "reg_all")
    home = c.get("/")
    assert home.status_code == 200 and "建筑施工企业" in home.text
    assert svc.pub() in home.text and svc.pub("medical") not in home.text  # only the lists in scope
    pub = svc.pub()
    page = c.get(f"/lists/{pub}")
    assert page.status_code == 200
    assert "等级分布" in page.text and "等级迁移" in page.text and "上期名单" in page.text
    total = int(re.search(r"名单（共 (\d+) 户", page.text).group(1))
    assert total > 50 and len(codes_in(page.text)) == 50  # one page of 50
    page2 = c.get(f"/lists/{pub}?page=2")
    assert set(codes_in(page2.text)).isdisjoint(codes_in(page.text))
    for g in ("良好", "中等"):
        r = c.get(f"/lists/{pub}", params={"grade": g})
        got = grades_in(r.text)
        assert got and set(got) == {g}
    r = c.get(f"/lists/{pub}", params={"region": svc.other_region})
    assert codes_in(r.text) and all(code[2:8] == svc.other_region for code in codes_in(r.text))
    r = c.get(f"/lists/{pub}", params={"veto": "yes"})
    n_veto = int(re.search(r"名单（共 (\d+) 户", r.text).group(1))
    r2 = c.get(f"/lists/{pub}", params={"veto": "no"})
    assert n_veto + int(re.search(r"名单（共 (\d+) 户", r2.text).group(1)) == total
    r = c.get(f"/lists/{pub}", params={"change": "新增"})
    assert r.status_code == 200
    one = codes_in(page.text)[0]
    r = c.get(f"/lists/{pub}", params={"q": one})
    assert codes_in(r.text) == [one]
    assert c.get(f"/lists/{pub}", params={"grade": "AAA"}).status_code == 400
    # the register: one row per page seen, with the filters
    rows = [r for r in register_rows(svc) if r["username"] == "reg_all" and r["what"] == f"/lists/{pub}"]
    assert any((r["detail"] or {}).get("filters", {}).get("grade") == "良好" for r in rows)
    assert {r["result"] for r in rows} >= {"ok", "invalid"}


def test_region_scope_and_direct_objects(svc):
    c = svc.client()
    login(c, "reg")  # construction, one region
    pub = svc.pub()
    page = c.get(f"/lists/{pub}")
    assert page.status_code == 200
    assert codes_in(page.text) and all(code[2:8] == svc.region for code in codes_in(page.text))
    # another region's filter gives nothing, another region's organisation is "not found"
    assert codes_in(c.get(f"/lists/{pub}", params={"region": svc.other_region}).text) == []
    outside = svc.org(region=svc.other_region)
    unknown = "91330702MA00000000"
    r_out, r_unknown = c.get(f"/organisations/{outside}"), c.get(f"/organisations/{unknown}")
    assert r_out.status_code == r_unknown.status_code == 404
    assert r_out.text.replace(outside, "") == r_unknown.text.replace(unknown, "")
    # the industry of its grade lists decides, whatever the registered industry code (GB/T 4754 in pushes)
    import sqlalchemy as sa

    from scoring.serving import schema

    mine = svc.org(region=svc.region)
    with svc.engine.begin() as conn:
        conn.execute(
            sa.update(schema.organisations)
            .where(schema.organisations.c.subject_id == mine)
            .values(industry_code="4811")
        )
    page = c.get(f"/organisations/{mine}")
    assert page.status_code == 200 and "建筑施工企业" in page.text
    # another industry's list: 404 as an unknown list
    assert c.get(f"/lists/{svc.pub('medical')}").status_code == 404
    assert c.get("/lists/grade_list-construction-1999-01-01-guessed").status_code == 404
    assert c.get(f"/organisations/{svc.org('medical')}").status_code == 404
    rows = [r for r in register_rows(svc) if r["username"] == "reg"]
    misses = [r for r in rows if r["result"] == "not_found"]
    assert len(misses) == 5
    assert any(r["what"] == f"/organisations/{outside}" for r in misses)
    # a role without lists: 403, registered as denied
    cit = svc.client()
    login(cit, "citizen")
    assert cit.get(f"/lists/{pub}").status_code == 403
    assert any(r["username"] == "citizen" and r["result"] == "denied" for r in register_rows(svc))


def test_organisation_page(svc):
    c = svc.client()
    login(c, "reg_all")
    with svc.engine.connect() as conn:
        import sqlalchemy as sa

        from scoring.serving import schema

        t = schema.grade_entries
        row = (
            conn.execute(sa.select(t).where(t.c.publication_id == svc.pub(), t.c.veto != "").order_by(t.c.subject_id))
            .first()
            ._mapping
        )
    sid = row["subject_id"]
    r = c.get(f"/organisations/{sid}")
    assert r.status_code == 200
    html = r.text
    assert row["grade"] in html and row["veto_zh"] in html
    assert "各等级概率" in html and all(g in html for g in GRADES) and "%" in html
    for reason in row["reasons"]:
        assert reason["label_zh"] in html
        for rec in reason.get("records") or []:
            assert rec["document_no"] in html
    assert "历次信用等级" in html and html.count(f"/organisations/{sid}?publication_id=") == 2  # two periods
    assert "模型版本" in html and "数据快照" in html and "公示编号" in html
    assert "<script" not in html and "style=" not in html and "http://" not in html  # CSP: nothing inline or external
    # a pushed justification (scoring justify) shows beside the publication's notes
    from scoring.serving.push import push_justification

    with svc.engine.begin() as conn:
        push_justification(
            conn,
            svc.pub(),
            sid,
            {
                "match": True,
                "rederived": row["grade"],
                "band_evidence": {"grade": row["grade"], "what": "留出期实际发生率"},
            },
        )
    html = c.get(f"/organisations/{sid}").text
    assert "复算一致" in html and "分级证据" in html and "留出期实际发生率" in html
    # the older period's entry
    older = svc.pub(newest=False)
    r = c.get(f"/organisations/{sid}", params={"publication_id": older})
    assert r.status_code == 200 and older in r.text and "2025-06-30" in r.text
    assert c.get(f"/organisations/{sid}", params={"publication_id": svc.pub("medical")}).status_code == 404
    row = register_rows(svc)[-1]
    assert row["subject"] == sid and row["action"] == "read" and row["purpose"] == "daily_supervision"
    # the API gives the same organisation as JSON
    api = c.get(f"/api/v1/organisations/{sid}")
    assert api.status_code == 200
    body = api.json()
    assert body["organisation"]["subject_id"] == sid and body["entry"]["grade"] and body["history"]
    assert "模型版本" in body["justification"]


def test_downloads_open_with_openpyxl(svc):
    c = svc.client()
    login(c, "reg_all")
    pub = svc.pub()
    r = c.get(f"/lists/{pub}/download", params={"grade": "良好"})
    assert r.status_code == 200 and r.headers["content-type"].startswith("application/vnd.openxmlformats")
    cd = r.headers["content-disposition"]
    assert cd.startswith("attachment;") and "filename*=UTF-8''" in cd
    assert "建筑施工企业信用等级名单" in unquote(cd.split("filename*=UTF-8''")[1])
    wb = openpyxl.load_workbook(io.BytesIO(r.content))
    assert wb.sheetnames[0] == "等级名单" and "说明" in wb.sheetnames
    rows = list(wb["等级名单"].iter_rows(values_only=True))
    head = next(i for i, row in enumerate(rows) if "信用等级" in row and "统一社会信用代码" in row)
    header = rows[head]
    body = [row for row in rows[head + 1 :] if row[header.index("统一社会信用代码")]]
    assert {row[header.index("信用等级")] for row in body} == {"良好"}  # the filter holds in the file
    assert all(isinstance(h, str) and not h.isascii() for h in header if h)  # Chinese headers
    page = c.get(f"/lists/{pub}", params={"grade": "良好"})
    total = int(re.search(r"名单（共 (\d+) 户", page.text).group(1))
    assert len({row[header.index("统一社会信用代码")] for row in body}) == total
    notes = [v for row in wb["说明"].iter_rows(values_only=True) for v in row if v]
    assert pub in notes or any(pub in str(v) for v in notes)  # the publication id in 说明
    row = [x for x in register_rows(svc) if x["what"] == f"/lists/{pub}/download"][-1]
    assert row["action"] == "download" and row["detail"]["rows"] == total
    # an analyst reads lists but takes no file away
    an = svc.client()
    login(an, "analyst", purpose="model_evaluation")
    assert an.get(f"/lists/{pub}").status_code == 200 and "下载名单" not in an.get(f"/lists/{pub}").text
    assert an.get(f"/lists/{pub}/download").status_code == 403
    # the API download is the same workbook
    api = c.get(f"/api/v1/lists/{pub}/download", params={"grade": "良好"})
    assert api.status_code == 200 and api.content[:2] == b"PK"


def test_plans_draw_show_download(svc):
    c = svc.client()
    login(c, "reg_all", purpose="random_inspection")
    form = c.get("/plans/new")
    assert form.status_code == 200 and "随机种子" in form.text
    data = {"industry": IND, "region": svc.region, "period": "2026H2", "seed": "42", "csrf_token": token_of(c)}
    r = c.post("/plans/new", data=data)
    assert r.status_code == 303 and r.headers["location"].startswith("/plans/")
    plan_url = r.headers["location"]
    again = c.post("/plans/new", data=data)
    assert again.headers["location"] == plan_url  # same seed, same population: same plan
    page = c.get(plan_url)
    assert page.status_code == 200 and "分层抽取" in page.text and "42" in page.text
    assert all(code[2:8] == svc.region for code in codes_in(page.text))
    assert plan_url.split("/")[-1] in c.get("/plans").text
    dl = c.get(plan_url + "/download")
    assert dl.status_code == 200 and "filename*=UTF-8''" in dl.headers["content-disposition"]
    wb = openpyxl.load_workbook(io.BytesIO(dl.content))
    assert len(wb.sheetnames) >= 2
    # the API draws the same plan; another regulator outside the region gets 404 for it
    api = c.post(
        "/api/v1/plans",
        json={"industry": IND, "region": svc.region, "period": "2026H2", "seed": 42},
        headers={"X-CSRF-Token": token_of(c)},
    )
    assert api.status_code == 201 and api.json()["plan_id"] == plan_url.split("/")[-1]
    other = svc.client()
    login(other, "analyst", purpose="model_evaluation")
    assert other.get(plan_url).status_code == 403
    rows = register_rows(svc)
    assert any(r["action"] == "write" and r["username"] == "reg_all" and "42" in str(r["detail"]) for r in rows)


def test_whitelist(svc):
    c = svc.client()
    login(c, "reg_all", purpose="credit_loans")
    r = c.get(f"/whitelists/{IND}")
    assert r.status_code == 200 and "信易贷白名单" in r.text and "不是对主体的标签" in r.text
    dl = c.get(f"/whitelists/{IND}/download")
    assert dl.status_code == 200 and "filename*=UTF-8''" in dl.headers["content-disposition"]
    openpyxl.load_workbook(io.BytesIO(dl.content))
    assert c.get("/whitelists/medical").status_code == 404  # outside the industries in scope
    api = c.get(f"/api/v1/whitelists/{IND}", headers={"X-Purpose": "credit_loans"})
    assert api.status_code == 200
    body = api.json()
    worst = {"较差", "差"}
    assert all(row["grade"] not in worst for row in body["rows"])
    assert all(not row.get("veto") for row in body["rows"])
    # a regulator of one region sees the whitelisted organisations of that region only
    r1 = svc.client()
    login(r1, "reg", purpose="credit_loans")
    one = r1.get(f"/api/v1/whitelists/{IND}", headers={"X-Purpose": "credit_loans"}).json()
    district = load_regions()[svc.region]
    assert 0 < one["total"] < body["total"] and {row["district_zh"] for row in one["rows"]} == {district}
    assert set(codes_in(r1.get(f"/whitelists/{IND}").text)) == {row["subject_id"] for row in one["rows"]}


def test_citizen_sees_own_score_only(svc):
    c = svc.client()
    login(c, "citizen")
    own = c.get(f"/api/v1/persons/{svc.citizen_key}/score")
    assert own.status_code == 200 and own.json()["score"]["subject_key"] == svc.citizen_key
    other = c.get(f"/api/v1/persons/{svc.other_key}/score")
    unknown = c.get("/api/v1/persons/Sxxxxxxxxxxxxxxxx/score")
    assert other.status_code == unknown.status_code == 404 and other.json() == unknown.json()
    assert c.get(f"/organisations/{svc.org()}").status_code == 403
    assert c.get("/").status_code == 200
    rows = [r for r in register_rows(svc) if r["username"] == "citizen"]
    assert any(r["subject"] == svc.citizen_key and r["result"] == "ok" for r in rows)
    assert sum(r["result"] == "not_found" for r in rows) == 2
    # a regulator has no person scores
    reg = svc.client()
    login(reg, "reg_all")
    assert reg.get(f"/api/v1/persons/{svc.citizen_key}/score").status_code == 403


def test_auditor_register_and_admin_users(svc):
    reg = svc.client()
    login(reg, "reg_all")
    reg.get(f"/organisations/{svc.org()}")
    a = svc.client()
    login(a, "auditor")
    page = a.get("/register", params={"user": "reg_all"})
    assert page.status_code == 200 and "reg_all" in page.text and svc.org() in page.text
    ex = a.get("/register/export", params={"user": "reg_all"})
    assert ex.status_code == 200 and "filename*=UTF-8''" in ex.headers["content-disposition"]
    wb = openpyxl.load_workbook(io.BytesIO(ex.content))
    cells = [c.value for ws in wb for row in ws.iter_rows() for c in row if c.value is not None]
    assert svc.org() in cells
    v = a.get("/register/verify")
    assert v.status_code == 200 and "登记链完整" in v.text
    api = a.get("/api/v1/register/verify")
    assert api.json()["ok"] is True
    assert a.get("/admin/users").status_code == 403
    assert reg.get("/register").status_code == 403
    adm = svc.client()
    login(adm, "admin")
    users = adm.get("/admin/users")
    assert users.status_code == 200 and "reg_all" in users.text
    r = adm.post(
        "/admin/users", data={"username": "x", "role": "regulator", "password": "short", "csrf_token": token_of(adm)}
    )
    assert r.status_code == 400
    with svc.engine.connect() as conn:
        assert register.verify(conn).ok


def test_no_raw_id_anywhere(svc):
    c = svc.client()
    login(c, "reg_all")
    pub = svc.pub()
    answers = [
        c.get(f"/lists/{pub}", params={"q": RAW_ID}),
        c.get(f"/organisations/{RAW_ID}"),
        c.get(f"/api/v1/organisations/{RAW_ID}"),
        c.get(f"/api/v1/lists/{pub}", params={"q": RAW_ID}),
        c.get(f"/api/v1/persons/{RAW_ID}/score"),
        c.get(f"/lists/{pub}/download", params={"q": RAW_ID}),
    ]
    for r in answers:
        assert r.status_code in (200, 400, 403, 404)
        text = r.text if "xml" not in r.headers.get("content-type", "") else ""
        assert RAW_ID not in text and not contains_raw_id(text)
    for row in register_rows(svc):
        assert not contains_raw_id(str(row)), row


def test_hostile_ids_are_not_found_not_errors(svc):
    """NUL and control characters (PostgreSQL refuses them in a string) and over-long ids: 404 or
    400, never a server error; the register keeps them masked and stripped."""
    c = svc.client()
    login(c, "reg_all")
    pub = svc.pub()
    for url in (
        "/organisations/%00abc",
        "/api/v1/organisations/91%00",
        f"/api/v1/organisations/{'9' * 300}",
        "/lists/%00",
        "/api/v1/lists/%1b%5b31m",
        "/plans/%00",
        "/api/v1/plans/%00",
        "/api/v1/persons/%00/score",
    ):
        assert c.get(url).status_code in (403, 404), url
    assert c.get(f"/lists/{pub}", params={"q": "\x00\x1b"}).status_code == 200
    r = c.post(
        "/api/v1/plans",
        json={"industry": IND, "period": "2026\x00", "seed": 1},
        headers={"X-CSRF-Token": token_of(c)},
    )
    assert r.status_code == 422
    a = svc.client()
    login(a, "auditor")
    assert a.get("/register", params={"user": "\x00x", "subject": "\x00"}).status_code == 200
    assert a.get("/api/v1/register", params={"user": "\x00x"}).status_code == 200
    for row in register_rows(svc):
        assert "\x00" not in str(row) and "\x1b" not in str(row)
