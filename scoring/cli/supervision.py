"""双随机 inspection plans and 信易贷 whitelists from the serving database:
``scoring plans draw|show|list``, ``scoring whitelist``. Every draw, reading and export is
registered in the query register (查询使用登记) as the operator ``cli:<OS user>``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from scoring.cli.common import JsonOpt, ServingOpt, emit_fields, emit_frame, emit_json, emit_text, group
from scoring.core.errors import DataError
from scoring.core.workbook import write_workbook

plans_app = group("双随机 inspection plans: draw one per industry, region and period (seeded), show saved plans.")


def register(app: typer.Typer) -> None:
    app.add_typer(plans_app, name="plans")
    app.command("whitelist")(whitelist_cmd)


def _engine(url: str | None) -> Any:
    from scoring.serving.database import connect, serving_url

    return connect(serving_url(url))


def _who() -> tuple[str, str]:
    from scoring.workflows.access import CLI_ROLE, operator

    return operator(), CLI_ROLE


def _xlsx(out: Path) -> Path:
    if out.suffix.lower() != ".xlsx":
        raise DataError(f"{out}: the workbook is written as .xlsx")
    if out.exists():
        raise DataError(f"{out} exists: choose a new file (exports are never overwritten)")
    return out


def _plan_fields(plan: Any) -> dict[str, Any]:
    return {
        "plan": plan.plan_id,
        "industry": f"{plan.industry_zh} ({plan.industry})",
        "region": plan.region or "all",
        "period": plan.period,
        "seed": str(plan.seed),
        "list": plan.publication_id,
        "drawn by": plan.drawn_by,
        "drawn at": plan.drawn_at,
        "organisations": plan.population,
        "selected": plan.selected,
    }


def _plan_json(plan: Any, out: Path | None) -> dict[str, Any]:
    return {
        **{k.replace(" ", "_"): v for k, v in _plan_fields(plan).items()},
        "industry": plan.industry,
        "seed": plan.seed,
        "strata": plan.strata.to_dict(orient="records"),
        "out": str(out) if out else None,
    }


@plans_app.command("draw")
def plans_draw_cmd(
    industry: str = typer.Option(..., "--industry", metavar="CODE", help="The industry (configs/industries)."),
    region: str | None = typer.Option(
        None, "--region", metavar="CODE", help="A 6-digit region code (configs/regions.yaml); default: all."
    ),
    period: str = typer.Option(..., "--period", metavar="P", help="The period: 2026, 2026H1, 2026Q3 or 2026-07."),
    seed: int = typer.Option(..., "--seed", metavar="N", help="The random seed (registered; same seed, same plan)."),
    out: Path | None = typer.Option(None, "--out", metavar="FILE", help="Write the plan as .xlsx."),
    purpose: str = typer.Option(
        "random_inspection", "--purpose", metavar="CODE", help="The purpose registered (configs/access)."
    ),
    serving: str | None = ServingOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Draw a 双随机 plan from the industry's latest published list at its sampling ratios per grade
    (no grade exempt), save it and register the draw with its seed."""
    from scoring.workflows.supervision import draw_inspection_plan

    if out is not None:
        _xlsx(out)
    user, role = _who()
    plan = draw_inspection_plan(
        _engine(serving),
        user=user,
        role=role,
        industry=industry,
        region=region,
        period=period,
        seed=seed,
        purpose=purpose,
    )
    if out is not None:
        write_workbook(out, plan.sheets())
    if as_json:
        emit_json(_plan_json(plan, out))
        return
    emit_fields(_plan_fields(plan), title="双随机抽查计划")
    strata = plan.strata.copy()
    strata["sampling_ratio"] = [f"{100 * r:g}%" for r in strata["sampling_ratio"]]
    emit_frame(strata)
    if out is not None:
        emit_text(f"Written to {out}.")


@plans_app.command("show")
def plans_show_cmd(
    plan_id: str = typer.Argument(..., metavar="PLAN_ID", help="The plan's id (printed by `scoring plans draw`)."),
    out: Path | None = typer.Option(None, "--out", metavar="FILE", help="Write the plan as .xlsx."),
    purpose: str = typer.Option("random_inspection", "--purpose", metavar="CODE", help="The purpose registered."),
    serving: str | None = ServingOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Show a saved plan: its strata and the organisations drawn."""
    from scoring.workflows.supervision import plan_of

    if out is not None:
        _xlsx(out)
    user, role = _who()
    plan = plan_of(_engine(serving), plan_id, user=user, role=role, purpose=purpose)
    if out is not None:
        write_workbook(out, plan.sheets())
    if as_json:
        emit_json({**_plan_json(plan, out), "selections": plan.selections.to_dict(orient="records")})
        return
    typer.echo(repr(plan))
    if out is not None:
        emit_text(f"Written to {out}.")


@plans_app.command("list")
def plans_list_cmd(
    industry: list[str] = typer.Option([], "--industry", metavar="CODE", help="Only these industries (repeat)."),
    serving: str | None = ServingOpt,
    as_json: bool = JsonOpt,
) -> None:
    """The saved plans, newest first."""
    import pandas as pd

    from scoring.workflows.supervision import plans_in

    rows = plans_in(_engine(serving), industry or None)
    if as_json:
        emit_json(rows)
    elif not rows:
        emit_text("No plans yet; `scoring plans draw --industry CODE --period P --seed N` draws one.")
    else:
        frame = pd.DataFrame(rows)[["plan_id", "industry", "district_zh", "period", "seed", "selected", "drawn_at"]]
        emit_frame(frame, title=f"{len(rows)} plans")


def whitelist_cmd(
    industry: str = typer.Option(..., "--industry", metavar="CODE", help="The industry (configs/industries)."),
    rule: str = typer.Option(
        "xinyidai", "--rule", metavar="CODE", help="The whitelist rule (configs/scenes.yaml credit_whitelists)."
    ),
    out: Path | None = typer.Option(None, "--out", metavar="FILE", help="Write the whitelist as .xlsx."),
    purpose: str = typer.Option("credit_loans", "--purpose", metavar="CODE", help="The purpose registered."),
    serving: str | None = ServingOpt,
    as_json: bool = JsonOpt,
) -> None:
    """信易贷 whitelist: the organisations of the industry's latest published list that meet the
    scene's rule (grade threshold, no veto, no active list record), with their reasons; registered
    as an export."""
    from scoring.grades.whitelist import whitelist_workbook
    from scoring.workflows.supervision import credit_whitelist

    if out is not None:
        _xlsx(out)
    user, role = _who()
    frame, r = credit_whitelist(_engine(serving), user=user, role=role, industry=industry, rule=rule, purpose=purpose)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_bytes(whitelist_workbook(frame, r, {"导出人": user}))
    info = {
        "rule": f"{r.name_zh} ({r.code})",
        "industry": industry,
        "list": frame.attrs.get("publication_id"),
        "organisations": frame.attrs.get("population"),
        "listed": len(frame),
        "out": str(out) if out else None,
    }
    if as_json:
        emit_json({**info, "rows": frame.to_dict(orient="records")})
        return
    emit_fields(info, title="信易贷白名单")
    if len(frame):
        emit_frame(frame[[c for c in ("subject_id", "name", "grade", "district_zh") if c in frame.columns]].head(20))
