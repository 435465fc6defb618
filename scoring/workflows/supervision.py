"""Supervision on the serving database: 双随机 inspection plans and 信易贷 whitelists, for the command
line and the service alike.

Both read the latest published grade list of an industry from the serving database
(:mod:`scoring.serving.queries`) and register what they do in the query register
(:func:`scoring.serving.register.record`, 查询使用登记): a plan's draw with its seed (a write), a
whitelist as an export. The sampling ratios are the industry's (``supervision`` in
configs/industries/<code>.yaml), the whitelist's thresholds the scene's (configs/scenes.yaml).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, NoReturn

import pandas as pd
from sqlalchemy import Engine

from scoring.core.errors import DataError, NotFoundError
from scoring.features.industry import Industry, load_industries
from scoring.grades.inspection import Plan, draw_plan, ratios_of
from scoring.grades.whitelist import WhitelistRule, whitelist, whitelist_rule
from scoring.serving import access, queries, register
from scoring.serving.plans import list_plans, load_plan, save_plan

__all__ = [
    "credit_whitelist",
    "draw_inspection_plan",
    "list_plans",
    "load_plan",
    "plan_of",
    "plans_in",
    "save_plan",
]


def _username(user: Any) -> str:
    """A user name from a name or a :class:`scoring.serving.identity.User`."""
    return str(getattr(user, "username", user))


def _industry(code: str) -> Industry:
    inds = load_industries()
    if code not in inds:
        raise NotFoundError(f"unknown industry {code!r}; configured: {', '.join(sorted(inds))}")
    return inds[code]


def _legal_basis(role: str, purpose: str | None) -> str | None:
    """The purpose's legal basis: checked against the role's purposes when the role must give one
    (regulators, analysts; :func:`scoring.serving.access.check_purpose`), else the configured
    purpose's basis when a known one is given."""
    if access.needs_purpose(role):
        p = access.check_purpose(role, purpose)
        return p.legal_basis if p is not None else None
    if purpose and purpose in access.PURPOSES:
        return access.PURPOSES[purpose].legal_basis
    return None


def _scope(user: Any, role: str, industry: str, region: str | None) -> tuple[bool, list[str] | None]:
    """(in scope, the regions the rows may come from) for a :class:`scoring.serving.identity.User`
    regulator (industries x regions); a user name or another role: (True, None, every region)."""
    if role != "regulator" or not hasattr(user, "in_scope"):
        return True, None
    regions = list(getattr(user, "regions", ()) or ())
    return bool(user.in_scope(industry, region)), (None if "*" in regions else regions)


def _denied(engine: Engine, *, user: str, role: str, what: str, purpose: str | None, basis: str | None) -> NoReturn:
    """Register a request outside the user's scope and answer as for an unknown one (nothing leaks)."""
    with engine.begin() as conn:
        register.record(
            conn, user=user, role=role, action="read", what=what, purpose=purpose, legal_basis=basis, result="denied"
        )
    raise NotFoundError(f"{what}: not found in your scope (industries x regions)")


def _latest(conn: Any, industry: str) -> dict:
    pub = queries.latest_list(conn, industry)
    if pub is None:
        raise NotFoundError(
            f"no published grade list of {industry} in the serving database: publish one and push it "
            "(`scoring grades list --publish`, `scoring serving push`)"
        )
    return pub


def draw_inspection_plan(
    engine: Engine,
    *,
    user: Any,
    role: str,
    industry: str,
    region: str | None = None,
    period: str,
    seed: int,
    purpose: str | None = None,
) -> Plan:
    """Draw a 双随机 plan for ``industry`` (and ``region``, a 6-digit code; None: the whole
    jurisdiction) and ``period`` from the industry's latest published list at its sampling ratios,
    save it (:func:`scoring.serving.plans.save_plan`; the same draw again is the same plan) and
    register the draw with its seed, in one transaction. ``user``: a name, or a
    :class:`scoring.serving.identity.User`: a regulator draws within its scope only (``region``
    None: its one region, or every region when its scope is all; outside it: registered as denied,
    answered as not found)."""
    ind = _industry(industry)
    name = _username(user)
    basis = _legal_basis(role, purpose)
    ok, regions = _scope(user, role, industry, region)
    if not ok:
        _denied(engine, user=name, role=role, what=f"inspection_plan {industry}", purpose=purpose, basis=basis)
    if region is None and regions is not None:  # a regulator of some districts draws for one of them
        if len(regions) != 1:
            raise DataError(f"give the region of the plan: one of your regions {', '.join(regions)}")
        region = regions[0]
    with engine.begin() as conn:
        pub = _latest(conn, industry)
        rows, _ = queries.list_rows(conn, pub["publication_id"], region=region)
        plan = draw_plan(
            rows, ratios_of(ind), seed=seed, period=period, industry=industry, region=region, industry_zh=ind.name_zh
        )
        new = save_plan(conn, plan, publication_id=pub["publication_id"], drawn_by=name)
        register.record(
            conn,
            user=name,
            role=role,
            action="write",
            what=f"inspection_plan {plan.plan_id}",
            purpose=purpose,
            legal_basis=basis,
            detail={
                "plan_id": plan.plan_id,
                "publication_id": pub["publication_id"],
                "industry": industry,
                "region": region,
                "period": period,
                "seed": int(seed),
                "population": plan.population,
                "selected": plan.selected,
                "new": new,
            },
        )
    return plan


