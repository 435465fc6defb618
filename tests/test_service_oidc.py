"""Single sign-on (统一身份认证) end to end: xinyi on uvicorn against a real OpenID Connect provider
(tests/oidc_provider.py, authlib's server side), every redirect followed by hand, on SQLite and
PostgreSQL (the ``serving_url`` fixture). Nothing of the client side is mocked."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pytest
import sqlalchemy as sa

from scoring.service.app import SESSION_COOKIE, create_app
from scoring.service.settings import OIDCSettings, Settings
from scoring.serving import database, identity, register, schema, synthetic
from tests.browser import HEADLESS_ARGS, chromium
from tests.oidc_provider import EndUser, Provider, bound_socket, serve

SECRET = "o" * 48


@dataclass
class SSO:
    provider: Provider
    base: str  # xinyi's URL
    engine: sa.Engine

    def client(self) -> httpx.Client:
        return httpx.Client(follow_redirects=False, timeout=30)

    def users(self) -> list[tuple[str, str, str | None]]:
        t = schema.users
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(t.c.username, t.c.role, t.c.oidc_subject).order_by(t.c.username))
            return [(r[0], r[1], r[2]) for r in rows]

    def logins(self, username: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            frame, _ = register.entries(conn, user=username, action="login", limit=None)
        return list(frame.to_dict("records"))


@pytest.fixture
def sso(request: pytest.FixtureRequest, serving_url: str) -> Iterator[SSO]:
    """xinyi (on uvicorn) with single sign-on at a running provider; ``request.param``: more
    OIDCSettings (``redirect_uri`` may name ``{base}``, xinyi's URL)."""
    extra = dict(getattr(request, "param", {}))
    engine = database.connect(serving_url)
    synthetic.fill(engine, organisations=60, seed=5)
    with Provider.running(client_secret="client-secret-for-tests") as provider:
        iss = provider.issuer
        with engine.begin() as conn:
            identity.create_user(
                conn, "sso_auditor", None, "auditor", display_name="审计员王五", oidc_subject=f"{iss}|u-aud"
            )
            identity.create_user(
                conn,
                "sso_reg",
                None,
                "regulator",
                display_name="监管员李四",
                industries=("construction",),
                regions=("*",),
                oidc_subject=f"{iss}|u-reg",
            )
            identity.create_user(conn, "admin", "correct-horse-battery", "admin", display_name="管理员")
            identity.create_user(conn, "zhang.san", None, "analyst", display_name="分析员张三")
        bound = bound_socket()
        if extra.get("redirect_uri"):
            extra["redirect_uri"] = extra["redirect_uri"].format(base=bound[1])
        oidc = OIDCSettings(iss, provider.client.client_id, provider.client.client_secret, **extra)
        app = create_app(Settings(serving_url, secret_key=SECRET, oidc=oidc))
        with serve(app, bound) as base:
            provider.client.redirect_uris = [f"{base}/login/oidc/callback"]
            yield SSO(provider, base, engine)
        app.state.engine.dispose()
    engine.dispose()


def to_provider(
    sso: SSO, c: httpx.Client, *, callback: str | None = None, headers: dict[str, str] | None = None
) -> tuple[str, dict[str, str]]:
    """GET /login/oidc: the redirect to the provider's /authorize, checked (``callback``: the
    redirect_uri expected, default xinyi's own), and its query."""
    r = c.get(f"{sso.base}/login/oidc", headers=headers)
    assert r.status_code in (302, 303, 307), r.text
    loc = r.headers["location"]
    assert loc.startswith(f"{sso.provider.issuer}/authorize?")
    q = {k: v[0] for k, v in parse_qs(urlsplit(loc).query).items()}
    assert q["response_type"] == "code" and q["client_id"] == sso.provider.client.client_id
    assert q["redirect_uri"] == (callback or f"{sso.base}/login/oidc/callback")
    assert "openid" in q["scope"].split() and q["state"] and q["nonce"]
    return loc, q


def to_callback(sso: SSO, c: httpx.Client, authorize: str) -> str:
    """The provider approves its end user and sends the browser back with a code."""
    r = c.get(authorize)
    assert r.status_code == 302, r.text
    cb = r.headers["location"]
    assert cb.startswith(f"{sso.base}/login/oidc/callback?")
    q = parse_qs(urlsplit(cb).query)
    assert q["code"] and q["state"]
    return cb


def with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    q = {k: v[0] for k, v in parse_qs(parts.query).items()}
    q.update(changes)
    return urlunsplit(parts._replace(query=urlencode(q)))


def assert_logged_out(sso: SSO, c: httpx.Client) -> None:
    r = c.get(f"{sso.base}/")
    assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_sso_logs_in_the_linked_user(sso: SSO) -> None:
    before = sso.users()
    sso.provider.user = EndUser(sub="u-aud", name="Wang Wu", preferred_username="somebody-else")
    with sso.client() as c:
        assert_logged_out(sso, c)
        authorize, q = to_provider(sso, c)
        cb = to_callback(sso, c, authorize)
        r = c.get(cb)
        assert r.status_code == 303, r.text
        assert r.headers["location"] == "/"  # an auditor gives no purpose
        cookie = r.headers["set-cookie"]
        assert cookie.startswith(f"{SESSION_COOKIE}=") and "httponly" in cookie.lower()
        assert "samesite=lax" in cookie.lower()  # sent when the browser comes back from the provider
        home = c.get(f"{sso.base}/")
        assert home.status_code == 200 and "审计员王五" in home.text
    # the provider issued a signed ID token whose nonce is the one xinyi sent
    assert sso.provider.tokens and "id_token" in sso.provider.tokens[-1]
    assert not sso.provider.codes  # the code was used once and is gone
    assert sso.users() == before  # nothing created, nothing relinked
    logins = sso.logins("sso_auditor")
    assert len(logins) == 1 and logins[0]["role"] == "auditor" and logins[0]["result"] == "ok"
    assert "oidc" in str(logins[0]["detail"])

    # a regulator is sent to give the purpose first (查询目的), logged in as the regulator
    sso.provider.user = EndUser(sub="u-reg")
    with sso.client() as c:
        authorize, _ = to_provider(sso, c)
        r = c.get(to_callback(sso, c, authorize))
        assert r.status_code == 303 and r.headers["location"].startswith("/purpose")
        page = c.get(f"{sso.base}/purpose")
        assert page.status_code == 200 and "监管员李四" in page.text
    assert len(sso.logins("sso_reg")) == 1


def test_unlinked_subject_is_refused(sso: SSO) -> None:
    before = sso.users()
    # an unknown subject, even one whose claims name an existing admin
    sso.provider.user = EndUser(sub="u-unknown", preferred_username="admin", email="admin@example.gov.cn")
    with sso.client() as c:
        authorize, _ = to_provider(sso, c)
        r = c.get(to_callback(sso, c, authorize))
        assert r.status_code == 403, r.text
        assert "未在本平台开通" in r.text
        assert_logged_out(sso, c)
    assert sso.users() == before  # no user created, no subject linked, no admin
    assert [u for u in sso.users() if u[1] == "admin"] == [("admin", "admin", None)]
    assert not sso.logins("admin") and not sso.logins("sso_auditor")


def test_tampered_or_replayed_callback_is_refused(sso: SSO) -> None:
    sso.provider.user = EndUser(sub="u-aud")
    with sso.client() as c:
        authorize, _ = to_provider(sso, c)
        cb = to_callback(sso, c, authorize)
        r = c.get(with_query(cb, state="forged-state"))
        assert r.status_code == 401 and "统一身份认证失败（mismatching_state）" in r.text
        assert_logged_out(sso, c)
    # a callback with no login started in this browser (another session's code and state)
    with sso.client() as c:
        authorize, _ = to_provider(sso, c)
        cb = to_callback(sso, c, authorize)
    with sso.client() as other:
        r = other.get(cb)
        assert r.status_code == 401 and "统一身份认证失败" in r.text
        assert_logged_out(sso, other)
    # the right callback works once; replaying it is refused
    with sso.client() as c:
        authorize, _ = to_provider(sso, c)
        cb = to_callback(sso, c, authorize)
        assert c.get(cb).status_code == 303
        c.cookies.clear()
        r = c.get(cb)
        assert r.status_code == 401
    assert len(sso.logins("sso_auditor")) == 1


@pytest.mark.parametrize(
    ("lie", "reason"),
    [
        # aud without xinyi's client id: authlib then requires azp naming it (OIDC core 3.1.3.7)
        ({"aud": ["another-client"]}, "missing_claim"),
        ({"iss": "http://127.0.0.1:1/evil"}, "invalid_claim"),
        ({"exp": int(time.time()) - 3600}, "expired_token"),
        ({"nonce": "a-nonce-xinyi-never-sent"}, "invalid_claim"),
    ],
    ids=["aud", "iss", "expired", "nonce"],
)
def test_id_token_not_meant_for_xinyi_is_refused(sso: SSO, lie: dict, reason: str) -> None:
    """An ID token for another client, from another issuer, expired, or for another login (nonce)."""
    sso.provider.user = EndUser(sub="u-aud")
    lie = dict(lie)
    sso.provider.nonce_override = lie.pop("nonce", None)
    sso.provider.claims_override = lie
    with sso.client() as c:
        authorize, _ = to_provider(sso, c)
        r = c.get(to_callback(sso, c, authorize))
        assert r.status_code == 401, r.text
        assert f"统一身份认证失败（{reason}）" in r.text
        assert_logged_out(sso, c)
    assert not sso.logins("sso_auditor")


def test_sso_in_a_real_browser_from_another_site(sso: SSO) -> None:
    """Headless Chromium: xinyi at ``localhost``, the provider at ``127.0.0.1`` (another site), so the
    return from the provider is a cross-site navigation, as with a platform's real 统一身份认证."""
    from playwright.sync_api import sync_playwright

    exe = chromium()
    base = sso.base.replace("127.0.0.1", "localhost")
    sso.provider.client.redirect_uris.append(f"{base}/login/oidc/callback")
    sso.provider.user = EndUser(sub="u-aud", name="Wang Wu")
    sso.provider.login_page = True
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=exe, args=HEADLESS_ARGS)
        try:
            page = browser.new_page()
            page.goto(f"{base}/login")
            page.click("text=统一身份认证登录")
            page.wait_for_load_state()
            assert urlsplit(page.url).hostname == "127.0.0.1"  # at the provider's page
            page.click("text=同意并登录 Wang Wu")
            page.wait_for_load_state()
            assert urlsplit(page.url).path == "/", page.content()
            assert "审计员王五" in page.content()
            # the next page of the console keeps the session
            page.goto(f"{base}/")
            assert "审计员王五" in page.content()
        finally:
            browser.close()
    assert sso.provider.authorize_requests and len(sso.logins("sso_auditor")) == 1


