"""查询使用登记: the register of every query and use of credit information on the platform service.

Every read of a subject's data (page, API call, export, download) and every write is one row: who,
role, when, what, which subject (USCC or keyed pseudonym), the purpose and its legal basis, the
result. The register is append-only and tamper-evident:

* each row carries ``prev_hash`` (the previous row's hash) and ``row_hash`` =
  sha256(prev_hash + canonical JSON of the row) — :func:`canonical` fixes the key order, times as ISO
  text to the microsecond (as both SQLite and PostgreSQL give them back), JSON with sorted keys;
* appends are serialised (SQLite: the connection takes the write lock, ``BEGIN IMMEDIATE``, before it
  reads the last hash; PostgreSQL: ``pg_advisory_xact_lock``), so concurrent writers never fork the chain;
* :func:`verify` recomputes the chain and names the first broken seq after any edit, deletion,
  insertion or reorder;
* :func:`prune` removes rows older than the retention (at least 183 days, ``configs/access``) and
  keeps the chain verifiable through ``register_anchor`` (the last pruned row's seq and hash).

No raw ID number is ever stored: every text (and every text inside ``detail``) is masked
(:func:`scoring.core.privacy.scrub`) before it is hashed.

What a hash chain cannot show by itself: rows cut off at the end, or a chain rewritten in full by
someone who can write the database. :attr:`Verification.head_hash` is the chain's current head; an
auditor who notes it (or exports the register) can later check that the chain still extends it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from scoring.core.errors import DataError
from scoring.core.privacy import scrub
from scoring.serving.schema import query_register, register_anchor

GENESIS = "0" * 64
#: The advisory lock key of register appends on PostgreSQL ("xinyireg" in ASCII, as a bigint).
LOCK_KEY = int.from_bytes(b"xinyireg", "big") & 0x7FFF_FFFF_FFFF_FFFF

FIELDS = ("seq", "at", "username", "role", "action", "what", "subject", "purpose", "legal_basis", "result", "detail")
_LENGTHS = {
    "username": 80,
    "role": 16,
    "action": 16,
    "what": 300,
    "subject": 40,
    "purpose": 300,
    "legal_basis": 300,
    "result": 16,
}
ACTIONS_ZH = {
    "read": "查询",
    "write": "写入",
    "export": "导出",
    "download": "下载",
    "login": "登录",
    "logout": "退出",
}
RESULTS_ZH = {"ok": "成功", "denied": "拒绝", "not_found": "未找到", "invalid": "无效", "error": "错误"}


@dataclass(frozen=True)
class Verification:
    """The result of :func:`verify`: ``ok``; ``rows`` checked; ``first_broken`` the first seq whose row
    is missing, altered, inserted or out of order (None when ok); ``reason`` in words; the chain's
    head (last seq and its hash) and the anchor it starts from after pruning."""

    ok: bool
    rows: int
    first_broken: int | None
    reason: str
    head_seq: int | None = None
    head_hash: str | None = None
    anchor_seq: int | None = None


# -- canonical form -------------------------------------------------------------------------------
def _time(t: dt.datetime | None) -> dt.datetime:
    if t is None:
        return dt.datetime.now(dt.UTC).replace(tzinfo=None)
    if t.tzinfo is not None:
        t = t.astimezone(dt.UTC).replace(tzinfo=None)
    return t


def _text(value: object, n: int | None = None) -> str | None:
    if value is None:
        return None
    s = scrub(str(value), newlines=False)
    return s[:n] if n else s


def _json_safe(value: Any) -> Any:
    """``detail`` as JSON values only (texts masked), so what is hashed is what is read back."""
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return value
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, Mapping):
        return {_text(k) or "": _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        items = sorted(value, key=str) if isinstance(value, (set, frozenset)) else value
        return [_json_safe(v) for v in items]
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if hasattr(value, "item"):  # numpy scalars
        return _json_safe(value.item())
    return scrub(str(value))


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _numbers(value: Any) -> Any:
    """Integral floats as integers (5.0 -> 5, 1e16 -> 10000000000000000): a JSON column may give a
    number back in the other form (PostgreSQL's jsonb does), the hash must not depend on it."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_numbers(v) for v in value]
    return value


def canonical(row: Mapping[str, Any]) -> str:
    """The canonical text of a register row that its hash covers: the fields of :data:`FIELDS` in
    that order, ``at`` as ISO text to the microsecond, ``detail`` as sorted-key JSON."""
    at = row["at"]
    if isinstance(at, str):
        at = dt.datetime.fromisoformat(at)
    out = {k: row.get(k) for k in FIELDS}
    out["seq"] = int(row["seq"])
    out["at"] = _time(at).isoformat(timespec="microseconds")
    # keys in FIELDS order (not sorted): json.dumps keeps insertion order at the top level
    head = json.dumps({k: out[k] for k in FIELDS if k != "detail"}, ensure_ascii=False, separators=(",", ":"))
    return head[:-1] + ',"detail":' + _dumps(_numbers(out["detail"])) + "}"


def row_hash(prev_hash: str, row: Mapping[str, Any]) -> str:
    """sha256(prev_hash + canonical row), hex."""
    return hashlib.sha256((prev_hash + canonical(row)).encode("utf-8")).hexdigest()


# -- appending ------------------------------------------------------------------------------------
def _lock(conn: Connection) -> None:
    """Serialise appends: hold the database's write lock (SQLite) or the register's advisory lock
    (PostgreSQL) until the caller's transaction ends, before the last hash is read."""
    backend = conn.dialect.name
    if backend == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": LOCK_KEY})
    elif backend == "sqlite":
        dbapi = conn.connection.dbapi_connection
        if dbapi is not None and not getattr(dbapi, "in_transaction", True):
            conn.exec_driver_sql("BEGIN IMMEDIATE")  # take the write lock before reading
        else:
            # a transaction is open: a write statement takes the write lock (SQLite upgrades to it or
            # waits busy_timeout); it changes no row
            conn.execute(register_anchor.update().where(sa.false()).values(seq=register_anchor.c.seq))


def _anchor(conn: Connection) -> tuple[int, str] | None:
    row = conn.execute(
        sa.select(register_anchor.c.seq, register_anchor.c.row_hash)
        .order_by(register_anchor.c.anchor_id.desc())
        .limit(1)
    ).first()
    return (int(row[0]), str(row[1])) if row is not None else None


def _head(conn: Connection) -> tuple[int, str]:
    row = conn.execute(
        sa.select(query_register.c.seq, query_register.c.row_hash).order_by(query_register.c.seq.desc()).limit(1)
    ).first()
    if row is not None:
        return int(row[0]), str(row[1])
    return _anchor(conn) or (0, GENESIS)


def record(
    conn: Connection,
    *,
    user: str,
    role: str,
    action: str,
    what: str,
    subject: str | None = None,
    purpose: str | None = None,
    legal_basis: str | None = None,
    result: str = "ok",
    detail: dict | None = None,
    at: dt.datetime | None = None,
) -> int:
    """Append one row to the register in the caller's transaction; its seq. Texts are masked (no raw
    ID number is ever stored) and cut to their column's length; ``at`` defaults to now (UTC)."""
    values: dict[str, Any] = {
        "at": _time(at),
        "username": _text(user, _LENGTHS["username"]) or "",
        "role": _text(role, _LENGTHS["role"]) or "",
        "action": _text(action, _LENGTHS["action"]) or "",
        "what": _text(what, _LENGTHS["what"]) or "",
        "subject": _text(subject, _LENGTHS["subject"]),
        "purpose": _text(purpose, _LENGTHS["purpose"]),
        "legal_basis": _text(legal_basis, _LENGTHS["legal_basis"]),
        "result": _text(result, _LENGTHS["result"]) or "ok",
        "detail": _json_safe(detail) if detail is not None else None,
    }
    if not values["username"] or not values["action"] or not values["what"]:
        raise DataError("a register row needs the user, the action and what was accessed")
    _lock(conn)
    seq, prev = _head(conn)
    values["seq"] = seq + 1
    values["prev_hash"] = prev
    values["row_hash"] = row_hash(prev, values)
    conn.execute(query_register.insert().values(**values))
    return int(values["seq"])


# -- verifying ------------------------------------------------------------------------------------
def verify(conn: Connection, *, batch: int = 5000) -> Verification:
    """Recompute the chain from its start (the anchor after pruning, else the genesis hash) and
    report the first seq that is missing, altered, inserted or out of order."""
    anchor = _anchor(conn)
    start, prev = anchor if anchor is not None else (0, GENESIS)
    anchor_seq = anchor[0] if anchor is not None else None
    early = conn.execute(sa.select(sa.func.min(query_register.c.seq)).where(query_register.c.seq <= start)).scalar()
    if early is not None:
        return Verification(
            False,
            0,
            int(early),
            f"row {early} lies before the chain's start (anchor seq {start}): inserted",
            None,
            None,
            anchor_seq,
        )
    expected, rows, last = start + 1, 0, start
    cols = [query_register.c[k] for k in FIELDS] + [query_register.c.prev_hash, query_register.c.row_hash]
    while True:
        chunk = conn.execute(
            sa.select(*cols).where(query_register.c.seq > last).order_by(query_register.c.seq).limit(batch)
        ).all()
        if not chunk:
            break
        for r in chunk:
            m = dict(r._mapping)
            seq = int(m["seq"])
            if seq != expected:
                return Verification(
                    False,
                    rows,
                    expected,
                    f"row {expected} is missing (deleted); the chain goes on at {seq}",
                    None,
                    None,
                    anchor_seq,
                )
            if m["prev_hash"] != prev:
                return Verification(
                    False,
                    rows,
                    seq,
                    f"row {seq} does not link to row {seq - 1} (prev_hash differs): "
                    "a row was inserted, removed or reordered here",
                    None,
                    None,
                    anchor_seq,
                )
            if row_hash(prev, m) != m["row_hash"]:
                return Verification(
                    False,
                    rows,
                    seq,
                    f"row {seq} was altered: its content does not match its hash",
                    None,
                    None,
                    anchor_seq,
                )
            prev, expected, last, rows = m["row_hash"], seq + 1, seq, rows + 1
    head_seq = last if last > 0 else None
    return Verification(
        True, rows, None, f"{rows} rows verified; the chain is intact", head_seq, prev if head_seq else None, anchor_seq
    )


# -- reading and exporting ------------------------------------------------------------------------
def _bound(value: dt.date | dt.datetime | str | None, end: bool) -> dt.datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value) if "T" in value or " " in value else dt.date.fromisoformat(value)
        except ValueError:
            raise DataError(f"{value!r} is not a date (YYYY-MM-DD) or time (YYYY-MM-DDTHH:MM)") from None
    if isinstance(value, dt.datetime):
        return _time(value)
    day = dt.datetime(value.year, value.month, value.day)
    return day + dt.timedelta(days=1) if end else day  # a date as `until` includes the whole day