def plan_of(engine: Engine, plan_id: str, *, user: Any, role: str, purpose: str | None = None) -> Plan:
    """A saved plan, its reading registered (``scoring plans show``). An unknown id, and for a
    regulator (a :class:`scoring.serving.identity.User`) a plan outside its scope, are registered
    (not_found, denied) and answered alike: not found."""
    name = _username(user)
    basis = _legal_basis(role, purpose)
    what = f"inspection_plan {plan_id}"
    try:
        with engine.connect() as conn:
            plan = load_plan(conn, plan_id)
    except NotFoundError:
        with engine.begin() as conn:
            register.record(
                conn, user=name, role=role, action="read", what=what, purpose=purpose, legal_basis=basis,
                result="not_found",
            )  # fmt: skip
        raise
    ok, regions = _scope(user, role, plan.industry, plan.region)
    if not ok or (plan.region is None and regions is not None):  # a whole-jurisdiction plan needs every region
        _denied(engine, user=name, role=role, what=what, purpose=purpose, basis=basis)
    with engine.begin() as conn:
        register.record(
            conn,
            user=name,
            role=role,
            action="read",
            what=what,
            purpose=purpose,
            legal_basis=basis,
            detail={"plan_id": plan_id, "selected": plan.selected},
        )
    return plan


def plans_in(engine: Engine, industries: Sequence[str] | None = None) -> list[dict]:
    """The saved plans, newest first (``industries``: scope; None or ["*"]: all)."""
    with engine.connect() as conn:
        return list_plans(conn, industries)


def credit_whitelist(
    engine: Engine,
    *,
    user: Any,
    role: str,
    industry: str,
    rule: str | WhitelistRule = "xinyidai",
    purpose: str | None = None,
) -> tuple[pd.DataFrame, WhitelistRule]:
    """The 信易贷 whitelist of ``industry`` under ``rule`` (a code of configs/scenes.yaml
    ``credit_whitelists``) from its latest published list, registered as an export. The frame is
    :func:`scoring.grades.whitelist.whitelist`'s, with ``attrs`` publication_id, as_of, industry and
    population (the organisations of the list)."""
    _industry(industry)
    r = whitelist_rule(rule) if isinstance(rule, str) else rule
    if not r.covers(industry):
        raise NotFoundError(f"whitelist {r.code} covers {', '.join(r.industries)}, not {industry}")
    name = _username(user)
    basis = _legal_basis(role, purpose)
    ok, regions = _scope(user, role, industry, None)
    if not ok:
        _denied(engine, user=name, role=role, what=f"whitelist {r.code} {industry}", purpose=purpose, basis=basis)
    with engine.begin() as conn:
        pub = _latest(conn, industry)
        rows, total = queries.list_rows(conn, pub["publication_id"], regions=regions)
        listed = whitelist(rows, r)
        as_of = pub.get("as_of")
        listed.attrs = {
            "publication_id": pub["publication_id"],
            "as_of": as_of.isoformat() if isinstance(as_of, dt.date) else str(as_of or ""),
            "industry": industry,
            "population": int(len(rows)),
        }
        register.record(
            conn,
            user=name,
            role=role,
            action="export",
            what=f"whitelist {r.code} {industry}",
            purpose=purpose,
            legal_basis=basis or r.legal_basis,
            detail={"publication_id": pub["publication_id"], "rule": r.code, "listed": int(len(listed))},
        )
    return listed, r
