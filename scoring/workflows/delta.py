"""Daily deltas (每日增量): ingest a day's export and update only what it touches.

``apply_delta`` ingests a delta export (new and changed records and subjects; any ingest is an
upsert keyed by record id / subject id and content) and then rolls the latest publications forward
(:func:`update_publications`): the 信义金 score snapshot and every industry's grade list that has a
publication by the registered model in use. For each, the previous publication (the *base*) is
taken as it is for every subject its result cannot have changed for, and only the touched subjects
are recomputed (:mod:`scoring.features.touched`): those whose data the batches since the base
changed, their linked subjects, and — when the as-of date moves — those whose features the model
reads change by time alone (for grades also at the previous period's date, and the new-entrant
rule's edge). The merged rows are published like a full run's, so the publication is the one a full
recompute gives: the same rows and the same content hash, hence the same publication id.

Nothing in a 信义金 score or a grade depends on the population: a card scores each person by bins
fitted with the card, the band table of target-share industries is fitted with the grade model and
travels with it (``model.bands_``), the previous grade is the same organisation's, and the
industry reference (行业中位数) that reasons state is the model's (it is not in a publication). So a
touched-only update is exact; the tests hold it to a full recompute on random archives and deltas.

A delta falls back to a full recompute (``mode == "full"``, with the reason) when there is no base
publication by the same registered version, or the configs in force differ from the base's
(another catalogue or feature definition can move anyone).
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from scoring.archive.store import Store
from scoring.core.dates import add_months
from scoring.workflows.points import ModelChoice
from scoring.workflows.workspace import Progress, Workspace, check_date, data_errors, quiet


@dataclass
class DeltaPublication:
    """One publication rolled forward: its base, the subjects recomputed, the result."""

    kind: str
    scope: str
    as_of: dt.date
    mode: str  # delta | full
    reason: str
    base: str | None
    publication: dict | None
    rows: int
    recomputed: int
    touched: dict[str, int]
    seconds: float
    rows_frame: pd.DataFrame | None = None

    def to_dict(self) -> dict:
        return {
            "kind": self.kind,
            "scope": self.scope,
            "as_of": self.as_of.isoformat(),
            "mode": self.mode,
            "reason": self.reason,
            "base": self.base,
            "publication": self.publication["publication_id"] if self.publication else None,
            "new": bool(self.publication and self.publication.get("new")),
            "rows": self.rows,
            "recomputed": self.recomputed,
            "touched": self.touched,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class DeltaResult:
    """What a delta did: its ingest (when files were given) and every publication rolled forward."""

    as_of: dt.date
    batches: list[str]
    ingest: dict | None
    publications: list[DeltaPublication] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "as_of": self.as_of.isoformat(),
            "batches": self.batches,
            "ingest": self.ingest,
            "publications": [p.to_dict() for p in self.publications],
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
        }


# -- the base publication --------------------------------------------------------------------
def base_publication(store: Store, kind: str, scope: str, model_name: str, model_version: str) -> dict | None:
    """The latest publication of ``kind``/``scope`` by this registered version, or None."""
    df = store.sql(
        "SELECT publication_id, as_of, store_batch, model_content_version FROM publications "
        "WHERE kind = ? AND scope = ? AND model_name = ? AND model_version = ? "
        "ORDER BY created_at DESC, publication_id DESC LIMIT 1",
        [kind, scope, model_name, str(model_version)],
    )
    if df.empty:
        return None
    r = df.iloc[0].to_dict()
    r["as_of"] = pd.Timestamp(r["as_of"]).date()
    return r


def batches_since(store: Store, batch_id: str) -> list[str]:
    """The ingest batches finished after ``batch_id`` (in order)."""
    rows = store.con.execute(
        """SELECT b.batch_id FROM ingest_batches b, (SELECT finished_at, batch_id FROM ingest_batches WHERE batch_id = ?) x
        WHERE (b.finished_at, b.batch_id) > (x.finished_at, x.batch_id) ORDER BY b.finished_at, b.batch_id""",
        [batch_id],
    ).fetchall()
    return [r[0] for r in rows]


def base_rows(store: Store, publication_id: str) -> pd.DataFrame:
    """A publication's rows: subject_id, result, detail (the stored JSON text, which
    :func:`scoring.lineage.publish.publish` keeps as it is: parsing and re-serialising a million
    details would cost more than the rest of a delta)."""
    return store.sql(
        "SELECT subject_id, result, CAST(detail AS VARCHAR) AS detail FROM published_results WHERE publication_id = ?",
        [publication_id],
    )


def _reusable(store: Store, base: dict | None, content_version: str) -> str:
    """Why the base cannot be rolled forward ('' when it can)."""
    from scoring.lineage.configs import current_hash, publication_bundle_hash

    if base is None:
        return "no earlier publication by this registered version"
    if base["model_content_version"] != content_version:
        return "the base was published by another content version of the model"
    if publication_bundle_hash(store, base["publication_id"]) != current_hash():
        return "the configs in force differ from the base publication's"
    return ""


def merge_rows(base: pd.DataFrame, touched: set[str], fresh: pd.DataFrame) -> pd.DataFrame:
    """The base rows of untouched subjects and the fresh rows of the touched ones (a touched subject
    without a fresh row has left the population)."""
    keep = base[~base["subject_id"].isin(touched)]
    out = pd.concat([keep, fresh[["subject_id", "result", "detail"]]], ignore_index=True)
    return out.sort_values("subject_id", ignore_index=True)


# -- the touched subjects of each output ---------------------------------------------------------
def _data_touched(store: Store, batches: Sequence[str], catalog) -> tuple[set[str], set[str]]:
    from scoring.features.touched import changed_subjects, linked_subjects

    changed = changed_subjects(store, batches)
    return changed, linked_subjects(store, changed, catalog) - changed


def score_touched(store: Store, card, t0: dt.date, t1: dt.date, batches: Sequence[str], catalog, gate) -> dict:
    """The persons whose 信义金 row can differ from the base's: by data, links and time (the card's
    features and the gate's lists)."""
    from scoring.features.definitions import feature_set_for
    from scoring.features.touched import time_touched

    changed, linked = _data_touched(store, batches, catalog)
    fset = feature_set_for("persons", catalog=catalog)
    feats = [fset[f] for f in card.features_]
    gate_types = gate.record_types if gate.enabled else []
    by_time = time_touched(store, feats, t0, t1, catalog, self_types=gate_types)
    return {"changed": changed, "linked": linked, "by_time": by_time - changed - linked}