def _where(
    *,
    user: str | None = None,
    role: str | None = None,
    subject: str | None = None,
    action: str | None = None,
    since: dt.date | dt.datetime | str | None = None,
    until: dt.date | dt.datetime | str | None = None,
    result: str | None = None,
) -> list[Any]:
    c = query_register.c
    out: list[Any] = []
    for col, value in (
        (c.username, user),
        (c.role, role),
        (c.subject, subject),
        (c.action, action),
        (c.result, result),
    ):
        if value:
            out.append(col == value)
    lo, hi = _bound(since, False), _bound(until, True)
    if lo is not None:
        out.append(c.at >= lo)
    if hi is not None:
        out.append(c.at < hi if not isinstance(until, dt.datetime) else c.at <= hi)
    return out


COLUMNS = [
    "seq",
    "at",
    "username",
    "role",
    "action",
    "what",
    "subject",
    "purpose",
    "legal_basis",
    "result",
    "detail",
    "row_hash",
]


def entries(
    conn: Connection,
    *,
    user: str | None = None,
    role: str | None = None,
    subject: str | None = None,
    action: str | None = None,
    since: dt.date | dt.datetime | str | None = None,
    until: dt.date | dt.datetime | str | None = None,
    result: str | None = None,
    offset: int = 0,
    limit: int | None = 200,
    newest_first: bool = True,
) -> tuple[pd.DataFrame, int]:
    """Rows of the register matching the filters (newest first) and how many match in all.
    ``until`` as a date includes that day. ``limit`` None: every row."""
    cond = _where(user=user, role=role, subject=subject, action=action, since=since, until=until, result=result)
    total = int(conn.execute(sa.select(sa.func.count()).select_from(query_register).where(*cond)).scalar_one())
    order = query_register.c.seq.desc() if newest_first else query_register.c.seq
    q = sa.select(*[query_register.c[k] for k in COLUMNS]).where(*cond).order_by(order).offset(max(0, int(offset)))
    if limit is not None:
        q = q.limit(max(0, int(limit)))
    rows = [dict(r._mapping) for r in conn.execute(q)]
    frame = pd.DataFrame(rows, columns=COLUMNS)
    frame["seq"] = frame["seq"].astype("int64")
    return frame, total


