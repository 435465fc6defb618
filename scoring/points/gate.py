"""信用底线 — the bottom-line gate of the 信义金 score (configs/points/gate.yaml).

While a person has a counting record of a gate list type (严重失信主体名单, 失信被执行人) at the
scoring date, the score is suspended: it is reported as suspended, with the reason and the
earliest date the suspension can end, never as a number. It starts on the list entry date and ends
on the exit date (or the end of the default listing period), exactly as the as-of rule says. The exit
date may be a planned one after the export date (a court's extension of a 失信被执行人 listing): the
suspension lasts until then, not until the end of the default two years.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel, ConfigDict

from scoring.archive.catalog import Catalog, load_catalog
from scoring.archive.store import Store
from scoring.core.config import config_dir, load_model
from scoring.core.errors import ConfigError
from scoring.features.asof import counts_sql


class GateConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    enabled: bool = True
    record_types: list[str]


def load_gate(path: str | Path | None = None, catalog: Catalog | None = None) -> GateConfig:
    p = Path(path) if path is not None else config_dir() / "points" / "gate.yaml"
    cfg = load_model(GateConfig, p)
    catalog = catalog or load_catalog()
    for code in cfg.record_types:
        if code not in catalog or not catalog[code].list_type:
            raise ConfigError(f"{p}: record_types: {code!r} is not a list-type record type of the catalogue")
    return cfg


def suspensions(
    store: Store, as_of: dt.date, gate: GateConfig, catalog: Catalog, subject_id: str | None = None
) -> pd.DataFrame:
    """One row per suspended person: subject_id, reason (Chinese), suspended_until (NaT: open-ended,
    until the person is removed from the list by its own procedure), documents. ``subject_id``: that
    person only (their own records, not the population's)."""
    cols = ["subject_id", "reason", "suspended_until", "documents"]
    if not gate.enabled or not gate.record_types:
        return pd.DataFrame(columns=cols)
    from scoring.features.builder import prepare_views

    prepare_views(store, catalog)
    types = ", ".join(f"'{c}'" for c in gate.record_types)
    one = "" if subject_id is None else "AND t.subject_id = ?"
    df = store.sql(
        f"""
        SELECT t.subject_id, t.record_type, t.document_no, t.t_end
        FROM xinyi_timeline t JOIN subjects s USING (subject_id)
        WHERE s.subject_type = 'person' AND t.record_type IN ({types}) AND {counts_sql(f"DATE '{as_of}'")} {one}
        ORDER BY t.subject_id, t.record_type, t.document_no
    """,
        None if subject_id is None else [subject_id],
    )
    return _suspension_rows(df, catalog)


def gate_records(timeline: Any, subject_id: str | Iterable[str], as_of: dt.date, gate: GateConfig) -> Any:
    """The counting gate-list rows at ``as_of`` of a person (or of a set of persons) from their
    timeline rows already read (a Polars frame of
    :meth:`scoring.features.builder.FeatureBuilder.subjects_frames`)."""
    import polars as pl

    from scoring.features.engine_polars import counts_expr

    ids = [subject_id] if isinstance(subject_id, str) else sorted(set(subject_id))
    return timeline.filter(
        pl.col("subject_id").is_in(ids) & pl.col("record_type").is_in(list(gate.record_types)) & counts_expr(as_of)
    )


def suspensions_in(
    timeline: Any, subject_id: str | Iterable[str], as_of: dt.date, gate: GateConfig, catalog: Catalog
) -> pd.DataFrame:
    """:func:`suspensions` for one person (or a set of persons) from their timeline rows already read
    (:func:`gate_records`): the same rows."""
    if not gate.enabled or not gate.record_types:
        return _suspension_rows(pd.DataFrame(columns=["subject_id", "record_type", "document_no", "t_end"]), catalog)
    rows = (
        gate_records(timeline, subject_id, as_of, gate)
        .select("subject_id", "record_type", "document_no", "t_end")
        .sort("subject_id", "record_type", "document_no")
        .to_pandas()
    )
    return _suspension_rows(rows, catalog)


def _suspension_rows(df: pd.DataFrame, catalog: Catalog) -> pd.DataFrame:
    cols = ["subject_id", "reason", "suspended_until", "documents"]
    rows = []
    for sid, g in df.groupby("subject_id"):
        names = "、".join(dict.fromkeys(catalog[c].name_zh for c in g["record_type"]))
        open_ended = g["t_end"].isna().any()
        rows.append(
            {
                "subject_id": sid,
                "reason": f"列入{names}期间，信义金暂停计分",
                "suspended_until": pd.NaT if open_ended else pd.Timestamp(g["t_end"].max()).date(),
                "documents": ", ".join(sorted(g["document_no"].dropna().astype(str))),
            }
        )
    return pd.DataFrame(rows, columns=cols)
