"""What the console and the API both show (页面与接口共用的查询): every function takes the request's
:class:`~scoring.service.auth.Context`, checks the role and the scope, registers the read (查询使用登记)
and returns plain values. Unknown ids and ids outside the user's scope both end in a registered
404 (:meth:`Context.not_found`); a role without the resource at all in a registered 403.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pandas as pd

from scoring.core.errors import NotFoundError, XinyiError
from scoring.core.privacy import scrub
from scoring.features.industry import GRADES, load_industries
from scoring.service.auth import Context
from scoring.serving import queries
from scoring.serving.regions import load_regions

PERIOD = re.compile(r"[0-9A-Za-z_-]{1,32}")
CHANGES = ("上升", "下降", "持平", "新增")
VETO_CHOICES = {"yes": True, "no": False}


# -- values ------------------------------------------------------------------------------------
def plain(value: Any) -> Any:
    """A value JSON and the templates can show: dates as ISO text, NaN as None, numpy scalars as
    Python numbers, frames as lists of records."""
    if isinstance(value, pd.DataFrame):
        return json.loads(value.to_json(orient="records", date_format="iso", force_ascii=False))
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [plain(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, dt.date):
        return value.isoformat()
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        try:
            value = value.item()
        except (AttributeError, ValueError):
            return str(value)
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    return value


def echo(text: str | None, limit: int = 100) -> str:
    """User input shown back (a filter's value): control characters out, ID-number-like tokens masked."""
    return scrub(text or "", newlines=False)[:limit]


def valid_key(value: str | None, max_len: int) -> bool:
    """An id from a path that may be looked up at all: 1 to ``max_len`` printable characters (a NUL
    or a control character, which PostgreSQL refuses in a string, is simply not found)."""
    return bool(value) and len(value or "") <= max_len and (value or "").isprintable()


def content_disposition(filename: str, fallback: str) -> str:
    """``attachment`` with an ASCII ``filename`` and the Chinese name as RFC 5987 ``filename*``."""
    ascii_name = "".join(c if c.isascii() and (c.isalnum() or c in "._-") else "_" for c in fallback)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def industries_zh() -> dict[str, str]:
    return {code: ind.name_zh for code, ind in load_industries().items()}


def regions_zh() -> dict[str, str]:
    return load_regions()


# -- filters -----------------------------------------------------------------------------------
@dataclass
class ListFilters:
    """Filters of a grade list (等级名单筛选): grade, region, veto (True/False), change, text."""

    grade: str | None = None
    region: str | None = None
    veto: bool | None = None
    change: str | None = None
    q: str | None = None

    @classmethod
    def parse(
        cls,
        grade: str | None = None,
        region: str | None = None,
        veto: str | bool | None = None,
        change: str | None = None,
        q: str | None = None,
    ) -> ListFilters:
        """From query parameters; an empty value means no filter, an unknown one raises XinyiError
        (answered with 400)."""
        from scoring.core.errors import DataError

        out = cls()
        if grade:
            if grade not in GRADES:
                raise DataError(f"等级 {echo(grade, 20)!r} 不存在，可选：{'、'.join(GRADES)}")
            out.grade = grade
        if region:
            if not (len(region) == 6 and region.isdigit()):
                raise DataError(f"区域代码 {echo(region, 20)!r} 应为6位数字")
            out.region = region
        if isinstance(veto, bool):
            out.veto = veto
        elif veto:
            if veto not in VETO_CHOICES:
                raise DataError("直接定级筛选应为 yes（有）或 no（无）")
            out.veto = VETO_CHOICES[veto]
        if change:
            if change not in CHANGES:
                raise DataError(f"等级变化 {echo(change, 20)!r} 不存在，可选：{'、'.join(CHANGES)}")
            out.change = change
        if q:  # an ID number is never searched for, shown back or registered: masked at once
            out.q = echo(q.strip()).strip() or None
        return out

    def as_query(self) -> dict[str, str]:
        """The filters as query parameters (for links: pages, download)."""
        out: dict[str, str] = {}
        if self.grade:
            out["grade"] = self.grade
        if self.region:
            out["region"] = self.region
        if self.veto is not None:
            out["veto"] = "yes" if self.veto else "no"
        if self.change:
            out["change"] = self.change
        if self.q:
            out["q"] = self.q
        return out

    def detail(self) -> dict[str, Any]:
        """The filters as the register keeps them (text masked)."""
        d: dict[str, Any] = {k: v for k, v in self.as_query().items() if k != "q"}
        if self.q:
            d["q"] = echo(self.q)
        return d


# -- grade lists -------------------------------------------------------------------------------
def lists_in_scope(ctx: Context) -> list[dict]:
    """Published grade lists the user may read (newest first), or [] for roles without lists."""
    if not ctx.may_role("grade_list", "read"):
        return []
    with ctx.conn() as conn:
        return [plain(x) for x in queries.grade_lists(conn, industries=ctx.industries())]


def grade_list(ctx: Context, publication_id: str, *, action: str = "read") -> dict:
    """A grade list's publication (403 without the role, 404 unknown or outside the industries in scope)."""
    ctx.require_role("grade_list", "read", what=action)
    if action == "download":  # a file leaves the platform: the download right too
        ctx.require_role("download", "export", what=action)
    if not valid_key(publication_id, 160):
        ctx.not_found(action, detail={"publication_id": echo(publication_id, 160)})
    with ctx.conn() as conn:
        pub = queries.publication(conn, publication_id)
    if pub is None or pub.get("kind") != "grade_list":
        ctx.not_found(action, detail={"publication_id": echo(publication_id, 160)})
    industry = str(pub.get("scope") or pub.get("industry") or "")
    if not ctx.industry_in_scope(industry) or not ctx.may("grade_list", "read", industry=industry, region=None):
        ctx.not_found(action, detail={"publication_id": publication_id})
    if action == "download" and not ctx.may("download", "export", industry=industry, region=None):
        ctx.not_found(action, detail={"publication_id": publication_id})
    return plain(pub)


def list_rows(
    ctx: Context, pub: dict, filters: ListFilters, *, offset: int = 0, limit: int | None = None
) -> tuple[pd.DataFrame, int]:
    """The rows of a list in the user's regions with the filters (a regulator never sees another region's rows)."""
    with ctx.conn() as conn:
        rows, total = queries.list_rows(
            conn,
            pub["publication_id"],
            grade=filters.grade,
            region=filters.region,
            veto=filters.veto,
            change=filters.change,
            regions=ctx.regions(),
            q=filters.q,
            offset=offset,
            limit=limit,
        )
    return rows, int(total)


def previous_list(ctx: Context, pub: dict) -> dict | None:
    with ctx.conn() as conn:
        prev = queries.previous_list(conn, pub["publication_id"])
    return plain(prev) if prev else None


def distribution_rows(pub: dict) -> list[dict]:
    """The 等级分布 of a publication as rows (grade, organisations, share, target, ...)."""
    dist = pub.get("distribution") or []
    if isinstance(dist, dict):
        dist = [{"grade": k, **(v if isinstance(v, dict) else {"organisations": v})} for k, v in dist.items()]
    return [dict(d) for d in dist if isinstance(d, dict)]


def migration_table(pub: dict) -> tuple[list[str], list[tuple[str, list[Any]]]]:
    """The 迁移矩阵 (previous grade in rows, this grade in columns) as header + rows."""
    mig = pub.get("migration") or {}
    if not isinstance(mig, dict) or not mig:
        return [], []
    cols: list[str] = [g for g in GRADES if any(isinstance(r, dict) and g in r for r in mig.values())]
    rows = []
    for prev in (*GRADES, "新增"):
        r = mig.get(prev)
        if isinstance(r, dict) and any(r.get(c) for c in cols):
            rows.append((prev, [r.get(c, 0) for c in cols]))
    return cols, rows


def list_workbook(ctx: Context, pub: dict, filters: ListFilters) -> tuple[bytes, str, str, int]:
    """The filtered list as a workbook (C's writer), its Chinese file name, ASCII fallback and row count."""
    from scoring.grades import lists as lists_mod

    rows, total = list_rows(ctx, pub, filters)
    info = lists_mod.publication_notes(pub)
    if filters.as_query():
        info["筛选条件"] = "；".join(f"{k}={v}" for k, v in filters.detail().items())
    data = lists_mod.grade_list_workbook(rows, info)
    industry = str(pub.get("scope") or "")
    name_zh = industries_zh().get(industry, industry)
    as_of = str(pub.get("as_of") or "")[:10]
    return data, f"{name_zh}信用等级名单_{as_of}.xlsx", f"grade_list_{industry}_{as_of}.xlsx", total


# -- organisations -----------------------------------------------------------------------------
def organisation(ctx: Context, subject_id: str, publication_id: str | None = None) -> dict:
    """An organisation's page: registration data, its grade entry (the newest, or of
    ``publication_id``) with probabilities, reasons with records, veto, justification, and the history
    of its grades. Registered as a read of the subject (denied / not_found too)."""
    ctx.require_role("organisation", "read", subject=None)
    sid = subject_id.strip().upper()
    if not valid_key(sid, 40) or (publication_id is not None and not valid_key(publication_id, 160)):
        ctx.not_found("read", detail={"subject_id": echo(subject_id, 40)})
    with ctx.conn() as conn:
        org = queries.organisation(conn, sid)
        if org is None:
            ctx.not_found("read", detail={"subject_id": echo(subject_id, 40)})
        region = org.get("region_code")
        history = [plain(h) for h in queries.organisation_grades(conn, sid)]

        def visible(industry: str | None) -> bool:
            return ctx.in_scope(industry, region) and ctx.may("organisation", "read", industry=industry, region=region)

        # the industries of its grade lists decide (the registered industry may be a GB/T 4754 code)
        history = [h for h in history if visible(h.get("industry"))]
        if not history and not visible(org.get("industry_code")):
            ctx.not_found("read", detail={"subject_id": sid})
        chosen = publication_id or (history[0]["publication_id"] if history else None)
        if publication_id and not any(h["publication_id"] == publication_id for h in history):
            ctx.not_found("read", subject=sid, detail={"publication_id": echo(publication_id, 160)})
        entry = queries.grade_entry(conn, chosen, sid) if chosen else None
    ctx.record("read", subject=sid, detail={"publication_id": chosen} if chosen else None)
    org = plain(org)
    if history:  # the industry of its newest grade list (行业 as the lists name it)
        org["industry"], org["industry_zh"] = history[0].get("industry"), history[0].get("industry_zh")
    return {"organisation": org, "entry": plain(entry) if entry else None, "history": history}


def readable(value: Any) -> str:
    """A value of the notes or of a justification summary as one line of Chinese-ready text."""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, dict):
        return "；".join(
            f"{_JUSTIFY_ZH.get(str(k), str(k))}：{readable(v)}" for k, v in value.items() if v not in (None, "", [], {})
        )
    if isinstance(value, list | tuple):
        return "、".join(readable(v) for v in value)
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(plain(value))