def grade_touched(
    store: Store, model, industry, t0: dt.date, t1: dt.date, batches: Sequence[str], catalog, period_months: int = 12
) -> dict:
    """The organisations whose grade row can differ from the base's: by data, links, time at the
    as-of date and at the previous period's date (the model's and the vetoes' features; the
    population), and the new-entrant rule's edge at both."""
    from scoring.features.definitions import feature_set_for
    from scoring.features.touched import registered_between, time_touched

    changed, linked = _data_touched(store, batches, catalog)
    fset = feature_set_for("organisations", industry.code, catalog=catalog)
    names = list(dict.fromkeys([*model.features_, *(v.feature for v in industry.vetoes)]))
    feats = [fset[f] for f in names]
    p0, p1 = add_months(t0, -period_months), add_months(t1, -period_months)
    by_time = time_touched(store, feats, t0, t1, catalog, organisations=True)
    by_time |= time_touched(store, feats, p0, p1, catalog, organisations=True)
    m = industry.new_entrant_months
    by_time |= registered_between(store, add_months(t0, -m), add_months(t1, -m))
    by_time |= registered_between(store, add_months(p0, -m), add_months(p1, -m))
    return {"changed": changed, "linked": linked, "by_time": by_time - changed - linked}


def features_touched(
    store: Store,
    subjects: str,
    t0: dt.date,
    t1: dt.date,
    batches: Sequence[str],
    catalog,
    industry: str | None = None,
) -> dict:
    """The subjects whose feature vector (every feature of the set of ``subjects``/``industry``) at
    ``t1`` after ``batches`` can differ from theirs at ``t0`` before them."""
    from scoring.features.definitions import feature_set_for
    from scoring.features.touched import time_touched

    changed, linked = _data_touched(store, batches, catalog)
    fset = feature_set_for(subjects, industry, catalog=catalog)
    orgs = fset.name != "person"
    by_time = time_touched(store, list(fset.features), t0, t1, catalog, organisations=orgs)
    return {"changed": changed, "linked": linked, "by_time": by_time - changed - linked}


