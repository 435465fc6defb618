"""Pushing published outputs into the serving database (推送至服务库).

The publish operations (``scoring grades list --publish``, ``scoring points score --publish``, the
main job) record a publication in the analytical store; this module copies what the platform
service shows into the serving database, so the service never reads the store:

- :func:`push_grade_list`: the publication (with its 说明 notes, grade distribution and migration
  matrix), the organisations (name, type, industry, region and district, address, the legal
  representative's masked name: never an ID number) and one grade entry per organisation with every
  column of the grade list, its probabilities and its reasons with the records behind them (the
  deciding veto first, then the top SHAP reasons, as :mod:`scoring.grades.explain` gives them);
- :func:`push_scores`: a 信义金 score snapshot, one entry per person under the store's keyed
  pseudonym (status, points, reason, suspended until, the line items with their records as
  ``scoring points explain`` gives them);
- :func:`push_justification`: a justification summary (model version, data snapshot, configs, band
  evidence, match) of one published result;
- :func:`push_store`: every publication of a store not yet in the serving database, re-derived
  from the registered version the publication names.

Pushing is idempotent: a publication already in the serving database is left as it is (same
publication id = same content, :mod:`scoring.lineage.publish`). The store-side helpers
(:func:`organisations_of`, :func:`grade_reasons`, :func:`score_items`) are batched: one query per
feature for the records behind every reason, so an industry of thousands pushes in seconds.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from scoring.archive.catalog import Catalog, load_catalog
from scoring.archive.store import Store
from scoring.core.errors import DataError
from scoring.core.privacy import mask_id, pseudonym, scrub
from scoring.serving import schema as t
from scoring.serving.regions import load_regions

log = logging.getLogger(__name__)

#: reasons kept per grade entry (the deciding veto first): as ``scoring grades explain`` shows them
TOP_REASONS = 5
BATCH = 2000


@dataclass(frozen=True)
class PushResult:
    """One publication pushed: its id, kind (grade_list | score_snapshot), rows, and whether it was
    new to the serving database (False: it was there already, nothing changed)."""

    publication_id: str
    kind: str
    rows: int
    new: bool

    def to_dict(self) -> dict:
        return asdict(self)


# -- plain values ---------------------------------------------------------------------------------
def _date(v: Any) -> dt.date | None:
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return None
    if isinstance(v, dt.datetime):
        return v.date()
    if isinstance(v, dt.date):
        return v
    if isinstance(v, pd.Timestamp):
        return v.date()
    s = str(v).strip()
    return dt.date.fromisoformat(s[:10]) if s else None


def _datetime(v: Any) -> dt.datetime | None:
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return None
    if isinstance(v, pd.Timestamp):
        v = v.to_pydatetime()
    if isinstance(v, dt.datetime):
        return v.replace(tzinfo=None) if v.tzinfo is None else v.astimezone(dt.UTC).replace(tzinfo=None)
    if isinstance(v, dt.date):
        return dt.datetime(v.year, v.month, v.day)
    return dt.datetime.fromisoformat(str(v)).replace(tzinfo=None)


def _str(v: Any) -> str | None:
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return None
    return str(v)


def _float(v: Any) -> float | None:
    if v is None or pd.isna(v):
        return None
    return float(v)


def _jsonable(v: Any) -> Any:
    """``v`` with numpy / pandas scalars, dates and NaN made JSON-ready (both backends store JSON text)."""
    tp = type(v)
    if tp is str or tp is int or tp is bool:
        return v
    if tp is dict:
        return {str(k): _jsonable(x) for k, x in v.items()}
    if v is None or v is pd.NA or v is pd.NaT:
        return None
    if isinstance(v, Mapping):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    if isinstance(v, np.ndarray):
        return [_jsonable(x) for x in v.tolist()]
    if isinstance(v, (bool, np.bool_)):
        return bool(v)
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, (float, np.floating)):
        return float(v) if np.isfinite(v) else None
    if isinstance(v, dt.datetime):
        midnight = (v.hour, v.minute, v.second, v.microsecond) == (0, 0, 0, 0)
        return v.date().isoformat() if midnight else v.isoformat()
    if isinstance(v, dt.date):
        return v.isoformat()
    return v


def mask_name(name: Any) -> str | None:
    """A person's name as the platform shows it: the first character, then one ``*`` per further
    character (张三 -> 张*, 欧阳明月 -> 欧***); empty for no name."""
    s = _str(name)
    if not s or not s.strip():
        return None
    s = s.strip()
    return s[0] + "*" * max(len(s) - 1, 1)


def _upsert(conn: sa.Connection, table: sa.Table, rows: list[dict], keys: tuple[str, ...]) -> None:
    """Insert ``rows`` or update the rows with the same ``keys`` (SQLite and PostgreSQL)."""
    if not rows:
        return
    dialect = conn.dialect.name
    ins: Any
    if dialect == "postgresql":
        ins = postgresql.insert(table)
    elif dialect == "sqlite":
        ins = sqlite.insert(table)
    else:  # pragma: no cover - database.engine only makes these two
        raise DataError(f"serving database dialect {dialect} is not supported")
    cols = [c for c in rows[0] if c not in keys]
    stmt = ins.on_conflict_do_update(index_elements=list(keys), set_={c: ins.excluded[c] for c in cols})
    for i in range(0, len(rows), BATCH):
        conn.execute(stmt, rows[i : i + BATCH])


def _insert(conn: sa.Connection, table: sa.Table, rows: list[dict]) -> None:
    for i in range(0, len(rows), BATCH):
        conn.execute(table.insert(), rows[i : i + BATCH])


def _has_publication(conn: sa.Connection, publication_id: str) -> bool:
    q = sa.select(t.publications.c.publication_id).where(t.publications.c.publication_id == publication_id)
    return conn.execute(q).first() is not None


def _publication_row(
    publication: Mapping[str, Any], *, n_rows: int, notes=None, distribution=None, migration=None
) -> dict:
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    pid = str(publication["publication_id"])
    return {
        "publication_id": pid,
        "kind": str(publication["kind"]),
        "scope": str(publication["scope"]),
        "as_of": _date(publication["as_of"]),
        "model_name": str(publication.get("model_name", "")),
        "model_version": str(publication.get("model_version", "")),
        "model_content_version": str(publication.get("model_content_version", "")),
        "run_id": str(publication.get("run_id", "")),
        "store_batch": _str(publication.get("store_batch")),
        "store_fingerprint": _str(publication.get("store_fingerprint")),
        "config_bundle": _str(publication.get("config_bundle")),
        "content_hash": str(publication.get("content_hash", "")),
        "n_rows": int(n_rows),
        "published_at": _datetime(publication.get("created_at") or publication.get("published_at")) or now,
        "pushed_at": now,
        "notes": _jsonable({"公示编号": pid, **dict(notes or {})}),
        "distribution": _jsonable(distribution),
        "migration": _jsonable(migration),
    }


# -- the push operations ------------------------------------------------------------------------
def _distribution_records(distribution: pd.DataFrame | list | None) -> list | None:
    if distribution is None:
        return None
    if isinstance(distribution, pd.DataFrame):
        return _jsonable(distribution.to_dict(orient="records"))
    return _jsonable(list(distribution))


def _migration_dict(migration: pd.DataFrame | dict | None) -> dict | None:
    if migration is None:
        return None
    if isinstance(migration, pd.DataFrame):
        return {str(k): {str(c): int(v) for c, v in row.items()} for k, row in migration.iterrows()}
    return _jsonable(dict(migration))


def _organisation_rows(organisations: pd.DataFrame) -> list[dict]:
    regions = load_regions()
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    out = []
    for r in organisations.to_dict(orient="records"):
        region = _str(r.get("region_code")) or ""
        out.append(
            {
                "subject_id": str(r["subject_id"]),
                "name": scrub(str(r.get("name") or "")),
                "subject_type": str(r.get("subject_type") or ""),
                "industry_code": _str(r.get("industry_code")),
                "region_code": region,
                "district_zh": _str(r.get("district_zh")) or regions.get(region, region),
                "address": scrub(a) if (a := _str(r.get("address"))) else None,
                "legal_rep_masked": _str(r.get("legal_rep_masked")),
                "registered_on": _date(r.get("registered_on")),
                "updated_at": now,
            }
        )
    return out


def push_grade_list(
    conn: sa.Connection,
    *,
    publication: Mapping[str, Any],
    rows: pd.DataFrame,
    notes: Mapping[str, Any],
    distribution: pd.DataFrame,
    migration: pd.DataFrame,
    organisations: pd.DataFrame,
    reasons: Mapping[str, list[dict]],
) -> PushResult:
    """Push one published grade list: the publication, its organisations (upserted: the newest
    push describes them) and its rows (:func:`scoring.grades.lists.grade_list`, plus
    ``upgrade_capped`` when known) with ``reasons`` (subject_id -> reasons with their records).
    A publication already pushed is left unchanged (``new`` False)."""
    pid = str(publication["publication_id"])
    if _has_publication(conn, pid):
        return PushResult(pid, "grade_list", int(len(rows)), False)
    orgs = organisations.set_index("subject_id") if "subject_id" in organisations.columns else organisations
    missing = sorted(set(rows["subject_id"]) - set(orgs.index))
    if missing:
        raise DataError(
            f"publication {pid}: {len(missing)} organisations of the list have no organisation row (e.g. {missing[0]})"
        )
    _upsert(
        conn, t.organisations, _organisation_rows(orgs.loc[rows["subject_id"].unique()].reset_index()), ("subject_id",)
    )
    conn.execute(
        t.publications.insert(),
        _publication_row(
            publication,
            n_rows=len(rows),
            notes=notes,
            distribution=_distribution_records(distribution),
            migration=_migration_dict(migration),
        ),
    )
    region = orgs["region_code"].astype(str)
    probs = [c for c in rows.columns if c.startswith("p_")]
    reason_cols = sorted((c for c in rows.columns if c.startswith("reason_")), key=lambda c: int(c.split("_")[1]))
    from scoring.features.industry import load_industries

    inds = load_industries()
    entries = []
    for r in rows.to_dict(orient="records"):
        sid = str(r["subject_id"])
        ind = inds.get(str(r.get("industry", "")))
        grade = str(r["grade"])
        note = ind.supervision[grade].note if ind is not None and grade in ind.supervision else None
        texts = [str(r[c]) if isinstance(r.get(c), str) else "" for c in reason_cols]
        entries.append(
            {
                "publication_id": pid,
                "subject_id": sid,
                "industry_code": str(r.get("industry", publication["scope"])),
                "region_code": str(region.get(sid, "")),
                "as_of": _date(r.get("as_of")) or _date(publication["as_of"]),
                "grade": grade,
                "model_grade": _str(r.get("model_grade")),
                "previous_grade": _str(r.get("previous_grade")),
                "previous_as_of": _date(r.get("previous_as_of")),
                "change": _str(r.get("change")),
                "veto": _str(r.get("veto")) or "",
                "veto_zh": _str(r.get("veto_zh")) or "",
                "new_entrant": bool(r.get("new_entrant") or False),
                "upgrade_capped": bool(r.get("upgrade_capped") or False),
                "risk": float(r["risk"]),
                "score": _float(r.get("score")),
                "probabilities": {c[2:]: _float(r[c]) for c in probs},
                "reasons": list(reasons.get(sid, []))[:TOP_REASONS],  # JSON-ready: database._json
                "reasons_zh": "\n".join(texts).rstrip("\n") if any(texts) else "",
                "rules": _str(r.get("rules")) or "",
                "sampling_ratio": _float(r.get("sampling_ratio")),
                "frequency": _str(r.get("frequency")),
                "supervision_note": note or None,
            }
        )
    _insert(conn, t.grade_entries, entries)
    return PushResult(pid, "grade_list", len(entries), True)


def push_scores(
    conn: sa.Connection,
    *,
    publication: Mapping[str, Any],
    rows: pd.DataFrame,
    items: Mapping[str, list[dict]],
    notes: Mapping[str, Any] | None = None,
) -> PushResult:
    """Push one published 信义金 snapshot. ``rows``: ``subject_key`` (the store's keyed pseudonym;
    an ID number is refused), status, points, reason, suspended_until (and as_of); ``items``:
    subject_key -> line items with their records. Already pushed: unchanged (``new`` False)."""
    pid = str(publication["publication_id"])
    if _has_publication(conn, pid):
        return PushResult(pid, "score_snapshot", int(len(rows)), False)
    if "subject_key" not in rows.columns:
        raise DataError(f"publication {pid}: score rows need subject_key (keyed pseudonyms), never the ID number")
    keys = rows["subject_key"].astype(str)
    raw = keys[keys.map(lambda k: mask_id(k) != k)]
    if len(raw):
        raise DataError(f"publication {pid}: {len(raw)} score rows carry an ID number, not a keyed pseudonym")
    conn.execute(t.publications.insert(), _publication_row(publication, n_rows=len(rows), notes=notes))
    entries = []
    for r in rows.to_dict(orient="records"):
        key = str(r["subject_key"])
        scored = r.get("status") == "scored"
        entries.append(
            {
                "publication_id": pid,
                "subject_key": key,
                "as_of": _date(r.get("as_of")) or _date(publication["as_of"]),
                "status": str(r.get("status")),
                "points": int(r["points"])
                if scored and r.get("points") is not None and not pd.isna(r["points"])
                else None,
                "reason": scrub(s) if (s := _str(r.get("reason"))) else None,
                "suspended_until": None if scored else _date(r.get("suspended_until")),
                "items": list(items.get(key, [])),  # JSON-ready: database._json
            }
        )
    _insert(conn, t.score_entries, entries)
    return PushResult(pid, "score_snapshot", len(entries), True)


def push_justification(
    conn: sa.Connection,
    publication_id: str,
    subject: str,
    summary: Mapping[str, Any],
    checked_at: dt.datetime | None = None,
) -> None:
    """Keep the justification summary of one published result (``scoring justify``: model version,
    data snapshot, configs, band evidence, match); ``subject``: USCC or keyed pseudonym (an ID
    number is refused). Pushed again: replaced by the newer check."""
    if mask_id(subject) != subject:
        raise DataError("a justification is kept under the subject's keyed pseudonym, never its ID number")
    keep = (
        "publication_id",
        "kind",
        "model",
        "data_snapshot",
        "published",
        "rederived",
        "match",
        "configs",
        "band_evidence",
        "metrics",
        "as_of",
    )
    row = {
        "publication_id": publication_id,
        "subject": subject,
        "summary": _jsonable({k: summary[k] for k in keep if k in summary}),
        "checked_at": checked_at or dt.datetime.now(dt.UTC).replace(tzinfo=None),
    }
    _upsert(conn, t.justifications, [row], ("publication_id", "subject"))


# -- what the store gives ------------------------------------------------------------------------
def organisations_of(store: Store, subject_ids: Iterable[str] | None = None) -> pd.DataFrame:
    """The organisations of the store as the serving database keeps them: subject_id, name,
    subject_type, industry_code (the configured industry, configs/industries: construction, ...; empty
    for an organisation of no configured industry), region_code, district_zh, address (住所, when the archive has it),
    legal_rep_masked (the linked person's name masked, never the ID number), registered_on."""
    has_address = "address" in set(store.sql("SELECT * FROM subjects LIMIT 0").columns)
    addr = "s.address" if has_address else "CAST(NULL AS VARCHAR)"
    df = store.sql(
        f"""SELECT s.subject_id, s.name, s.subject_type, s.industry_code, s.region_code, {addr} AS address,
            p.name AS rep_name, s.registered_on
        FROM subjects s LEFT JOIN subjects p ON p.subject_id = s.legal_rep_id AND p.subject_type = 'person'
        WHERE s.subject_type <> 'person'"""
    )
    if subject_ids is not None:
        df = df[df["subject_id"].isin(set(subject_ids))]
    from scoring.features.industry import industry_of, load_industries

    inds = load_industries()
    classes = {c: industry_of(c, inds) for c in df["industry_code"].dropna().unique()}
    df["industry_code"] = df["industry_code"].map(classes)  # the configured industry, not the GB/T class
    regions = load_regions()
    df["district_zh"] = df["region_code"].map(lambda c: regions.get(str(c), str(c)))
    df["legal_rep_masked"] = df.pop("rep_name").map(mask_name)
    return df.reset_index(drop=True)


def _label_of(catalog: Catalog, code: str) -> str:
    return catalog[code].name_zh if code in catalog else code


def records_by_subject(store: Store, spec, as_of: dt.date, subject_ids: Iterable[str]) -> dict[str, list[dict]]:
    """The records behind feature ``spec`` at ``as_of`` for many subjects at once (one query):
    subject_id -> records as :func:`scoring.features.builder.records_json` gives them for one
    subject (:func:`scoring.features.builder.records_behind`; ``via`` masked), an evaluation
    result (``latest_grade``) with its grade. Needs :func:`scoring.features.builder.prepare_views`."""
    from scoring.features.asof import counts_sql, link_valid_sql
    from scoring.features.definitions import LINK_KEYS
    from scoring.features.engine_duckdb import _mask as mask_sql

    ids = pd.DataFrame({"sid": sorted(set(subject_ids))})
    if ids.empty:
        return {}
    where = f"{counts_sql(f'DATE {chr(39)}{as_of}{chr(39)}')} AND NOT excluded AND {mask_sql(spec, as_of)}"
    cols = "record_type, event_date, document_no, agency, severity, amount, t_end AS expires_on"
    store.con.register("xinyi_push_ids", ids)
    try:
        if spec.link == "self":
            df = store.sql(
                f"""SELECT subject_id AS _subject, {cols} FROM xinyi_timeline
                WHERE subject_id IN (SELECT sid FROM xinyi_push_ids) AND {where} ORDER BY _subject, event_date"""
            )
        else:
            frm, to = LINK_KEYS[spec.link]
            valid = link_valid_sql("l", f"DATE '{as_of}'")
            df = store.sql(
                f"""SELECT l.{to} AS _subject, t.subject_id AS via, {cols} FROM xinyi_timeline t
                JOIN (SELECT DISTINCT organisation_id, person_id FROM xinyi_links l WHERE {valid}) l
                  ON l.{frm} = t.subject_id
                WHERE l.{to} IN (SELECT sid FROM xinyi_push_ids) AND {where} ORDER BY _subject, event_date"""
            )
            df["via"] = df["via"].map(mask_id)
        grades: dict[tuple, str] = {}
        if getattr(spec, "agg", None) == "latest_grade" and len(df):
            marks = ", ".join("?" for _ in spec.records)
            g = store.sql(
                "SELECT subject_id, record_type, event_date, document_no, grade FROM records "
                f"WHERE subject_id IN (SELECT sid FROM xinyi_push_ids) AND record_type IN ({marks}) AND grade IS NOT NULL",
                list(spec.records),
            )
            grades = {
                (r.subject_id, r.record_type, pd.Timestamp(r.event_date).date().isoformat(), r.document_no): r.grade
                for r in g.itertuples()
            }
    finally:
        store.con.unregister("xinyi_push_ids")
    out = _records_json_by(df, "_subject")
    if grades:
        for sid, recs in out.items():
            for rec in recs:
                gr = grades.get((sid, rec.get("record_type"), rec.get("event_date"), rec.get("document_no")))
                if gr is not None:
                    rec["grade"] = gr
    return out


def _records_json_by(df: pd.DataFrame, key: str) -> dict[str, list[dict]]:
    """:func:`scoring.features.builder.records_json` of every group of ``df`` by ``key`` at once
    (dates as ISO dates, missing values left out), in the frame's order."""
    cols = [c for c in df.columns if c != key]
    if df.empty:
        return {}
    data: dict[str, np.ndarray] = {}
    for c in cols:
        col = df[c]
        if pd.api.types.is_datetime64_any_dtype(col):
            data[c] = np.asarray(col.dt.strftime("%Y-%m-%d").astype(object).where(col.notna(), None).to_numpy())
        else:
            vals = col.astype(object).to_numpy()
            data[c] = np.array(
                [
                    None
                    if v is None or (not isinstance(v, str) and pd.isna(v))
                    else v.isoformat()[:10]
                    if isinstance(v, (dt.date, pd.Timestamp))
                    else v
                    for v in vals
                ],
                dtype=object,
            )
    out: dict[str, list[dict]] = {}
    rows = zip(*(data[c] for c in cols))
    for sid, row in zip(df[key].astype(str).to_numpy(), rows):
        out.setdefault(sid, []).append({c: v for c, v in zip(cols, row) if v is not None})
    return out


def grade_reasons(store: Store, pop, model, top: int = TOP_REASONS) -> dict[str, list[dict]]:
    """The reasons of every organisation of a graded population, as
    :func:`scoring.grades.explain.explain_organisation` gives them for one: the deciding veto first
    (kind ``veto``), then the top feature reasons (kind ``shap``), at most ``top`` in all, each with
    its records (``label_zh`` beside each record type) and ``records_zh``. Batched: the records
    behind each feature are read once for all organisations that cite it."""
    from scoring.features.builder import prepare_views
    from scoring.grades.lists import _ReasonTable, score_effects  # the reasons of many organisations at once
    from scoring.grades.wording import records_words, veto_words

    catalog = load_catalog()
    prepare_views(store, catalog)
    fset = pop.feature_set
    if fset is None:
        raise DataError("the graded population carries no feature set: grade it with grade_population")
    effects = score_effects(model, pop.contributions)
    index = pop.contributions.index
    reference = pop.reference if pop.reference is not None else {}
    table = _ReasonTable(pop, effects, fset, catalog, reference, index)
    vetoes = {v.code: v for v in pop.industry.vetoes}
    codes = pop.graded["veto"].reindex(index).fillna("").to_numpy()
    drafts: dict[str, list[dict]] = {}
    wanted: dict[str, set[str]] = {}
    for i, sid in enumerate(index):
        sid = str(sid)
        out: list[dict] = []
        v = vetoes.get(codes[i])
        if v is not None:
            x = pop.X.loc[sid, v.feature] if v.feature in pop.X.columns else None
            out.append(
                {
                    "kind": "veto",
                    "code": v.code,
                    "label_zh": v.label_zh,
                    "text": veto_words(v),
                    "feature": v.feature,
                    "value": _float(x),
                }
            )
            wanted.setdefault(v.feature, set()).add(sid)
        for fr in table.row(i, top - len(out)):
            out.append({"kind": "shap", **fr.to_dict()})
            wanted.setdefault(fr.feature, set()).add(sid)
        drafts[sid] = out
    records = {f: records_by_subject(store, fset[f], pop.as_of, subs) for f, subs in wanted.items() if f in fset.names}
    for sid, out in drafts.items():
        for r in out:
            recs = records.get(r["feature"], {}).get(sid, [])
            r["records_zh"] = records_words(recs, catalog)
            r["records"] = [{**rec, "label_zh": _label_of(catalog, str(rec.get("record_type", "")))} for rec in recs]
    return drafts


def score_items(store: Store, card, scores: pd.DataFrame, as_of: dt.date) -> dict[str, list[dict]]:
    """The line items of every scored person (subject_id -> items), as
    :func:`scoring.points.personal.explain_person` gives them for one: the items that can carry
    points, each with its bin and value in words and the records behind it. Batched: features and
    items computed once, the records behind each feature read in one query."""
    from scoring.features.builder import FeatureBuilder, prepare_views
    from scoring.points import wording

    catalog = load_catalog()
    scored = scores.loc[scores["status"] == "scored", "subject_id"].astype(str).tolist()
    if not scored:
        return {}
    builder = FeatureBuilder(store, subjects="persons", catalog=catalog)
    X = builder.at(as_of).values
    X = X.loc[X.index.intersection(scored), card.features_]
    items = card.items(X)
    prepare_views(store, catalog)
    feats = [f for f in card.features_ if int(card.max_points_.get(f, 0)) > 0]
    per_feature = {f: records_by_subject(store, builder.fset[f], as_of, X.index) for f in feats}
    bins = {f: np.asarray(card.binnings_[f].bin_index(X[f])) for f in feats}
    xs = {f: X[f].to_numpy(float) for f in feats}
    pts = {f: items[f].to_numpy() for f in feats}
    words: dict[tuple[str, int], str] = {}
    values: dict[tuple[str, float | None], tuple[str, bool]] = {}
    out: dict[str, list[dict]] = {}
    for row, sid in enumerate(str(s) for s in X.index):
        lines = []
        for f in feats:
            spec = builder.fset[f]
            idx = int(bins[f][row])
            raw = xs[f][row]
            value = None if np.isnan(raw) else float(raw)
            if (f, idx) not in words:
                words[(f, idx)] = wording.bin_words(spec, card.binnings_[f], idx, catalog)
            if (f, value) not in values:
                values[(f, value)] = (wording.value_words(spec, value, catalog), wording.is_none(spec, value))
            vz, none = values[(f, value)]
            lines.append(
                {
                    "feature": f,
                    "label_zh": spec.label_zh,
                    "value": value,
                    "value_zh": vz,
                    "none": none,
                    "bin": words[(f, idx)],
                    "note": wording.feature_note(spec),
                    "points": int(pts[f][row]),
                    "max_points": int(card.max_points_[f]),
                    "records": [wording.record_entry(r, catalog) for r in per_feature[f].get(sid, [])],
                }
            )
        out[sid] = lines
    return out


def _grade_payload(store: Store, pop, model, lst: pd.DataFrame) -> dict[str, Any]:
    from scoring.grades.lists import summary

    dist, mig = summary(lst)
    rows = lst.copy()
    rows["upgrade_capped"] = rows["subject_id"].map(pop.graded["upgrade_capped"]).fillna(False).astype(bool)
    return {
        "rows": rows,
        "distribution": dist,
        "migration": mig,
        "organisations": organisations_of(store, lst["subject_id"]),
        "reasons": grade_reasons(store, pop, model),
    }


def push_published_grade_list(
    conn: sa.Connection,
    store: Store,
    *,
    publication: Mapping[str, Any],
    pop,
    model,
    lst: pd.DataFrame,
    notes: Mapping[str, Any],
) -> PushResult:
    """Push a grade list just published (``pop``: the graded population, ``lst``: its list)."""
    pid = str(publication["publication_id"])
    if _has_publication(conn, pid):
        return PushResult(pid, "grade_list", int(len(lst)), False)
    return push_grade_list(conn, publication=publication, notes=notes, **_grade_payload(store, pop, model, lst))


def push_published_scores(
    conn: sa.Connection, store: Store, *, publication: Mapping[str, Any], card, scores: pd.DataFrame
) -> PushResult:
    """Push a score snapshot just published (``scores``: :func:`scoring.points.personal.score_persons`)."""
    pid = str(publication["publication_id"])
    if _has_publication(conn, pid):
        return PushResult(pid, "score_snapshot", int(len(scores)), False)
    day = _date(publication["as_of"])
    assert day is not None
    items = score_items(store, card, scores, day)
    key = store.pseudonym_key
    rows = scores.copy()
    rows["subject_key"] = [pseudonym(str(s), key) for s in rows["subject_id"]]
    keyed = {pseudonym(s, key): v for s, v in items.items()}
    return push_scores(
        conn,
        publication=publication,
        rows=rows.drop(columns="subject_id"),
        items=keyed,
        notes={"说明": "信义金评分快照：暂停计分者不给分数，只说明原因与期限"},
    )


def push_store(
    conn: sa.Connection,
    store: Store,
    *,
    tracking_uri: str | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> list[PushResult]:
    """Push every publication of ``store`` not yet in the serving database (oldest first),
    re-deriving what the store does not keep (the list's reasons, the line items) with the
    registered version the publication names (``tracking_uri``: the MLflow store, default the
    one beside the store). Grades, probabilities, vetoes and points are the published ones: a
    re-derivation that disagrees with the publication is refused (the archive changed since: push
    it when publishing, ``serving=``). Publications already pushed are skipped (``new`` False)."""
    from scoring.lineage.publish import publication as store_publication
    from scoring.lineage.publish import publications
    from scoring.lineage.tracking import default_tracking_uri

    uri = tracking_uri or default_tracking_uri(Path(store.path).parent)
    pubs = publications(store)
    results: list[PushResult] = []
    for pid, kind in zip(pubs["publication_id"], pubs["kind"]):
        n = int(pubs.loc[pubs["publication_id"] == pid, "n_rows"].iloc[0])
        if _has_publication(conn, str(pid)):
            results.append(PushResult(str(pid), str(kind), n, False))
            continue
        pub = store_publication(store, str(pid))
        progress(f"serving: pushing {pid}")
        if kind == "grade_list":
            results.append(_push_stored_grade_list(conn, store, pub, uri))
        elif kind == "score_snapshot":
            results.append(_push_stored_scores(conn, store, pub, uri))
        else:
            log.warning("publication %s: kind %s is not served; skipped", pid, kind)
    return results


def _published(store: Store, pid: str) -> pd.DataFrame:
    import json

    df = store.sql("SELECT subject_id, result, detail FROM published_results WHERE publication_id = ?", [pid])
    df["detail"] = df["detail"].map(json.loads)
    return df


def _registered(uri: str, pub: Mapping[str, Any]):
    from scoring.lineage.registry import load_registered

    model, reg = load_registered(uri, pub["model_name"], alias=None, version=pub["model_version"])
    content = getattr(model, "version_", pub["model_content_version"])
    if pub["model_content_version"] and content != pub["model_content_version"]:
        raise DataError(
            f"registered {pub['model_name']} v{pub['model_version']} is not the model of publication "
            f"{pub['publication_id']} (content {content} vs {pub['model_content_version']})"
        )
    return model, reg


def _push_stored_grade_list(conn: sa.Connection, store: Store, pub: dict, uri: str) -> PushResult:
    from scoring.grades.lists import grade_list, grade_population, list_notes

    model, reg = _registered(uri, pub)
    day = _date(pub["as_of"])
    pop = grade_population(store, model, day, industry=pub["scope"])
    lst = grade_list(pop, model)
    published = _published(store, pub["publication_id"]).set_index("subject_id")
    mine = lst.set_index("subject_id")["grade"]
    if set(mine.index) != set(published.index) or (mine.reindex(published.index) != published["result"]).any():
        raise DataError(
            f"publication {pub['publication_id']}: the archive changed since it was published, its grades cannot be "
            "re-derived here; publish with --serving (or push right after publishing)"
        )
    notes = list_notes(
        pop,
        model,
        registered=f"{reg.name} v{reg.version}",
        run_id=pub["run_id"],
        fingerprint=str(pub.get("store_fingerprint") or ""),
        configs=str(pub.get("config_bundle") or ""),
    )
    return push_published_grade_list(conn, store, publication=pub, pop=pop, model=model, lst=lst, notes=notes)


def _push_stored_scores(conn: sa.Connection, store: Store, pub: dict, uri: str) -> PushResult:
    from scoring.points.personal import score_persons

    card, _ = _registered(uri, pub)
    day = _date(pub["as_of"])
    assert day is not None
    scores = score_persons(store, card, day)
    published = _published(store, pub["publication_id"]).set_index("subject_id")["result"]
    derived = pd.Series(
        [str(int(p)) if s == "scored" else "suspended" for s, p in zip(scores["status"], scores["points"])],
        index=scores["subject_id"],
    )
    if set(derived.index) != set(published.index) or (derived.reindex(published.index) != published).any():
        raise DataError(
            f"publication {pub['publication_id']}: the archive changed since it was published, its scores cannot be "
            "re-derived here; publish with --serving (or push right after publishing)"
        )
    return push_published_scores(conn, store, publication=pub, card=card, scores=scores)
