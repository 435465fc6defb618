"""Users, passwords, login limits, API tokens and single sign-on of the platform service (用户与认证).

* Passwords are hashed with argon2id (argon2-cffi :class:`~argon2.PasswordHasher`, parameters from
  ``configs/access/access.yaml``); a hash made with other parameters is replaced at the next login.
  No plaintext is ever stored; an unknown username costs the same work as a wrong password.
* Every login attempt is recorded (``login_attempts``); :func:`login_blocked` refuses further attempts
  after too many failures per username or per client within the window.
* API tokens read ``xy_<token_id>_<secret>``: the id is public, only the sha256 of the secret is
  stored, compared in constant time; tokens expire and can be revoked.
* :func:`oidc_user` maps the verified claims of an OIDC login to an existing user (never creates one).

Persons appear only by ``subject_key`` (the store's keyed pseudonym); a username or any field that
holds a raw ID number is refused.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from scoring.core.errors import DataError, NotFoundError, XinyiError
from scoring.core.privacy import contains_raw_id, scrub
from scoring.serving.access import ROLES, ROLES_ZH, Argon2Params, access_config
from scoring.serving.schema import api_tokens, login_attempts, users

__all__ = [
    "ROLES",
    "ROLES_ZH",
    "User",
    "authenticate",
    "create_user",
    "get_user",
    "get_user_by_name",
    "hash_password",
    "issue_token",
    "list_tokens",
    "list_users",
    "login_blocked",
    "oidc_user",
    "revoke_token",
    "set_password",
    "user_for_token",
]

_USERNAME = re.compile(r"^[\w.@-]{2,80}$")
_REGION = re.compile(r"^\d{6}$")
_CODE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
TOKEN_PREFIX = "xy_"


def utcnow() -> dt.datetime:
    """Now in UTC, naive (as the serving database stores times), to the microsecond."""
    return dt.datetime.now(dt.UTC).replace(tzinfo=None)


def _naive_utc(t: dt.datetime | None) -> dt.datetime:
    if t is None:
        return utcnow()
    return t.astimezone(dt.UTC).replace(tzinfo=None) if t.tzinfo is not None else t


@dataclass(frozen=True)
class User:
    """A user of the platform service."""

    user_id: int
    username: str
    display_name: str
    role: str
    subject_key: str | None = None
    agency: str | None = None
    industries: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    active: bool = True

    @property
    def role_zh(self) -> str:
        return ROLES_ZH.get(self.role, self.role)

    def in_scope(self, industry: str | None, region: str | None) -> bool:
        """Is (industry, region) within the user's scope (industries x regions, ``"*"``: all)? A
        dimension given as None asks only that the user has some scope in it."""

        def ok(value: str | None, scope: tuple[str, ...]) -> bool:
            if not scope:
                return False
            return value is None or "*" in scope or value in scope

        return ok(industry, self.industries) and ok(region, self.regions)

    @property
    def all_industries(self) -> bool:
        return "*" in self.industries

    @property
    def all_regions(self) -> bool:
        return "*" in self.regions


def _user(row: Any) -> User:
    m = row._mapping
    return User(
        user_id=int(m["user_id"]),
        username=m["username"],
        display_name=m["display_name"],
        role=m["role"],
        subject_key=m["subject_key"],
        agency=m["agency"],
        industries=tuple(m["industries"] or ()),
        regions=tuple(m["regions"] or ()),
        active=bool(m["active"]),
    )


# -- passwords ----------------------------------------------------------------------------------
@lru_cache(maxsize=8)
def _hasher(params: Argon2Params) -> Any:
    from argon2 import PasswordHasher, Type

    return PasswordHasher(
        time_cost=params.time_cost, memory_cost=params.memory_cost, parallelism=params.parallelism, type=Type.ID
    )


def password_hasher() -> Any:
    """The argon2id PasswordHasher with the parameters of ``configs/access/access.yaml``."""
    params = access_config().passwords.argon2
    _dummy_hash(params)  # made once with the hasher: an unknown user's first login costs no extra hash
    return _hasher(params)


@lru_cache(maxsize=8)
def _dummy_hash(params: Argon2Params) -> str:
    return str(_hasher(params).hash(secrets.token_urlsafe(16)))


def check_password_policy(password: str, username: str | None = None) -> None:
    """A password the platform accepts: at least ``passwords.min_length`` characters (10), not the username."""
    n = access_config().passwords.min_length
    if len(password) < n:
        raise XinyiError(f"the password has {len(password)} characters; use at least {n}")
    if username and password.strip().lower() == username.strip().lower():
        raise XinyiError("the password must not be the username; choose another one")
    if password.strip() == "":
        raise XinyiError("the password is blank; choose one of at least 10 characters")


def hash_password(password: str) -> str:
    """The argon2id hash of ``password`` (encoded with its parameters and salt)."""
    return str(password_hasher().hash(password))


def _verify(stored: str | None, password: str) -> tuple[bool, bool]:
    """(password matches, hash needs rehash). An empty ``stored`` still costs one verification."""
    from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

    ph = password_hasher()
    target = stored or _dummy_hash(access_config().passwords.argon2)
    try:
        ph.verify(target, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False, False
    if not stored:
        return False, False
    return True, bool(ph.check_needs_rehash(stored))


# -- users --------------------------------------------------------------------------------------
def _known_industries() -> set[str]:
    from scoring.core.config import config_dir

    return {p.stem for p in (config_dir() / "industries").glob("*.yaml")}


def _scopes(values: Iterable[str], what: str, username: str) -> tuple[str, ...]:
    out: list[str] = []
    for v in values:
        v = str(v).strip()
        if not v:
            continue
        if v == "*":
            out.append(v)
            continue
        if what == "regions" and not _REGION.fullmatch(v):
            raise DataError(f"user {username}: region {v!r} is not a 6-digit region code (GB/T 2260) or '*'")
        if what == "industries":
            known = _known_industries()
            if not _CODE.fullmatch(v) or (known and v not in known):
                raise DataError(
                    f"user {username}: industry {v!r} is not a configured industry; "
                    f"use one of {', '.join(sorted(known))} or '*'"
                )
        out.append(v)
    return tuple(dict.fromkeys(out))


def _check_no_raw_id(who: str, **fields: str | None) -> None:
    for name, value in fields.items():
        if value and contains_raw_id(value):
            raise DataError(
                f"user {scrub(who)}: {name} holds an ID number; persons appear only by their keyed "
                "pseudonym (subject_key), never by ID number"
            )


def create_user(
    conn: Connection,
    username: str,
    password: str | None,
    role: str,
    *,
    display_name: str | None = None,
    subject_key: str | None = None,
    agency: str | None = None,
    industries: Iterable[str] = (),
    regions: Iterable[str] = (),
    oidc_subject: str | None = None,
    now: dt.datetime | None = None,
) -> User:
    """Add a user. ``password`` None: single sign-on only (OIDC). A citizen needs a ``subject_key``,
    an officer an ``agency``, a regulator industries and regions (``"*"``: all)."""
    username = (username or "").strip()
    _check_no_raw_id(username, username=username, display_name=display_name, agency=agency, subject_key=subject_key)
    if not _USERNAME.fullmatch(username):
        raise DataError(f"username {username!r}: use 2-80 letters, digits, '.', '_', '-' or '@' (no spaces)")
    if role not in ROLES:
        raise DataError(f"user {username}: unknown role {role!r}; roles are {', '.join(ROLES)}")
    if password is not None:
        check_password_policy(password, username)
    elif not oidc_subject:
        pass  # an account without a password logs in only after oidc_subject is linked
    inds = _scopes(industries, "industries", username)
    regs = _scopes(regions, "regions", username)
    if role == "citizen" and not subject_key:
        raise DataError(f"user {username}: a citizen needs a subject_key (the keyed pseudonym of the person)")
    if role != "citizen" and subject_key:
        raise DataError(f"user {username}: only a citizen has a subject_key")
    if role == "officer" and not agency:
        raise DataError(f"user {username}: an officer needs an agency (the department whose cases they handle)")
    if role == "regulator" and (not inds or not regs):
        raise DataError(
            f"user {username}: a regulator needs a scope: at least one industry and one region ('*' for all)"
        )
    if conn.execute(sa.select(users.c.user_id).where(users.c.username == username)).first() is not None:
        raise DataError(f"user {username} exists already; choose another username")
    if (
        oidc_subject
        and conn.execute(sa.select(users.c.user_id).where(users.c.oidc_subject == oidc_subject)).first() is not None
    ):
        raise DataError(f"user {username}: the single sign-on subject is linked to another user already")
    shown = (display_name or username).strip()[:120]
    values = {
        "username": username,
        "display_name": shown,
        "role": role,
        "password_hash": hash_password(password) if password is not None else None,
        "oidc_subject": oidc_subject,
        "subject_key": subject_key,
        "agency": agency,
        "industries": list(inds),
        "regions": list(regs),
        "active": True,
        "created_at": _naive_utc(now),
    }
    res = conn.execute(users.insert().values(**values))
    pk = res.inserted_primary_key
    assert pk is not None  # an INSERT of one row always has it
    return User(
        user_id=int(pk[0]),
        username=username,
        display_name=shown,
        role=role,
        subject_key=subject_key,
        agency=agency,
        industries=inds,
        regions=regs,
    )


def get_user(conn: Connection, user_id: int) -> User | None:
    """The user with ``user_id`` (also inactive ones; check ``active``), or None."""
    row = conn.execute(sa.select(users).where(users.c.user_id == int(user_id))).first()
    return _user(row) if row is not None else None


def get_user_by_name(conn: Connection, username: str) -> User | None:
    row = conn.execute(sa.select(users).where(users.c.username == username)).first()
    return _user(row) if row is not None else None


def list_users(conn: Connection) -> list[User]:
    return [_user(r) for r in conn.execute(sa.select(users).order_by(users.c.user_id))]


def set_password(conn: Connection, username: str, password: str) -> None:
    """Replace a user's password (policy checked)."""
    check_password_policy(password, username)
    res = conn.execute(users.update().where(users.c.username == username).values(password_hash=hash_password(password)))
    if res.rowcount == 0:
        raise NotFoundError(f"user {username}: no such user; `scoring users list` shows them")


