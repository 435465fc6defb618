"""信用异议与信用修复 — objection and repair cases, an explicit state machine in the serving database.

A case is opened by the person on one record of their own archive copy (``person_records``) and
handled by an officer of the record's agency (谁认定、谁处理)::

    submitted -> accepted | refused;  accepted -> decided -> written_back -> notified;  refused -> notified

Raising an objection flags the record at once (``objection_raised_on``): it stops counting in what
the person sees while it is checked. A refused objection (not admissible) and a rejected one (异议不成立)
restore the record; an upheld one (异议成立) removes it from the day it was raised. A granted repair
(信用修复) stops the record counting from the decision day. The deadline is counted in working days
(:mod:`scoring.core.workdays`, ``configs/cases.yaml``: 5 by default, a province's own, extendable with
approval up to the maximum). Every transition is one row of ``case_events`` and one row of the query
register (查询使用登记), in the caller's transaction; the clock is the ``now`` argument.
"""

from __future__ import annotations

import datetime as dt
import secrets
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import Connection

from scoring.core.config import config_dir, load_model
from scoring.core.errors import DataError, NotFoundError
from scoring.core.workdays import WorkingCalendar, load_calendar
from scoring.serving import register
from scoring.serving.schema import case_events, cases, notices, person_records, persons

STATES = ("submitted", "accepted", "refused", "decided", "written_back", "notified")
STATES_ZH = {
    "submitted": "已提交",
    "accepted": "已受理",
    "refused": "不予受理",
    "decided": "已作出决定",
    "written_back": "已更新信用档案",
    "notified": "已告知",
}
KINDS_ZH = {"objection": "信用异议", "repair": "信用修复"}
OUTCOMES = {"objection": ("upheld", "rejected"), "repair": ("repaired", "denied")}
OUTCOMES_ZH = {"upheld": "异议成立", "rejected": "异议不成立", "repaired": "准予修复", "denied": "不予修复"}
#: transitions: state -> states it may go to
NEXT = {
    "submitted": ("accepted", "refused"),
    "accepted": ("decided",),
    "refused": ("notified",),
    "decided": ("written_back",),
    "written_back": ("notified",),
    "notified": (),
}
OPEN = ("submitted", "accepted")


class CaseStateError(DataError):
    """A transition the case's state does not allow."""


