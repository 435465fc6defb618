"""The regulator's console (监管端页面): server-rendered pages in Chinese (Jinja2, autoescaped, no script).

Login and purpose, home (scope and the lists in scope), a grade list with filters, distribution,
migration and pages, an organisation (grade, probabilities, reasons with their records, veto,
history, justification), 双随机 inspection plans, 信易贷 whitelists, the register for auditors and the
users for admins. Every form POST checks the session's CSRF token; every read of a subject's data
is registered (:mod:`scoring.service.data`).
"""

from __future__ import annotations

import datetime as dt
import math
import secrets
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from scoring.core.errors import XinyiError
from scoring.features.industry import GRADES
from scoring.service import data
from scoring.service.auth import (
    Context,
    check_csrf,
    client_of,
    csrf_token,
    login_session,
    needs_purpose,
    page_context,
    page_context_no_purpose,
    purpose_label,
    purposes,
    reading,
    role_may,
    safe_next,
    session_of,
    session_user,
    valid_purpose,
    writing,
)
from scoring.serving import access as access_mod
from scoring.serving import identity, register
from scoring.serving.identity import User

TEMPLATES = Path(__file__).resolve().parent / "templates"
router = APIRouter(include_in_schema=False)


def _pct(value: Any) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return ""
    return "" if math.isnan(v) else f"{v:.1%}"


def _num(value: Any) -> str:
    try:
        v = float(value)
    except (TypeError, ValueError):
        return ""
    return "" if math.isnan(v) else f"{v:.1f}"


def environment() -> Environment:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(default=True), auto_reload=False)
    env.filters["pct"] = _pct
    env.filters["num"] = _num
    return env


ENV = environment()


def roles_zh() -> dict[str, str]:
    return dict(access_mod.ROLES_ZH)


def render(request: Request, name: str, *, status: int = 200, user: User | None = None, **values: Any) -> HTMLResponse:
    """A page: the template with the user, their role in Chinese, the purpose, the CSRF token and the menu."""
    user = user if user is not None else session_user(request)
    code = session_of(request).get("purpose")
    nav: dict[str, bool] = {}
    if user is not None:
        nav = {
            "lists": role_may(user, request, "grade_list", "read"),
            "plans": role_may(user, request, "inspection_plan", "read"),
            "whitelist": role_may(user, request, "whitelist", "read"),
            "register": role_may(user, request, "register", "read"),
            "users": role_may(user, request, "users", "read"),
        }
    context = {
        "request": request,
        "user": user,
        "role_zh": roles_zh().get(user.role, user.role) if user else "",
        "purpose_zh": purpose_label(request, str(code))
        if user is not None and valid_purpose(request, user, code)
        else "",
        "needs_purpose": bool(user and needs_purpose(request, user)),
        "csrf_token": csrf_token(request),
        "nav": nav,
        **values,
    }
    html = ENV.get_template(name).render(context)
    return HTMLResponse(html, status_code=status)


def error_page(request: Request, status: int, detail: str) -> HTMLResponse:
    heading = {400: "请求有误", 401: "请先登录", 403: "无权访问", 404: "未找到", 429: "尝试过于频繁"}.get(
        status, "出错了"
    )
    return render(request, "error.html", status=status, heading=heading, detail=detail, title=heading)


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


# -- login, logout, purpose --------------------------------------------------------------------
@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, next: str = "/") -> HTMLResponse:
    return render(
        request,
        "login.html",
        user=None,
        next=safe_next(next),
        username="",
        oidc=request.app.state.settings.oidc is not None,
        title="登录",
    )