def justification_items(entry: dict | None) -> list[tuple[str, str]]:
    """The justification of an entry (评价依据): model and version, data snapshot, configs, band table
    and band evidence, from the publication (its 说明 notes) and the pushed justification summary
    (``scoring justify``), as label -> text."""
    if not entry:
        return []
    pub = entry.get("publication") or {}
    notes = pub.get("notes") or {}
    items: list[tuple[str, str]] = []
    seen: set[str] = set()

    def add(label: str, value: Any) -> None:
        text = readable(value)
        if not text or label in seen:
            return
        seen.add(label)
        items.append((label, text))

    add("公示编号", pub.get("publication_id"))
    add("模型", pub.get("model_name"))
    add("模型版本", pub.get("model_version"))
    add("模型内容版本", pub.get("model_content_version"))
    add("MLflow运行ID", pub.get("run_id"))
    add("数据快照", pub.get("store_fingerprint"))
    add("数据批次", pub.get("store_batch"))
    add("配置版本", pub.get("config_bundle"))
    for key in ("注册模型", "评价模型", "选用依据", "分级表", "标签", "评价依据", "说明"):
        add(key, notes.get(key))
    summary = entry.get("justification") or {}
    if isinstance(summary, dict):
        for k, v in summary.items():
            add(_JUSTIFY_ZH.get(str(k), str(k)), v)
    return items


