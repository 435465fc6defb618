"""Published outputs (score snapshots, grade lists): kept, never overwritten.

Every publication records the registered model (name and version) and its content version, the
MLflow run, the as-of date, the store's latest ingest batch and fingerprint at publication (the data
snapshot), a content hash of the results, the files written, and the config bundle in force (配置版本:
every config file with its content, kept in the store by content hash, :mod:`scoring.lineage.configs`).
The results themselves (subject, result, detail) stay in the store, so raw ID numbers never leave it;
``scoring justify`` re-derives any of them later, with the configs that were in force.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import pandas as pd

from scoring.archive.snapshot import latest_batch
from scoring.archive.store import Store
from scoring.core.errors import NotFoundError, StoreError
from scoring.core.privacy import mask_id
from scoring.lineage.configs import ConfigBundle, capture, publication_bundle_hash, record_publication


def content_hash(kind: str, scope: str, as_of: dt.date, model: str, rows: pd.DataFrame) -> str:
    """sha256 of the publication's identity and its rows (subject, result, detail), order-independent."""
    h = hashlib.sha256(f"{kind}|{scope}|{as_of}|{model}\n".encode())
    for sid, res, det in sorted(zip(rows["subject_id"], rows["result"].astype(str), rows["detail"])):
        h.update(f"{sid}\t{res}\t{det}\n".encode())
    return h.hexdigest()


def detail_json(detail: dict | str) -> str:
    """A result's detail as stored: sorted-key JSON; a string is that JSON already (a row of an
    earlier publication, :func:`scoring.workflows.delta.base_rows`) and is kept as it is."""
    return detail if isinstance(detail, str) else json.dumps(detail, ensure_ascii=False, sort_keys=True)


def publication_id_of(
    kind: str, scope: str, as_of: dt.date, model_name: str, model_version: str, rows: pd.DataFrame
) -> str:
    """The id :func:`publish` gives these rows (known before publishing: a published file's 说明 names it)."""
    rows = rows[["subject_id", "result", "detail"]].copy()
    rows["detail"] = [detail_json(d) for d in rows["detail"]]
    digest = content_hash(kind, scope, as_of, f"{model_name}/{model_version}", rows)
    return f"{kind}-{scope}-{as_of.isoformat()}-{digest[:12]}"


def publish(
    store: Store,
    *,
    kind: str,
    scope: str,
    as_of: dt.date,
    rows: pd.DataFrame,
    model_name: str,
    model_version: str,
    model_content_version: str,
    run_id: str,
    files: list[Path] | tuple[Path, ...] = (),
    configs: ConfigBundle | None = None,
) -> dict:
    """Record a publication. ``rows``: subject_id, result, detail (dict); ``configs``: the config
    bundle the results were produced with (default: the configs in force now). Publishing identical
    content again returns the existing publication (with the bundle it recorded); nothing is ever
    replaced."""
    if store.read_only:
        raise StoreError(f"{store.path}: publishing needs the store opened for writing")
    bundle = configs if configs is not None else capture()
    rows = rows[["subject_id", "result", "detail"]].copy()
    rows["detail"] = [detail_json(d) for d in rows["detail"]]
    digest = content_hash(kind, scope, as_of, f"{model_name}/{model_version}", rows)
    pub_id = f"{kind}-{scope}-{as_of.isoformat()}-{digest[:12]}"  # as publication_id_of
    have = store.con.execute("SELECT count(*) FROM publications WHERE publication_id = ?", [pub_id]).fetchall()[0][0]
    record = {
        "publication_id": pub_id,
        "kind": kind,
        "scope": scope,
        "as_of": as_of.isoformat(),
        "model_name": model_name,
        "model_version": str(model_version),
        "model_content_version": model_content_version,
        "run_id": run_id,
        "content_hash": digest,
        "rows": int(len(rows)),
    }
    if have:
        return {**record, "new": False, **publication(store, pub_id)}
    batch = latest_batch(store)
    fingerprint = store.fingerprint()
    rows.insert(0, "publication_id", pub_id)
    store.con.execute("BEGIN TRANSACTION")
    try:
        store.con.execute(
            "INSERT INTO publications VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                pub_id,
                kind,
                scope,
                as_of,
                model_name,
                str(model_version),
                model_content_version,
                run_id,
                batch,
                fingerprint,
                digest,
                len(rows),
                dt.datetime.now(dt.UTC).replace(tzinfo=None),
                json.dumps([str(f) for f in files], ensure_ascii=False),
            ],
        )
        store.con.register("pub_rows", rows)
        store.con.execute(
            "INSERT INTO published_results SELECT publication_id, subject_id, result, detail FROM pub_rows"
        )
        store.con.unregister("pub_rows")
        record_publication(store, pub_id, bundle)
        store.con.execute("COMMIT")
    except BaseException:
        store.con.execute("ROLLBACK")
        raise
    return {
        **record,
        "new": True,
        "store_batch": batch,
        "store_fingerprint": fingerprint,
        "config_bundle": bundle.hash,
    }