@router.post("/login", response_class=HTMLResponse, dependencies=[Depends(check_csrf)])
async def login(request: Request) -> Response:
    form = await request.form()
    username = str(form.get("username") or "").strip()[:80]
    password = str(form.get("password") or "")
    target = safe_next(str(form.get("next") or "/"))
    client = client_of(request)
    shown = data.echo(username, 80)
    with reading(request) as conn:
        blocked = identity.login_blocked(conn, username, client)
    if blocked:
        return render(
            request,
            "login.html",
            status=429,
            user=None,
            next=target,
            username=shown,
            oidc=False,
            error="登录失败次数过多，请15分钟后再试",
            title="登录",
        )
    with writing(request) as conn:
        user = identity.authenticate(conn, username, password, client)
    if user is None:
        return render(
            request,
            "login.html",
            status=401,
            user=None,
            next=target,
            username=shown,
            oidc=False,
            error="用户名或密码错误",
            title="登录",
        )
    login_session(request, user)
    Context(request, user).record("login", detail={"via": "password"})
    if needs_purpose(request, user):
        return _redirect("/purpose?" + urlencode({"next": target}))
    return _redirect(target)


@router.post("/logout", dependencies=[Depends(check_csrf)])
def logout(request: Request) -> Response:
    user = session_user(request)
    if user is not None:
        Context(request, user).record("logout")
    session_of(request).clear()
    return _redirect("/login")


@router.get("/purpose", response_class=HTMLResponse)
def purpose_form(request: Request, ctx: Context = Depends(page_context_no_purpose), next: str = "/") -> Response:
    if not needs_purpose(request, ctx.user):  # roles that give no purpose (auditor, admin, citizen, officer)
        return _redirect(safe_next(next))
    return render(
        request,
        "purpose.html",
        user=ctx.user,
        purposes=purposes(request, ctx.user.role),
        current=ctx.purpose,
        next=safe_next(next),
        title="查询目的",
    )


@router.post("/purpose", dependencies=[Depends(check_csrf)])
async def purpose_set(request: Request, ctx: Context = Depends(page_context_no_purpose)) -> Response:
    form = await request.form()
    code = str(form.get("purpose") or "")
    target = safe_next(str(form.get("next") or "/"))
    if not valid_purpose(request, ctx.user, code):
        return render(
            request,
            "purpose.html",
            status=400,
            user=ctx.user,
            purposes=purposes(request, ctx.user.role),
            current=None,
            next=target,
            error="请选择列表中的查询目的",
        )
    session_of(request)["purpose"] = code
    return _redirect(target)


# -- home --------------------------------------------------------------------------------------
@router.get("/", response_class=HTMLResponse)
def home(request: Request, ctx: Context = Depends(page_context_no_purpose)) -> HTMLResponse:
    user = ctx.user
    lists = data.lists_in_scope(ctx) if ctx.may_role("grade_list", "read") else None
    score = None
    if user.role == "citizen" and user.subject_key:
        try:
            score = data.person_score(ctx, user.subject_key)["score"]
        except HTTPException:
            score = None
    inds, regs = data.industries_zh(), data.regions_zh()
    scope_i = "全部行业" if "*" in user.industries else "、".join(inds.get(i, i) for i in user.industries) or "无"
    scope_r = "全辖区" if "*" in user.regions else "、".join(regs.get(r, r) for r in user.regions) or "无"
    return render(
        request,
        "home.html",
        user=user,
        lists=lists,
        score=score,
        scope_industries=scope_i,
        scope_regions=scope_r,
        title="首页",
    )


# -- grade lists -------------------------------------------------------------------------------
def _filters(
    ctx: Context, grade: str | None, region: str | None, veto: str | None, change: str | None, q: str | None
) -> data.ListFilters:
    try:
        return data.ListFilters.parse(grade, region, veto, change, q)
    except XinyiError as e:
        ctx.invalid("read", str(e))


