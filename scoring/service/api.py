"""The JSON API (数据接口) under ``/api/v1``, described at ``/api/openapi.json``.

Authentication: ``Authorization: Bearer <token>`` (``scoring users token``) or the console's session
(then a POST carries ``X-CSRF-Token``). Regulators and analysts send ``X-Purpose: <code>`` (the codes of
configs/access; 400 and registered as invalid when missing). Every call that reads a subject's data or
writes is registered; out of role 403, unknown or outside the scope 404.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from scoring.core.errors import XinyiError
from scoring.service import data
from scoring.service.auth import Context, api_context, reading
from scoring.serving import register

router = APIRouter(prefix="/api/v1", tags=["v1"])

Grade = Literal["优秀", "良好", "中等", "较差", "差"]
Change = Literal["上升", "下降", "持平", "新增"]
PURPOSE_DOC = "查询目的代码（监管人员、分析人员必填）"


def _filters(
    ctx: Context, grade: str | None, region: str | None, veto: bool | None, change: str | None, q: str | None
) -> data.ListFilters:
    try:
        return data.ListFilters.parse(grade, region, veto, change, q)
    except XinyiError as e:
        ctx.invalid("read", str(e))


@router.get("/lists", summary="权限范围内已公示的信用等级名单")
def lists(ctx: Context = Depends(api_context)) -> dict[str, Any]:
    ctx.require_role("grade_list", "read")
    return {"lists": data.lists_in_scope(ctx)}


@router.get("/lists/{publication_id}", summary="等级名单的主体（筛选、分页）")
def list_detail(
    publication_id: str,
    ctx: Context = Depends(api_context),
    grade: Grade | None = None,
    region: str | None = Query(None, pattern=r"^\d{6}$", description="区县代码（6位）"),
    veto: bool | None = Query(None, description="是否直接定级"),
    change: Change | None = None,
    q: str | None = Query(None, max_length=100, description="名称或统一社会信用代码包含"),
    offset: int = Query(0, ge=0, le=10**9),
    limit: int = Query(100, ge=1, le=5000),
) -> dict[str, Any]:
    pub = data.grade_list(ctx, publication_id)
    f = _filters(ctx, grade, region, veto, change, q)
    rows, total = data.list_rows(ctx, pub, f, offset=offset, limit=limit)
    ctx.record(
        "read",
        detail={"publication_id": pub["publication_id"], "filters": f.detail(), "offset": offset, "rows": len(rows)},
    )
    cols, mig = data.migration_table(pub)
    return {
        "publication": {
            k: pub.get(k) for k in ("publication_id", "scope", "as_of", "model_name", "model_version", "n_rows")
        },
        "total": total,
        "offset": offset,
        "limit": limit,
        "distribution": data.distribution_rows(pub),
        "migration": {prev: dict(zip(cols, counts)) for prev, counts in mig},
        "rows": data.plain(rows),
    }


@router.get(
    "/lists/{publication_id}/download",
    summary="下载等级名单（Excel，按筛选条件）",
    response_class=Response,
    responses={200: {"content": {data.XLSX: {}}}},
)
def list_download(
    publication_id: str,
    ctx: Context = Depends(api_context),
    grade: Grade | None = None,
    region: str | None = Query(None, pattern=r"^\d{6}$"),
    veto: bool | None = None,
    change: Change | None = None,
    q: str | None = Query(None, max_length=100),
) -> Response:
    pub = data.grade_list(ctx, publication_id, action="download")
    f = _filters(ctx, grade, region, veto, change, q)
    content, name, fallback, n = data.list_workbook(ctx, pub, f)
    ctx.record("download", detail={"publication_id": pub["publication_id"], "filters": f.detail(), "rows": n})
    return Response(
        content, media_type=data.XLSX, headers={"Content-Disposition": data.content_disposition(name, fallback)}
    )


@router.get("/organisations/{subject_id}", summary="主体的信用等级、概率、原因及其记录、历次等级、评价依据")
def organisation(
    subject_id: str,
    ctx: Context = Depends(api_context),
    publication_id: str | None = Query(None, max_length=160),
) -> dict[str, Any]:
    view = data.organisation(ctx, subject_id, publication_id)
    allowed = ctx.may_role("justification", "read")
    view["justification"] = dict(data.justification_items(view["entry"])) if allowed else {}
    return view


class PlanRequest(BaseModel):
    """抽取双随机抽查计划的请求."""

    industry: str = Field(..., max_length=64, description="行业代码")
    region: str | None = Field(None, pattern=r"^\d{6}$", description="区县代码；空为全辖区")
    period: str = Field(..., pattern=r"^[0-9A-Za-z_-]{1,32}$", description="期间，如 2026、2026H1、2026Q3")
    seed: int = Field(..., ge=0, le=2**53, description="随机种子（相同种子、相同名单得到相同计划）")


@router.post("/plans", summary="抽取双随机抽查计划（登记抽取及其种子）", status_code=201)
def plan_draw(body: PlanRequest, ctx: Context = Depends(api_context)) -> dict[str, Any]:
    plan = data.draw_plan(ctx, industry=body.industry, region=body.region, period=body.period, seed=body.seed)
    return data.plan_view(plan)


@router.get("/plans/{plan_id}", summary="双随机抽查计划")
def plan(plan_id: str, ctx: Context = Depends(api_context)) -> dict[str, Any]:
    p = data.load_plan(ctx, plan_id)
    view = data.plan_view(p)
    ctx.record("read", detail={"plan_id": plan_id, "selected": len(view["selections"])})
    return view


@router.get("/whitelists/{industry}", summary="行业信易贷白名单")
def whitelist(
    industry: str, ctx: Context = Depends(api_context), rule: str | None = Query(None, max_length=64)
) -> dict[str, Any]:
    frame, chosen = data.whitelist(ctx, industry, rule)
    return {
        "industry": industry,
        "rule": {k: data.plain(getattr(chosen, k, None)) for k in ("code", "name_zh", "min_grade", "legal_basis")},
        "total": len(frame),
        "rows": data.plain(frame),
    }


def _dt(ctx: Context, value: dt.date | None, end: bool) -> dt.datetime | None:
    if value is None:
        return None
    return dt.datetime.combine(value, dt.time.max if end else dt.time.min)


@router.get("/register", summary="查询使用登记（审计人员）")
def register_entries(
    ctx: Context = Depends(api_context),
    user: str | None = Query(None, max_length=80),
    role: str | None = Query(None, max_length=16),
    subject: str | None = Query(None, max_length=40),
    action: str | None = Query(None, max_length=16),
    result: str | None = Query(None, max_length=16),
    since: dt.date | None = None,
    until: dt.date | None = None,
    offset: int = Query(0, ge=0, le=10**9),
    limit: int = Query(200, ge=1, le=5000),
) -> dict[str, Any]:
    ctx.require_role("register", "read")
    filters: dict[str, Any] = {
        k: data.echo(v, 80)
        for k, v in (("user", user), ("role", role), ("subject", subject), ("action", action), ("result", result))
        if v
    }
    if since:
        filters["since"] = _dt(ctx, since, False)
    if until:
        filters["until"] = _dt(ctx, until, True)
    with reading(ctx.request) as conn:
        frame, total = register.entries(conn, **filters, offset=offset, limit=limit)
    ctx.record("read", detail={"register": {k: str(v) for k, v in filters.items()}, "offset": offset})
    return {"total": int(total), "offset": offset, "limit": limit, "rows": data.plain(frame)}


@router.get("/register/verify", summary="校验登记链（哈希链）")
def register_verify(ctx: Context = Depends(api_context)) -> dict[str, Any]:
    ctx.require_role("register", "read")
    with reading(ctx.request) as conn:
        v = register.verify(conn)
    ctx.record("read", detail={"verify": bool(v.ok), "rows": int(v.rows)})
    return {"ok": bool(v.ok), "rows": int(v.rows), "first_broken": v.first_broken, "reason": v.reason}


@router.get("/persons/{subject_key}/score", summary="个人信义分（市民：仅本人）")
def person_score(subject_key: str, ctx: Context = Depends(api_context)) -> dict[str, Any]:
    if len(subject_key) > 64:
        raise HTTPException(404, "未找到所请求的内容")
    return data.person_score(ctx, subject_key)


def _doc(request: Request) -> list[dict[str, str]]:
    spec = request.app.openapi()
    ops = []
    for path, methods in spec.get("paths", {}).items():
        for method, op in methods.items():
            params = "、".join(
                p["name"] + ("（必填）" if p.get("required") else "")
                for p in op.get("parameters", [])
                if p.get("in") in ("query", "path")
            )
            ops.append({"method": method.upper(), "path": path, "summary": op.get("summary", ""), "params": params})
    return ops
