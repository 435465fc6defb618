"""The service's role matrix and direct-object attacks, in process (TestClient) on a real serving
database, SQLite and PostgreSQL.

Every route of the app meets every actor (anonymous, citizen, regulator in scope, regulator out of
scope, officer, analyst, auditor, admin) and must answer as CONTRACTS15 "D · service" and B's
access rules say: allowed (2xx, or a redirect that is not to /login) or denied (401 / a redirect to
/login when anonymous, 403 out of role, 404 where existence would leak). A route of the app that is
not in :data:`MATRIX` fails :func:`test_every_route_is_in_the_matrix`. Direct-object attacks get the
same answer as an unknown id, and every denial is registered (查询使用登记).
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.service_harness import (
    ACTORS,
    PASSWORD,
    Population,
    csrf_of,
    last_seq,
    populate,
    purpose_for,
    register_rows,
)

ANON = "anonymous"
EVERYONE = frozenset((ANON, *ACTORS))
LOGGED_IN = frozenset(ACTORS)
REGULATORS = frozenset(("regulator", "regulator_out"))
#: Roles that give a purpose (access.needs_purpose): once per session on pages, X-Purpose on the API.
PURPOSE_ROLES = frozenset(("regulator", "regulator_out", "analyst"))
UNKNOWN_USCC = "91350200776049653A"  # valid check digit, never filled (synthetic USCCs are generated)
DENIED_RESULTS = ("denied", "not_found", "invalid")


@dataclass(frozen=True)
class Cell:
    """One route of the matrix: how to call it and who may."""

    method: str
    path: str  # the route's template, as app.routes spells it
    allowed: frozenset[str]
    api: bool = False
    subject: bool = True  # touches a subject's data or writes: a denial must be registered
    call: Callable[[Any, Population], dict[str, Any]] | None = None  # extra request kwargs
    login_is_ok: bool = False  # a redirect to /login is the allowed answer (logout)
    open_for: frozenset[str] = frozenset()  # actors whose answer the contract leaves open (only: no 5xx)

    def url(self, pop: Population) -> str:
        return self.path.format(
            publication_id=pop.list_id,
            subject_id=pop.organisation,
            plan_id=pop.extra["plan_id"],
            industry=pop.industry,
            subject_key=pop.citizen_key,
            path="style.css",
        )


def _plan_form(client: Any, pop: Population) -> dict[str, Any]:
    return {
        "data": {
            "industry": pop.industry,
            "region": pop.region,
            "period": "2026H2",
            "seed": "11",
            "csrf_token": client.csrf,
        }
    }


def _plan_json(_client: Any, pop: Population) -> dict[str, Any]:
    return {"json": {"industry": pop.industry, "region": pop.region, "period": "2026H2", "seed": 12}}


def _new_user(client: Any, _pop: Population) -> dict[str, Any]:
    return {
        "data": {
            "username": f"u{secrets.token_hex(4)}",
            "password": PASSWORD,
            "role": "auditor",
            "display_name": "新审计员",
            "csrf_token": client.csrf,
        }
    }


def _purpose(client: Any, pop: Population) -> dict[str, Any]:
    role = pop.actor(client.key).role if client.key in PURPOSE_ROLES else "regulator"
    return {"data": {"purpose": purpose_for(role), "csrf_token": client.csrf}}


def _logout(client: Any, _pop: Population) -> dict[str, Any]:
    return {"data": {"csrf_token": client.csrf}}


MATRIX: tuple[Cell, ...] = (
    # pages
    Cell("GET", "/login", EVERYONE, subject=False),
    Cell("POST", "/logout", EVERYONE, subject=False, call=_logout, login_is_ok=True),
    Cell("GET", "/purpose", PURPOSE_ROLES, subject=False, open_for=LOGGED_IN - PURPOSE_ROLES),
    Cell("POST", "/purpose", PURPOSE_ROLES, subject=False, call=_purpose, open_for=LOGGED_IN - PURPOSE_ROLES),
    Cell("GET", "/", LOGGED_IN, subject=False),
    Cell("GET", "/lists/{publication_id}", frozenset(("regulator", "analyst"))),
    Cell("GET", "/lists/{publication_id}/download", frozenset(("regulator",))),
    Cell("GET", "/organisations/{subject_id}", frozenset(("regulator", "analyst"))),
    Cell("GET", "/plans", REGULATORS),
    Cell("GET", "/plans/new", REGULATORS),
    Cell("POST", "/plans/new", frozenset(("regulator",)), call=_plan_form),
    Cell("GET", "/plans/{plan_id}", frozenset(("regulator",))),
    Cell("GET", "/plans/{plan_id}/download", frozenset(("regulator",))),
    Cell("GET", "/whitelists/{industry}", frozenset(("regulator",))),
    Cell("GET", "/whitelists/{industry}/download", frozenset(("regulator",))),
    Cell("GET", "/register", frozenset(("auditor",))),
    Cell("GET", "/register/export", frozenset(("auditor",))),
    Cell("GET", "/register/verify", frozenset(("auditor",))),
    Cell("GET", "/admin/users", frozenset(("admin",))),
    Cell("POST", "/admin/users", frozenset(("admin",)), call=_new_user),
    Cell("GET", "/healthz", EVERYONE, subject=False),
    # API
    Cell("GET", "/api/v1/lists", frozenset(("regulator", "regulator_out", "analyst")), api=True, subject=False),
    Cell("GET", "/api/v1/lists/{publication_id}", frozenset(("regulator", "analyst")), api=True),
    Cell("GET", "/api/v1/lists/{publication_id}/download", frozenset(("regulator",)), api=True),
    Cell("GET", "/api/v1/organisations/{subject_id}", frozenset(("regulator", "analyst")), api=True),
    Cell("POST", "/api/v1/plans", frozenset(("regulator",)), api=True, call=_plan_json),
    Cell("GET", "/api/v1/plans/{plan_id}", frozenset(("regulator",)), api=True),
    Cell("GET", "/api/v1/whitelists/{industry}", frozenset(("regulator",)), api=True),
    Cell("GET", "/api/v1/register", frozenset(("auditor",)), api=True),
    Cell("GET", "/api/v1/register/verify", frozenset(("auditor",)), api=True),
    Cell("GET", "/api/v1/persons/{subject_key}/score", frozenset(("citizen",)), api=True),
    # FastAPI's own and the static files: public, no subject data
    Cell("GET", "/api/openapi.json", EVERYONE, api=True, subject=False),
    Cell("GET", "/api/docs", EVERYONE, subject=False),
    Cell("GET", "/static/{path}", EVERYONE, subject=False),
)
#: Routes answered by dedicated tests below rather than by a matrix cell (reason given).
ELSEWHERE = {("POST", "/login"): "test_login_and_logout: credentials, CSRF and the rate limit"}


# -- the app and its clients ----------------------------------------------------------------------
class Client:
    """A TestClient for one actor: logged in on pages (session + CSRF) or with the Bearer token.
    A page session is logged in once per actor and module (argon2 is slow on purpose) and its
    signed cookie reused by later clients of the same actor."""

    def __init__(self, app: Any, pop: Population, key: str, *, api: bool):
        from fastapi.testclient import TestClient

        self.key, self.pop, self.api = key, pop, api
        self.http = TestClient(app, follow_redirects=False)
        self.csrf: str | None = None
        self.headers: dict[str, str] = {}
        if key == ANON:
            self.csrf = csrf_of(self.http.get("/login").text)
            return
        actor = pop.actor(key)
        if api:
            self.headers["Authorization"] = f"Bearer {actor.token}"
            if key in PURPOSE_ROLES:
                self.headers["X-Purpose"] = purpose_for(actor.role)
            return
        sessions = pop.extra.setdefault("sessions", {})
        if key in sessions:
            self.http.cookies.update(sessions[key])
        else:
            login(self.http, actor.username)
            if key in PURPOSE_ROLES:
                choose_purpose(self.http, purpose_for(actor.role))
            sessions[key] = dict(self.http.cookies)
        self.csrf = page_csrf(self.http)

    def request(self, method: str, url: str, **kw: Any) -> Any:
        headers = {**self.headers, **kw.pop("headers", {})}
        return self.http.request(method, url, headers=headers, **kw)


def page_csrf(http: Any) -> str | None:
    for path in ("/", "/purpose", "/login"):
        token = csrf_of(http.get(path, follow_redirects=True).text)
        if token:
            return token
    return None


def login(http: Any, username: str, password: str = PASSWORD) -> Any:
    token = csrf_of(http.get("/login").text)
    r = http.post(
        "/login", data={"username": username, "password": password, "csrf_token": token}, follow_redirects=False
    )
    assert r.status_code in (302, 303), f"login of {username}: {r.status_code} {r.text[:300]}"
    return r


def choose_purpose(http: Any, purpose: str) -> None:
    token = csrf_of(http.get("/purpose").text)
    r = http.post("/purpose", data={"purpose": purpose, "csrf_token": token}, follow_redirects=False)
    assert r.status_code in (302, 303), f"purpose: {r.status_code} {r.text[:300]}"


def to_login(r: Any) -> bool:
    return r.status_code in (302, 303, 307) and "/login" in r.headers.get("location", "")


def verdict(r: Any, login_is_ok: bool = False) -> str:
    """allowed | denied | error: how a response reads."""
    if r.status_code >= 500:
        return "error"
    if r.status_code in (401, 403, 404) or (to_login(r) and not login_is_ok):
        return "denied"
    if r.status_code < 400:
        return "allowed"
    return f"status {r.status_code}"


def _draw(pop: Population, key: str, industry: str, region: str | None, seed: int) -> str:
    from scoring.serving import database
    from scoring.workflows import supervision

    eng = database.connect(pop.url)
    try:
        actor = pop.actor(key)
        plan = supervision.draw_inspection_plan(
            eng,
            user=actor.username,
            role=actor.role,
            industry=industry,
            region=region,
            period="2026H1",
            seed=seed,
            purpose=purpose_for(actor.role),
        )
    finally:
        eng.dispose()
    return str(plan.plan_id)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(request, tmp_path_factory) -> Iterator[tuple[Any, Population]]:
    """The app on a filled serving database, once per backend, with an inspection plan per regulator."""
    from scoring.service.app import create_app
    from scoring.service.settings import Settings

    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('roles') / 'serving.sqlite'}"
    else:
        url = request.getfixturevalue("postgres_server").new_database("roles")
    pop = populate(url, organisations=600, persons=40, seed=3)
    pop.extra["plan_id"] = _draw(pop, "regulator", pop.industry, pop.region, seed=5)
    pop.extra["other_plan_id"] = _draw(pop, "regulator_out", pop.other_industry, None, seed=5)
    app = create_app(Settings(serving_url=url, secret_key=secrets.token_hex(32)))
    yield app, pop


def route_keys(app: Any) -> set[tuple[str, str]]:
    from starlette.routing import Mount

    keys = set()
    for route in app.routes:
        if isinstance(route, Mount):
            keys.add(("GET", route.path + "/{path}"))
            continue
        for method in getattr(route, "methods", None) or ():
            if method != "HEAD":
                keys.add((method, route.path))
    return keys


def test_every_route_is_in_the_matrix(served):
    app, _pop = served
    known = {(c.method, c.path) for c in MATRIX} | set(ELSEWHERE)
    missing = sorted(route_keys(app) - known)
    assert not missing, f"routes of the app missing from the role matrix: {missing}"
    gone = sorted(known - route_keys(app))
    assert not gone, f"routes of the contract the app does not have: {gone}"


@pytest.mark.parametrize("cell", MATRIX, ids=lambda c: f"{c.method} {c.path}")
def test_role_matrix(served, cell: Cell):
    app, pop = served
    if (cell.method, cell.path) not in route_keys(app):
        pytest.fail(f"{cell.method} {cell.path}: the app has no such route")
    wrong = []
    for key in (ANON, *ACTORS):
        client = Client(app, pop, key, api=cell.api)
        kw = cell.call(client, pop) if cell.call else {}
        before = last_seq(pop.url)
        r = client.request(cell.method, cell.url(pop), **kw)
        got = verdict(r, cell.login_is_ok)
        if key in cell.open_for:
            expected = got if r.status_code < 500 else "no server error"
        else:
            expected = "allowed" if key in cell.allowed else "denied"
        if got != expected:
            wrong.append(f"{key}: {got} ({r.status_code} {r.headers.get('location', '')}) expected {expected}")
            continue
        # every denial of a user is registered; anonymous requests are refused before anyone is known
        # (registering them would let anybody grow the append-only register and hold its lock)
        if got == "denied" and cell.subject and key != ANON:
            rows = [x for x in register_rows(pop.url, before) if x["result"] in DENIED_RESULTS]
            if not rows:
                wrong.append(f"{key}: denied ({r.status_code}) but no denial in the register")
        if key == ANON and cell.api and got == "denied" and r.status_code != 401:
            wrong.append(f"{key}: API answers {r.status_code}, expected 401")
        if got == "denied" and key != ANON and not cell.api and to_login(r):
            wrong.append(f"{key}: logged in but sent to /login ({r.status_code})")
    assert not wrong, f"{cell.method} {cell.path}:\n  " + "\n  ".join(wrong)


# -- direct-object attacks ------------------------------------------------------------------------
def _same_answer(client: Client, attack: str, unknown: str, *, codes: tuple[int, ...] = (404,)) -> list[str]:
    """``attack`` (someone else's object) answers exactly as ``unknown`` (no such object)."""
    pop = client.pop
    before = last_seq(pop.url)
    a = client.request("GET", attack)
    rows = [x for x in register_rows(pop.url, before) if x["result"] in DENIED_RESULTS]
    u = client.request("GET", unknown)
    bad = []
    if a.status_code not in codes:
        bad.append(f"{attack}: {a.status_code}, expected {codes}")
    if a.status_code != u.status_code:
        bad.append(f"{attack}: {a.status_code} but unknown {unknown}: {u.status_code} (existence leaks)")
    elif client.api and a.headers.get("content-type", "").startswith("application/json"):
        if sorted(a.json()) != sorted(u.json()):
            bad.append(f"{attack}: answer {a.json()} differs from unknown's {u.json()}")
    if not rows:
        bad.append(f"{attack}: denied without a register row")
    elif not any(x["username"] == pop.actor(client.key).username for x in rows):
        bad.append(f"{attack}: the denial is registered under {[x['username'] for x in rows]}")
    return bad


def test_regulator_cannot_reach_another_industry(served):
    app, pop = served
    guessed_pid = pop.list_id.rsplit("-", 1)[0] + "-" + secrets.token_hex(4)
    guessed_plan = secrets.token_hex(8)
    bad: list[str] = []
    for api in (False, True):
        reg = Client(app, pop, "regulator", api=api)
        pre = "/api/v1" if api else ""
        bad += _same_answer(reg, f"{pre}/organisations/{pop.other_organisation}", f"{pre}/organisations/{UNKNOWN_USCC}")
        bad += _same_answer(reg, f"{pre}/lists/{pop.other_list_id}", f"{pre}/lists/{guessed_pid}")
        bad += _same_answer(reg, f"{pre}/lists/{pop.other_list_id}/download", f"{pre}/lists/{guessed_pid}/download")
        bad += _same_answer(reg, f"{pre}/plans/{pop.extra['other_plan_id']}", f"{pre}/plans/{guessed_plan}")
        bad += _same_answer(
            reg, f"{pre}/whitelists/{pop.other_industry}", f"{pre}/whitelists/no_such_industry", codes=(403, 404)
        )
        if not api:
            bad += _same_answer(reg, f"/plans/{pop.extra['other_plan_id']}/download", f"/plans/{guessed_plan}/download")
            bad += _same_answer(
                reg,
                f"/whitelists/{pop.other_industry}/download",
                "/whitelists/no_such_industry/download",
                codes=(403, 404),
            )
    assert not bad, "\n".join(bad)


def test_out_of_scope_regulator_sees_its_own(served):
    """The attacks above are denials of scope, not of everything: the other regulator reaches them."""
    app, pop = served
    other = Client(app, pop, "regulator_out", api=True)
    for url in (
        f"/api/v1/organisations/{pop.other_organisation}",
        f"/api/v1/lists/{pop.other_list_id}",
        f"/api/v1/plans/{pop.extra['other_plan_id']}",
        f"/api/v1/whitelists/{pop.other_industry}",
    ):
        r = other.request("GET", url)
        assert r.status_code == 200, f"{url}: {r.status_code} {r.text[:200]}"
    lists = other.request("GET", "/api/v1/lists").json()
    ids = {x["publication_id"] for x in (lists["lists"] if isinstance(lists, dict) else lists)}
    assert pop.other_list_id in ids and pop.list_id not in ids, ids


def test_region_scope_inside_an_industry(served):
    """A regulator of one industry and one region: rows of other regions are never served, and an
    organisation of its industry but another region answers like an unknown one."""
    app, pop = served
    import sqlalchemy as sa

    from scoring.serving import database

    eng = database.engine(pop.url)
    with eng.connect() as c:
        outside = c.execute(
            sa.text(
                "SELECT subject_id FROM grade_entries WHERE publication_id = :p AND region_code <> :r "
                "ORDER BY subject_id LIMIT 1"
            ),
            {"p": pop.list_id, "r": pop.region},
        ).scalar()
    eng.dispose()
    reg = Client(app, pop, "regulator", api=True)
    r = reg.request("GET", f"/api/v1/lists/{pop.list_id}", params={"limit": 1000})
    assert r.status_code == 200, r.text[:300]
    rows = r.json()["rows"]
    assert rows, "the in-scope list shows no rows"
    assert {x["region_code"] for x in rows} == {pop.region}
    if outside is not None:
        bad = _same_answer(reg, f"/api/v1/organisations/{outside}", f"/api/v1/organisations/{UNKNOWN_USCC}")
        assert not bad, "\n".join(bad)


def test_citizen_sees_only_their_own_score(served):
    app, pop = served
    if pop.other_person_key is None:
        pytest.skip("the fill made fewer than two persons")
    cit = Client(app, pop, "citizen", api=True)
    own = cit.request("GET", f"/api/v1/persons/{pop.citizen_key}/score")
    assert own.status_code == 200, own.text[:300]
    bad = _same_answer(
        cit,
        f"/api/v1/persons/{pop.other_person_key}/score",
        f"/api/v1/persons/{secrets.token_hex(8)}/score",
        codes=(403, 404),
    )
    assert not bad, "\n".join(bad)
    # and no other role reads a person's score (natural persons' information is not published)
    for key in ("regulator", "analyst", "officer", "auditor", "admin"):
        r = Client(app, pop, key, api=True).request("GET", f"/api/v1/persons/{pop.citizen_key}/score")
        assert r.status_code in (403, 404), f"{key}: {r.status_code}"


def test_regulator_cannot_draw_for_another_industry(served):
    app, pop = served
    import sqlalchemy as sa

    from scoring.serving import database

    def plans() -> int:
        eng = database.engine(pop.url)
        with eng.connect() as c:
            n = int(c.execute(sa.text("SELECT count(*) FROM inspection_plans")).scalar() or 0)
        eng.dispose()
        return n

    n0 = plans()
    reg = Client(app, pop, "regulator", api=True)
    before = last_seq(pop.url)
    r = reg.request(
        "POST", "/api/v1/plans", json={"industry": pop.other_industry, "region": None, "period": "2026H2", "seed": 1}
    )
    assert r.status_code in (403, 404), r.text[:300]
    assert plans() == n0
    assert any(x["result"] in DENIED_RESULTS for x in register_rows(pop.url, before))


def test_purpose_is_required(served):
    """Regulators and analysts give a purpose: the API answers 400 without X-Purpose (registered as
    invalid), pages send them to /purpose first."""
    app, pop = served
    for key in ("regulator", "analyst"):
        c = Client(app, pop, key, api=True)
        c.headers.pop("X-Purpose")
        before = last_seq(pop.url)
        r = c.request("GET", f"/api/v1/organisations/{pop.organisation}")
        assert r.status_code == 400, f"{key}: {r.status_code}"
        assert "X-Purpose" in r.text
        assert [x for x in register_rows(pop.url, before) if x["result"] == "invalid"], key
        bogus = c.request("GET", f"/api/v1/organisations/{pop.organisation}", headers={"X-Purpose": "no-such"})
        assert bogus.status_code == 400
    from fastapi.testclient import TestClient

    http = TestClient(app, follow_redirects=False)
    login(http, pop.actor("regulator").username)
    r = http.get(f"/organisations/{pop.organisation}")
    assert r.status_code in (302, 303) and "/purpose" in r.headers["location"], r.status_code


def test_reads_are_registered_with_subject_and_purpose(served):
    app, pop = served
    from scoring.serving import access

    reg = Client(app, pop, "regulator", api=False)
    before = last_seq(pop.url)
    assert reg.request("GET", f"/organisations/{pop.organisation}").status_code == 200
    rows = register_rows(pop.url, before)
    mine = [x for x in rows if x["subject"] == pop.organisation and x["result"] == "ok"]
    assert mine, rows
    assert mine[-1]["username"] == pop.actor("regulator").username and mine[-1]["role"] == "regulator"
    assert mine[-1]["purpose"] and mine[-1]["legal_basis"]
    code = purpose_for("regulator")
    assert mine[-1]["purpose"] in (code, access.PURPOSES[code].label_zh), mine[-1]
    assert mine[-1]["legal_basis"] == access.PURPOSES[code].legal_basis


def test_login_and_logout(served):
    """POST /login: wrong password and missing CSRF refused; the rate limit blocks; logout ends it."""
    app, pop = served
    from fastapi.testclient import TestClient

    http = TestClient(app, follow_redirects=False)
    token = csrf_of(http.get("/login").text)
    user = pop.actor("auditor").username
    no_csrf = http.post("/login", data={"username": user, "password": PASSWORD})
    assert no_csrf.status_code == 403
    wrong = http.post("/login", data={"username": user, "password": "wrong-password-1", "csrf_token": token})
    assert wrong.status_code in (200, 400, 401), wrong.status_code  # the form again, no session
    assert http.get("/register").status_code != 200
    login(http, user)
    assert http.get("/register").status_code == 200
    out = http.post("/logout", data={"csrf_token": page_csrf(http)})
    assert out.status_code in (302, 303)
    assert to_login(http.get("/register"))
    # the rate limit: 5 failures per username in 15 minutes, then even the right password is refused
    victim = pop.actor("officer").username
    fresh = TestClient(app, follow_redirects=False)
    for _ in range(6):
        t = csrf_of(fresh.get("/login").text)
        fresh.post("/login", data={"username": victim, "password": "wrong-password-1", "csrf_token": t})
    t = csrf_of(fresh.get("/login").text)
    blocked = fresh.post("/login", data={"username": victim, "password": PASSWORD, "csrf_token": t})
    assert blocked.status_code not in (302, 303), "login succeeded past the rate limit"


def test_csrf_on_every_form_post(served):
    """A logged-in session's form POST without the CSRF token is refused (403), whatever the route."""
    app, pop = served
    posts = [c for c in MATRIX if c.method == "POST" and not c.api]
    for cell in posts:
        key = sorted(cell.allowed - {ANON})[0] if cell.allowed - {ANON} else "regulator"
        client = Client(app, pop, key, api=False)
        kw = cell.call(client, pop) if cell.call else {"data": {}}
        kw["data"] = {k: v for k, v in kw.get("data", {}).items() if k != "csrf_token"}
        r = client.request("POST", cell.url(pop), **kw)
        assert r.status_code == 403, f"POST {cell.path} as {key} without CSRF: {r.status_code}"


def test_verify_through_the_service_detects_an_edited_row(served):
    """The auditor's verify (API and page) reports the chain intact, then the first broken seq after a
    row of the register is edited in the database; restored, it is intact again."""
    app, pop = served
    import sqlalchemy as sa

    from scoring.serving import database

    aud = Client(app, pop, "auditor", api=True)
    ok = aud.request("GET", "/api/v1/register/verify").json()
    assert ok["ok"] is True and ok["first_broken"] is None and ok["rows"] > 10, ok
    victim = register_rows(pop.url)[5]
    eng = database.engine(pop.url)
    edit = sa.text("UPDATE query_register SET username = :u WHERE seq = :s")
    try:
        with eng.begin() as c:
            c.execute(edit, {"u": "someone_else", "s": victim["seq"]})
        broken = aud.request("GET", "/api/v1/register/verify").json()
        assert broken["ok"] is False and broken["first_broken"] == victim["seq"], broken
        page = Client(app, pop, "auditor", api=False).request("GET", "/register/verify")
        assert page.status_code == 200 and str(victim["seq"]) in page.text
    finally:
        with eng.begin() as c:
            c.execute(edit, {"u": victim["username"], "s": victim["seq"]})
        eng.dispose()
    assert aud.request("GET", "/api/v1/register/verify").json()["ok"] is True


def test_access_decisions_from_many_threads():
    """The service's sync routes run in uvicorn's thread pool, so decisions are made concurrently:
    none may fail. (Found by bench/serve_bench.py: HTTP 500 ``SystemError: AST constructor recursion
    depth mismatch`` from casbin's per-call ``ast.parse`` in concurrent threads on CPython 3.11.)"""
    import sys
    import threading

    from scoring.serving.access import Access
    from scoring.serving.identity import User

    access = Access.load()
    user = User(1, "r", "监管", "regulator", industries=("food",), regions=("330702",))
    errors: list[str] = []
    answers: set[bool] = set()

    def work(industry: str) -> None:
        for _ in range(2000):
            try:
                answers.add(access.allowed(user, "organisation", "read", industry=industry, region="330702"))
            except Exception as exc:  # any failure of a decision is the defect
                errors.append(f"{type(exc).__name__}: {exc}")

    threads = [threading.Thread(target=work, args=("food" if i % 4 else "medical",)) for i in range(8)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # threads switch often, as under load
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    assert not errors, f"{len(errors)} failed decisions, e.g. {errors[0]}"
    assert answers == {True, False}
