"""Archive workflows: ingest an archive, look at a store, build point-in-time feature vectors."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import pandas as pd

from scoring.archive.ingest import IngestResult
from scoring.archive.parquet import ParquetCopy
from scoring.archive.store import Store, open_store
from scoring.features.builder import FeatureMatrix
from scoring.workflows.workspace import Progress, check_date, quiet

UsccMode = Literal["strict", "allowlist", "warn"]


def default_report_path(store_path: Path) -> Path:
    """The quality report beside the store: ``<store>_quality_report.json``."""
    return store_path.with_name(store_path.stem + "_quality_report.json")


def ingest_archive(
    store_path: str | Path,
    files: list[Path],
    *,
    export_date: dt.date | None = None,
    uscc_mode: UsccMode | None = None,
    encoding: str | None = None,
    report_path: str | Path | None = None,
    progress: Progress = quiet,
) -> IngestResult:
    """Load archive files (or folders) into the store (created if missing); bad rows go to
    quarantine; the quality report is written to ``report_path`` (default beside the store).

    The ingest runs on a new version of the store file and switches to it atomically
    (:func:`scoring.archive.ingest.ingest_path`), so readers keep the last committed state meanwhile.
    ``encoding`` forces the text encoding of CSV files (detected otherwise: UTF-8, GB18030/GBK, UTF-16)."""
    from scoring.archive.ingest import ingest_path, load_ingest_config

    cfg = load_ingest_config()
    if uscc_mode is not None:
        cfg = cfg.model_copy(update={"uscc_mode": uscc_mode})
    path = Path(store_path)
    return ingest_path(
        path,
        files,
        export_date=export_date,
        config=cfg,
        encoding=encoding,
        report_path=Path(report_path) if report_path else default_report_path(path),
        progress=progress,
    )


def open_sample_store(workdir: str | Path, sample: str | Path | None = None) -> Store:
    """The store at ``<workdir>/store.duckdb`` with the sample archive ingested (once), its quality
    report in ``<workdir>/reports/``: what the notebooks start from. Close it (or use ``with``)."""
    from scoring.archive.ingest import ingest
    from scoring.core.resources import sample_dir

    st = open_store(Path(workdir) / "store.duckdb")
    if st.count("ingest_batches") == 0:
        ingest([sample_dir(sample)], st, report_path=Path(workdir) / "reports" / "quality_report.json")
    return st


@dataclass(frozen=True)
class StoreInfo:
    """Counts, fingerprint and the last ingest batch of a store."""

    summary: dict
    last_batch: dict | None

    def to_dict(self) -> dict:
        return {**self.summary, "last_batch": self.last_batch}


def store_info(store: Store) -> StoreInfo:
    last = store.last_report()
    keep = ("batch_id", "rows_read", "accepted", "quarantined")
    return StoreInfo(store.summary(), {k: last[k] for k in keep if k in last} if last else None)


def export_store_parquet(store: Store, folder: str | Path | None = None, buckets: int | None = None) -> ParquetCopy:
    """Write the store's Parquet copy (:mod:`scoring.archive.parquet`: records, subjects and links
    bucketed by subject, what the Spark engine reads) to ``folder`` (default ``<store>.parquet/``
    beside the store). A store-side artefact: raw IDs inside, like the store's own file."""
    from scoring.archive.parquet import DEFAULT_BUCKETS, export_parquet
    from scoring.features.builder import links_sql

    return export_parquet(store, folder, buckets=buckets or DEFAULT_BUCKETS, links_query=links_sql(store))


def quarantine_rows(store: Store, reason: str | None = None, limit: int = 50) -> pd.DataFrame:
    """Quarantined rows (file name, row, reason, field, detail, original values), at most ``limit``;
    ID numbers masked and control characters removed from every value
    (:func:`scoring.archive.quality.quarantine_listing`)."""
    from scoring.archive.quality import quarantine_listing

    rows = quarantine_listing(store, reason, limit)
    cols = ["table_name", "source_file", "source_row", "reason", "field", "detail", "original"]
    return pd.DataFrame(rows, columns=cols) if rows else pd.DataFrame(columns=cols)


@dataclass(frozen=True)
class FeaturesResult:
    """Feature vectors written to a file, with their metadata beside it."""

    matrix: FeatureMatrix
    out: Path
    meta: Path

    def to_dict(self) -> dict:
        fm = self.matrix
        return {
            "as_of": fm.as_of.isoformat(),
            "feature_set": fm.feature_set,
            "engine": fm.engine,
            "subjects": int(fm.values.shape[0]),
            "features": int(fm.values.shape[1]),
            "out": str(self.out),
            "meta": str(self.meta),
        }


def build_feature_vectors(
    store: Store,
    as_of: dt.date | str,
    out: str | Path,
    *,
    subjects: str = "persons",
    industry: str | None = None,
    engine: str = "polars",
) -> FeaturesResult:
    """Point-in-time features of every subject as of a date (not after the export date), written
    to ``out`` (.parquet or .csv) under keyed pseudonyms, with ``<stem>.meta.csv`` beside it."""
    from scoring.features.builder import build_features
    from scoring.features.export import write_features

    day = check_date(store, as_of)
    if industry is not None:
        from scoring.workflows.grades import industry_config

        industry_config(industry)
    fm = build_features(store, day, subjects=subjects, industry=industry, engine=engine)
    path, meta = write_features(fm, out, store.pseudonym_key)
    return FeaturesResult(fm, Path(path), Path(meta))
