"""Duplicate ranks on random archives: the ingest's repeats are exactly the definition's.

A row is DUPLICATE_EXACT when an earlier row of the same table has the same raw values, and
DUPLICATE_RECORD_ID / DUPLICATE_SUBJECT when an earlier row has the same id with other values.
The ingest finds repeats by joining only the ids seen more than once (scoring.archive.check._ranks);
here they are recomputed independently with pandas over the input in file order, on generated
archives (both profiles, planted errors) with exact repeats, changed repeats and rows without an id
added, and compared row for row.
"""

from __future__ import annotations

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring.archive.ingest import ingest
from scoring.archive.store import open_store
from scoring.sample.generator import generate_sample

ID = {"records": "record_id", "subjects": "subject_id"}
SAME_ID = {"records": "DUPLICATE_RECORD_ID", "subjects": "DUPLICATE_SUBJECT"}
CHANGED = {"records": "agency", "subjects": "name"}


def _hostile(df: pd.DataFrame, table: str, seed: int) -> pd.DataFrame:
    """The table with exact repeats, repeats of an id with other values and id-less rows (twice)."""
    exact = df.sample(min(len(df), 25), random_state=seed)
    other = df.sample(min(len(df), 15), random_state=seed + 1).copy()
    other[CHANGED[table]] = other[CHANGED[table]].astype(str) + "x"
    no_id = df.sample(min(len(df), 4), random_state=seed + 2).copy()
    no_id[ID[table]] = ""
    return pd.concat([df, exact, other, no_id, no_id]).sample(frac=1, random_state=seed).reset_index(drop=True)


def _expected(df: pd.DataFrame, table: str) -> dict[int, set[str]]:
    """Source row (1-based) -> the duplicate reasons the definition gives it."""
    raw = df.fillna("\x00null").astype(str).agg("\x1f".join, axis=1)
    key = df[ID[table]].fillna("").str.strip()
    seen_raw: set[str] = set()
    seen_id: set[str] = set()
    out: dict[int, set[str]] = {}
    for i, (r, k) in enumerate(zip(raw, key), start=1):
        reasons = set()
        if r in seen_raw:
            reasons.add("DUPLICATE_EXACT")
        elif k and k in seen_id:
            reasons.add(SAME_ID[table])
        seen_raw.add(r)
        if k:
            seen_id.add(k)
        if reasons:
            out[i] = reasons
    return out


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), profile=st.sampled_from(["realistic", "stress"]))
def test_duplicate_reasons_match_the_definition(tmp_path_factory, seed, profile):
    d = tmp_path_factory.mktemp("dups")
    generate_sample(d, seed=seed, persons=3000, organisations=800, profile=profile, plant_errors=True)
    tables = {}
    for table in ("subjects", "records"):
        (path,) = [p for p in d.iterdir() if p.stem == table]
        df = pd.read_csv(path, dtype=str, keep_default_na=False) if path.suffix == ".csv" else pd.read_parquet(path)
        df = _hostile(df.astype("string"), table, seed)
        path.unlink()
        df.to_parquet(d / f"{table}.parquet", index=False)
        tables[table] = df
    with open_store(d / "s.duckdb") as store:
        res = ingest([d], store)
        q = store.sql("SELECT table_name, source_row, reasons FROM quarantine")
    assert res.rows_read == res.accepted + res.quarantined == sum(len(t) for t in tables.values())
    for table, df in tables.items():
        dup = {r for t in SAME_ID.values() for r in (t, "DUPLICATE_EXACT")}
        got = {
            int(row): {x.split(":")[0] for x in reasons} & dup
            for row, reasons in zip(q[q.table_name == table].source_row, q[q.table_name == table].reasons)
        }
        got = {row: reasons for row, reasons in got.items() if reasons}
        assert got == _expected(df, table)