@router.get("/lists/{publication_id}", response_class=HTMLResponse)
def list_page(
    request: Request,
    publication_id: str,
    ctx: Context = Depends(page_context),
    grade: str | None = None,
    region: str | None = None,
    veto: str | None = None,
    change: str | None = None,
    q: str | None = None,
    page: int = 1,
) -> HTMLResponse:
    pub = data.grade_list(ctx, publication_id)
    f = _filters(ctx, grade, region, veto, change, q)
    size = request.app.state.settings.page_size
    page = max(1, min(page, 10**6))
    rows, total = data.list_rows(ctx, pub, f, offset=(page - 1) * size, limit=size)
    pages = max(1, math.ceil(total / size))
    ctx.record(
        "read", detail={"publication_id": pub["publication_id"], "filters": f.detail(), "page": page, "rows": len(rows)}
    )
    base = f"/lists/{publication_id}"
    query = f.as_query()

    def page_link(n: int) -> str:
        return base + "?" + urlencode({**query, "page": n})

    scope = ctx.regions()
    regions = [(c, n) for c, n in data.regions_zh().items() if scope is None or c in scope]
    cols, mig = data.migration_table(pub)
    industry = str(pub.get("scope") or "")
    return render(
        request,
        "list.html",
        user=ctx.user,
        pub=pub,
        industry_zh=data.industries_zh().get(industry, industry),
        previous=data.previous_list(ctx, pub),
        filters=f,
        q_shown=data.echo(f.q),
        grades=GRADES,
        changes=data.CHANGES,
        regions=regions,
        distribution=data.distribution_rows(pub),
        region_scoped=scope is not None,
        migration_cols=cols,
        migration_rows=mig,
        rows=data.plain(rows),
        total=total,
        page=page,
        pages=pages,
        page_link=page_link,
        download=f"{base}/download" + ("?" + urlencode(query) if query else ""),
        can_download=ctx.may_role("download", "export"),
        title="信用等级名单",
    )


def xlsx(content: bytes, filename: str, fallback: str) -> Response:
    return Response(
        content, media_type=data.XLSX, headers={"Content-Disposition": data.content_disposition(filename, fallback)}
    )


@router.get("/lists/{publication_id}/download")
def list_download(
    publication_id: str,
    ctx: Context = Depends(page_context),
    grade: str | None = None,
    region: str | None = None,
    veto: str | None = None,
    change: str | None = None,
    q: str | None = None,
) -> Response:
    pub = data.grade_list(ctx, publication_id, action="download")
    f = _filters(ctx, grade, region, veto, change, q)
    content, name, fallback, n = data.list_workbook(ctx, pub, f)
    ctx.record("download", detail={"publication_id": pub["publication_id"], "filters": f.detail(), "rows": n})
    return xlsx(content, name, fallback)


# -- organisations -----------------------------------------------------------------------------
@router.get("/organisations/{subject_id}", response_class=HTMLResponse)
def organisation_page(
    request: Request, subject_id: str, ctx: Context = Depends(page_context), publication_id: str | None = None
) -> HTMLResponse:
    view = data.organisation(ctx, subject_id, publication_id)
    org, entry = view["organisation"], view["entry"]
    inds = data.industries_zh()
    probs = (entry or {}).get("probabilities") or {}
    probabilities = [(g, probs.get(g, probs.get(f"p_{g}"))) for g in GRADES if g in probs or f"p_{g}" in probs]
    reasons = (entry or {}).get("reasons") or []
    return render(
        request,
        "organisation.html",
        user=ctx.user,
        org=org,
        entry=entry,
        industry_zh=org.get("industry_zh")
        or inds.get(str(org.get("industry_code") or ""), org.get("industry_code") or ""),
        industries=inds,
        probabilities=probabilities,
        reasons=[r for r in reasons if isinstance(r, dict)],
        justification=data.justification_items(entry) if ctx.may_role("justification", "read") else [],
        history=view["history"],
        title=org.get("name") or "主体",
    )


# -- inspection plans --------------------------------------------------------------------------
@router.get("/plans", response_class=HTMLResponse)
def plans_page(request: Request, ctx: Context = Depends(page_context)) -> HTMLResponse:
    plans = data.plans_in_scope(ctx)
    return render(
        request,
        "plans.html",
        user=ctx.user,
        plans=plans,
        can_draw=ctx.may_role("inspection_plan", "write"),
        industries=data.industries_zh(),
        regions=data.regions_zh(),
        title="双随机抽查计划",
    )


def _plan_form(
    request: Request, ctx: Context, form: dict[str, Any], *, status: int = 200, error: str | None = None
) -> HTMLResponse:
    inds = data.industries_zh()
    industries = [(c, n) for c, n in inds.items() if ctx.industry_in_scope(c)]
    scope = ctx.regions()
    regions = [(c, n) for c, n in data.regions_zh().items() if scope is None or c in scope]
    return render(
        request,
        "plan_new.html",
        status=status,
        user=ctx.user,
        industries=industries,
        regions=regions,
        whole=scope is None,
        form=form,
        error=error,
        title="抽取双随机抽查计划",
    )


