"""The regulator's console in a real browser: Debian's headless Chromium driven by Playwright
(``playwright.sync_api``; no browser download, ever), against ``scoring serve`` in its own process
on SQLite and PostgreSQL.

A regulator logs in, chooses a purpose, filters a grade list (grade, region), opens an organisation,
downloads the filtered workbook (Chinese headers, percent formats), draws an inspection plan twice
with the same seed (the same plan) and finds it registered; a citizen cannot see the console.
Missing chromium fails under CI (``$CI``) and skips elsewhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import sync_playwright

from tests.browser import HEADLESS_ARGS, chromium
from tests.service_harness import PASSWORD, Population, ServiceProcess, populate, purpose_for, register_rows

CJK = re.compile(r"[\u4e00-\u9fff]")


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory) -> Iterator[Any]:
    """One headless Chromium for the module, a fresh profile folder; pages get fresh contexts."""
    exe = chromium()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=exe, headless=True, args=HEADLESS_ARGS)
        # a fresh user-data-dir per launch is what chromium.launch does; the persistent variant is
        # exercised by test_playwright_drives_debian_chromium
        yield browser
        browser.close()


def test_playwright_drives_debian_chromium(tmp_path):
    """The harness itself: Playwright's sync API drives /usr/bin/chromium (a trivial page, a download)."""
    import http.server
    import threading

    exe = chromium()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/file":
                body = "下载".encode()
                self.send_response(200)
                self.send_header("Content-Disposition", "attachment; filename=f.txt")
            else:
                body = '<title>信义</title><h1 id="x">你好</h1><a href="/file">f</a>'.encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with sync_playwright() as p:
            ctx = p.chromium.launch_persistent_context(
                str(tmp_path / "profile"), executable_path=exe, headless=True, args=HEADLESS_ARGS, accept_downloads=True
            )
            page = ctx.new_page()
            page.goto(f"http://127.0.0.1:{server.server_address[1]}/")
            assert page.title() == "信义" and page.text_content("#x") == "你好"
            with page.expect_download() as dl:
                page.click("a")
            assert Path(dl.value.path()).read_text(encoding="utf-8") == "下载"
            ctx.close()
    finally:
        server.shutdown()
    assert (tmp_path / "profile").is_dir()


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def service(request, tmp_path_factory) -> Iterator[tuple[ServiceProcess, Population]]:
    tmp = tmp_path_factory.mktemp(f"browser-{request.param}")
    if request.param == "sqlite":
        url = f"sqlite:///{tmp / 'serving.sqlite'}"
    else:
        url = request.getfixturevalue("postgres_server").new_database("browser")
    pop = populate(url, organisations=800, persons=10, seed=1)
    with ServiceProcess(url, log=tmp / "serve.log") as svc:
        yield svc, pop


def _login(page: Any, base: str, username: str) -> Any:
    page.goto(f"{base}/login")
    page.fill("form[action='/login'] input[name=username]", username)
    page.fill("form[action='/login'] input[name=password]", PASSWORD)
    with page.expect_navigation():
        page.click("form[action='/login'] button[type=submit]")
    return page


def _rows(page: Any) -> list[list[str]]:
    """The cells of the page's main table (名单 / 抽中主体)."""
    return [[c.strip() for c in r.locator("td").all_inner_texts()] for r in page.locator("table.rows tbody tr").all()]


def _plan_id(page: Any) -> str:
    m = re.search(r"/plans/([^/?#]+)$", page.url)
    assert m, f"not on a plan page: {page.url}"
    return m.group(1)