_JUSTIFY_ZH = {
    "publication_id": "公示编号（复核）",
    "kind": "类型",
    "model": "模型（复核）",
    "name": "名称",
    "version": "版本",
    "content_version": "内容版本",
    "run_id": "MLflow运行ID",
    "data_snapshot": "数据快照（复核）",
    "batch": "批次",
    "fingerprint": "指纹",
    "published": "公示结果",
    "rederived": "复算结果",
    "match": "复算一致",
    "configs": "配置版本（复核）",
    "band_evidence": "分级证据",
    "grade": "等级",
    "what": "说明",
    "holdout_cutoff": "留出期起点",
    "metrics": "模型指标",
    "as_of": "评价基准日",
    "checked_at": "复核时间",
}


# -- persons -----------------------------------------------------------------------------------
def person_score(ctx: Context, subject_key: str) -> dict:
    """A person's 信义分 (citizen: own only). Another person's key and an unknown key answer the same 404."""
    key = subject_key.strip()
    if not ctx.may_role("score", "read"):
        ctx.deny("read", detail={"resource": "score"})
    if not valid_key(key, 64) or not ctx.may("score", "read", subject_key=key):
        ctx.not_found("read", detail={"subject_key": echo(key, 40)})
    with ctx.conn() as conn:
        entry = queries.score_entry(conn, key)
        history = queries.score_history(conn, key) if entry is not None else None
    if entry is None:
        ctx.not_found("read", subject=echo(key, 40))
    ctx.record("read", subject=key)
    return {"score": plain(entry), "history": plain(history) if history is not None else []}