def set_active(conn: Connection, username: str, active: bool) -> None:
    res = conn.execute(users.update().where(users.c.username == username).values(active=bool(active)))
    if res.rowcount == 0:
        raise NotFoundError(f"user {username}: no such user; `scoring users list` shows them")


# -- login --------------------------------------------------------------------------------------
def _clean(value: str, n: int) -> str:
    return scrub(str(value or ""), newlines=False)[:n]


def login_blocked(conn: Connection, username: str, client: str, now: dt.datetime | None = None) -> bool:
    """Too many failed logins: ``login.failures_per_username`` for this username since its last
    success, or ``login.failures_per_client`` from this client, within ``login.window_minutes``."""
    limits = access_config().login
    t = _naive_utc(now)
    since = t - dt.timedelta(minutes=limits.window_minutes)
    name, cl = _clean(username, 80), _clean(client, 64)
    last_ok = conn.execute(
        sa.select(sa.func.max(login_attempts.c.at)).where(
            login_attempts.c.username == name, login_attempts.c.ok.is_(True), login_attempts.c.at <= t
        )
    ).scalar()
    start = max(since, last_ok) if last_ok is not None else since
    failed = sa.and_(login_attempts.c.ok.is_(False), login_attempts.c.at <= t)
    by_name = conn.execute(
        sa.select(sa.func.count()).where(failed, login_attempts.c.username == name, login_attempts.c.at > start)
    ).scalar_one()
    if by_name >= limits.failures_per_username:
        return True
    by_client = conn.execute(
        sa.select(sa.func.count()).where(failed, login_attempts.c.client == cl, login_attempts.c.at > since)
    ).scalar_one()
    return bool(by_client >= limits.failures_per_client)


