"""The platform service (公共信用评价服务): :func:`create_app` builds the FastAPI application.

It reads only the serving database (published outputs pushed by ``scoring serving push`` or the
main job), never the analytical store, so ingests and refits run while it serves. Pages are in
:mod:`scoring.service.console`, the JSON API in :mod:`scoring.service.api`, login, purpose, CSRF,
tokens and the register in :mod:`scoring.service.auth`.

``scoring serve`` runs it on uvicorn; :func:`app_from_env` is the factory uvicorn's workers call.
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from scoring.core.config import pin_configs
from scoring.core.errors import XinyiError
from scoring.core.privacy import scrub
from scoring.service import api, console
from scoring.service.auth import (
    Context,
    LoginRequired,
    PurposeRequired,
    SecurityHeaders,
    is_api,
    login_redirect_target,
    request_user,
    session_user,
)
from scoring.service.settings import Settings
from scoring.serving import access as access_mod
from scoring.serving import database

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent / "static"
SESSION_COOKIE = "xinyi_session"


def create_app(settings: Settings) -> FastAPI:
    """The service on the serving database of ``settings`` (its schema brought up to date)."""
    app = FastAPI(
        title="信义 公共信用评价服务 API",
        description="信用等级名单、主体信用等级及其依据、双随机抽查计划、信易贷白名单、查询使用登记。"
        "认证：Authorization: Bearer <令牌>；监管人员与分析人员须给出 X-Purpose。",
        version="1",
        openapi_url="/api/openapi.json",
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = database.connect(settings.serving_url, upgrade=settings.upgrade)
    # SQLite has one writer at a time: this process's writes queue here (scoring.service.auth.writing)
    app.state.write_lock = threading.RLock() if app.state.engine.dialect.name == "sqlite" else None
    app.state.access = access_mod.Access.load(settings.access_config)

    # the routes themselves, not an included router: app.routes lists every route (the role matrix
    # of tests/test_service_roles.py enumerates them)
    app.router.routes.extend([*console.router.routes, *api.router.routes])
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/healthz", include_in_schema=False)
    def healthz() -> JSONResponse:
        try:
            with app.state.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError:
            return JSONResponse({"status": "unavailable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    @app.get("/api/docs", include_in_schema=False, response_class=HTMLResponse)
    def api_docs(request: Request) -> HTMLResponse:
        return console.render(request, "api_docs.html", ops=api._doc(request), title="接口说明")

    if settings.oidc is not None:
        _oidc_routes(app, settings)

    _handlers(app)
    # outermost first: headers on every answer (errors too), then the session cookie
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret,
        session_cookie=SESSION_COOKIE,
        max_age=settings.session_seconds,
        # with single sign-on the browser comes back from the provider's site (a cross-site navigation
        # to /login/oidc/callback): a strict cookie is not sent then, so the login's state would be
        # lost; lax is sent on top-level GETs only (forms keep their CSRF token)
        same_site="lax" if settings.oidc is not None else "strict",
        https_only=settings.https_only,
    )
    app.add_middleware(SecurityHeaders, https_only=settings.https_only)
    return app


def _handlers(app: FastAPI) -> None:
    @app.exception_handler(LoginRequired)
    async def login_required(request: Request, exc: LoginRequired) -> Response:
        return RedirectResponse(login_redirect_target(request), status_code=303)

    @app.exception_handler(PurposeRequired)
    async def purpose_required(request: Request, exc: PurposeRequired) -> Response:
        from urllib.parse import quote

        path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse("/purpose?next=" + quote(path, safe=""), status_code=303)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        detail = scrub(str(exc.detail)) if exc.detail else ""
        if exc.status_code == 404 and detail == "Not Found":
            detail = "未找到所请求的内容"
        if exc.status_code == 405 and detail == "Method Not Allowed":
            detail = "不支持该请求方法"
        if is_api(request) or not _wants_html(request):
            return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=getattr(exc, "headers", None))
        if exc.status_code == 401:
            return RedirectResponse(login_redirect_target(request), status_code=303)
        return console.error_page(request, exc.status_code, detail)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> Response:
        errors = [
            {"loc": [str(x) for x in e.get("loc", ())], "msg": scrub(str(e.get("msg", "")))} for e in exc.errors()
        ]
        _register_failure(request, "invalid", {"errors": errors[:5]})
        if is_api(request) or not _wants_html(request):
            return JSONResponse({"detail": errors}, status_code=422)
        text = "；".join(f"{'.'.join(e['loc'])}: {e['msg']}" for e in errors)
        return console.error_page(request, 422, f"请求参数有误：{text}")

    @app.exception_handler(Exception)
    async def server_error(request: Request, exc: Exception) -> Response:
        log.exception("error serving %s", request.url.path)
        try:
            _register_failure(request, "error", {"error": type(exc).__name__})
        except Exception:  # the register itself failed: the answer is still a plain 500
            log.exception("could not register the error")
        if is_api(request) or not _wants_html(request):
            return JSONResponse({"detail": "服务器内部错误，已记录"}, status_code=500)
        return console.error_page(request, 500, "服务器内部错误，已记录，请稍后重试")

    @app.exception_handler(XinyiError)
    async def user_error(request: Request, exc: XinyiError) -> Response:
        if is_api(request) or not _wants_html(request):
            return JSONResponse({"detail": str(exc)}, status_code=400)
        return console.error_page(request, 400, str(exc))


def _register_failure(request: Request, result: str, detail: dict) -> None:
    """A request refused before its route ran (invalid parameters) or failed inside it (an error):
    registered for the user who sent it (nobody logged in: nothing to register)."""
    if request.url.path in ("/login", "/healthz") or request.url.path.startswith("/static/"):
        return
    try:
        user, via = request_user(request)
    except sa.exc.SQLAlchemyError:
        return
    if user is None:
        return
    action = "read" if request.method in ("GET", "HEAD") else "write"
    Context(request, user, via=via).record(action, result=result, detail=detail)


def _wants_html(request: Request) -> bool:
    return not is_api(request) and request.url.path != "/healthz"


def _oidc_routes(app: FastAPI, settings: Settings) -> None:
    """Single sign-on (统一身份认证) with authlib: ``/login/oidc`` sends the browser to the provider,
    ``/login/oidc/callback`` maps the ID token's claims to an existing user (never creates one)."""
    import httpx
    from authlib.integrations.starlette_client import OAuth, OAuthError
    from joserfc.errors import JoseError

    from scoring.service.auth import login_session, writing
    from scoring.serving import identity

    oidc = settings.oidc
    assert oidc is not None
    oauth = OAuth()
    oauth.register(
        "platform",
        client_id=oidc.client_id,
        client_secret=oidc.client_secret,
        server_metadata_url=oidc.metadata_url,
        client_kwargs={"scope": oidc.scope},
    )
    client: Any = oauth.create_client("platform")

    @app.get("/login/oidc", include_in_schema=False)
    async def oidc_login(request: Request) -> Response:
        try:  # the provider's discovery document (fetched once, then kept)
            return await client.authorize_redirect(request, oidc.redirect_uri or str(request.url_for("oidc_callback")))
        except (httpx.HTTPError, ValueError) as e:  # unreachable, or not JSON
            log.warning("single sign-on provider %s: %s", oidc.issuer, type(e).__name__)
            return _sso_refused(request, 502, "统一身份认证服务暂时无法访问，请稍后重试或使用账号密码登录")

    @app.get("/login/oidc/callback", include_in_schema=False, name="oidc_callback")
    async def oidc_callback(request: Request) -> Response:
        try:
            # checks the state against this browser's session, exchanges the code, verifies the ID
            # token (signature by the provider's JWKS, iss, aud, exp, nonce)
            token = await client.authorize_access_token(request)
        except (OAuthError, JoseError) as e:
            code = str(getattr(e, "error", "") or type(e).__name__)
            return _sso_refused(request, 401, f"统一身份认证失败（{scrub(code)}），请重新登录")
        except httpx.HTTPError as e:
            log.warning("single sign-on provider %s: %s", oidc.issuer, type(e).__name__)
            return _sso_refused(request, 502, "统一身份认证服务暂时无法访问，请稍后重试或使用账号密码登录")
        claims = dict(token.get("userinfo") or {})
        if not claims:
            return _sso_refused(request, 401, "统一身份认证失败（未返回经验证的身份令牌 ID token），请重新登录")
        with writing(request) as conn:
            user = identity.oidc_user(conn, claims, oidc.mapping)
        if user is None:
            return _sso_refused(request, 403, "统一身份认证的账号未在本平台开通，请联系管理员")
        login_session(request, user)
        Context(request, user).record("login", detail={"via": "oidc"})
        return RedirectResponse("/purpose" if app.state.access.needs_purpose(user.role) else "/", status_code=303)


def _sso_refused(request: Request, status: int, detail: str) -> Response:
    """A refused single sign-on: a page saying why, nobody logged in (a session already open is left
    as it was: a forged callback link cannot log anybody out)."""
    return console.error_page(request, status, detail)


def app_from_env() -> FastAPI:
    """The factory of ``scoring serve`` (uvicorn ``factory=True``): :meth:`Settings.from_env`; the
    served process keeps the configs it started with (:func:`scoring.core.config.pin_configs`)."""
    pin_configs()
    return create_app(Settings.from_env())


__all__ = ["Settings", "app_from_env", "create_app", "session_user"]
