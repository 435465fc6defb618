"""The service's gate: login and logout, session cookie, CSRF on every form, login rate limit, API
tokens, the purpose of regulators and analysts, security headers, the secret key, single sign-on off,
and `scoring serve` refusing a missing database. SQLite and PostgreSQL (serving_url)."""

from __future__ import annotations

import os
import stat

import pytest
from fastapi.routing import APIRoute
from typer.testing import CliRunner

from scoring.core.errors import ConfigError
from scoring.service.settings import SECRET_FILE, Settings, resolve_secret
from scoring.serving import identity
from scoring.serving.access import ROLES_ZH
from tests.service_helpers import PASSWORD, build, csrf_of, login, register_rows, token_of


@pytest.fixture
def svc(serving_url):
    s = build(serving_url, organisations=300)
    yield s
    s.engine.dispose()


def test_login_logout_cookie_and_redirects(svc):
    c = svc.client()
    r = c.get("/")
    assert r.status_code == 303 and r.headers["location"] == "/login?next=%2F"
    r = c.get(f"/organisations/{svc.org()}")
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=")
    assert c.get("/api/v1/lists").status_code == 401
    for path in ("/plans/new", "/admin/users", "/purpose", "/logout"):  # an anonymous form POST: the login page
        r = c.post(path, data={})
        assert r.status_code == 303 and r.headers["location"].startswith("/login"), path

    r = login(c, "reg", "wrong-password-123")
    assert r.status_code == 401 and "用户名或密码错误" in r.text
    r = login(c, "reg", purpose=None)
    assert r.status_code == 303 and r.headers["location"].startswith("/purpose")
    cookie = r.headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie and "xinyi_session=" in cookie
    page = c.get("/")
    assert page.status_code == 200 and "测试reg" in page.text and ROLES_ZH["regulator"] in page.text
    # logout needs the token, then the session is gone
    r = c.post("/logout", data={"csrf_token": token_of(c)})
    assert r.status_code == 303 and r.headers["location"] == "/login"
    assert c.get("/").status_code == 303
    actions = [(row["username"], row["action"], row["result"]) for row in register_rows(svc)]
    assert ("reg", "login", "ok") in actions and ("reg", "logout", "ok") in actions


def test_login_rejects_open_redirect(svc):
    c = svc.client()
    r = c.get("/login")
    r = c.post(
        "/login",
        data={"username": "auditor", "password": PASSWORD, "csrf_token": csrf_of(r.text), "next": "//evil.example/x"},
    )
    assert r.status_code == 303 and r.headers["location"] == "/"


def test_csrf_refused_on_every_form_post(svc):
    c = svc.client()
    # the login form itself
    assert c.post("/login", data={"username": "admin", "password": PASSWORD}).status_code == 403
    login(c, "admin")
    good = token_of(c)
    post_routes = [
        r.path
        for r in svc.app.routes
        if isinstance(r, APIRoute) and "POST" in r.methods and not r.path.startswith("/api/")
    ]
    assert {"/login", "/logout", "/purpose", "/plans/new", "/admin/users"} <= set(post_routes)
    for path in post_routes:
        assert c.post(path, data={"csrf_token": "forged"}).status_code == 403, path
        assert c.post(path, data={}).status_code == 403, path
    # still logged in: the forged logout did nothing
    assert c.get("/").status_code == 200
    # a user added only with the right token
    form = {"username": "newreg", "role": "auditor", "password": "another-long-pass", "csrf_token": good}
    r = c.post("/admin/users", data=form)
    assert r.status_code == 200 and "newreg" in r.text
    # a session-cookie API POST needs the header token
    assert c.post("/api/v1/plans", json={"industry": "construction", "period": "2026", "seed": 1}).status_code == 403
    denied = [row for row in register_rows(svc) if row["result"] == "denied" and row["username"] == "admin"]
    assert denied and all((row["detail"] or {}).get("reason") == "csrf" for row in denied)


def test_login_rate_limit(svc):
    c = svc.client()
    for _ in range(5):
        assert login(c, "auditor", "wrong-password-123").status_code == 401
    r = login(c, "auditor")  # the right password, too late
    assert r.status_code == 429 and "15分钟" in r.text
    # another user is not blocked
    assert login(svc.client(), "admin").status_code == 303