@pytest.mark.parametrize("sso", [{"redirect_uri": "{base}/login/oidc/callback"}], indirect=True)
def test_configured_callback_url_behind_a_proxy(sso: SSO) -> None:
    """Behind a reverse proxy the Host xinyi sees is not the one the provider knows: the configured
    XINYI_OIDC_REDIRECT_URI is sent, whatever the Host header."""
    sso.provider.user = EndUser(sub="u-aud")
    with sso.client() as c:
        authorize, _ = to_provider(sso, c, headers={"Host": "xinyi.internal:8080"})
        r = c.get(to_callback(sso, c, authorize))
        assert r.status_code == 303 and r.headers["location"] == "/"
        assert "审计员王五" in c.get(f"{sso.base}/").text


def test_without_configured_callback_the_request_host_is_used(sso: SSO) -> None:
    with sso.client() as c:
        authorize, q = to_provider(
            sso, c, headers={"Host": "xinyi.internal:8080"}, callback="http://xinyi.internal:8080/login/oidc/callback"
        )
        r = c.get(authorize)  # the provider refuses a callback URL not registered for the client
        assert r.status_code == 400 and "Redirect URI" in r.json()["error_description"]


@pytest.mark.parametrize("sso", [{"link_by": "preferred_username"}], indirect=True)
def test_link_by_claim_links_a_user_on_first_login_never_an_admin(sso: SSO) -> None:
    iss = sso.provider.issuer
    # an admin is never linked by a claim, even when the claim names it
    sso.provider.user = EndUser(sub="u-evil", preferred_username="admin")
    with sso.client() as c:
        authorize, _ = to_provider(sso, c)
        assert c.get(to_callback(sso, c, authorize)).status_code == 403
    # a claim naming nobody: refused, nothing created
    before = sso.users()
    sso.provider.user = EndUser(sub="u-new", preferred_username="li.si")
    with sso.client() as c:
        authorize, _ = to_provider(sso, c)
        assert c.get(to_callback(sso, c, authorize)).status_code == 403
    assert sso.users() == before
    # a user not linked yet whose username is the claim: linked to <iss>|<sub> and logged in
    sso.provider.user = EndUser(sub="u-zs", preferred_username="zhang.san")
    with sso.client() as c:
        authorize, _ = to_provider(sso, c)
        r = c.get(to_callback(sso, c, authorize))
        assert r.status_code == 303 and r.headers["location"].startswith("/purpose")  # an analyst gives a purpose
        assert "分析员张三" in c.get(f"{sso.base}/purpose").text
    assert ("zhang.san", "analyst", f"{iss}|u-zs") in sso.users()
    assert ("admin", "admin", None) in sso.users()
    # once linked, another subject claiming the same username is not let in
    sso.provider.user = EndUser(sub="u-other", preferred_username="zhang.san")
    with sso.client() as c:
        authorize, _ = to_provider(sso, c)
        assert c.get(to_callback(sso, c, authorize)).status_code == 403
    assert len(sso.logins("zhang.san")) == 1 and not sso.logins("admin")