def _purpose_zh(code: object) -> str:
    if not code:
        return ""
    try:
        from scoring.serving.access import access_config

        p = access_config().purposes.get(str(code))
    except Exception:  # the export never fails on the access config; the code is shown as given
        p = None
    return p.label_zh if p is not None else str(code)


def export_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Register rows with Chinese headers and values (codes kept in their own columns)."""
    from scoring.serving.access import ROLES_ZH

    return pd.DataFrame(
        {
            "序号": frame["seq"].astype("int64"),
            "时间(UTC)": pd.to_datetime(frame["at"]),
            "用户": frame["username"],
            "角色": frame["role"].map(lambda r: ROLES_ZH.get(r, r)),
            "角色代码": frame["role"],
            "操作": frame["action"].map(lambda a: ACTIONS_ZH.get(a, a)),
            "内容": frame["what"],
            "主体": frame["subject"].fillna(""),
            "查询目的": frame["purpose"].map(_purpose_zh),
            "目的代码": frame["purpose"].fillna(""),
            "法律依据": frame["legal_basis"].fillna(""),
            "结果": frame["result"].map(lambda r: RESULTS_ZH.get(r, r)),
            "详情": frame["detail"].map(lambda d: "" if d is None else _dumps(d)),
            "本行哈希": frame["row_hash"],
        }
    )


def export(conn: Connection, path: str | Path, **filters: Any) -> Path:
    """Write the matching rows (oldest first) to ``path``: .xlsx, or .csv (every text inert)."""
    from scoring.core.inert import write_csv
    from scoring.core.workbook import write_xlsx

    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".csv", ".xlsx"):
        raise DataError(f"{p}: export the register as .xlsx or .csv")
    filters.pop("offset", None)
    filters.pop("limit", None)
    frame, _ = entries(conn, **filters, offset=0, limit=None, newest_first=False)
    out = export_frame(frame)
    if suffix == ".csv":
        write_csv(out, p, encoding="utf-8-sig")  # the BOM: Excel and WPS read the Chinese right
    else:
        write_xlsx({"查询使用登记": out}, p)
    return p


def export_bytes(conn: Connection, suffix: str = ".xlsx", **filters: Any) -> bytes:
    """:func:`export` into memory (the service's download): the file's bytes."""
    import tempfile

    with tempfile.TemporaryDirectory(prefix="xinyi-register-") as d:
        p = export(conn, Path(d) / f"register{suffix}", **filters)
        return p.read_bytes()


# -- retention ------------------------------------------------------------------------------------
def retention_days() -> int:
    """The register's retention from ``configs/access/access.yaml`` (at least 183 days)."""
    from scoring.serving.access import access_config

    return access_config().retention.register_days


def prune(conn: Connection, keep_days: int | None = None, *, now: dt.datetime | None = None) -> int:
    """Delete the rows older than ``keep_days`` (default: the configured retention; never fewer than
    183) from the start of the chain, after checking it, and anchor the chain at the last pruned
    row so it stays verifiable. Returns the number of rows pruned."""
    from scoring.serving.access import MIN_RETENTION_DAYS

    days = retention_days() if keep_days is None else int(keep_days)
    if days < MIN_RETENTION_DAYS:
        raise DataError(
            f"keep {days} days: the query register is kept at least {MIN_RETENTION_DAYS} days (6 months); "
            f"give --keep-days {MIN_RETENTION_DAYS} or more"
        )
    _lock(conn)
    check = verify(conn)
    if not check.ok:
        raise DataError(
            f"the register's chain is broken at seq {check.first_broken} ({check.reason}); nothing was pruned: "
            "investigate it before removing any evidence"
        )
    cutoff = _time(now) - dt.timedelta(days=days)
    c = query_register.c
    first_kept = conn.execute(sa.select(sa.func.min(c.seq)).where(c.at >= cutoff)).scalar()
    q = sa.select(c.seq, c.row_hash).order_by(c.seq.desc()).limit(1)
    if first_kept is not None:
        q = q.where(c.seq < first_kept)
    last = conn.execute(q).first()
    if last is None:
        return 0
    seq, h = int(last[0]), str(last[1])
    n = int(conn.execute(sa.select(sa.func.count()).select_from(query_register).where(c.seq <= seq)).scalar_one())
    next_id = int(conn.execute(sa.select(sa.func.coalesce(sa.func.max(register_anchor.c.anchor_id), 0))).scalar_one())
    conn.execute(register_anchor.insert().values(anchor_id=next_id + 1, seq=seq, row_hash=h, pruned_at=_time(now)))
    conn.execute(query_register.delete().where(c.seq <= seq))
    return n
