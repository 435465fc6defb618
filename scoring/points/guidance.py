"""Guidance (信用提升指引): lawful actions within a person's own reach, and the points each adds.

Only actions the person can take themselves are listed:

* **repair** (信用修复) an eligible negative record once its minimum publicity period has passed
  (after correcting the conduct and making a credit commitment, as the repair rules require);
* **keep** an open credit commitment (履行信用承诺);
* **volunteer** (志愿服务), whose points are capped and diminish with hours.

Nothing is suggested that the person cannot change (no honours to "win"), and an action worth no
points is not shown. Each gain is the card's points with the action applied minus the points
without it, computed with the same engine as the score.

A suspended person (信用底线, :mod:`scoring.points.gate`) gets no points and no point-earning
action (volunteering or a repair earns nothing while the score is suspended): only how to leave
each list that suspends it (``leave_list``: 履行义务, the exit procedure of
``configs/points/explain.yaml``, the earliest end), see :func:`scoring.points.personal.suspension_of`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from scoring.archive.catalog import Catalog, Polarity, load_catalog
from scoring.archive.store import Store
from scoring.core.privacy import mask_id, scrub
from scoring.points.card import PointsCard
from scoring.points.diff import _Subject
from scoring.points.gate import GateConfig, load_gate
from scoring.points.wording import record_entry

VOLUNTEER_STEPS = (10, 20, 50, 100)


def guidance(
    store: Store,
    card: PointsCard,
    subject_id: str,
    as_of: dt.date | str,
    catalog: Catalog | None = None,
    gate: GateConfig | None = None,
) -> dict:
    """What the person can do as of ``as_of``: ``status``, ``points`` (None when suspended) and the
    ``actions``, best first. Raises NotFoundError for a subject that is not a person of the archive."""
    from scoring.points.personal import require_person, suspension_of

    as_of = dt.date.fromisoformat(as_of) if isinstance(as_of, str) else as_of
    catalog = catalog or load_catalog()
    gate = gate or load_gate(catalog=catalog)
    require_person(store, subject_id)
    sus = suspension_of(store, subject_id, as_of, gate, catalog)
    if sus is not None:
        leave = [
            {
                "action": "leave_list",
                "points": None,
                "from": as_of.isoformat(),
                "text_zh": f"{item['name_zh']}"
                + (f"（{item['document_no']}）" if item.get("document_no") else "")
                + f"：{item['action']}；最早结束：{item['earliest_end_zh']}",
                "steps": item["steps"],
                "record": {k: item.get(k) for k in ("record_type", "name_zh", "document_no", "agency", "listed_on")},
            }
            for item in sus["lists"]
        ]
        return {
            "subject": mask_id(subject_id),
            "as_of": as_of.isoformat(),
            "status": "suspended",
            "points": None,
            "actions": leave,
        }
    subj = _Subject(store, card, subject_id, catalog)
    now = subj.points(as_of)
    actions: list[dict[str, Any]] = []
    own = [r for r in subj.records.iter_rows(named=True) if r["subject_id"] == subject_id]

    # 1. repairs
    for r in own:
        rt = catalog[r["record_type"]]
        if not (rt.repairable and rt.polarity is Polarity.negative) or r["repaired_on"] is not None:
            continue
        if not (r["t_start"] <= as_of and (r["t_end"] is None or as_of < r["t_end"])):
            continue
        w = catalog.window(r["record_type"], r["event_date"], r["severity"])
        gain = subj.points(as_of, drop={r["record_id"]}) - now
        if gain > 0:
            when = max(w.repair_from or as_of, as_of)
            actions.append(
                {
                    "action": "repair",
                    "points": gain,
                    "from": when.isoformat(),
                    "text_zh": f"{rt.name_zh}（{scrub(str(r['document_no']))}）可于 {when} 起申请信用修复"
                    "（需已纠正失信行为并作出信用承诺），修复后可增加 {gain} 分".replace("{gain}", str(gain)),
                    "record": record_entry(r, catalog),
                }
            )
    # 2. open commitments
    resolved = {r["record_id"] for r in own if r["record_type"] in ("COM_KEPT", "COM_BROKEN")}
    related = (
        set(
            store.sql(
                "SELECT related_record_id FROM records WHERE subject_id = ? AND related_record_id IS NOT NULL",
                [subject_id],
            )["related_record_id"]
        )
        if own
        else set()
    )
    for r in own:
        if r["record_type"] != "COM_MADE" or r["record_id"] in related or r["record_id"] in resolved:
            continue
        if not (r["t_start"] <= as_of and (r["t_end"] is None or as_of < r["t_end"])):
            continue
        kept = _row(r, "COM_KEPT", as_of, months=catalog.rule("COM_KEPT").months)
        gain = subj.points(as_of, extra=[kept]) - now
        if gain > 0:
            actions.append(
                {
                    "action": "keep_commitment",
                    "points": gain,
                    "from": as_of.isoformat(),
                    "text_zh": f"按期履行信用承诺（{scrub(str(r['document_no']))}），可增加 {gain} 分",
                    "record": record_entry(r, catalog),
                }
            )
    # 3. volunteering (capped, diminishing)
    opted_out = bool(store.sql("SELECT positive_opt_out FROM subjects WHERE subject_id = ?", [subject_id]).iloc[0, 0])
    if not opted_out and "VOL_SERVICE_HOURS" in catalog:
        months = catalog.rule("VOL_SERVICE_HOURS").months
        last = 0
        for h in VOLUNTEER_STEPS:
            row = _row(
                {"subject_id": subject_id, "record_id": f"__volunteer_{h}"},
                "VOL_SERVICE_HOURS",
                as_of,
                months=months,
                amount=float(h),
            )
            gain = subj.points(as_of, extra=[row]) - now
            if gain > last:
                actions.append(
                    {
                        "action": "volunteer",
                        "points": gain,
                        "hours": h,
                        "from": as_of.isoformat(),
                        "text_zh": f"参加志愿服务 {h} 小时，可增加 {gain} 分（志愿服务分值有上限、随时长递减）",
                    }
                )
                last = gain
    actions.sort(key=lambda a: -a["points"])
    return {
        "subject": mask_id(subject_id),
        "as_of": as_of.isoformat(),
        "status": "scored",
        "points": now,
        "actions": actions,
    }


def _row(base: dict, record_type: str, day: dt.date, months: int | None, amount: float | None = None) -> dict:
    from scoring.core.dates import add_months

    return {
        "subject_id": base["subject_id"],
        "record_id": f"__hypothetical_{record_type}_{base['record_id']}",
        "record_type": record_type,
        "severity": None,
        "amount": amount,
        "grade": None,
        "event_date": day,
        "t_start": day,
        "t_end": add_months(day, months) if months else None,
        "s_from": None,
        "s_to": None,
        "excluded": False,
    }
