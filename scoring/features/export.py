"""Exports that leave the store: feature files and (later) score and grade lists.

Exports are inert (no text cell can act as a spreadsheet formula: scoring.core.inert). Raw ID numbers never leave the store: persons are exported under a keyed pseudonym
(``subject_key``); organisation codes (USCC) are public and exported as they are.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from scoring.core.errors import DataError
from scoring.core.inert import write_csv
from scoring.core.privacy import _ID_PATTERN, pseudonym


def subject_keys(ids: pd.Index | pd.Series, key: bytes) -> list[str]:
    """Pseudonyms for person ID numbers; other identifiers unchanged."""
    return [pseudonym(s, key) if _ID_PATTERN.fullmatch(str(s)) else str(s) for s in ids]


def write_features(fm, out: str | Path, key: bytes) -> tuple[Path, Path]:
    """Write a FeatureMatrix to .parquet or .csv, with its metadata as <stem>.meta.csv beside it."""
    p = Path(out)
    p.parent.mkdir(parents=True, exist_ok=True)
    df = fm.values.reset_index()
    df.insert(0, "subject_key", subject_keys(df.pop("subject_id"), key))
    df.insert(1, "as_of", fm.as_of)
    if p.suffix.lower() == ".csv":
        write_csv(df, p)
    elif p.suffix.lower() in (".parquet", ".pq"):
        df.to_parquet(p, index=False)
    else:
        raise DataError(f"{p}: write features as .parquet or .csv")
    meta = p.with_name(p.stem + ".meta.csv")
    write_csv(fm.meta, meta)
    return p, meta