# -- plans and whitelists ----------------------------------------------------------------------
def plan_scope_ok(ctx: Context, industry: str | None, region: str | None) -> bool:
    if ctx.user.role != "regulator":
        return True
    if region:
        return bool(ctx.user.in_scope(industry, region))
    return ctx.industry_in_scope(industry) and "*" in ctx.user.regions


def load_plan(ctx: Context, plan_id: str, *, action: str = "read") -> Any:
    """An inspection plan (C's :func:`scoring.grades.inspection.load_plan`); 404 unknown or outside scope."""
    from scoring.serving.plans import load_plan as load

    ctx.require_role("inspection_plan", "export" if action == "download" else "read", what=action)
    if not valid_key(plan_id, 80):
        ctx.not_found(action, detail={"plan_id": echo(plan_id, 80)})
    try:
        with ctx.conn() as conn:
            plan = load(conn, plan_id)
    except NotFoundError:
        plan = None
    if plan is None:
        ctx.not_found(action, detail={"plan_id": echo(plan_id, 80)})
    industry, region = plan_attr(plan, "industry"), plan_attr(plan, "region")
    if not plan_scope_ok(ctx, industry, region) or not ctx.may(
        "inspection_plan", "read", industry=industry, region=region
    ):
        ctx.not_found(action, detail={"plan_id": plan_id})
    return plan


def plan_attr(plan: Any, name: str) -> Any:
    return getattr(plan, name, None)


def plan_view(plan: Any) -> dict:
    """A plan as the page and the API show it (:meth:`scoring.grades.inspection.Plan.to_dict`)."""
    return plain(plan.to_dict())