def test_settings_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    monkeypatch.setenv("XINYI_SECRET_KEY", SECRET)
    monkeypatch.setenv("XINYI_OIDC_ISSUER", "https://sso.example.gov.cn/realms/xinyi")
    monkeypatch.setenv("XINYI_OIDC_CLIENT_ID", "xinyi")
    monkeypatch.setenv("XINYI_OIDC_CLIENT_SECRET", "client-secret")
    monkeypatch.setenv("XINYI_OIDC_REDIRECT_URI", "https://xinyi.example.gov.cn/login/oidc/callback")
    monkeypatch.setenv("XINYI_OIDC_LINK_BY", "preferred_username")
    s = Settings.from_env(f"sqlite:///{tmp_path / 'serving.sqlite'}")
    assert s.oidc == OIDCSettings(
        "https://sso.example.gov.cn/realms/xinyi",
        "xinyi",
        "client-secret",
        redirect_uri="https://xinyi.example.gov.cn/login/oidc/callback",
        link_by="preferred_username",
    )
    assert s.oidc.mapping == {"link_by": "preferred_username"}
    monkeypatch.delenv("XINYI_OIDC_REDIRECT_URI")
    monkeypatch.delenv("XINYI_OIDC_LINK_BY")
    s = Settings.from_env(f"sqlite:///{tmp_path / 'serving.sqlite'}")
    assert s.oidc is not None and s.oidc.redirect_uri is None and s.oidc.mapping == {}


def test_unreachable_provider_gives_a_clear_page(serving_url: str) -> None:
    sock, nowhere = bound_socket()
    sock.close()  # nothing listens there
    oidc = OIDCSettings(nowhere, "xinyi", "client-secret")
    app = create_app(Settings(serving_url, secret_key=SECRET, oidc=oidc))
    try:
        with serve(app) as base, httpx.Client(follow_redirects=False, timeout=30) as c:
            login = c.get(f"{base}/login")
            assert login.status_code == 200 and 'href="/login/oidc"' in login.text
            r = c.get(f"{base}/login/oidc")
            assert r.status_code == 502 and "统一身份认证服务暂时无法访问" in r.text
            r = c.get(f"{base}/login/oidc/callback?code=x&state=y")
            assert r.status_code == 401 and "统一身份认证失败（mismatching_state）" in r.text
    finally:
        app.state.engine.dispose()