@router.get("/plans/new", response_class=HTMLResponse)
def plan_new_form(request: Request, ctx: Context = Depends(page_context)) -> HTMLResponse:
    ctx.require_role("inspection_plan", "write")
    year = dt.date.today().year
    form = {"industry": "", "region": "", "period": f"{year}", "seed": str(secrets.randbelow(10**6))}
    return _plan_form(request, ctx, form)


@router.post("/plans/new", dependencies=[Depends(check_csrf)])
async def plan_new(request: Request, ctx: Context = Depends(page_context)) -> Response:
    ctx.require_role("inspection_plan", "write", what="write")
    raw = await request.form()
    form = {k: str(raw.get(k) or "").strip() for k in ("industry", "region", "period", "seed")}
    if not form["seed"].isdigit() or len(form["seed"]) > 12 or not data.PERIOD.fullmatch(form["period"]):
        return _plan_form(request, ctx, form, status=400, error="请填写期间（如 2026H1）和随机种子（非负整数）")
    try:
        plan = data.draw_plan(
            ctx, industry=form["industry"], region=form["region"] or None, period=form["period"], seed=int(form["seed"])
        )
    except HTTPException as e:
        if e.status_code == 400:
            return _plan_form(request, ctx, form, status=400, error=str(e.detail))
        raise
    return _redirect(f"/plans/{plan.plan_id}")


@router.get("/plans/{plan_id}", response_class=HTMLResponse)
def plan_page(request: Request, plan_id: str, ctx: Context = Depends(page_context)) -> HTMLResponse:
    plan = data.load_plan(ctx, plan_id)
    view = data.plan_view(plan)
    ctx.record("read", detail={"plan_id": plan_id, "selected": len(view["selections"])})
    region = view.get("region")
    return render(
        request,
        "plan.html",
        user=ctx.user,
        plan=view,
        region_zh=data.regions_zh().get(str(region), str(region)) if region else "全辖区",
        title="双随机抽查计划",
    )


@router.get("/plans/{plan_id}/download")
def plan_download(plan_id: str, ctx: Context = Depends(page_context)) -> Response:
    plan = data.load_plan(ctx, plan_id, action="download")
    view = data.plan_view(plan)
    ctx.record("download", detail={"plan_id": plan_id, "selected": len(view["selections"])})
    name = f"{view.get('industry_zh') or view.get('industry')}双随机抽查计划_{view.get('period')}.xlsx"
    return xlsx(plan.to_workbook(), name, f"inspection_plan_{plan_id}.xlsx")


# -- whitelists --------------------------------------------------------------------------------
def _rule_text(rule: Any) -> tuple[str, str]:
    name = getattr(rule, "name_zh", None) or str(getattr(rule, "code", "") or rule)
    basis = getattr(rule, "legal_basis", "") or ""
    min_grade = getattr(rule, "min_grade", None)
    return (f"{name}（{min_grade}及以上）" if min_grade else name), str(basis)


@router.get("/whitelists/{industry}", response_class=HTMLResponse)
def whitelist_page(
    request: Request, industry: str, ctx: Context = Depends(page_context), rule: str | None = None
) -> HTMLResponse:
    frame, chosen = data.whitelist(ctx, industry, rule)
    rows = data.plain(frame)
    keys = [
        c
        for c in ("subject_id", "name", "district_zh", "grade", "reason_1", "reason_2", "reason_3")
        if c in frame.columns
    ]
    from scoring.grades.lists import LIST_COLUMNS_ZH

    columns = [LIST_COLUMNS_ZH.get(k, {"district_zh": "区县"}.get(k, k)) for k in keys]
    rule_zh, basis = _rule_text(chosen)
    return render(
        request,
        "whitelist.html",
        user=ctx.user,
        industry=industry,
        industry_zh=data.industries_zh().get(industry, industry),
        rule_zh=rule_zh,
        rule_basis=basis,
        rule_query=("?" + urlencode({"rule": rule})) if rule else "",
        rows=rows,
        shown=min(len(rows), 500),
        keys=keys,
        columns=columns,
        title="信易贷白名单",
    )