def test_api_tokens_and_purpose_header(svc):
    with svc.engine.begin() as conn:
        tok = identity.issue_token(conn, svc.users["reg"], "test")
        bad = identity.issue_token(conn, svc.users["reg"], "revoked")
        identity.revoke_token(conn, identity.token_id_of(bad))
        atok = identity.issue_token(conn, svc.users["auditor"], "audit")
    c = svc.client()
    auth = {"Authorization": f"Bearer {tok}"}
    r = c.get("/api/v1/lists", headers=auth)
    assert r.status_code == 400 and "X-Purpose" in r.json()["detail"]
    r = c.get("/api/v1/lists", headers={**auth, "X-Purpose": "model_evaluation"})  # an analyst's purpose
    assert r.status_code == 400
    r = c.get("/api/v1/lists", headers={**auth, "X-Purpose": "daily_supervision"})
    assert r.status_code == 200
    lists = r.json()["lists"]
    assert lists and {x["scope"] if "scope" in x else x["industry"] for x in lists} == {"construction"}
    assert (
        c.get("/api/v1/lists", headers={"Authorization": f"Bearer {bad}", "X-Purpose": "daily_supervision"}).status_code
        == 401
    )
    assert c.get("/api/v1/lists", headers={"Authorization": "Bearer xy_nothing_here"}).status_code == 401
    # a Bearer header never falls back to the cookie
    login(c, "auditor")
    assert c.get("/api/v1/register", headers={"Authorization": "Bearer xy_nothing_here"}).status_code == 401
    # no cookie, no CSRF: the auditor's token reads the register, the regulator's token is 403 there
    fresh = svc.client()
    assert fresh.get("/api/v1/register", headers={"Authorization": f"Bearer {atok}"}).status_code == 200
    assert fresh.get("/api/v1/register", headers={**auth, "X-Purpose": "daily_supervision"}).status_code == 403
    # invalid parameters are refused (422) and registered as invalid too
    r = fresh.get(f"/api/v1/lists/{svc.pub()}", params={"limit": 0}, headers={**auth, "X-Purpose": "daily_supervision"})
    assert r.status_code == 422
    rows = register_rows(svc)
    invalid = [row for row in rows if row["result"] == "invalid" and row["username"] == "reg"]
    assert len(invalid) == 3 and invalid[-1]["what"] == f"/api/v1/lists/{svc.pub()}"
    ok = [row for row in rows if row["username"] == "reg" and row["result"] == "ok"]
    assert not ok or all(row["purpose"] == "daily_supervision" and row["legal_basis"] for row in ok)


def test_purpose_required_in_console(svc):
    c = svc.client()
    login(c, "reg", purpose=None)
    target = f"/lists/{svc.pub()}"
    r = c.get(target)
    assert r.status_code == 303 and r.headers["location"].startswith("/purpose?next=")
    page = c.get(r.headers["location"])
    assert (
        page.status_code == 200 and "日常监管" in page.text and "模型评估" not in page.text
    )  # the role's purposes only
    token = csrf_of(page.text)
    assert c.post("/purpose", data={"purpose": "model_evaluation", "csrf_token": token}).status_code == 400
    r = c.post("/purpose", data={"purpose": "random_inspection", "csrf_token": token, "next": target})
    assert r.status_code == 303 and r.headers["location"] == target
    r = c.get(target)
    assert r.status_code == 200 and "双随机抽查" in r.text
    row = register_rows(svc)[-1]
    assert row["purpose"] == "random_inspection" and "国发〔2019〕5号" in (row["legal_basis"] or "")
    # roles without a purpose (auditor) are never sent there
    a = svc.client()
    login(a, "auditor")
    assert a.get("/register").status_code == 200
    r = a.get("/purpose")
    assert r.status_code == 303 and r.headers["location"] == "/"


def test_security_headers_and_health(svc):
    c = svc.client()
    r = c.get("/healthz")
    assert r.status_code == 200 and r.json() == {"status": "ok"}
    for resp in (r, c.get("/login"), c.get("/api/v1/lists")):
        h = resp.headers
        assert "default-src 'self'" in h["content-security-policy"]
        assert h["x-frame-options"] == "DENY" and h["x-content-type-options"] == "nosniff"
        assert h["cache-control"] == "no-store"
    page = c.get("/login").text
    assert "<script" not in page and "style=" not in page  # CSP: nothing inline
    css = c.get("/static/style.css")
    assert css.status_code == 200 and "@media print" in css.text and "http" not in css.text
    assert c.get("/login/oidc").status_code == 404  # single sign-on not configured
    assert rows_without_anonymous(svc)


