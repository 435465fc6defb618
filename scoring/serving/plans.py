"""双随机 inspection plans in the serving database: saved as drawn, loaded as they were.

A plan (:class:`scoring.grades.inspection.Plan`) is saved with the publication it was drawn from,
who drew it and when (``inspection_plans``), and one row per organisation drawn with its grade, draw
order and the reason of its stratum (``inspection_selections``). Loading joins the organisations'
names, districts, addresses and masked legal representatives (``organisations``). A plan id is a hash
of the inputs and the seed, so saving the same draw again changes nothing (:func:`save_plan` returns
False): the first drawer and time are kept.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import pandas as pd
import sqlalchemy as sa
from sqlalchemy import Connection

from scoring.core.errors import NotFoundError
from scoring.features.industry import GRADE_INDEX, load_industries
from scoring.grades.inspection import SELECTION_COLUMNS, STRATA_COLUMNS, Plan
from scoring.serving.regions import district
from scoring.serving.schema import inspection_plans, inspection_selections, organisations, publications


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)


def save_plan(
    conn: Connection, plan: Plan, *, publication_id: str, drawn_by: str, drawn_at: dt.datetime | None = None
) -> bool:
    """Save ``plan`` (drawn from the published list ``publication_id`` by ``drawn_by``) in the
    caller's transaction; False when the same plan (same id) is already saved (nothing changes).
    Sets the plan's publication_id, drawn_by and drawn_at to what the database holds."""
    have = conn.execute(
        sa.select(inspection_plans.c.publication_id, inspection_plans.c.drawn_by, inspection_plans.c.drawn_at).where(
            inspection_plans.c.plan_id == plan.plan_id
        )
    ).first()
    if have is not None:
        plan.publication_id, plan.drawn_by, plan.drawn_at = have[0], have[1], have[2]
        return False
    pub = conn.execute(
        sa.select(publications.c.publication_id).where(publications.c.publication_id == publication_id)
    ).first()
    if pub is None:
        raise NotFoundError(f"no published list {publication_id!r} in the serving database: push it first")
    at = (drawn_at or _now()).replace(tzinfo=None)
    strata = [
        {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
        for row in plan.strata[list(STRATA_COLUMNS)].to_dict("records")
    ]
    conn.execute(
        inspection_plans.insert().values(
            plan_id=plan.plan_id,
            publication_id=publication_id,
            industry_code=plan.industry,
            region_code=plan.region,
            period=plan.period,
            seed=int(plan.seed),
            drawn_by=drawn_by,
            drawn_at=at,
            population=int(plan.population),
            selected=int(plan.selected),
            strata=strata,
        )
    )
    rows = [
        {
            "plan_id": plan.plan_id,
            "subject_id": str(r.subject_id),
            "grade": str(r.grade),
            "draw_order": int(r.draw_order),
            "reason_zh": str(r.reason_zh)[:300],
        }
        for r in plan.selections.itertuples(index=False)
    ]
    for i in range(0, len(rows), 5000):
        conn.execute(inspection_selections.insert(), rows[i : i + 5000])
    plan.publication_id, plan.drawn_by, plan.drawn_at = publication_id, drawn_by, at
    return True


def _industry_zh(code: str) -> str:
    ind = load_industries().get(code)
    return ind.name_zh if ind is not None else code


def load_plan(conn: Connection, plan_id: str) -> Plan:
    """The saved plan ``plan_id`` with its selections (and the organisations' details) and strata."""
    head = conn.execute(
        sa.select(inspection_plans, publications.c.as_of)
        .select_from(
            inspection_plans.join(publications, inspection_plans.c.publication_id == publications.c.publication_id)
        )
        .where(inspection_plans.c.plan_id == plan_id)
    ).first()
    if head is None:
        raise NotFoundError(f"no inspection plan {plan_id!r} in the serving database (`scoring plans draw` draws one)")
    h = head._mapping
    o = organisations.c
    sel = conn.execute(
        sa.select(
            inspection_selections.c.subject_id,
            o.name,
            inspection_selections.c.grade,
            o.district_zh,
            o.address,
            o.legal_rep_masked,
            inspection_selections.c.reason_zh,
            inspection_selections.c.draw_order,
        )
        .select_from(inspection_selections.outerjoin(organisations, inspection_selections.c.subject_id == o.subject_id))
        .where(inspection_selections.c.plan_id == plan_id)
        .order_by(inspection_selections.c.draw_order)
    ).all()
    selections = pd.DataFrame([tuple(r) for r in sel], columns=list(SELECTION_COLUMNS))
    for c in ("name", "district_zh", "address", "legal_rep_masked"):
        selections[c] = selections[c].astype(object).where(selections[c].notna(), "")
    selections["draw_order"] = selections["draw_order"].astype(int)
    strata = pd.DataFrame(list(h["strata"] or []), columns=list(STRATA_COLUMNS))
    strata = strata.sort_values("grade", key=lambda s: s.map(GRADE_INDEX)).reset_index(drop=True)
    region = h["region_code"]
    as_of = h["as_of"]
    return Plan(
        plan_id=h["plan_id"],
        industry=h["industry_code"],
        industry_zh=_industry_zh(h["industry_code"]),
        region=region,
        region_zh=district(region) if region else None,
        period=h["period"],
        seed=int(h["seed"]),
        population=int(h["population"]),
        selections=selections,
        strata=strata,
        as_of=as_of.isoformat() if isinstance(as_of, dt.date) else str(as_of or ""),
        publication_id=h["publication_id"],
        drawn_by=h["drawn_by"],
        drawn_at=h["drawn_at"],
    )


def list_plans(conn: Connection, industries: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The saved plans, newest first (``industries``: scope filter; None or ["*"]: all): plan_id,
    publication_id, industry, industry_zh, region_code, district_zh, period, seed, drawn_by,
    drawn_at, population, selected."""
    p = inspection_plans.c
    q = sa.select(
        p.plan_id,
        p.publication_id,
        p.industry_code,
        p.region_code,
        p.period,
        p.seed,
        p.drawn_by,
        p.drawn_at,
        p.population,
        p.selected,
    ).order_by(p.drawn_at.desc(), p.plan_id)
    if industries is not None and "*" not in industries:
        q = q.where(p.industry_code.in_(list(industries)))
    out = []
    for r in conn.execute(q).all():
        d = dict(r._mapping)
        d["industry"] = d.pop("industry_code")
        d["industry_zh"] = _industry_zh(d["industry"])
        d["district_zh"] = district(d["region_code"]) if d["region_code"] else "全部辖区"
        out.append(d)
    return out