@router.get("/whitelists/{industry}/download")
def whitelist_download(industry: str, ctx: Context = Depends(page_context), rule: str | None = None) -> Response:
    from scoring.grades.whitelist import whitelist_workbook

    frame, chosen = data.whitelist(ctx, industry, rule, action="download")
    info = {
        "行业": data.industries_zh().get(industry, industry),
        "规则": _rule_text(chosen)[0],
        "生成时间": dt.datetime.now().isoformat(timespec="seconds"),
    }
    content = whitelist_workbook(frame, chosen, info)
    name_zh = data.industries_zh().get(industry, industry)
    return xlsx(content, f"{name_zh}信易贷白名单_{dt.date.today().isoformat()}.xlsx", f"whitelist_{industry}.xlsx")


# -- the register (auditors) -------------------------------------------------------------------
REGISTER_ACTIONS = ("read", "write", "export", "download", "login", "logout")
REGISTER_RESULTS = ("ok", "denied", "not_found", "invalid", "error")


def register_filters(
    ctx: Context,
    user: str | None,
    role: str | None,
    subject: str | None,
    action: str | None,
    result: str | None,
    since: str | None,
    until: str | None,
) -> dict[str, Any]:
    """The register's filters as :func:`scoring.serving.register.entries` takes them (400 when a date is not a date)."""
    out: dict[str, Any] = {}
    for key, value in (("user", user), ("role", role), ("subject", subject), ("action", action), ("result", result)):
        if value and value.strip():
            out[key] = data.echo(value.strip(), 80)
    for key, value in (("since", since), ("until", until)):
        if value:
            try:
                day = dt.date.fromisoformat(value)
            except ValueError:
                ctx.invalid("read", f"日期 {data.echo(value, 20)!r} 应为 YYYY-MM-DD")
            out[key] = (
                dt.datetime.combine(day, dt.time.min) if key == "since" else dt.datetime.combine(day, dt.time.max)
            )
    return out


@router.get("/register", response_class=HTMLResponse)
def register_page(
    request: Request,
    ctx: Context = Depends(page_context_no_purpose),
    user: str | None = None,
    role: str | None = None,
    subject: str | None = None,
    action: str | None = None,
    result: str | None = None,
    since: str | None = None,
    until: str | None = None,
    page: int = 1,
) -> HTMLResponse:
    ctx.require_role("register", "read")
    filters = register_filters(ctx, user, role, subject, action, result, since, until)
    size = 100
    page = max(1, min(page, 10**6))
    with reading(request) as conn:
        frame, total = register.entries(conn, **filters, offset=(page - 1) * size, limit=size)
    ctx.record("read", detail={"register": {k: str(v) for k, v in filters.items()}, "page": page})
    shown = {
        "user": user or "",
        "role": role or "",
        "subject": subject or "",
        "action": action or "",
        "result": result or "",
        "since": since or "",
        "until": until or "",
    }
    query = {k: v for k, v in shown.items() if v}

    def page_link(n: int) -> str:
        return "/register?" + urlencode({**query, "page": n})

    return render(
        request,
        "register.html",
        user=ctx.user,
        f={k: data.echo(v, 80) for k, v in shown.items()},
        roles=list(roles_zh().items()),
        roles_map=roles_zh(),
        actions=REGISTER_ACTIONS,
        results=REGISTER_RESULTS,
        actions_zh=dict(register.ACTIONS_ZH),
        results_zh=dict(register.RESULTS_ZH),
        purposes_zh={c: p.label_zh for c, p in purposes(request).items()},
        rows=data.plain(frame),
        total=int(total),
        page=page,
        pages=max(1, math.ceil(int(total) / size)),
        page_link=page_link,
        export="/register/export" + ("?" + urlencode(query) if query else ""),
        title="查询使用登记",
    )


