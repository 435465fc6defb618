"""Exports that leave the store: feature files and (later) score and grade lists.

Raw ID numbers never leave the store: persons are exported under a keyed pseudonym
(``subject_key``); organisation codes (USCC) are public and exported as they are.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

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
        df.to_csv(p, index=False, encoding="utf-8")
    elif p.suffix.lower() in (".parquet", ".pq"):
        df.to_parquet(p, index=False)
    else:
        from scoring.core.errors import InputFileError

        raise InputFileError(f"{p}: write features as .parquet or .csv")
    meta = p.with_name(p.stem + ".meta.csv")
    fm.meta.to_csv(meta, index=False, encoding="utf-8")
    return p, meta