def authenticate(
    conn: Connection, username: str, password: str, client: str, *, now: dt.datetime | None = None
) -> User | None:
    """The active user whose ``password`` matches, else None. Every attempt is recorded; a blocked
    username or client (:func:`login_blocked`) fails without checking the password; an unknown user
    costs the same argon2 work as a wrong password. A hash with old parameters is rehashed."""
    t = _naive_utc(now)
    name, cl = _clean(username, 80), _clean(client, 64)
    row = conn.execute(sa.select(users).where(users.c.username == username)).first() if username else None
    stored = row._mapping["password_hash"] if row is not None else None
    blocked = login_blocked(conn, name, cl, now=t)
    ok, rehash = _verify(stored, password or "")
    ok = ok and not blocked and row is not None and bool(row._mapping["active"])
    conn.execute(login_attempts.insert().values(username=name, client=cl, at=t, ok=ok))
    if not ok or row is None:
        return None
    if rehash:
        conn.execute(
            users.update()
            .where(users.c.user_id == row._mapping["user_id"])
            .values(password_hash=hash_password(password))
        )
    return _user(row)


# -- API tokens ---------------------------------------------------------------------------------
def _secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _parse_token(token: str) -> tuple[str, str] | None:
    if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX):
        return None
    token_id, sep, secret = token[len(TOKEN_PREFIX) :].partition("_")
    if not sep or not token_id or not secret or len(token_id) > 32 or len(secret) > 200:
        return None
    return token_id, secret