def _counts(t: dict) -> dict[str, int]:
    return {k: len(v) for k, v in t.items()}


# -- rolling publications forward --------------------------------------------------------------
def roll_scores(
    store: Store,
    ws: Workspace,
    as_of: dt.date,
    *,
    choice: ModelChoice = ModelChoice(),
    progress: Progress = quiet,
) -> DeltaPublication:
    """The 信义金 score snapshot as of ``as_of`` from the latest one by the same registered card: the
    touched persons recomputed, the others' rows kept; published (the publication a full
    :func:`scoring.workflows.points.publish_scores` gives)."""
    from scoring.archive.catalog import load_catalog
    from scoring.lineage.publish import score_rows
    from scoring.lineage.registry import POINTS_NAME
    from scoring.points.gate import load_gate
    from scoring.points.personal import score_persons
    from scoring.workflows.lineage import publish_rows
    from scoring.workflows.points import load_card

    started = time.perf_counter()
    card, reg = load_card(ws, choice)
    if reg is None:
        from scoring.core.errors import DataError

        raise DataError("a delta publishes: it needs a registered card (--alias/--version), not a card file")
    catalog = load_catalog()
    gate = load_gate(catalog=catalog)
    base = base_publication(store, "score_snapshot", "persons", POINTS_NAME, str(reg.version))
    why = _reusable(store, base, "")
    if why:
        from scoring.workflows.points import publish_scores

        progress(f"信义金: full recompute ({why})")
        full = publish_scores(store, ws, as_of, choice=choice, publish=True, progress=progress)
        return DeltaPublication(
            "score_snapshot", "persons", as_of, "full", why, None, full.publication, len(full.scores),
            len(full.scores), {}, time.perf_counter() - started, score_rows(full.scores),
        )  # fmt: skip
    assert base is not None
    batches = batches_since(store, base["store_batch"])
    touched = score_touched(store, card, base["as_of"], as_of, batches, catalog, gate)
    ids = set().union(*touched.values())
    progress(f"信义金: {len(ids):,} persons touched since {base['publication_id']}; recomputing them")
    fresh = score_rows(score_persons(store, card, as_of, gate, catalog, subject_ids=ids)) if ids else None
    prev = base_rows(store, base["publication_id"])
    rows = merge_rows(prev, ids, fresh) if fresh is not None else prev
    pub = publish_rows(store, reg, kind="score_snapshot", scope="persons", as_of=as_of, rows=rows)
    return DeltaPublication(
        "score_snapshot", "persons", as_of, "delta", "", base["publication_id"], pub, len(rows),
        0 if fresh is None else len(fresh), _counts(touched), time.perf_counter() - started, rows,
    )  # fmt: skip


