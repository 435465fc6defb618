"""Why a 信义金 score moved between two dates, attributed exactly to records.

Every day on which a record's state can change — it appears, its publicity ends, it is repaired or
revoked, an objection is raised or resolved, it leaves a feature's 1y/3y/5y window, or the time
since it crosses a days-since boundary — is a checkpoint between the two dates. At each checkpoint
the records changing that day are applied one at a time (a record not yet applied is evaluated as
it was the day before, by shifting all its dates one day later), so each part is that record's own
effect and the parts telescope: they sum exactly to the difference. Points here are the card's
points before the bottom-line gate; gate changes (suspension starting or ending) are reported
beside them.
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
from scoring.points.gate import load_gate, suspensions

ONE = dt.timedelta(days=1)
SHIFT_COLUMNS = ("event_date", "t_start", "t_end", "s_from", "s_to")


class _Subject:
    """One person's records (and those of linked organisations) for repeated scoring."""

    def __init__(self, store: Store, card: PointsCard, subject_id: str, catalog: Catalog):
        self.card, self.sid = card, subject_id
        self.builder = FeatureBuilder(store, subjects="persons", catalog=catalog)
        links = store.polars("SELECT * FROM xinyi_links WHERE person_id = ?", [subject_id])
        ids = [subject_id] + links["organisation_id"].to_list()
        marks = ", ".join("?" for _ in ids)
        cols = ", ".join(
            TIMELINE_COLUMNS
            + ["document_no", "repaired_on", "revoked_on", "objection_outcome", "objection_resolved_on", "list_exit_on"]
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
        """Points at ``as_of``; ``delayed`` records are taken as of the day before, ``drop`` ones
        left out, ``extra`` hypothetical timeline rows added (for guidance)."""
        tl = self.records.select(TIMELINE_COLUMNS)
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
        x = engine_polars.compute(tl, self.links, self.population, fs, as_of).to_pandas().set_index("subject_id")
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

        for r in self.records.iter_rows(named=True):
            rid, ev = r["record_id"], r["event_date"]
            add(r["t_start"], rid, "appeared (新增记录)")
            end_day = r["t_end"]
            if end_day is not None:
                why = (
                    "repaired (信用修复)"
                    if end_day == r["repaired_on"]
                    else "revoked (撤销)"
                    if end_day == r["revoked_on"]
                    else "removed after an upheld objection (异议成立)"
                    if r["objection_outcome"] == "upheld"
                    else "left the list (移出名单)"
                    if end_day == r["list_exit_on"]
                    else "publicity period ended (公示期满)"
                )
                add(end_day, rid, why)
            add(r["s_from"], rid, "objection raised: suspended (异议处理中)")
            add(r["s_to"], rid, "objection rejected: restored (异议不成立)")
            for w in windows:
                for k in range(4):  # the first day the record is outside the window
                    day = add_months(ev, w) + dt.timedelta(days=k)
                    if add_months(day, -w) >= ev:
                        add(day, rid, f"left the {w // 12}-year window (超出{w // 12}年统计期)")
                        break
            for s in splits:
                add(ev + dt.timedelta(days=int(-(-s // 1))), rid, f"now {int(-(-s // 1))}+ days ago")
        return dict(sorted(out.items()))


def diff_person(
    store: Store,
    card: PointsCard,
    subject_id: str,
    date_from: dt.date | str,
    date_to: dt.date | str,
    catalog: Catalog | None = None,
) -> dict:
    """The move of one person's points between two dates, as parts that sum exactly to it."""
    d1 = dt.date.fromisoformat(date_from) if isinstance(date_from, str) else date_from
    d2 = dt.date.fromisoformat(date_to) if isinstance(date_to, str) else date_to
    if d2 < d1:
        raise DataError("the later date (--to) must not be before the earlier one (--from)")
    catalog = catalog or load_catalog()
    subj = _Subject(store, card, subject_id, catalog)
    start = subj.points(d1)
    docs = {r["record_id"]: r for r in subj.records.iter_rows(named=True)}
    parts: list[dict[str, Any]] = []
    current = start
    for day, changes in subj.boundaries(d1, d2).items():
        ids = sorted(rid for rid, _ in changes)
        what = dict(changes)
        before = subj.points(day, delayed=set(ids))
        if before != current:  # a change no record boundary explains (should not happen)
            parts.append({"date": day.isoformat(), "record": None, "event": "other", "points": before - current})
        current = before
        for k, rid in enumerate(ids):
            after = subj.points(day, delayed=set(ids[k + 1 :]))
            if after != current:
                r = docs[rid]
                parts.append(
                    {
                        "date": day.isoformat(),
                        "points": after - current,
                        "event": what[rid],
                        "record": {
                            "record_type": r["record_type"],
                            "name_zh": catalog[r["record_type"]].name_zh,
                            "event_date": str(r["event_date"]),
                            "document_no": r["document_no"],
                            "subject": mask_id(r["subject_id"]) if r["subject_id"] != subject_id else "本人",
                        },
                    }
                )
            current = after
    end = subj.points(d2)
    if end != current:
        parts.append({"date": d2.isoformat(), "record": None, "event": "other", "points": end - current})
    gate = load_gate(catalog=catalog)
    status = {}
    for label, d in (("from", d1), ("to", d2)):
        sus = suspensions(store, d, gate, catalog)
        status[label] = "suspended" if subject_id in set(sus["subject_id"]) else "scored"
    if sum(int(p["points"]) for p in parts) != end - start:  # the parts must add up exactly
        raise AssertionError(f"score diff parts do not add up for {mask_id(subject_id)} between {d1} and {d2}")
    return {
        "subject": mask_id(subject_id),
        "from": d1.isoformat(),
        "to": d2.isoformat(),
        "points_from": start,
        "points_to": end,
        "change": end - start,
        "parts": parts,
        "status_from": status["from"],
        "status_to": status["to"],
    }