def plans_in_scope(ctx: Context) -> list[dict]:
    from scoring.serving.plans import list_plans

    ctx.require_role("inspection_plan", "read")
    with ctx.conn() as conn:
        plans = list_plans(conn, industries=ctx.industries())
    rows = plain(plans)
    if ctx.user.role == "regulator":
        rows = [
            p
            for p in rows
            if plan_scope_ok(ctx, p.get("industry_code") or p.get("industry"), p.get("region_code") or p.get("region"))
        ]
    return rows


def draw_plan(ctx: Context, *, industry: str, region: str | None, period: str, seed: int) -> Any:
    """Draw and save a 双随机 plan (C's workflow registers the draw and its seed)."""
    from scoring.workflows.supervision import draw_inspection_plan

    ctx.require_role("inspection_plan", "write", what="write")
    if not PERIOD.fullmatch(period or ""):
        ctx.invalid("write", "抽查期间应为1-32位字母、数字、下划线或连字符，如 2026、2026H1、2026Q3")
    if industry not in load_industries():
        ctx.invalid("write", f"行业代码 {echo(industry, 40)!r} 不存在")
    if region and region not in load_regions():
        ctx.invalid("write", f"区域代码 {echo(region, 20)!r} 不在本平台辖区内")
    if not plan_scope_ok(ctx, industry, region) or not ctx.may(
        "inspection_plan", "write", industry=industry, region=region
    ):
        ctx.deny("write", detail={"industry": industry, "region": region})
    try:
        return draw_inspection_plan(
            ctx.request.app.state.engine,
            user=ctx.user,  # the User: the workflow applies the scope too
            role=ctx.user.role,
            industry=industry,
            region=region or None,
            period=period,
            seed=seed,
            purpose=ctx.purpose,
        )
    except NotFoundError:
        ctx.not_found("write", detail={"industry": industry})
    except XinyiError as e:
        ctx.invalid("write", str(e), detail={"industry": industry})


def whitelist(ctx: Context, industry: str, rule: str | None, *, action: str = "read") -> tuple[pd.DataFrame, Any]:
    """The 信易贷 whitelist of an industry in the user's regions (C's workflow registers it as an export)."""
    from scoring.workflows.supervision import credit_whitelist

    ctx.require_role("whitelist", "export" if action == "download" else "read", what=action)
    if industry not in load_industries():
        ctx.not_found(action, detail={"industry": echo(industry, 40)})
    if not ctx.industry_in_scope(industry) or not ctx.may("whitelist", "read", industry=industry, region=None):
        ctx.not_found(action, detail={"industry": industry})
    try:
        frame, chosen = credit_whitelist(
            ctx.request.app.state.engine,
            user=ctx.user,  # the User: the workflow applies the scope too
            role=ctx.user.role,
            industry=industry,
            rule=rule or "xinyidai",
            purpose=ctx.purpose,
        )
    except NotFoundError:
        ctx.not_found(action, detail={"industry": industry})
    except XinyiError as e:
        ctx.invalid(action, str(e), detail={"industry": industry})
    regions = ctx.regions()
    if regions is not None:  # a regulator of some regions: only their organisations
        frame = _in_regions(ctx, frame, regions)
    return frame, chosen


def _in_regions(ctx: Context, frame: pd.DataFrame, regions: list[str]) -> pd.DataFrame:
    """The rows of ``frame`` (a whitelist of a published list) whose organisations are in ``regions``."""
    import sqlalchemy as sa

    from scoring.serving import schema

    g = schema.grade_entries
    pub = frame.attrs.get("publication_id")
    q = sa.select(g.c.subject_id).where(g.c.region_code.in_(regions))
    if pub:
        q = q.where(g.c.publication_id == pub)
    with ctx.conn() as conn:
        keep = set(conn.execute(q).scalars())
    attrs = dict(frame.attrs)
    out = frame[frame["subject_id"].isin(keep)].reset_index(drop=True)
    out.attrs = attrs
    return out
