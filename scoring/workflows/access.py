"""Users, API tokens and the query register (查询使用登记) of the serving database, for the command line.

Every function takes the serving database's URL (``serving_url``: ``--serving``, else
``$XINYI_SERVING_URL``, else ``work/serving.sqlite``), does its work in one transaction and registers
itself in the query register as the operator ``cli:<OS user>`` (role admin), so every change to users
and every export of the register is itself registered.
"""

from __future__ import annotations

import datetime as dt
import getpass
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from scoring.core.errors import NotFoundError
from scoring.serving import identity, register
from scoring.serving.database import connect, serving_url

#: The role the command line acts in.
CLI_ROLE = "admin"


def operator() -> str:
    """Who runs the command: ``cli:<OS user>``."""
    try:
        who = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (containers)
        who = "unknown"
    return f"cli:{who}"


def _engine(url: str | None) -> Any:
    return connect(serving_url(url))


def add_user(
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
    url: str | None = None,
) -> identity.User:
    """Create a user (see :func:`scoring.serving.identity.create_user`); registered as a write."""
    eng = _engine(url)
    try:
        with eng.begin() as conn:
            user = identity.create_user(
                conn,
                username,
                password,
                role,
                display_name=display_name,
                subject_key=subject_key,
                agency=agency,
                industries=industries,
                regions=regions,
                oidc_subject=oidc_subject,
            )
            register.record(
                conn,
                user=operator(),
                role=CLI_ROLE,
                action="write",
                what="users add",
                subject=user.subject_key,
                detail={
                    "username": user.username,
                    "role": user.role,
                    "industries": list(user.industries),
                    "regions": list(user.regions),
                    "agency": user.agency,
                    "password": password is not None,
                },
            )
        return user
    finally:
        eng.dispose()


def _user_named(conn: Any, username: str) -> identity.User:
    user = identity.get_user_by_name(conn, username)
    if user is None:
        raise NotFoundError(f"user {username}: no such user; `scoring users list` shows them")
    return user


def issue_user_token(username: str, name: str, days: int | None = None, *, url: str | None = None) -> dict:
    """A new API token for ``username``: {token (shown once), token_id, username, expires_at}."""
    eng = _engine(url)
    try:
        with eng.begin() as conn:
            user = _user_named(conn, username)
            if not user.active:
                raise NotFoundError(f"user {username} is deactivated; no token is issued for it")
            token = identity.issue_token(conn, user, name, days)
            token_id = identity.token_id_of(token)
            row = next(t for t in identity.list_tokens(conn, user) if t["token_id"] == token_id)
            register.record(
                conn,
                user=operator(),
                role=CLI_ROLE,
                action="write",
                what="users token",
                detail={"username": user.username, "token_id": token_id, "name": row["name"]},
            )
        return {"token": token, "token_id": token_id, "username": user.username, "expires_at": row["expires_at"]}
    finally:
        eng.dispose()


def revoke_user_token(token_id: str, *, url: str | None = None) -> bool:
    """Revoke an API token by its id; False when there was no such (unrevoked) token."""
    eng = _engine(url)
    try:
        with eng.begin() as conn:
            done = identity.revoke_token(conn, token_id)
            register.record(
                conn,
                user=operator(),
                role=CLI_ROLE,
                action="write",
                what="users revoke",
                result="ok" if done else "not_found",
                detail={"token_id": identity.token_id_of(token_id) or token_id},
            )
        return done
    finally:
        eng.dispose()


def list_users(*, url: str | None = None) -> pd.DataFrame:
    """Every user: username, display name, role, scope, agency, subject_key, active, tokens."""
    eng = _engine(url)
    try:
        with eng.begin() as conn:
            people = identity.list_users(conn)
            tokens = identity.list_tokens(conn)
            register.record(conn, user=operator(), role=CLI_ROLE, action="read", what="users list")
        now = identity.utcnow()
        live: dict[str, int] = {}
        for t in tokens:
            if t["revoked_at"] is None and (t["expires_at"] is None or t["expires_at"] > now):
                live[t["username"]] = live.get(t["username"], 0) + 1
        return pd.DataFrame(
            [
                {
                    "username": u.username,
                    "display_name": u.display_name,
                    "role": u.role,
                    "role_zh": u.role_zh,
                    "industries": ",".join(u.industries),
                    "regions": ",".join(u.regions),
                    "agency": u.agency or "",
                    "subject_key": u.subject_key or "",
                    "active": u.active,
                    "tokens": live.get(u.username, 0),
                }
                for u in people
            ],
            columns=[
                "username",
                "display_name",
                "role",
                "role_zh",
                "industries",
                "regions",
                "agency",
                "subject_key",
                "active",
                "tokens",
            ],
        )
    finally:
        eng.dispose()


def verify_register(*, url: str | None = None) -> register.Verification:
    """Check the register's hash chain (the check itself is registered afterwards)."""
    eng = _engine(url)
    try:
        with eng.begin() as conn:
            v = register.verify(conn)
        with eng.begin() as conn:
            register.record(
                conn,
                user=operator(),
                role=CLI_ROLE,
                action="read",
                what="register verify",
                detail={"ok": v.ok, "rows": v.rows, "first_broken": v.first_broken, "head_seq": v.head_seq},
            )
        return v
    finally:
        eng.dispose()


def export_register(
    out: str | Path,
    *,
    url: str | None = None,
    user: str | None = None,
    role: str | None = None,
    subject: str | None = None,
    action: str | None = None,
    since: dt.date | str | None = None,
    until: dt.date | str | None = None,
    result: str | None = None,
) -> dict:
    """Export the matching register rows to ``out`` (.xlsx or .csv, inert); registered as an export."""
    filters: dict[str, Any] = {
        "user": user,
        "role": role,
        "subject": subject,
        "action": action,
        "since": since,
        "until": until,
        "result": result,
    }
    eng = _engine(url)
    try:
        with eng.begin() as conn:
            _, total = register.entries(conn, **filters, limit=0)
            path = register.export(conn, out, **filters)
            register.record(
                conn,
                user=operator(),
                role=CLI_ROLE,
                action="export",
                what=f"register export {Path(out).name}",
                detail={"filters": {k: str(v) for k, v in filters.items() if v}, "rows": total},
            )
        return {"path": str(path), "rows": total}
    finally:
        eng.dispose()


def prune_register(keep_days: int | None = None, *, url: str | None = None, now: dt.datetime | None = None) -> dict:
    """Remove rows older than the retention (default ``configs/access``; never under 183 days),
    keeping the chain verifiable; the pruning is registered. {pruned, keep_days, verification}."""
    days = register.retention_days() if keep_days is None else int(keep_days)
    eng = _engine(url)
    try:
        with eng.begin() as conn:
            n = register.prune(conn, days, now=now)
            register.record(
                conn,
                user=operator(),
                role=CLI_ROLE,
                action="write",
                what="register prune",
                detail={"keep_days": days, "pruned": n},
                at=now,
            )
        with eng.begin() as conn:
            v = register.verify(conn)
        return {"pruned": n, "keep_days": days, "verification": v}
    finally:
        eng.dispose()
