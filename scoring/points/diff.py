"""Why a 信义金 score moved between two dates, attributed exactly to records.

Every day on which a record's state can change — it appears, its publicity ends, it is repaired or
revoked, an objection is raised or resolved, it leaves a feature's 1y/3y/5y window, or the time
since it crosses a days-since boundary — is a checkpoint between the two dates. At each checkpoint
the records changing that day are applied one at a time (a record not yet applied is evaluated as
it was the day before, by shifting all its dates one day later), so each part is that record's own
effect and the parts telescope: they sum exactly to the difference. Points here are the card's
points before the bottom-line gate, and only when both dates are scored: a suspended date shows
its status and reason, never a number. Gate changes (a list record starting or ending) are reported
beside the parts.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl

from scoring.archive.catalog import Catalog, load_catalog
from scoring.archive.store import Store
from scoring.core.dates import add_months
from scoring.core.errors import DataError
from scoring.core.privacy import mask_id
from scoring.features import engine_polars
from scoring.features.builder import TIMELINE_COLUMNS, FeatureBuilder
from scoring.points.card import PointsCard
from scoring.points.gate import GateConfig, load_gate, suspensions
from scoring.points.wording import EVENT_ZH, record_entry

ONE = dt.timedelta(days=1)
SHIFT_COLUMNS = ("event_date", "t_start", "t_end", "s_from", "s_to")
LINK_DATES = ("valid_from", "valid_to")
LINK = "link:"  # checkpoint key of a person-organisation link


class _Subject:
    """One person's records (and those of linked organisations) for repeated scoring."""

    def __init__(self, store: Store, card: PointsCard, subject_id: str, catalog: Catalog):
        self.card, self.sid, self.catalog = card, subject_id, catalog
        self.builder = FeatureBuilder(store, subjects="persons", catalog=catalog)
        links = store.polars("SELECT * FROM xinyi_links WHERE person_id = ?", [subject_id])
        ids = [subject_id] + links["organisation_id"].to_list()
        marks = ", ".join("?" for _ in ids)
        cols = ", ".join(
            TIMELINE_COLUMNS
            + [
                "document_no",
                "agency",
                "repaired_on",
                "revoked_on",
                "objection_outcome",
                "objection_resolved_on",
                "list_exit_on",
            ]
        )
        self.records = store.polars(f"SELECT {cols} FROM xinyi_timeline WHERE subject_id IN ({marks})", ids)
        self.links = links
        self.population = pl.DataFrame({"subject_id": [subject_id]})
        self.specs = {f.name: f for f in self.builder.fset.features if f.name in card.features_}

    def points(
        self,
        as_of: dt.date,
        delayed: frozenset[str] | set[str] = frozenset(),
        drop: frozenset[str] | set[str] = frozenset(),
        extra: list[dict] | None = None,
    ) -> int:
        """Points at ``as_of``; ``delayed`` records (and links, as ``link:<organisation_id>``) are
        taken as of the day before, ``drop`` ones left out, ``extra`` hypothetical timeline rows
        added (for guidance)."""
        tl = self.records.select(TIMELINE_COLUMNS)
        links = self.links
        late = [k.removeprefix(LINK) for k in delayed if k.startswith(LINK)]
        if late and "valid_from" in links.columns:
            d = pl.col("organisation_id").is_in(late)
            links = links.with_columns(
                [pl.when(d).then(pl.col(c) + pl.duration(days=1)).otherwise(pl.col(c)).alias(c) for c in LINK_DATES]
            )
        if drop:
            tl = tl.filter(~pl.col("record_id").is_in(list(drop)))
        if extra:
            tl = pl.concat([tl, pl.DataFrame(extra, schema=tl.schema)], how="vertical")
        if delayed:
            d = pl.col("record_id").is_in(list(delayed))
            tl = tl.with_columns(
                [pl.when(d).then(pl.col(c) + pl.duration(days=1)).otherwise(pl.col(c)).alias(c) for c in SHIFT_COLUMNS]
            )
        fs = self.builder.fset
        x = engine_polars.compute(tl, links, self.population, fs, as_of).to_pandas().set_index("subject_id")
        return int(self.card.score(x[self.card.features_].astype("float64")).iloc[0])

    def boundaries(self, start: dt.date, end: dt.date) -> dict[dt.date, list[tuple[str, str]]]:
        """Checkpoint dates in (start, end] -> [(record_id, what happened)]."""
        windows = sorted({s.window_months for s in self.specs.values() if s.window_months})
        splits = sorted(
            {
                float(v)
                for n, s in self.specs.items()
                if s.agg == "days_since_last"
                for v in self.card.binnings_[n].splits_
            }
        )
        out: dict[dt.date, list[tuple[str, str]]] = {}

        def add(day, rid, what):
            if day is not None and start < day <= end:
                out.setdefault(day, [])
                if rid not in [r for r, _ in out[day]]:
                    out[day].append((rid, what))

        list_types = {
            c for c in self.records["record_type"].unique().to_list() if c in self.catalog and self.catalog[c].list_type
        }
        for r in self.records.iter_rows(named=True):
            rid, ev = r["record_id"], r["event_date"]
            add(r["t_start"], rid, "appeared")
            end_day = r["t_end"]
            if end_day is not None:
                # a repair dated before the minimum publicity period takes effect at its end
                repaired = r["repaired_on"] is not None and r["repaired_on"] <= end_day
                why = (
                    "revoked"
                    if end_day == r["revoked_on"]
                    else "repaired"
                    if repaired
                    else "objection_upheld"
                    if r["objection_outcome"] == "upheld"
                    else "left_list"
                    if end_day == r["list_exit_on"]
                    else "list_period_ended"
                    if r["record_type"] in list_types
                    else "publicity_ended"
                )
                add(end_day, rid, why)
            add(r["s_from"], rid, "objection_raised")
            add(r["s_to"], rid, "objection_rejected")
            for w in windows:
                for k in range(4):  # the first day the record is outside the window
                    day = add_months(ev, w) + dt.timedelta(days=k)
                    if add_months(day, -w) >= ev:
                        add(day, rid, f"left_window_{w}")
                        break
            for s in splits:
                add(ev + dt.timedelta(days=int(-(-s // 1))), rid, "days_passed")
        # a change of legal representative or actual controller (关联关系变更) on its effective date
        if "valid_from" in self.links.columns:
            for lk in self.links.iter_rows(named=True):
                key = LINK + str(lk["organisation_id"])
                add(lk["valid_from"], key, "link_started")
                add(lk["valid_to"], key, "link_ended")
        return dict(sorted(out.items()))


def diff_person(
    store: Store,
    card: PointsCard,
    subject_id: str,
    date_from: dt.date | str,
    date_to: dt.date | str,
    catalog: Catalog | None = None,
    gate: GateConfig | None = None,
) -> dict:
    """The move of one person's points between two dates, as parts that sum exactly to it.

    Each end has a ``status`` (scored | suspended, 信用底线). A suspended end shows its status and
    reason, never a number: ``points_from`` / ``points_to`` are None there, and with either end
    suspended there is no ``change`` and no parts (a part would reveal the hidden number).
    ``gate_events`` lists the person's own list records starting or ending between the dates.
    Raises NotFoundError for a subject that is not a person of the archive."""
    from scoring.points.personal import require_person

    d1 = dt.date.fromisoformat(date_from) if isinstance(date_from, str) else date_from
    d2 = dt.date.fromisoformat(date_to) if isinstance(date_to, str) else date_to
    if d2 < d1:
        raise DataError("the later date (--to) must not be before the earlier one (--from)")
    catalog = catalog or load_catalog()
    gate = gate or load_gate(catalog=catalog)
    require_person(store, subject_id)
    state = {}
    for label, d in (("from", d1), ("to", d2)):
        hit = suspensions(store, d, gate, catalog, subject_id=subject_id)
        state[label] = ("suspended", str(hit.iloc[0]["reason"])) if len(hit) else ("scored", None)
    subj = _Subject(store, card, subject_id, catalog)
    docs = {r["record_id"]: r for r in subj.records.iter_rows(named=True)}

    def record(rid: str) -> dict:
        if rid.startswith(LINK):  # the organisation whose link to the person began or ended
            return {"name_zh": f"关联企业 {mask_id(rid.removeprefix(LINK))}", "subject": "本人"}
        r = docs[rid]
        out = record_entry({k: r[k] for k in ("record_type", "event_date", "document_no", "agency")}, catalog)
        out["subject"] = mask_id(r["subject_id"]) if r["subject_id"] != subject_id else "本人"
        return out

    both_scored = state["from"][0] == state["to"][0] == "scored"
    parts: list[dict[str, Any]] = []
    start = end = None
    if both_scored:
        start = subj.points(d1)
        current = start
        for day, changes in subj.boundaries(d1, d2).items():
            ids = sorted(rid for rid, _ in changes)
            what = dict(changes)
            before = subj.points(day, delayed=set(ids))
            if before != current:  # a change no record boundary explains (should not happen)
                parts.append(_part(day, None, "other", before - current))
            current = before
            for k, rid in enumerate(ids):
                after = subj.points(day, delayed=set(ids[k + 1 :]))
                if after != current:
                    parts.append(_part(day, record(rid), what[rid], after - current))
                current = after
        end = subj.points(d2)
        if end != current:
            parts.append(_part(d2, None, "other", end - current))
        if sum(int(p["points"]) for p in parts) != end - start:  # the parts must add up exactly
            raise AssertionError(f"score diff parts do not add up for {mask_id(subject_id)} between {d1} and {d2}")
    elif state["from"][0] == "scored":
        start = subj.points(d1)
    elif state["to"][0] == "scored":
        end = subj.points(d2)
    gate_events = []
    for r in subj.records.iter_rows(named=True):
        if r["subject_id"] != subject_id or r["record_type"] not in gate.record_types:
            continue
        for day, kind in ((r["t_start"], "suspended"), (r["t_end"], "resumed")):
            if day is not None and d1 < day <= d2:
                gate_events.append(
                    {
                        "date": day.isoformat(),
                        "event": kind,
                        "event_zh": _gate_words(kind, r, catalog),
                        "record": record(r["record_id"]),
                    }
                )
    gate_events.sort(key=lambda g: (g["date"], g["event"]))
    return {
        "subject": mask_id(subject_id),
        "from": d1.isoformat(),
        "to": d2.isoformat(),
        "status_from": state["from"][0],
        "status_to": state["to"][0],
        "reason_from": state["from"][1],
        "reason_to": state["to"][1],
        "points_from": start,
        "points_to": end,
        "change": end - start if start is not None and end is not None else None,
        "parts": parts,
        "gate_events": gate_events,
    }


def _part(day: dt.date, record: dict | None, event: str, points: int) -> dict:
    """One part of a diff; ``left_window_<months>`` reads 超出近3年统计期."""
    if event.startswith("left_window_"):
        months = int(event.rsplit("_", 1)[1])
        span = f"{months // 12}年" if months % 12 == 0 else f"{months}个月"
        return {
            "date": day.isoformat(),
            "points": points,
            "event": "left_window",
            "event_zh": f"超出近{span}统计期",
            "record": record,
        }
    return {"date": day.isoformat(), "points": points, "event": event, "event_zh": EVENT_ZH[event], "record": record}


def _gate_words(what: str, r: dict, catalog: Catalog) -> str:
    name = catalog[r["record_type"]].name_zh
    if what == "suspended":
        return f"列入{name}，暂停计分"
    how = "移出名单" if r["t_end"] == r["list_exit_on"] else "名单期满"
    return f"{name}{how}（如无其他名单，恢复计分）"
