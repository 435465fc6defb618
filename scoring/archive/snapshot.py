"""The archive as it was known after a given ingest batch (数据快照), for a few subjects.

Ingestion replaces updated rows and keeps the replaced versions in ``subjects_history`` and
``records_history`` (with the batch that replaced them), so the version of every row that was
current after batch B is: the current row if it came in B or earlier, else the history row that came
in B or earlier and was replaced after B. ``snapshot`` copies those versions for some subjects (and
the subjects linked to them, whose records linked features read) into a small store of its own, on
which features, scores and grades are re-derived exactly as they were when a result was published —
whatever arrived in the store since. The link history (``links``) is taken as it was known then too:
links opened by batch B or earlier, with the closings of those batches only.
"""

from __future__ import annotations

from pathlib import Path

from scoring.archive.store import BACKFILL_LINKS, Store, open_store
from scoring.core.errors import NotFoundError


def latest_batch(store: Store) -> str:
    rows = store.con.execute(
        "SELECT batch_id FROM ingest_batches ORDER BY finished_at DESC, batch_id DESC LIMIT 1"
    ).fetchall()
    if not rows:
        raise NotFoundError(f"{store.path}: the store has no ingest batch yet")
    return rows[0][0]


def batches_until(store: Store, batch_id: str) -> list[str]:
    """The batches finished at or before ``batch_id`` (in order)."""
    rows = store.con.execute("SELECT finished_at FROM ingest_batches WHERE batch_id = ?", [batch_id]).fetchall()
    if not rows:
        raise NotFoundError(f"{store.path}: no ingest batch {batch_id!r}")
    return [
        r[0]
        for r in store.con.execute(
            "SELECT batch_id FROM ingest_batches WHERE finished_at <= ? ORDER BY finished_at, batch_id", [rows[0][0]]
        ).fetchall()
    ]


def _has(store: Store, table: str) -> bool:
    return bool(
        store.con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = ?", [table]).fetchall()[0][
            0
        ]
    )


def _columns(store: Store, table: str) -> list[str]:
    return [
        r[0]
        for r in store.con.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position", [table]
        ).fetchall()
    ]


def _as_known(store: Store, table: str, known: str, where: str) -> str:
    cols = ", ".join(f'"{c}"' for c in _columns(store, table))
    q = f"SELECT {cols} FROM {table} WHERE batch_id IN ({known}) AND {where}"
    if _has(store, f"{table}_history"):
        q += (
            f" UNION ALL SELECT {cols} FROM {table}_history WHERE batch_id IN ({known}) "
            f"AND superseded_batch NOT IN ({known}) AND {where}"
        )
    return q


def snapshot(store: Store, batch_id: str, subject_ids: list[str], path: str | Path) -> Store:
    """A new store at ``path`` holding, for ``subject_ids`` and the subjects linked to them, every
    subject and record row as it was after ``batch_id``. The caller closes it."""
    batches = batches_until(store, batch_id)
    known = ", ".join(f"'{b}'" for b in batches)
    ids = ", ".join("'" + s.replace("'", "''") + "'" for s in subject_ids)
    sub_cols = "subject_id, legal_rep_id, actual_controller_id"
    links = f"""
        SELECT DISTINCT x FROM (
            SELECT subject_id AS x FROM (SELECT {sub_cols} FROM subjects
                {"UNION ALL SELECT " + sub_cols + " FROM subjects_history" if _has(store, "subjects_history") else ""})
            WHERE subject_id IN ({ids}) OR legal_rep_id IN ({ids}) OR actual_controller_id IN ({ids})
            UNION SELECT legal_rep_id FROM subjects WHERE subject_id IN ({ids})
            UNION SELECT actual_controller_id FROM subjects WHERE subject_id IN ({ids}))
        WHERE x IS NOT NULL"""
    if _has(store, "links"):  # every person ever linked to them, and every organisation ever linked
        links += f"""
        UNION SELECT person_id FROM links WHERE organisation_id IN ({ids})
        UNION SELECT organisation_id FROM links WHERE person_id IN ({ids})"""
    closure = [r[0] for r in store.con.execute(links).fetchall()]
    repr_ids = ["'" + s.replace("'", "''") + "'" for s in closure or ["\u0000"]]
    within = "subject_id IN (" + ", ".join(repr_ids) + ")"
    subjects = store.arrow(_as_known(store, "subjects", known, within))
    records = store.arrow(_as_known(store, "records", known, within))
    batches_tbl = store.arrow(f"SELECT * FROM ingest_batches WHERE batch_id IN ({known})")
    # the link history as known after the batch: links it had opened, closed only if closed by then
    links_tbl = (
        store.arrow(f"""
        SELECT organisation_id, person_id, role, valid_from,
               CASE WHEN closed_batch IN ({known}) THEN valid_to END AS valid_to, opened_batch,
               CASE WHEN closed_batch IN ({known}) THEN closed_batch END AS closed_batch
        FROM links WHERE opened_batch IN ({known})
          AND organisation_id IN ({", ".join(repr_ids)}) AND person_id IN ({", ".join(repr_ids)})""")
        if _has(store, "links")
        else None
    )
    snap = open_store(path)
    snap.changed()
    try:
        snap.con.execute("DELETE FROM links")  # the new store's own (empty) backfill
        tables = [("subjects", subjects), ("records", records), ("ingest_batches", batches_tbl)]
        for name, tbl in tables + ([("links", links_tbl)] if links_tbl is not None else []):
            snap.con.register("snap_in", tbl)
            snap.con.execute(f"INSERT INTO {name} BY NAME SELECT * FROM snap_in")
            snap.con.unregister("snap_in")
        if links_tbl is None:  # a store from before the link history: its subjects' links, throughout
            snap.con.execute(f"INSERT INTO links {BACKFILL_LINKS}")
        snap.con.execute("UPDATE meta SET value = ? WHERE key = 'pseudonym_key'", [store.pseudonym_key.hex()])
    except BaseException:
        snap.close()
        raise
    return snap
