"""The read side of the serving database (查询): what the console, the API and the inspection plans
read. Every function takes a SQLAlchemy ``Connection`` and returns plain dicts or DataFrames with
Chinese-ready values (industry_zh, district_zh, veto_zh, change words).

:func:`list_rows` gives a published grade list in exactly the columns of
:func:`scoring.grades.lists.grade_list` (so :func:`scoring.grades.lists.write_grade_list` writes it
unchanged), plus ``region_code``, ``district_zh``, ``address`` and ``legal_rep_masked``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from scoring.features.industry import GRADE_INDEX, GRADES, load_industries
from scoring.serving import schema as t

#: the reason columns of a list (lists.grade_list k=3)
REASONS = 3
#: what ``change`` filters accept beside the exact words (持平, 上升1级, 下降2级, 新增)
CHANGE_WORDS = {
    "up": "上升",
    "上升": "上升",
    "升级": "上升",
    "down": "下降",
    "下降": "下降",
    "降级": "下降",
    "same": "持平",
    "持平": "持平",
    "new": "新增",
    "新增": "新增",
    "新进入": "新增",
}


def _industry_names() -> dict[str, str]:
    """industry code -> 行业 (configs/industries), read once per query."""
    return {c: ind.name_zh for c, ind in load_industries().items()}


def _industry_zh(code: str, names: dict[str, str] | None = None) -> str:
    return (names if names is not None else _industry_names()).get(code, code)


def _all(scope: Sequence[str] | None) -> bool:
    return scope is None or "*" in scope


def _iso(v: Any) -> str | None:
    if v is None:
        return None
    if isinstance(v, (dt.date, dt.datetime)):
        return v.isoformat()
    return str(v)


def _pub_dict(row: Any, names: dict[str, str] | None = None) -> dict:
    d = dict(row._mapping)
    code = d["scope"]
    d["industry"] = code if d["kind"] == "grade_list" else None
    d["industry_zh"] = _industry_zh(code, names) if d["kind"] == "grade_list" else "自然人"
    for k in ("as_of", "published_at", "pushed_at"):
        d[k] = _iso(d[k])
    return d


def grade_lists(conn: sa.Connection, industries: Sequence[str] | None = None) -> list[dict]:
    """The published grade lists (newest as_of first, then industry): publication fields with
    industry, industry_zh, n_rows, distribution. ``industries``: scope (None or ["*"]: all)."""
    p = t.publications
    q = sa.select(p).where(p.c.kind == "grade_list")
    if not _all(industries):
        q = q.where(p.c.scope.in_(list(industries or [])))
    q = q.order_by(p.c.as_of.desc(), p.c.scope, p.c.published_at.desc())
    names = _industry_names()
    return [_pub_dict(r, names) for r in conn.execute(q)]


def publication(conn: sa.Connection, publication_id: str) -> dict | None:
    """One publication (any kind), or None."""
    r = conn.execute(sa.select(t.publications).where(t.publications.c.publication_id == publication_id)).first()
    return _pub_dict(r) if r is not None else None


def last_push(conn: sa.Connection) -> dt.datetime | None:
    """When the serving database last received a publication (None: never): what was pushed up to
    then is final, so views rendered from it can be kept until the next push."""
    return conn.execute(sa.select(sa.func.max(t.publications.c.pushed_at))).scalar()


def latest_list(conn: sa.Connection, industry: str) -> dict | None:
    """The newest grade list of an industry (latest as_of, then latest published), or None."""
    p = t.publications
    q = (
        sa.select(p)
        .where(p.c.kind == "grade_list", p.c.scope == industry)
        .order_by(p.c.as_of.desc(), p.c.published_at.desc())
        .limit(1)
    )
    r = conn.execute(q).first()
    return _pub_dict(r) if r is not None else None


def previous_list(conn: sa.Connection, publication_id: str) -> dict | None:
    """The grade list of the same industry before ``publication_id`` (the latest earlier as_of), or None."""
    cur = publication(conn, publication_id)
    if cur is None or cur["kind"] != "grade_list":
        return None
    p = t.publications
    q = (
        sa.select(p)
        .where(p.c.kind == "grade_list", p.c.scope == cur["scope"], p.c.as_of < dt.date.fromisoformat(cur["as_of"]))
        .order_by(p.c.as_of.desc(), p.c.published_at.desc())
        .limit(1)
    )
    r = conn.execute(q).first()
    return _pub_dict(r) if r is not None else None


def _list_query(
    publication_id: str,
    *,
    grade: str | Sequence[str] | None,
    region: str | Sequence[str] | None,
    veto: bool | None,
    change: str | None,
    regions: Sequence[str] | None,
    q: str | None,
):
    g, o = t.grade_entries, t.organisations
    cond = [g.c.publication_id == publication_id]
    if grade:
        cond.append(g.c.grade.in_([grade] if isinstance(grade, str) else list(grade)))
    if region:
        cond.append(g.c.region_code.in_([region] if isinstance(region, str) else list(region)))
    if not _all(regions):
        cond.append(g.c.region_code.in_(list(regions or [])))
    if veto is True:
        cond.append(g.c.veto != "")
    elif veto is False:
        cond.append(sa.or_(g.c.veto == "", g.c.veto.is_(None)))
    if change:
        word = CHANGE_WORDS.get(change.strip(), change.strip())
        cond.append(g.c.change == word if word not in ("上升", "下降") else g.c.change.like(f"{word}%"))
    if q and q.strip():
        needle = f"%{q.strip()}%"
        cond.append(sa.or_(o.c.name.like(needle), g.c.subject_id.like(needle.upper())))
    return g.join(o, o.c.subject_id == g.c.subject_id), cond


def list_rows(
    conn: sa.Connection,
    publication_id: str,
    *,
    grade: str | Sequence[str] | None = None,
    region: str | Sequence[str] | None = None,
    veto: bool | None = None,
    change: str | None = None,
    regions: Sequence[str] | None = None,
    q: str | None = None,
    offset: int = 0,
    limit: int | None = None,
) -> tuple[pd.DataFrame, int]:
    """The rows of a published grade list, filtered (``grade``; ``region``; ``veto`` True/False;
    ``change``: 上升/下降/持平/新增 or an exact word like 上升1级, also up/down/same/new; ``regions``:
    the user's region scope, None or ["*"]: all; ``q``: name or USCC contains), ordered as
    :func:`scoring.grades.lists.grade_list` orders (the worst grade first, then risk ascending, then
    USCC), with
    ``offset``/``limit``; returns (frame, total rows matching). Columns: those of
    :func:`scoring.grades.lists.grade_list`, then region_code, district_zh, address, legal_rep_masked."""
    pub = publication(conn, publication_id)
    frm, cond = _list_query(publication_id, grade=grade, region=region, veto=veto, change=change, regions=regions, q=q)
    total = conn.execute(sa.select(sa.func.count()).select_from(frm).where(*cond)).scalar_one()
    stmt = _list_select(frm, cond)
    if offset:
        stmt = stmt.offset(int(offset))
    if limit is not None:
        stmt = stmt.limit(int(limit))
    rows = conn.execute(stmt).all()
    return _list_frame(rows, pub), int(total)


def _list_select(frm: Any, cond: list) -> sa.Select:
    g, o = t.grade_entries, t.organisations
    rank = sa.case(*((g.c.grade == k, i) for k, i in GRADE_INDEX.items()), else_=len(GRADES))
    cols = [
        g.c.subject_id,
        o.c.name,
        g.c.industry_code,
        g.c.as_of,
        g.c.grade,
        g.c.score,
        g.c.probabilities,
        g.c.risk,
        g.c.model_grade,
        g.c.sampling_ratio,
        g.c.frequency,
        g.c.reasons_zh,
        g.c.veto_zh,
        g.c.veto,
        g.c.new_entrant,
        g.c.rules,
        g.c.previous_as_of,
        g.c.previous_grade,
        g.c.change,
        g.c.region_code,
        o.c.district_zh,
        o.c.address,
        o.c.legal_rep_masked,
    ]
    return sa.select(*cols).select_from(frm).where(*cond).order_by(rank.desc(), g.c.risk, g.c.subject_id)


def _list_frame(rows: Sequence[Any], pub: dict | None) -> pd.DataFrame:
    records, columns = _list_records(rows, pub)
    return pd.DataFrame(records, columns=columns)


def _list_records(rows: Sequence[Any], pub: dict | None) -> tuple[list[dict[str, Any]], list[str]]:
    """The list rows as records with the columns of :func:`scoring.grades.lists.grade_list` (and the
    organisation's), and those columns in order."""
    model_version = (pub or {}).get("model_content_version", "")
    run_id = (pub or {}).get("run_id", "")
    probs: list[str] = []
    for r in rows:
        for k in r.probabilities or {}:
            if k not in probs:
                probs.append(k)
    names = _industry_names()
    records = []
    for r in rows:
        reasons = (r.reasons_zh or "").split("\n") if r.reasons_zh else []
        reasons = (reasons + [""] * REASONS)[:REASONS]
        p = r.probabilities or {}
        rec: dict[str, Any] = {
            "subject_id": r.subject_id,
            "name": r.name,
            "industry_zh": _industry_zh(r.industry_code, names),
            "industry": r.industry_code,
            "as_of": _iso(r.as_of),
            "grade": r.grade,
            "score": r.score,
        }
        for k in probs:
            rec[f"p_{k}"] = p.get(k, np.nan)
        rec |= {
            "risk": r.risk,
            "model_grade": r.model_grade,
            "sampling_ratio": r.sampling_ratio,
            "frequency": r.frequency,
            **{f"reason_{i + 1}": reasons[i] for i in range(REASONS)},
            "veto_zh": r.veto_zh or "",
            "veto": r.veto or "",
            "new_entrant": bool(r.new_entrant),
            "rules": r.rules or "",
            "previous_as_of": _iso(r.previous_as_of),
            "previous_grade": r.previous_grade if r.previous_grade else np.nan,
            "change": r.change,
            "model_version": model_version,
            "mlflow_run_id": run_id,
            "region_code": r.region_code,
            "district_zh": r.district_zh,
            "address": r.address,
            "legal_rep_masked": r.legal_rep_masked,
        }
        records.append(rec)
    columns = [
        "subject_id", "name", "industry_zh", "industry", "as_of", "grade", "score",
        *(f"p_{k}" for k in probs),
        "risk", "model_grade", "sampling_ratio", "frequency",
        *(f"reason_{i + 1}" for i in range(REASONS)),
        "veto_zh", "veto", "new_entrant", "rules", "previous_as_of", "previous_grade", "change",
        "model_version", "mlflow_run_id", "region_code", "district_zh", "address", "legal_rep_masked",
    ]  # fmt: skip
    return records, columns


def organisation(conn: sa.Connection, subject_id: str) -> dict | None:
    """One organisation (name, type, industry, region, district, address, masked legal
    representative, registration date), or None."""
    r = conn.execute(sa.select(t.organisations).where(t.organisations.c.subject_id == subject_id)).first()
    if r is None:
        return None
    d = dict(r._mapping)
    d["industry_zh"] = None
    code = d.get("industry_code")
    if code:
        d["industry_zh"] = _industry_zh(code)
    d["registered_on"] = _iso(d["registered_on"])
    d["updated_at"] = _iso(d["updated_at"])
    return d


def organisation_grades(conn: sa.Connection, subject_id: str) -> list[dict]:
    """The organisation's published grades, newest first: publication_id, industry, industry_zh,
    as_of, grade, previous_grade, change, veto, veto_zh."""
    g, p = t.grade_entries, t.publications
    q = (
        sa.select(
            g.c.publication_id, g.c.industry_code, g.c.as_of, g.c.grade, g.c.previous_grade, g.c.change,
            g.c.veto, g.c.veto_zh, p.c.published_at,
        )
        .join(p, p.c.publication_id == g.c.publication_id)
        .where(g.c.subject_id == subject_id)
        .order_by(g.c.as_of.desc(), p.c.published_at.desc())
    )  # fmt: skip
    names = _industry_names()
    return [
        {
            "publication_id": r.publication_id,
            "industry": r.industry_code,
            "industry_zh": _industry_zh(r.industry_code, names),
            "as_of": _iso(r.as_of),
            "grade": r.grade,
            "previous_grade": r.previous_grade,
            "change": r.change,
            "veto": r.veto or "",
            "veto_zh": r.veto_zh or "",
        }
        for r in conn.execute(q)
    ]


def grade_entry(conn: sa.Connection, publication_id: str, subject_id: str) -> dict | None:
    """One organisation in one list: the list row (as :func:`list_rows`), ``probabilities``,
    ``reasons`` (with their records), ``supervision`` (ratio, frequency, note), ``upgrade_capped``,
    ``publication`` and ``justification`` (the summary pushed, else None); None when absent."""
    g = t.grade_entries
    r = conn.execute(sa.select(g).where(g.c.publication_id == publication_id, g.c.subject_id == subject_id)).first()
    if r is None:
        return None
    pub = publication(conn, publication_id)
    frm, _ = _list_query(publication_id, grade=None, region=None, veto=None, change=None, regions=None, q=None)
    records, _ = _list_records(  # one row: records, not a frame
        conn.execute(_list_select(frm, [g.c.publication_id == publication_id, g.c.subject_id == subject_id])).all(), pub
    )
    row = records[0] if records else {}
    row = {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
    j = conn.execute(
        sa.select(t.justifications.c.summary, t.justifications.c.checked_at).where(
            t.justifications.c.publication_id == publication_id, t.justifications.c.subject == subject_id
        )
    ).first()
    return {
        **row,
        "probabilities": dict(r.probabilities or {}),
        "reasons": list(r.reasons or []),
        "supervision": {"sampling_ratio": r.sampling_ratio, "frequency": r.frequency, "note": r.supervision_note},
        "upgrade_capped": bool(r.upgrade_capped),
        "publication": pub,
        "justification": {**dict(j.summary), "checked_at": _iso(j.checked_at)} if j is not None else None,
    }


def _score_dict(r: Any) -> dict:
    d = dict(r._mapping)
    d["as_of"] = _iso(d["as_of"])
    d["suspended_until"] = _iso(d["suspended_until"])
    return d


def score_entry(conn: sa.Connection, subject_key: str, publication_id: str | None = None) -> dict | None:
    """A person's published 信义金 (status, points: None when suspended, reason, suspended_until,
    items with their records, the publication), from ``publication_id`` or the newest; None when absent."""
    s = t.score_entries
    q = sa.select(s).where(s.c.subject_key == subject_key)
    if publication_id is not None:
        q = q.where(s.c.publication_id == publication_id)
    r = conn.execute(q.order_by(s.c.as_of.desc()).limit(1)).first()
    if r is None:
        return None
    d = _score_dict(r)
    d["publication"] = publication(conn, d["publication_id"])
    return d


def score_history(conn: sa.Connection, subject_key: str) -> list[dict]:
    """A person's published scores, newest first (publication_id, as_of, status, points, reason, suspended_until)."""
    s = t.score_entries
    q = (
        sa.select(s.c.publication_id, s.c.as_of, s.c.status, s.c.points, s.c.reason, s.c.suspended_until)
        .where(s.c.subject_key == subject_key)
        .order_by(s.c.as_of.desc())
    )
    return [_score_dict(r) for r in conn.execute(q)]


def subjects_in(conn: sa.Connection, subject_ids: Iterable[str]) -> set[str]:
    """Which of ``subject_ids`` are organisations of the serving database."""
    ids = list(dict.fromkeys(str(s) for s in subject_ids))
    out: set[str] = set()
    o = t.organisations
    for i in range(0, len(ids), 500):
        out |= {r for (r,) in conn.execute(sa.select(o.c.subject_id).where(o.c.subject_id.in_(ids[i : i + 500])))}
    return out