def roll_grades(
    store: Store,
    ws: Workspace,
    industry: str,
    as_of: dt.date,
    *,
    choice: ModelChoice = ModelChoice(),
    progress: Progress = quiet,
) -> DeltaPublication:
    """An industry's grade list as of ``as_of`` from its latest publication by the same registered
    model: the touched organisations regraded, the others' rows kept; published (the publication a
    full :func:`scoring.workflows.grades.publish_grade_list` gives; no list file is written: write
    one with ``scoring grades list``)."""
    from scoring.archive.catalog import load_catalog
    from scoring.grades.lists import grade_subjects, model_industry
    from scoring.lineage.publish import grade_rows
    from scoring.lineage.registry import grades_name
    from scoring.workflows.grades import load_grade_model
    from scoring.workflows.lineage import publish_rows

    started = time.perf_counter()
    model, reg = load_grade_model(ws, industry, choice)
    if reg is None:
        from scoring.core.errors import DataError

        raise DataError("a delta publishes: it needs a registered grade model (--alias/--version), not a file")
    catalog = load_catalog()
    with data_errors():
        ind = model_industry(model, industry)
    base = base_publication(store, "grade_list", industry, grades_name(industry), str(reg.version))
    why = _reusable(store, base, model.version_)

    def publish(rows: pd.DataFrame) -> dict:
        return publish_rows(
            store, reg, kind="grade_list", scope=industry, as_of=as_of, rows=rows, content_version=model.version_
        )

    if why:
        from scoring.workflows.grades import publish_grade_list

        progress(f"{industry}: full regrade ({why})")
        full = publish_grade_list(store, ws, industry, as_of, choice=choice, publish=True, keep_existing=True)
        n = 0 if full.publication is None else int(full.publication["rows"])
        return DeltaPublication(
            "grade_list", industry, as_of, "full", why, None, full.publication, n, n, {},
            time.perf_counter() - started,
        )  # fmt: skip
    assert base is not None
    batches = batches_since(store, base["store_batch"])
    touched = grade_touched(store, model, ind, base["as_of"], as_of, batches, catalog)
    ids = set().union(*touched.values())
    progress(f"{industry}: {len(ids):,} subjects touched since {base['publication_id']}; regrading them")
    fresh = None
    if ids:
        with data_errors():
            graded = grade_subjects(store, model, as_of, ids, industry=industry)
        fresh = grade_rows(graded) if len(graded) else pd.DataFrame(columns=["subject_id", "result", "detail"])
    prev = base_rows(store, base["publication_id"])
    rows = merge_rows(prev, ids, fresh) if fresh is not None else prev
    return DeltaPublication(
        "grade_list", industry, as_of, "delta", "", base["publication_id"], publish(rows), len(rows),
        0 if fresh is None else len(fresh), _counts(touched), time.perf_counter() - started, rows,
    )  # fmt: skip


def published_industries(store: Store) -> list[str]:
    """The industries with a published grade list in the store."""
    df = store.sql("SELECT DISTINCT scope FROM publications WHERE kind = 'grade_list' ORDER BY scope")
    return [str(s) for s in df["scope"]]


def update_publications(
    store: Store,
    ws: Workspace,
    as_of: dt.date | str,
    *,
    scores: bool = True,
    industries: Sequence[str] | None = None,
    card: ModelChoice = ModelChoice(),
    progress: Progress = quiet,
) -> list[DeltaPublication]:
    """Roll the score snapshot (``scores``) and the grade lists of ``industries`` (default: every
    industry with a published list) forward to ``as_of`` (:func:`roll_scores`, :func:`roll_grades`,
    each by its registered champion)."""
    day = check_date(store, as_of)
    out = []
    if scores:
        out.append(roll_scores(store, ws, day, choice=card, progress=progress))
    for code in published_industries(store) if industries is None else industries:
        out.append(roll_grades(store, ws, code, day, progress=progress))
    return out


def apply_delta(
    store: Store,
    ws: Workspace,
    files: Sequence[str | Path],
    as_of: dt.date | str,
    *,
    export_date: dt.date | None = None,
    scores: bool = True,
    industries: Sequence[str] | None = None,
    card: ModelChoice = ModelChoice(),
    progress: Progress = quiet,
) -> DeltaResult:
    """Ingest a delta export (``files``: CSV, Parquet or Excel files or folders, as ``scoring
    ingest`` takes; none: only roll the publications forward) into the open ``store`` (one
    transaction) and roll its publications forward to ``as_of`` (:func:`update_publications`)."""
    from scoring.archive.ingest import ingest

    seconds: dict[str, float] = {}
    res = None
    t = time.perf_counter()
    if files:
        progress(f"delta: ingesting {len(files)} input(s)")
        res = ingest(files, store, export_date=export_date, progress=progress)
        seconds["ingest"] = time.perf_counter() - t
    t = time.perf_counter()
    pubs = update_publications(store, ws, as_of, scores=scores, industries=industries, card=card, progress=progress)
    seconds["publications"] = time.perf_counter() - t
    ingest_summary = None
    if res is not None:
        ingest_summary = {
            k: v
            for k, v in res.to_dict().items()
            if k
            in ("batch_id", "export_date", "rows_read", "accepted", "quarantined", "inserted", "updated", "unchanged")
        }
    return DeltaResult(check_date(store, as_of), [res.batch_id] if res else [], ingest_summary, pubs, seconds)