def rows_without_anonymous(svc) -> bool:
    """/healthz and anonymous pages register nothing."""
    return all(row["username"] != "anonymous" for row in register_rows(svc))


def test_openapi_and_docs(svc):
    c = svc.client()
    spec = c.get("/api/openapi.json").json()
    paths = set(spec["paths"])
    assert {
        "/api/v1/lists",
        "/api/v1/lists/{publication_id}",
        "/api/v1/lists/{publication_id}/download",
        "/api/v1/organisations/{subject_id}",
        "/api/v1/plans",
        "/api/v1/plans/{plan_id}",
        "/api/v1/whitelists/{industry}",
        "/api/v1/register",
        "/api/v1/register/verify",
        "/api/v1/persons/{subject_key}/score",
    } == paths
    docs = c.get("/api/docs")
    assert docs.status_code == 200 and "/api/v1/organisations/{subject_id}" in docs.text and "<script" not in docs.text


def test_secret_key_file_and_postgres(tmp_path, monkeypatch):
    monkeypatch.delenv("XINYI_SECRET_KEY", raising=False)
    url = f"sqlite:///{tmp_path / 'db' / 'serving.sqlite'}"
    key = resolve_secret(url)
    f = tmp_path / "db" / SECRET_FILE
    assert f.is_file() and stat.S_IMODE(f.stat().st_mode) == 0o600 and len(key) >= 32
    assert Settings(url).secret == key  # the same key on the next start
    os.chmod(f, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        resolve_secret(url)
    with pytest.raises(ConfigError, match="XINYI_SECRET_KEY"):
        resolve_secret("postgresql://u@127.0.0.1:5432/x")
    monkeypatch.setenv("XINYI_SECRET_KEY", "k" * 40)
    assert resolve_secret("postgresql://u@127.0.0.1:5432/x") == "k" * 40
    monkeypatch.setenv("XINYI_SECRET_KEY", "short")
    with pytest.raises(ConfigError, match="at least"):
        resolve_secret(url)
    monkeypatch.setenv("XINYI_SECRET_KEY", "k" * 40)
    monkeypatch.setenv("XINYI_OIDC_ISSUER", "https://sso.example")
    with pytest.raises(ConfigError, match="XINYI_OIDC_CLIENT_ID"):
        Settings.from_env(url)


def test_serve_refuses_a_missing_database(tmp_path):
    from scoring.cli import app

    missing = tmp_path / "nothing.sqlite"
    r = CliRunner().invoke(app, ["serve", "--serving", f"sqlite:///{missing}"])
    assert r.exit_code == 2
    assert "does not exist" in r.output and "scoring demo" in r.output and "scoring serving push" in r.output
    assert not missing.exists()
    import sqlite3

    empty = tmp_path / "empty.sqlite"
    sqlite3.connect(empty).close()
    r = CliRunner().invoke(app, ["serve", "--serving", f"sqlite:///{empty}"])
    assert r.exit_code == 2 and "has no tables yet" in r.output and "scoring demo" in r.output


def test_oidc_routes_only_when_configured(serving_url):
    from fastapi.routing import APIRoute

    from scoring.service.app import create_app
    from scoring.service.settings import OIDCSettings

    sso = OIDCSettings("https://sso.example.gov.cn/realms/xinyi", "xinyi", "client-secret")
    app = create_app(Settings(serving_url, secret_key="k" * 40, oidc=sso))
    paths = {r.path for r in app.routes if isinstance(r, APIRoute)}
    assert {"/login/oidc", "/login/oidc/callback"} <= paths
    assert sso.metadata_url == "https://sso.example.gov.cn/realms/xinyi/.well-known/openid-configuration"
    plain = create_app(Settings(serving_url, secret_key="k" * 40))
    assert not {r.path for r in plain.routes if isinstance(r, APIRoute)} & {"/login/oidc", "/login/oidc/callback"}
    app.state.engine.dispose()
    plain.state.engine.dispose()