@router.get("/register/export")
def register_export(
    request: Request,
    ctx: Context = Depends(page_context_no_purpose),
    user: str | None = None,
    role: str | None = None,
    subject: str | None = None,
    action: str | None = None,
    result: str | None = None,
    since: str | None = None,
    until: str | None = None,
) -> Response:
    ctx.require_role("register", "export", what="export")
    filters = register_filters(ctx, user, role, subject, action, result, since, until)
    suffix = ".xlsx"
    with reading(request) as conn:
        content = register.export_bytes(conn, suffix, **filters)
    ctx.record("export", detail={"register": {k: str(v) for k, v in filters.items()}})
    media = data.XLSX if suffix == ".xlsx" else "text/csv; charset=utf-8"
    name = f"查询使用登记_{dt.date.today().isoformat()}{suffix}"
    return Response(
        content, media_type=media, headers={"Content-Disposition": data.content_disposition(name, f"register{suffix}")}
    )


@router.get("/register/verify", response_class=HTMLResponse)
def register_verify(request: Request, ctx: Context = Depends(page_context_no_purpose)) -> HTMLResponse:
    ctx.require_role("register", "read")
    with reading(request) as conn:
        v = register.verify(conn)
    ctx.record("read", detail={"verify": bool(v.ok), "rows": int(v.rows)})
    return render(request, "verify.html", user=ctx.user, v=v, title="登记链校验")


# -- users (admins) ----------------------------------------------------------------------------
def _users(request: Request) -> list[dict]:
    import sqlalchemy as sa

    from scoring.serving import schema

    u = schema.users
    with reading(request) as conn:
        rows = conn.execute(
            sa.select(
                u.c.username, u.c.display_name, u.c.role, u.c.industries, u.c.regions, u.c.agency, u.c.active
            ).order_by(u.c.username)
        ).mappings()
        return [dict(r) for r in rows]


def _users_page(
    request: Request,
    ctx: Context,
    form: dict[str, str],
    *,
    status: int = 200,
    error: str | None = None,
    message: str | None = None,
) -> HTMLResponse:
    return render(
        request,
        "users.html",
        status=status,
        user=ctx.user,
        users=_users(request),
        roles=list(roles_zh().items()),
        roles_map=roles_zh(),
        form=form,
        error=error,
        message=message,
        title="用户管理",
    )


USER_FIELDS = ("username", "display_name", "role", "industries", "regions", "subject_key", "agency")


@router.get("/admin/users", response_class=HTMLResponse)
def users_page(request: Request, ctx: Context = Depends(page_context_no_purpose)) -> HTMLResponse:
    ctx.require_role("users", "read")
    ctx.record("read", detail={"users": "list"})
    return _users_page(request, ctx, dict.fromkeys(USER_FIELDS, ""))


def _codes(text: str) -> tuple[str, ...]:
    return tuple(x for x in (p.strip() for p in text.replace("，", ",").split(",")) if x)


@router.post("/admin/users", dependencies=[Depends(check_csrf)])
async def users_add(request: Request, ctx: Context = Depends(page_context_no_purpose)) -> Response:
    ctx.require_role("users", "write", what="write")
    raw = await request.form()
    form = {k: str(raw.get(k) or "").strip() for k in USER_FIELDS}
    password = str(raw.get("password") or "") or None
    try:
        with writing(request) as conn:
            made = identity.create_user(
                conn,
                form["username"],
                password,
                form["role"],
                display_name=form["display_name"] or None,
                subject_key=form["subject_key"] or None,
                agency=form["agency"] or None,
                industries=_codes(form["industries"]),
                regions=_codes(form["regions"]),
            )
    except XinyiError as e:
        ctx.record("write", result="invalid", detail={"users": "add", "username": data.echo(form["username"], 80)})
        return _users_page(request, ctx, {k: data.echo(v, 400) for k, v in form.items()}, status=400, error=str(e))
    ctx.record("write", subject=made.subject_key, detail={"users": "add", "username": made.username, "role": made.role})
    return _users_page(request, ctx, dict.fromkeys(USER_FIELDS, ""), message=f"已新增用户 {made.username}", status=200)
