"""Who is asking, for what purpose, and the register of what they did (身份认证、查询目的与查询使用登记).

* **Sessions** (console): Starlette's signed cookie (HttpOnly, SameSite=strict, Secure behind TLS)
  holding the user id, a CSRF token and the purpose chosen at ``/purpose``. Every form POST carries the
  session's CSRF token (:func:`check_csrf`, 403 otherwise); a POST to the API with a session cookie
  carries it in the ``X-CSRF-Token`` header.
* **API tokens** (machine clients): ``Authorization: Bearer xy_<id>_<secret>`` (no cookie, no CSRF).
* **Purpose** (查询目的): regulators and analysts give one (console: once per session at
  ``/purpose``; API: header ``X-Purpose: <code>``, 400 when missing or unknown, registered as invalid).
* **Register** (查询使用登记): :meth:`Context.record` writes one row of B's append-only register for
  every read of a subject's data and every write, with the result (ok, denied, not_found, invalid).
  :meth:`Context.allow` registers a denial before refusing; :meth:`Context.not_found` a miss.

Denials: anonymous -> 401 (pages: a redirect to /login), out of role -> 403, an id unknown or outside
the user's scope -> 404 (a direct-object probe gets the same answer as an unknown id).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any, NoReturn
from urllib.parse import quote

from fastapi import Header, HTTPException, Request
from sqlalchemy.engine import Connection, Engine

from scoring.core.privacy import scrub
from scoring.serving import identity, register
from scoring.serving.identity import User

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"
PURPOSE_HEADER = "x-purpose"
ANONYMOUS = "anonymous"


class LoginRequired(Exception):
    """Raised by the page dependencies when nobody is logged in: the app answers with a redirect
    to ``/login?next=<path>`` (pages) or 401 (API)."""


class PurposeRequired(Exception):
    """Raised by the page dependencies when a regulator or analyst has not chosen a purpose yet: the
    app redirects to ``/purpose?next=<path>``."""


def is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


def client_of(request: Request) -> str:
    """The client's address as the login rate limit counts it."""
    return request.client.host if request.client else "unknown"


def safe_next(target: str | None, default: str = "/") -> str:
    """A local path to go to after login (never another site: ``//host`` and schemes refused)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def login_redirect_target(request: Request) -> str:
    path = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return "/login?next=" + quote(path, safe="")


# -- engine, access ----------------------------------------------------------------------------
def engine_of(request: Request) -> Engine:
    return request.app.state.engine


def access_of(request: Request) -> Any:
    return request.app.state.access


@contextmanager
def reading(request: Request) -> Iterator[Connection]:
    """A read-only connection of the serving database for one request."""
    with engine_of(request).connect() as conn:
        yield conn


@contextmanager
def writing(request: Request) -> Iterator[Connection]:
    """A transaction of the serving database (committed when the block ends). On SQLite the app's
    threads queue for the one write lock in process (a lock handed over at once) rather than in
    SQLite's busy handler, which polls with sleeps of up to 100 ms and makes the slowest requests
    wait for nothing; across processes (``--workers``) SQLite's own lock still serialises."""
    lock = getattr(request.app.state, "write_lock", None)
    with lock if lock is not None else nullcontext(), engine_of(request).begin() as conn:
        yield conn


# -- session and CSRF --------------------------------------------------------------------------
def session_of(request: Request) -> MutableMapping[str, Any]:
    return request.session


def csrf_token(request: Request) -> str:
    """The session's CSRF token (created on first use, also for the anonymous login form)."""
    session = session_of(request)
    token = session.get("csrf")
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        session["csrf"] = token
    return token


def csrf_valid(request: Request, given: str | None) -> bool:
    expected = session_of(request).get("csrf")
    return bool(isinstance(expected, str) and given and hmac.compare_digest(expected, given))


async def check_csrf(request: Request) -> None:
    """The FastAPI dependency of every form POST: the form's ``csrf_token`` must be the session's
    (403 otherwise; registered as a denied write when someone is logged in)."""
    form = await request.form()
    given = form.get(CSRF_FIELD)
    if not csrf_valid(request, given if isinstance(given, str) else None):
        user = session_user(request)
        if user is None and request.url.path != "/login":
            raise LoginRequired()  # nobody logged in: the login page, as for every other page
        if user is not None:
            Context(request, user, via="session").record("write", result="denied", detail={"reason": "csrf"})
        raise HTTPException(403, "表单已失效（CSRF校验未通过），请刷新页面后重新提交")


def login_session(request: Request, user: User) -> None:
    """A fresh session for ``user`` (no value of the anonymous session survives: no session fixation)."""
    session = session_of(request)
    session.clear()
    session["uid"] = user.user_id
    session["csrf"] = secrets.token_urlsafe(32)