class Deadline(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    working_days: int = Field(ge=1, le=60)
    by_province: dict[str, int] = {}
    max_working_days: int = Field(ge=1, le=60)

    def days_for(self, region_code: str | None) -> int:
        return self.by_province.get((region_code or "")[:2], self.working_days)


class Attachments(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    max_count: int = Field(ge=0)
    max_bytes: int = Field(ge=0)
    content_types: list[str]


class CasesConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    objection: Deadline
    repair: Deadline
    attachments: Attachments


def load_cases_config(path: str | Path | None = None) -> CasesConfig:
    p = Path(path) if path is not None else config_dir() / "cases.yaml"
    cfg = load_model(CasesConfig, p)
    for kind in ("objection", "repair"):
        d: Deadline = getattr(cfg, kind)
        for prov, n in {"default": d.working_days, **d.by_province}.items():
            if n > d.max_working_days:
                raise DataError(f"{p}: {kind}: {prov}: {n} working days exceeds max_working_days {d.max_working_days}")
    return cfg


def _name(user: Any) -> tuple[str, str]:
    """(username, role) of an identity.User or a system name."""
    if isinstance(user, str):
        return user, "system"
    return user.username, user.role


def _row(conn: Connection, case_id: str) -> dict:
    r = conn.execute(sa.select(cases).where(cases.c.case_id == case_id)).mappings().first()
    if r is None:
        raise NotFoundError(f"no case {case_id}")
    return dict(r)


def _event(conn: Connection, case: dict, to: str, *, user: Any, now: dt.datetime, note: str | None = None) -> None:
    frm = case["state"]
    if frm is not None and to not in NEXT[frm]:
        allowed = "、".join(STATES_ZH[s] for s in NEXT[frm]) or "无"
        raise CaseStateError(
            f"case {case['case_id']} is {frm} ({STATES_ZH[frm]}): it cannot become {to}; next may be: {allowed}"
        )
    _log(
        conn, case, to, user=user, now=now, note=note, what=f"case {case['kind']} {to}", detail={"from": frm, "to": to}
    )


def _log(
    conn: Connection, case: dict, to: str, *, user: Any, now: dt.datetime, note: str | None, what: str, detail: dict
) -> None:
    """One row of case_events and one of the query register, in the caller's transaction."""
    name, role = _name(user)
    conn.execute(
        case_events.insert().values(
            case_id=case["case_id"], at=now, from_state=case["state"], to_state=to, username=name, note=note
        )
    )
    register.record(
        conn,
        user=name,
        role=role,
        action="write",
        what=what,
        subject=case["subject_key"],
        purpose="repair_objection",
        detail={"case_id": case["case_id"], "record_id": case["record_id"], **detail},
        at=now,
    )


def _set_record(conn: Connection, subject_key: str, record_id: str, **values: Any) -> None:
    conn.execute(
        person_records.update()
        .where(person_records.c.subject_key == subject_key, person_records.c.record_id == record_id)
        .values(**values)
    )


def _open(
    conn: Connection,
    kind: str,
    *,
    subject_key: str,
    record_id: str,
    reason: str,
    attachments: list[dict] | None,
    commitment: str | None,
    user: Any,
    now: dt.datetime,
    config: CasesConfig | None,
    calendar: WorkingCalendar | None,
) -> dict:
    cfg = config or load_cases_config()
    cal = calendar or load_calendar()
    reason = (reason or "").strip()
    if not reason:
        raise DataError("请填写理由 (a reason is required)")
    files = list(attachments or [])
    if len(files) > cfg.attachments.max_count:
        raise DataError(f"附件至多 {cfg.attachments.max_count} 个 (at most {cfg.attachments.max_count} attachments)")
    for f in files:
        if int(f.get("size") or 0) > cfg.attachments.max_bytes:
            raise DataError(f"附件 {f.get('name')} 超过 {cfg.attachments.max_bytes} 字节")
        if f.get("content_type") and f["content_type"] not in cfg.attachments.content_types:
            raise DataError(
                f"附件 {f.get('name')} 的类型 {f['content_type']} 不受理；可用：{', '.join(cfg.attachments.content_types)}"
            )
    rec = (
        conn.execute(
            sa.select(person_records).where(
                person_records.c.subject_key == subject_key, person_records.c.record_id == record_id
            )
        )
        .mappings()
        .first()
    )
    if rec is None or rec["holder_key"] != subject_key:
        raise NotFoundError(f"no record {record_id} of this person")  # another's record: the same answer
    busy = conn.execute(
        sa.select(cases.c.case_id).where(
            cases.c.record_id == record_id, cases.c.subject_key == subject_key, cases.c.state.in_(OPEN + ("decided",))
        )
    ).first()
    if busy is not None:
        raise DataError(f"该记录已有办理中的案件 {busy[0]} (a case on this record is open)")
    region = conn.execute(sa.select(persons.c.region_code).where(persons.c.subject_key == subject_key)).scalar()
    today = now.date()
    days = getattr(cfg, kind).days_for(region)
    case = {
        "case_id": f"{'YY' if kind == 'objection' else 'XF'}{today:%Y%m%d}{secrets.token_hex(4).upper()}",
        "kind": kind,
        "subject_key": subject_key,
        "record_id": record_id,
        "agency": rec["agency"] or "",
        "state": None,
        "reason": reason,
        "attachments": [{k: f.get(k) for k in ("name", "size", "sha256", "content_type")} for f in files],
        "commitment": commitment,
        "submitted_on": today,
        "submitted_at": now,
        "working_days": days,
        "deadline": cal.add(today, days),  # CalendarError when it runs into an unknown year
        "updated_at": now,
    }
    conn.execute(cases.insert().values(**{**case, "state": "submitted"}))
    _event(conn, case, "submitted", user=user, now=now)
    if kind == "objection":  # flagged at once: it does not count while it is checked
        _set_record(
            conn, subject_key, record_id, objection_raised_on=today, objection_resolved_on=None, objection_outcome=None
        )
    return _row(conn, case["case_id"])


def open_objection(
    conn: Connection,
    *,
    subject_key: str,
    record_id: str,
    reason: str,
    attachments: list[dict] | None = None,
    user: Any,
    now: dt.datetime,
    config: CasesConfig | None = None,
    calendar: WorkingCalendar | None = None,
) -> dict:
    """The person raises an objection (信用异议) on one of their records; the record is set aside at once."""
    return _open(
        conn,
        "objection",
        subject_key=subject_key,
        record_id=record_id,
        reason=reason,
        attachments=attachments,
        commitment=None,
        user=user,
        now=now,
        config=config,
        calendar=calendar,
    )


def open_repair(
    conn: Connection,
    *,
    subject_key: str,
    record_id: str,
    reason: str,
    commitment: str,
    user: Any,
    now: dt.datetime,
    config: CasesConfig | None = None,
    calendar: WorkingCalendar | None = None,
) -> dict:
    """The person applies for repair (信用修复) of a record, with a credit commitment (信用承诺书);
    the record keeps counting until the repair is granted. Eligibility is checked by the caller."""
    if not (commitment or "").strip():
        raise DataError("申请信用修复须作出信用承诺 (a credit commitment is required)")
    return _open(
        conn,
        "repair",
        subject_key=subject_key,
        record_id=record_id,
        reason=reason,
        attachments=None,
        commitment=commitment.strip(),
        user=user,
        now=now,
        config=config,
        calendar=calendar,
    )


def _officer_case(conn: Connection, case_id: str, agency: str | None) -> dict:
    c = _row(conn, case_id)
    if agency is not None and c["agency"] != agency:
        raise NotFoundError(f"no case {case_id}")  # outside the officer's agency: the same answer
    return c


def _move(
    conn: Connection, c: dict, to: str, *, user: Any, now: dt.datetime, note: str | None = None, **values: Any
) -> dict:
    _event(conn, c, to, user=user, now=now, note=note)
    conn.execute(cases.update().where(cases.c.case_id == c["case_id"]).values(state=to, updated_at=now, **values))
    return _row(conn, c["case_id"])


def accept(conn: Connection, case_id: str, *, user: Any, now: dt.datetime, agency: str | None = None) -> dict:
    c = _officer_case(conn, case_id, agency)
    return _move(conn, c, "accepted", user=user, now=now, officer=_name(user)[0])


def refuse(
    conn: Connection, case_id: str, *, user: Any, reason: str, now: dt.datetime, agency: str | None = None
) -> dict:
    """Not admissible (不予受理): an objection's record counts again."""
    if not (reason or "").strip():
        raise DataError("不予受理须说明理由 (a reason is required)")
    c = _officer_case(conn, case_id, agency)
    out = _move(conn, c, "refused", user=user, now=now, note=reason, officer=_name(user)[0], decision_reason=reason)
    if c["kind"] == "objection":
        _set_record(conn, c["subject_key"], c["record_id"], objection_raised_on=None)
    return out


def decide(
    conn: Connection, case_id: str, *, user: Any, outcome: str, reason: str, now: dt.datetime, agency: str | None = None
) -> dict:
    """The decision (objection: upheld | rejected; repair: repaired | denied), applied to the
    person's archive copy at once; the archive itself gets it at the write-back."""
    c = _officer_case(conn, case_id, agency)
    if outcome not in OUTCOMES[c["kind"]]:
        raise DataError(
            f"outcome must be one of {', '.join(OUTCOMES[c['kind']])} for a {c['kind']} case, got {outcome!r}"
        )
    if not (reason or "").strip():
        raise DataError("决定须说明理由 (a reason is required)")
    today = now.date()
    out = _move(
        conn,
        c,
        "decided",
        user=user,
        now=now,
        note=f"{outcome}: {reason}",
        outcome=outcome,
        decision_reason=reason,
        decided_on=today,
    )
    if c["kind"] == "objection":
        _set_record(conn, c["subject_key"], c["record_id"], objection_resolved_on=today, objection_outcome=outcome)
    elif outcome == "repaired":
        _set_record(conn, c["subject_key"], c["record_id"], repaired_on=today)
    return out


def extend(
    conn: Connection,
    case_id: str,
    *,
    user: Any,
    days: int,
    approved_by: str,
    now: dt.datetime,
    agency: str | None = None,
    config: CasesConfig | None = None,
    calendar: WorkingCalendar | None = None,
) -> dict:
    """Extend an open case's deadline by ``days`` working days with approval (经批准延长), never beyond
    the configured maximum counted from submission."""
    cfg = config or load_cases_config()
    cal = calendar or load_calendar()
    c = _officer_case(conn, case_id, agency)
    if c["state"] not in OPEN:
        raise CaseStateError(f"case {case_id} is {c['state']} ({STATES_ZH[c['state']]}): only an open case is extended")
    if not (approved_by or "").strip():
        raise DataError("延长办理期限须经批准：请填写批准人 (approved_by)")
    total = int(c["working_days"]) + int(days)
    cap = getattr(cfg, c["kind"]).max_working_days
    if days < 1 or total > cap:
        raise DataError(
            f"延长后共 {total} 个工作日，超过上限 {cap} 个工作日 (extend by 1 to {cap - int(c['working_days'])})"
        )
    deadline = cal.add(c["submitted_on"], total)
    conn.execute(
        cases.update().where(cases.c.case_id == case_id).values(working_days=total, deadline=deadline, updated_at=now)
    )
    note = f"extended by {days} (approved by {approved_by})"
    detail = {"days": days, "approved_by": approved_by}
    _log(conn, c, c["state"], user=user, now=now, note=note, what=f"case {c['kind']} extended", detail=detail)
    return _row(conn, case_id)


def mark_written_back(
    conn: Connection, case_id: str, *, batch_id: str, now: dt.datetime, user: Any = "write-back"
) -> dict:
    return _move(conn, _row(conn, case_id), "written_back", user=user, now=now, note=batch_id, batch_id=batch_id)


def mark_notified(conn: Connection, case_id: str, *, now: dt.datetime, user: Any = "notice") -> dict:
    """Tell the person the outcome (a notice in the portal)."""
    c = _row(conn, case_id)
    out = _move(conn, c, "notified", user=user, now=now)
    what = KINDS_ZH[c["kind"]]
    result = OUTCOMES_ZH.get(c["outcome"] or "", "不予受理")  # refused: no outcome
    conn.execute(
        notices.insert().values(
            subject_key=c["subject_key"],
            kind="case_outcome",
            case_id=case_id,
            record_id=c["record_id"],
            text_zh=f"您的{what}申请（{case_id}）办理结果：{result}。理由：{c['decision_reason'] or ''}",
            created_at=now,
        )
    )
    return out


def case(conn: Connection, case_id: str) -> dict | None:
    r = conn.execute(sa.select(cases).where(cases.c.case_id == case_id)).mappings().first()
    return None if r is None else dict(r)


def events(conn: Connection, case_id: str) -> list[dict]:
    q = sa.select(case_events).where(case_events.c.case_id == case_id).order_by(case_events.c.event_id)
    return [dict(r) for r in conn.execute(q).mappings()]


def cases_of(conn: Connection, subject_key: str) -> list[dict]:
    q = sa.select(cases).where(cases.c.subject_key == subject_key).order_by(cases.c.submitted_at.desc())
    return [dict(r) for r in conn.execute(q).mappings()]


def queue(
    conn: Connection, *, agency: str | None, today: dt.date, calendar: WorkingCalendar | None = None
) -> list[dict]:
    """The officer's queue (待办): open cases of ``agency`` (None: every agency), overdue first, then by
    deadline; each with ``overdue`` and ``working_days_left`` (negative when overdue)."""
    cal = calendar or load_calendar()
    q = sa.select(cases).where(cases.c.state.in_(OPEN))
    if agency is not None:
        q = q.where(cases.c.agency == agency)
    out = []
    for r in conn.execute(q).mappings():
        c = dict(r)
        c["overdue"] = today > c["deadline"]
        c["working_days_left"] = (
            -cal.between(c["deadline"], today) if c["overdue"] else cal.between(today, c["deadline"])
        )
        out.append(c)
    out.sort(key=lambda c: (not c["overdue"], c["deadline"], c["submitted_at"], c["case_id"]))
    return out