def issue_token(
    conn: Connection, user: User, name: str, days: int | None = 90, *, now: dt.datetime | None = None
) -> str:
    """A new API token for ``user`` (shown once; only its hash is stored), valid ``days`` days
    (at most ``tokens.max_days``; None: the configured default)."""
    cfg = access_config().tokens
    n = cfg.default_days if days is None else int(days)
    if not 1 <= n <= cfg.max_days:
        raise DataError(f"token {name!r}: {n} days; a token is valid 1 to {cfg.max_days} days")
    label = _clean(name, 120).strip()
    if not label:
        raise DataError("a token needs a name (what it is for, e.g. the client system)")
    # base32 (a-z, 2-7): the public id never reads as an ID number when printed
    token_id = base64.b32encode(secrets.token_bytes(10)).decode("ascii").lower()
    secret = secrets.token_urlsafe(32)
    t = _naive_utc(now)
    conn.execute(
        api_tokens.insert().values(
            token_id=token_id,
            user_id=user.user_id,
            token_hash=_secret_hash(secret),
            name=label,
            created_at=t,
            expires_at=t + dt.timedelta(days=n),
            revoked_at=None,
        )
    )
    return f"{TOKEN_PREFIX}{token_id}_{secret}"


def token_id_of(token: str) -> str | None:
    """The public id of a token string (for logs and revocation), or None when malformed."""
    parsed = _parse_token(token)
    return parsed[0] if parsed else None


def user_for_token(conn: Connection, token: str, *, now: dt.datetime | None = None) -> User | None:
    """The active user a valid (known, unexpired, unrevoked, matching) token belongs to, else None."""
    parsed = _parse_token(token)
    if parsed is None:
        return None
    token_id, secret = parsed
    row = conn.execute(sa.select(api_tokens).where(api_tokens.c.token_id == token_id)).first()
    given = _secret_hash(secret)
    if row is None:
        hmac.compare_digest(given, given)  # same work either way
        return None
    m = row._mapping
    if not hmac.compare_digest(given, m["token_hash"]):
        return None
    t = _naive_utc(now)
    if m["revoked_at"] is not None or (m["expires_at"] is not None and m["expires_at"] <= t):
        return None
    user = get_user(conn, m["user_id"])
    return user if user is not None and user.active else None