def test_regulator_console(service, browser_context, tmp_path):
    svc, pop = service
    from openpyxl import load_workbook

    from scoring.serving import database, queries, regions

    ctx = browser_context.new_context(accept_downloads=True, locale="zh-CN")
    page = ctx.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    regulator = pop.actor("regulator")

    # log in: a regulator is asked for the purpose first (查询目的), then sees its scope
    _login(page, svc.base, regulator.username)
    assert "/purpose" in page.url, page.url
    page.select_option("form[action='/purpose'] select[name=purpose]", purpose_for("regulator"))
    with page.expect_navigation():
        page.click("form[action='/purpose'] button[type=submit]")
    assert "查询目的" in page.inner_text("header")
    home = page.inner_text("body")
    assert regions.district(pop.region) in home or pop.region in home
    assert page.locator(f"a[href*='/lists/{pop.list_id}']").count() >= 1
    assert page.locator(f"a[href*='/lists/{pop.other_list_id}']").count() == 0  # not in scope

    # the list, filtered by grade and region
    page.click(f"a[href*='/lists/{pop.list_id}']")
    page.wait_for_load_state()
    eng = database.engine(pop.url)
    with eng.connect() as c:
        _all, n_scope = queries.list_rows(c, pop.list_id, regions=list(regulator.regions))
        grade = str(_all["grade"].value_counts().idxmax())
        expected, n_expected = queries.list_rows(
            c, pop.list_id, grade=grade, region=pop.region, regions=list(regulator.regions)
        )
    eng.dispose()
    page.select_option("form.filters select[name=grade]", grade)
    page.select_option("form.filters select[name=region]", pop.region)
    with page.expect_navigation():
        page.click("form.filters button[type=submit]")
    assert "grade=" in page.url and f"region={pop.region}" in page.url, page.url
    rows = _rows(page)
    assert rows, "the filtered list shows no rows"
    grades = page.locator("table.rows tbody td.grade").all_inner_texts()
    assert grades and set(grades) == {grade}, set(grades)
    districts = {r[2] for r in rows}
    assert districts == {regions.district(pop.region)}, districts
    assert f"共 {n_expected} 户" in page.inner_text("main")  # the count of the filtered list
    shown = {c for r in rows for c in r if re.fullmatch(r"[0-9A-Z]{18}", c)}
    assert shown <= set(expected["subject_id"]), shown - set(expected["subject_id"])

    # open an organisation from the list
    first = page.locator("table tbody tr a[href*='/organisations/']").first
    href = first.get_attribute("href")
    assert href
    subject = href.rstrip("/").rsplit("/", 1)[-1]
    with page.expect_navigation():
        first.click()
    body = page.inner_text("body")
    assert subject in body and grade in body
    for word in ("各等级概率", "主要原因", "历次信用等级", "评价依据", "模型版本"):
        assert word in body, f"organisation page lacks {word}"
    page.go_back()
    page.wait_for_load_state()

    # download the filtered workbook
    with page.expect_download() as dl:
        page.click("form.filters a[href*='/download']")
    path = tmp_path / "list.xlsx"
    dl.value.save_as(path)
    wb = load_workbook(path)
    ws = wb.worksheets[0]
    header_row = next(r for r in ws.iter_rows(min_row=1, max_row=6) if sum(c.value is not None for c in r) > 3)
    headers = [c.value for c in header_row if c.value is not None]
    assert all(CJK.search(str(h)) for h in headers), headers
    data = list(ws.iter_rows(min_row=header_row[0].row + 1))
    assert len(data) == n_expected, (len(data), n_expected)
    formats = {c.number_format for r in data[:50] for c in r}
    assert any("%" in f for f in formats), formats
    assert "说明" in wb.sheetnames

    # draw an inspection plan twice with the same seed: the same plan
    plans = []
    for _ in range(2):
        page.goto(f"{svc.base}/plans")
        with page.expect_navigation():
            page.click("a[href='/plans/new']")
        form = "form[action='/plans/new']"
        page.select_option(f"{form} select[name=industry]", pop.industry)
        page.select_option(f"{form} select[name=region]", pop.region)
        page.fill(f"{form} input[name=period]", "2026H2")
        page.fill(f"{form} input[name=seed]", "20261202")
        with page.expect_navigation():
            page.click(f"{form} button[type=submit]")
        assert "20261202" in page.inner_text("main")
        plans.append((_plan_id(page), _rows(page)))
    (id1, rows1), (id2, rows2) = plans
    assert id1 == id2 and rows1 == rows2 and rows1
    page.goto(f"{svc.base}/plans")
    assert page.locator(f"a[href*='/plans/{id1}']").count() >= 1
    draws = [
        r
        for r in register_rows(pop.url)
        if r["username"] == regulator.username and "plan" in r["what"] and r["action"] == "write"
    ]
    assert len(draws) >= 2, draws
    # the auditor sees both draws in the register (查询使用登记), filtered by the regulator
    auditor = browser_context.new_context()
    apage = auditor.new_page()
    _login(apage, svc.base, pop.actor("auditor").username)
    apage.goto(f"{svc.base}/register?user={regulator.username}&action=write")
    text = apage.inner_text("main")
    assert text.count(f"inspection_plan {id1}") >= 2, text[:2000]
    auditor.close()
    assert not [e for e in errors if "Content Security Policy" in e], errors
    ctx.close()


def test_citizen_cannot_see_the_console(service, browser_context):
    svc, pop = service
    ctx = browser_context.new_context()
    page = ctx.new_page()
    _login(page, svc.base, pop.actor("citizen").username)
    assert page.locator("a[href*='/lists/']").count() == 0
    for url in (f"/lists/{pop.list_id}", f"/organisations/{pop.organisation}", "/plans", "/plans/new"):
        r = page.goto(svc.base + url)
        assert r is not None and r.status in (403, 404), f"{url}: {r and r.status}"
        assert "/login" not in page.url
    ctx.close()


def test_anonymous_is_sent_to_login(service, browser_context):
    svc, pop = service
    ctx = browser_context.new_context()
    page = ctx.new_page()
    page.goto(f"{svc.base}/organisations/{pop.organisation}")
    assert "/login" in page.url
    assert page.locator("input[name=password]").count() == 1
    ctx.close()