# -- users -------------------------------------------------------------------------------------
def session_user(request: Request) -> User | None:
    uid = session_of(request).get("uid")
    if uid is None:
        return None
    cache = request.state.__dict__.setdefault("_session_user", {})
    if uid not in cache:
        with reading(request) as conn:
            cache[uid] = identity.get_user(conn, uid)
    user = cache[uid]
    if user is not None and not user.active:
        user = None
    if user is None:  # removed or deactivated since the login
        session_of(request).clear()
    return user


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return None


def request_user(request: Request) -> tuple[User | None, str]:
    """The user of a request and how they came (``token`` or ``session``); a Bearer header that is
    not a valid token gives nobody (never falls back to the cookie)."""
    token = bearer(request)
    if token is not None:
        with reading(request) as conn:
            return identity.user_for_token(conn, token), "token"
    return session_user(request), "session"


# -- purpose -----------------------------------------------------------------------------------
def purposes(request: Request, role: str | None = None) -> dict[str, Any]:
    """code -> purpose (``label_zh``, ``legal_basis``) of the app's access configuration
    (configs/access, or ``Settings.access_config``); only those a ``role`` may give when given."""
    config = access_of(request).config
    return {c: p for c, p in config.purposes.items() if role is None or role in p.roles}


def purpose_label(request: Request, code: str | None) -> str:
    p = purposes(request).get(code or "")
    return str(p.label_zh) if p is not None else ""


def purpose_basis(request: Request, code: str | None) -> str | None:
    p = purposes(request).get(code or "")
    return str(p.legal_basis) if p is not None and p.legal_basis else None


def needs_purpose(request: Request, user: User) -> bool:
    return bool(access_of(request).needs_purpose(user.role))


def valid_purpose(request: Request, user: User, code: str | None) -> bool:
    """``code`` is one of the purposes the user's role may give."""
    return bool(code) and code in purposes(request, user.role)


# -- the request context -----------------------------------------------------------------------
@dataclass
class Context:
    """One authenticated request: the user, the purpose given, and the register."""

    request: Request
    user: User
    via: str = "session"
    purpose: str | None = None
    recorded: list[int] = field(default_factory=list)

    @property
    def purpose_zh(self) -> str:
        return purpose_label(self.request, self.purpose)

    @property
    def legal_basis(self) -> str | None:
        return purpose_basis(self.request, self.purpose)

    @property
    def path(self) -> str:
        return self.request.url.path

    def conn(self) -> Any:
        return reading(self.request)

    def record(
        self,
        action: str,
        *,
        subject: str | None = None,
        result: str = "ok",
        detail: dict | None = None,
        what: str | None = None,
    ) -> int:
        """One row of the register: who, role, what (the path), subject, purpose, legal basis, result."""
        with writing(self.request) as conn:
            seq = register.record(
                conn,
                user=self.user.username,
                role=self.user.role,
                action=action,
                what=what or self.path,
                subject=subject,
                purpose=self.purpose,
                legal_basis=self.legal_basis,
                result=result,
                detail=detail,
            )
        self.recorded.append(int(seq))
        return int(seq)

    def may(
        self,
        resource: str,
        action: str,
        *,
        industry: str | None = None,
        region: str | None = None,
        subject_key: str | None = None,
    ) -> bool:
        return bool(
            access_of(self.request).allowed(
                self.user, resource, action, industry=industry, region=region, subject_key=subject_key
            )
        )

    def deny(self, action: str, *, subject: str | None = None, detail: dict | None = None) -> NoReturn:
        """Register a refusal and answer 403 (out of role)."""
        self.record(action, subject=subject, result="denied", detail=detail)
        raise HTTPException(403, "您的角色无权访问此内容")

    def not_found(self, action: str, *, subject: str | None = None, detail: dict | None = None) -> NoReturn:
        """Register a miss and answer 404 (unknown, or outside the user's scope: the same answer)."""
        self.record(action, subject=subject, result="not_found", detail=detail)
        raise HTTPException(404, "未找到所请求的内容")

    def invalid(self, action: str, message: str, *, subject: str | None = None, detail: dict | None = None) -> NoReturn:
        """Register an invalid request and answer 400 with ``message``."""
        self.record(action, subject=subject, result="invalid", detail=detail)
        raise HTTPException(400, message)

    def require_role(self, resource: str, action: str, *, what: str = "read", subject: str | None = None) -> None:
        """403 (registered) unless the user's role may ``action`` the ``resource`` somewhere."""
        if not role_may(self.user, self.request, resource, action):
            self.deny(what, subject=subject, detail={"resource": resource, "action": action})

    def may_role(self, resource: str, action: str) -> bool:
        """Whether the role may ``action`` the ``resource`` somewhere (before any object check)."""
        return role_may(self.user, self.request, resource, action)

    def industry_in_scope(self, industry: str | None) -> bool:
        """A regulator's industries hold ``industry`` (other roles: every industry)."""
        if self.user.role != "regulator":
            return True
        return "*" in self.user.industries or (industry is not None and industry in self.user.industries)

    def in_scope(self, industry: str | None, region: str | None) -> bool:
        return bool(self.user.in_scope(industry, region)) if self.user.role == "regulator" else True

    def industries(self) -> list[str] | None:
        """The industry scope for queries (None: all)."""
        if self.user.role != "regulator" or "*" in self.user.industries:
            return None
        return list(self.user.industries)

    def regions(self) -> list[str] | None:
        """The region scope for queries (None: all)."""
        if self.user.role != "regulator" or "*" in self.user.regions:
            return None
        return list(self.user.regions)