def publication(store: Store, publication_id: str) -> dict:
    df = store.sql("SELECT * FROM publications WHERE publication_id = ?", [publication_id])
    if df.empty:
        raise NotFoundError(f"no publication {publication_id!r} in {store.path}")
    r = df.iloc[0].to_dict()
    r["as_of"] = pd.Timestamp(r["as_of"]).date().isoformat()
    r["created_at"] = str(r["created_at"])
    r["files"] = json.loads(r["files"])
    r["config_bundle"] = publication_bundle_hash(store, publication_id)  # None: published before bundles
    return r


def publications(store: Store) -> pd.DataFrame:
    return store.sql(
        "SELECT publication_id, kind, scope, as_of, model_name, model_version, run_id, n_rows, created_at "
        "FROM publications ORDER BY created_at"
    )


def published_result(store: Store, subject_id: str, as_of: dt.date, publication_id: str | None = None) -> dict:
    """The latest published result for a subject as of a date (or in a given publication)."""
    cond, args = ("p.publication_id = ?", [publication_id]) if publication_id else ("p.as_of = ?", [as_of])
    df = store.sql(
        f"""SELECT p.publication_id, r.result, r.detail FROM publications p
        JOIN published_results r USING (publication_id) WHERE r.subject_id = ? AND {cond}
        ORDER BY p.created_at DESC LIMIT 1""",
        [subject_id] + args,
    )
    if df.empty:
        raise NotFoundError(
            f"no published result for {mask_id(subject_id)} as of {as_of}: check the subject and the date, or "
            "publish first (`scoring points score --publish` / `scoring grades list --publish`)"
        )
    row = df.iloc[0]
    return {**publication(store, row["publication_id"]), "result": row["result"], "detail": json.loads(row["detail"])}


def grade_rows(graded: pd.DataFrame) -> pd.DataFrame:
    """Publication rows of a graded population (:func:`scoring.grades.lists.grade_population`)."""
    probs = [c for c in graded.columns if c.startswith("p_")]
    detail = [
        {
            "probabilities": {c[2:]: float(r[c]) for c in probs},
            "risk": float(r["risk"]),
            "veto": r["veto"],
            "model_grade": r["model_grade"],
            "previous_grade": r["previous_grade"] if isinstance(r["previous_grade"], str) else None,
        }
        for _, r in graded.iterrows()
    ]
    return pd.DataFrame({"subject_id": graded.index, "result": graded["grade"].to_numpy(), "detail": detail})


def score_rows(scores: pd.DataFrame) -> pd.DataFrame:
    """Publication rows of a 信义金 score snapshot (:func:`scoring.points.personal.score_persons`, or
    the registered card's pyfunc output with a ``subject_id`` column): the points, or ``suspended``
    with the reason and the earliest end date (empty: open-ended) — never a number."""
    result = [str(int(p)) if s == "scored" else "suspended" for s, p in zip(scores["status"], scores["points"])]
    until = scores["suspended_until"] if "suspended_until" in scores else [None] * len(scores)
    detail = [
        {
            "status": s,
            "reason": r if isinstance(r, str) else None,
            "suspended_until": None if u is None or pd.isna(u) or s != "suspended" else str(u),
        }
        for s, r, u in zip(scores["status"], scores["reason"], until)
    ]
    return pd.DataFrame({"subject_id": scores["subject_id"].to_numpy(), "result": result, "detail": detail})
