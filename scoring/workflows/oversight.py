"""Oversight workflows: monitoring between two dates, champion/challenger, model reports."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from scoring.archive.store import Store
from scoring.lineage.registry import POINTS_NAME, Registered, grades_name
from scoring.workflows.grades import industry_config, load_grade_model
from scoring.workflows.points import ModelChoice, load_card, load_registered_model
from scoring.workflows.workspace import Progress, Workspace, check_date, data_errors, quiet


def frames_to_records(r: dict) -> dict:
    """A monitoring result with its tables as lists of records (for JSON)."""
    return {k: (v.reset_index().to_dict(orient="records") if isinstance(v, pd.DataFrame) else v) for k, v in r.items()}


def _dates(store: Store, reference: dt.date | str, current: dt.date | str) -> tuple[dt.date, dt.date]:
    from scoring.core.errors import DataError

    ref, cur = check_date(store, reference, "--reference"), check_date(store, current, "--current")
    if cur < ref:
        raise DataError(f"--current {cur} is before --reference {ref}; give the earlier date as --reference")
    return ref, cur


def monitor_points(
    store: Store,
    ws: Workspace,
    reference: dt.date | str,
    current: dt.date | str,
    *,
    choice: ModelChoice = ModelChoice(),
    progress: Progress = quiet,
) -> dict:
    """信义金 points PSI, card-feature CSI and calibration drift between two dates (by default the
    champion card)."""
    from scoring.oversight import monitoring

    ref, cur = _dates(store, reference, current)
    card, _ = load_card(ws, choice)
    progress(f"monitoring 信义金 {ref} -> {cur}")
    return monitoring.monitor_points(store, card, reference=ref, current=cur)


def monitor_grades(
    store: Store,
    ws: Workspace,
    industry: str,
    reference: dt.date | str,
    current: dt.date | str,
    *,
    choice: ModelChoice = ModelChoice(),
    progress: Progress = quiet,
) -> dict:
    """Risk-score PSI, feature CSI, grade migration and calibration drift of an industry's model."""
    from scoring.oversight import monitoring

    ref, cur = _dates(store, reference, current)
    model, _ = load_grade_model(ws, industry, choice)
    progress(f"monitoring {industry} {ref} -> {cur}")
    with data_errors():
        return monitoring.monitor_grades(store, model, industry=industry, reference=ref, current=cur)


def compare_versions(
    store: Store,
    ws: Workspace,
    industry: str,
    as_of: dt.date | str,
    *,
    champion: str = "champion",
    challenger: str = "challenger",
    progress: Progress = quiet,
) -> dict:
    """Champion/challenger: two registered versions (by alias) on the same organisations and date."""
    from scoring.oversight.monitoring import champion_challenger

    day = check_date(store, as_of)
    industry_config(industry)
    a, ra = load_grade_model(ws, industry, ModelChoice(alias=champion))
    b, rb = load_grade_model(ws, industry, ModelChoice(alias=challenger))
    assert ra is not None and rb is not None
    progress(f"{industry}: {champion} v{ra.version} and {challenger} v{rb.version} as of {day}")
    r = champion_challenger(store, a, b, industry=industry, as_of=day)
    r["versions"] = {"champion": ra.version, "challenger": rb.version}
    return r


@dataclass(frozen=True)
class Report:
    path: Path
    registered: Registered

    def to_dict(self) -> dict:
        reg = self.registered
        return {"report": str(self.path), "model": f"{reg.name} v{reg.version}", "mlflow_run_id": reg.run_id}


def write_model_report(
    store: Store,
    ws: Workspace,
    name: str,
    *,
    choice: ModelChoice = ModelChoice(),
    out_dir: str | Path | None = None,
    progress: Progress = quiet,
) -> Report:
    """The HTML report and model card of a registered version (``name``: ``xinyi-points-card`` or
    ``xinyi-grades-<industry>``; default the champion), written to ``<out_dir>/<name>-v<version>/``
    (default ``<workspace>/reports``) and attached to its MLflow run."""
    from scoring.oversight.report import write_report

    if name != POINTS_NAME:
        industry_config(name.removeprefix(grades_name("")))
    model, reg = load_registered_model(ws, name, choice)
    progress(f"report: {reg.name} v{reg.version}")
    path = write_report(store, model, reg, ws.tracking_uri, Path(out_dir) if out_dir else ws.path("reports"))
    return Report(path, reg)