def role_may(user: User, request: Request, resource: str, action: str) -> bool:
    """Whether the role may ``action`` the ``resource`` at all (somewhere in its scope): the role
    check before the object check (403 before 404)."""
    return bool(access_of(request).allowed(user, resource, action, subject_key=user.subject_key, agency=user.agency))


def _api_purpose(request: Request, user: User) -> str | None:
    code = request.headers.get(PURPOSE_HEADER, "").strip()
    if not code:
        code = str(session_of(request).get("purpose") or "") if bearer(request) is None else ""
    return code or None


def api_context(
    request: Request,
    x_purpose: str | None = Header(
        None, max_length=64, description="查询目的代码（监管人员、分析人员必填，见 configs/access）"
    ),
) -> Context:
    """The FastAPI dependency of every API route: a user (401 otherwise), the purpose of the
    ``X-Purpose`` header for regulators and analysts (400, registered as invalid, when missing or
    unknown), CSRF header for a POST with a session cookie."""
    user, via = request_user(request)
    if user is None:
        raise HTTPException(
            401, "请先登录或提供有效的API令牌（Authorization: Bearer）", headers={"WWW-Authenticate": "Bearer"}
        )
    ctx = Context(request, user, via=via)
    if via == "session" and request.method not in ("GET", "HEAD", "OPTIONS"):
        if not csrf_valid(request, request.headers.get(CSRF_HEADER)):
            ctx.record("write", result="denied", detail={"reason": "csrf"})
            raise HTTPException(403, "缺少或错误的CSRF令牌（X-CSRF-Token）")
    if needs_purpose(request, user):
        code = x_purpose.strip() if x_purpose and x_purpose.strip() else _api_purpose(request, user)
        if not valid_purpose(request, user, code):
            known = purposes(request, user.role)
            ctx.invalid(
                "read" if request.method == "GET" else "write",
                "请在请求头 X-Purpose 中给出查询目的代码，可选："
                + "、".join(f"{k}（{v.label_zh}）" for k, v in known.items()),
                detail={"purpose": scrub(code)[:80] if code else None},
            )
        ctx.purpose = code
    return ctx


def page_user(request: Request) -> User:
    """The FastAPI dependency of the pages that need a login but no purpose."""
    user = session_user(request)
    if user is None:
        raise LoginRequired()
    return user


def page_context(request: Request) -> Context:
    """The FastAPI dependency of the pages with subjects' data: a login (redirect to /login) and, for
    regulators and analysts, the session's purpose (redirect to /purpose)."""
    user = page_user(request)
    ctx = Context(request, user, via="session")
    if needs_purpose(request, user):
        code = session_of(request).get("purpose")
        if not valid_purpose(request, user, code):
            raise PurposeRequired()
        ctx.purpose = str(code)
    return ctx


def page_context_no_purpose(request: Request) -> Context:
    """A page context for pages that hold no subject's data (home, purpose, register of auditors)."""
    user = page_user(request)
    code = session_of(request).get("purpose")
    return Context(request, user, via="session", purpose=str(code) if valid_purpose(request, user, code) else None)


# -- security headers --------------------------------------------------------------------------
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
)

ASGIApp = Callable[
    [MutableMapping[str, Any], Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]
]


class SecurityHeaders:
    """Pure ASGI middleware: CSP ``default-src 'self'``, X-Frame-Options DENY, nosniff, no referrer,
    ``Cache-Control: no-store`` on everything but the static files, HSTS when behind TLS."""

    def __init__(self, app: Any, *, https_only: bool = False) -> None:
        self.app = app
        self.https_only = https_only

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        static = str(scope.get("path", "")).startswith("/static/")

        async def send_with_headers(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"cache-control" or static]
                headers += [
                    (b"content-security-policy", CSP.encode()),
                    (b"x-frame-options", b"DENY"),
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"cross-origin-opener-policy", b"same-origin"),
                    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
                ]
                if not static:
                    headers += [(b"cache-control", b"no-store"), (b"pragma", b"no-cache")]
                if self.https_only:
                    headers.append((b"strict-transport-security", b"max-age=31536000; includeSubDomains"))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