def revoke_token(conn: Connection, token_id: str, *, now: dt.datetime | None = None) -> bool:
    """Revoke a token by its id (or the whole token string); False when there is none (or it was revoked)."""
    tid = token_id_of(token_id) or token_id
    res = conn.execute(
        api_tokens.update()
        .where(api_tokens.c.token_id == tid, api_tokens.c.revoked_at.is_(None))
        .values(revoked_at=_naive_utc(now))
    )
    return bool(res.rowcount)


def list_tokens(conn: Connection, user: User | None = None) -> list[dict]:
    """Tokens (never their secrets): token_id, username, name, created_at, expires_at, revoked_at."""
    q = sa.select(
        api_tokens.c.token_id,
        users.c.username,
        api_tokens.c.name,
        api_tokens.c.created_at,
        api_tokens.c.expires_at,
        api_tokens.c.revoked_at,
    ).join(users, users.c.user_id == api_tokens.c.user_id)
    if user is not None:
        q = q.where(api_tokens.c.user_id == user.user_id)
    return [dict(r._mapping) for r in conn.execute(q.order_by(api_tokens.c.created_at))]


# -- single sign-on -----------------------------------------------------------------------------
def oidc_subject_of(claims: Mapping[str, Any], mapping: Mapping[str, Any] | None = None) -> str | None:
    """The stable subject of verified OIDC claims: ``<iss>|<sub>`` (``mapping["subject"]``: another
    claim instead of ``sub``; ``mapping["issuer"]``: the only issuer accepted)."""
    m = dict(mapping or {})
    sub = claims.get(str(m.get("subject") or "sub"))
    iss = claims.get("iss") or ""
    if not sub or not isinstance(sub, str):
        return None
    if m.get("issuer") and iss != m["issuer"]:
        return None
    return f"{iss}|{sub}"[:200]


def oidc_user(conn: Connection, claims: Mapping[str, Any], mapping: Mapping[str, Any] | None = None) -> User | None:
    """The existing active user an OIDC login (claims verified by authlib) belongs to, else None.

    Users are found by ``oidc_subject`` (``<iss>|<sub>``). With ``mapping["link_by"]`` (a claim, e.g.
    ``preferred_username``) a user not linked yet whose username equals that claim is linked on first
    login — never an admin (admins are linked by hand) and, for ``email``, only when
    ``email_verified`` is true. No user is ever created here."""
    subject = oidc_subject_of(claims, mapping)
    if subject is None:
        return None
    row = conn.execute(sa.select(users).where(users.c.oidc_subject == subject)).first()
    if row is None:
        link_by = (mapping or {}).get("link_by")
        if not link_by:
            return None
        value = claims.get(str(link_by))
        if not isinstance(value, str) or not value:
            return None
        if link_by == "email" and claims.get("email_verified") is not True:
            return None
        row = conn.execute(
            sa.select(users).where(users.c.username == value, users.c.oidc_subject.is_(None), users.c.role != "admin")
        ).first()
        if row is None:
            return None
        conn.execute(users.update().where(users.c.user_id == row._mapping["user_id"]).values(oidc_subject=subject))
    user = _user(row)
    return user if user.active else None


def link_oidc(conn: Connection, username: str, oidc_subject: str | None) -> None:
    """Link (or with None unlink) a user to a single sign-on subject ``<iss>|<sub>``."""
    res = conn.execute(users.update().where(users.c.username == username).values(oidc_subject=oidc_subject))
    if res.rowcount == 0:
        raise NotFoundError(f"user {username}: no such user; `scoring users list` shows them")
