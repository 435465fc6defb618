"""Point-in-time feature vectors: one row per subject as of any date (时点特征).

>>> from scoring.archive.store import open_store
>>> from scoring.features.builder import build_features
>>> fm = build_features(open_store("work/store.duckdb"), "2025-06-30", subjects="organisations")
>>> fm.values        # subject_id x features (pandas)
>>> fm.meta          # basis, direction, labels and window of every column

Records count only as the as-of rule says (:mod:`scoring.features.asof`); a person's opt-out of positive
items is honoured. The default engine is Polars; ``engine="duckdb"`` compiles the same definitions
to SQL, ``engine="spark"`` to Spark SQL over the store's Parquet copy (the three are tested to agree).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import uuid
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import polars as pl
import pyarrow as pa

from scoring.archive.catalog import Catalog, load_catalog
from scoring.archive.store import Store
from scoring.core.errors import ConfigError
from scoring.core.privacy import mask_id
from scoring.features import engine_duckdb, engine_polars
from scoring.features.asof import TIMELINE_COLUMNS as _TIMELINE_COLUMNS
from scoring.features.asof import counts_sql, link_valid_sql, periods_table, timeline_sql
from scoring.features.definitions import LINK_KEYS, FeatureSet, _catalog_key, feature_set_for
from scoring.features.engine_duckdb import _mask as mask_sql
from scoring.features.industry import load_industries

ENGINES = ("polars", "duckdb", "spark")
#: the timeline columns the features read (:data:`scoring.features.asof.TIMELINE_COLUMNS`)
TIMELINE_COLUMNS = list(_TIMELINE_COLUMNS)
#: the columns a record is shown with (records_behind), beside the timeline's
SHOWN_COLUMNS = ["record_type", "event_date", "document_no", "agency", "severity", "amount", "t_end"]
#: the catalogue (its content hash) each open store's temporary views were made for (see prepare_views)
_VIEWS_FOR: weakref.WeakKeyDictionary[Store, str] = weakref.WeakKeyDictionary()


@dataclass
class FeatureMatrix:
    """Features of one population at one date, with the metadata of every column."""

    values: pd.DataFrame  # index: subject_id
    meta: pd.DataFrame
    as_of: dt.date
    feature_set: str
    engine: str

    def build_table(self) -> pd.DataFrame:
        """Per feature: label, direction, basis and how many subjects have a non-zero value."""
        nz = (self.values.fillna(0) != 0).sum()
        t = self.meta[["feature", "label_zh", "direction", "window", "basis"]].copy()
        t["non_zero"] = t["feature"].map(nz).astype(int)
        return t


def _as_date(d: dt.date | str) -> dt.date:
    return dt.date.fromisoformat(d) if isinstance(d, str) else d


def links_sql(store: Store) -> str:
    """Person-organisation links with their validity (organisation_id, person_id, valid_from,
    valid_to: a link counts on day D when valid_from <= D < valid_to, NULL meaning open): the
    store's link history, or for a store from before it (opened read-only) its subjects' links,
    valid throughout."""
    has = store.con.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'links' AND table_schema = 'main' "
        "AND table_catalog = current_database()"
    ).fetchall()[0][0]
    if has:
        return "SELECT DISTINCT organisation_id, person_id, valid_from, valid_to FROM links"
    return """SELECT subject_id AS organisation_id, legal_rep_id AS person_id, CAST(NULL AS DATE) AS valid_from,
            CAST(NULL AS DATE) AS valid_to FROM subjects WHERE legal_rep_id IS NOT NULL
        UNION SELECT subject_id, actual_controller_id, NULL, NULL FROM subjects WHERE actual_controller_id IS NOT NULL"""


def prepare_views(store: Store, catalog: Catalog) -> None:
    """Temporary views over the store: ``xinyi_timeline`` (every record with its as-of interval,
    see :mod:`scoring.features.asof`) and ``xinyi_links`` (organisation_id, person_id, valid_from,
    valid_to: :func:`links_sql`).

    The views read the store's tables live, so they stay valid as records arrive; only the
    publicity table depends on the catalogue, so they are created once per connection and
    catalogue content."""
    key = _catalog_key(catalog)  # the content: an edited copy of the catalogue keeps its version string
    if _VIEWS_FOR.get(store) == key:
        return
    con = store.con
    con.register("xinyi_periods_df", periods_table(catalog))
    con.execute("CREATE OR REPLACE TEMP TABLE xinyi_periods AS SELECT * FROM xinyi_periods_df")
    con.unregister("xinyi_periods_df")
    con.execute(f"CREATE OR REPLACE TEMP VIEW xinyi_timeline AS {_timeline_select()}")
    con.execute(f"CREATE OR REPLACE TEMP VIEW xinyi_links AS {links_sql(store)}")
    _VIEWS_FOR[store] = key


def _timeline_select(where: str = "") -> str:
    """The timeline of every record (``xinyi_timeline``), or of the records of the subjects a
    ``where`` (over ``r`` and ``s``) keeps, filtered before the publicity join."""
    base = (
        "(SELECT r.*, coalesce(s.positive_opt_out, false) AS opt_out FROM records r JOIN subjects s "
        f"USING (subject_id) {where})"
    )
    return f"SELECT *, (opt_out_eligible AND opt_out) AS excluded FROM ({timeline_sql(base, 'xinyi_periods')})"


@contextlib.contextmanager
def ids_view(store: Store, ids: Iterable[str]) -> Iterator[str]:
    """A set of subject ids as a one-column view (``subject_id``) of the store's connection for the
    ``with`` block: its name, to join or ``IN (SELECT subject_id FROM name)`` (the ids never pasted
    into the SQL)."""
    name = f"xinyi_ids_{uuid.uuid4().hex}"
    store.con.register(name, pa.table({"subject_id": pa.array(list(ids), type=pa.string())}))
    try:
        yield name
    finally:
        store.con.unregister(name)


class FeatureBuilder:
    """Load the store's record timelines once, then compute features at any number of dates."""

    def __init__(
        self,
        store: Store,
        subjects: str = "persons",
        industry: str | None = None,
        engine: str = "polars",
        catalog: Catalog | None = None,
        feature_dir: str | Path | None = None,
    ):
        if engine not in ENGINES:
            raise ConfigError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
        if engine == "spark":  # pyspark and Java, checked now: a ConfigError that says what to install
            from scoring.core.spark import spark_session

            spark_session()
        self.store, self.engine, self.subjects = store, engine, subjects
        self.catalog = catalog or load_catalog()
        self.fset: FeatureSet = feature_set_for(subjects, industry, feature_dir, self.catalog)
        self.industry = industry
        self.classes: tuple[str, ...] = ()
        if industry:
            inds = load_industries()
            if industry not in inds:
                raise ConfigError(f"unknown industry {industry!r}; known: {', '.join(sorted(inds))}")
            self.classes = inds[industry].gbt4754
        self.meta = self.fset.metadata(self.catalog)
        prepare_views(store, self.catalog)
        self._timeline: pl.DataFrame | None = None
        self._links: pl.DataFrame | None = None

    def population_sql(self, as_of: dt.date) -> str:
        if self.fset.name == "person":
            return "SELECT subject_id FROM subjects WHERE subject_type = 'person'"
        where = f"subject_type <> 'person' AND (registered_on IS NULL OR registered_on <= DATE '{as_of}')"
        if self.classes:
            where += " AND industry_code IN (" + ", ".join(f"'{c}'" for c in self.classes) + ")"
        return f"SELECT subject_id FROM subjects WHERE {where}"

    def at(self, as_of: dt.date | str) -> FeatureMatrix:
        """The feature matrix as of ``as_of``."""
        as_of = _as_date(as_of)
        con = self.store.con
        pop_sql = self.population_sql(as_of)
        if self.engine == "polars":
            if self._timeline is None or self._links is None:
                cols = ", ".join(TIMELINE_COLUMNS)
                self._timeline = self.store.polars(f"SELECT {cols} FROM xinyi_timeline")
                self._links = self.store.polars("SELECT * FROM xinyi_links")
            population = self.store.polars(pop_sql)
            df = engine_polars.compute(self._timeline, self._links, population, self.fset, as_of).to_pandas()
        elif self.engine == "spark":
            # the store's Parquet copy (written again when the store has changed), opened once
            from scoring.features import engine_spark

            if getattr(self, "_spark", None) is None:
                self._spark = engine_spark.open_store_copy(self.store, self.catalog, links_sql(self.store))
            df = self._spark.features(self.fset, as_of, pop_sql)
        else:
            con.execute(f"CREATE OR REPLACE TEMP VIEW xinyi_population AS {pop_sql}")
            df = engine_duckdb.compute(con, "xinyi_timeline", "xinyi_links", "xinyi_population", self.fset, as_of)
        values = df.set_index("subject_id").sort_index()
        values = values.astype("float64")
        return FeatureMatrix(values, self.meta, as_of, self.fset.name, self.engine)

    def subject_frames(self, subject_id: str) -> tuple[pl.DataFrame, pl.DataFrame]:
        """(timeline, links) of one subject: :meth:`subjects_frames` of ``[subject_id]``."""
        return self.subjects_frames([subject_id])

    def subjects_frames(self, subject_ids: Iterable[str]) -> tuple[pl.DataFrame, pl.DataFrame]:
        """(timeline, links) of a set of subjects: the timeline rows of the subjects and of the subjects
        linked to any of them (法定代表人/实际控制人, every link of their history), with the columns
        records are shown with, and those links. Only those rows are read (the ids travel as an Arrow
        table joined to ``records``, never pasted into the SQL)."""
        ids = sorted({str(s) for s in subject_ids})
        with ids_view(self.store, ids) as name:
            links = self.store.polars(
                f"SELECT * FROM xinyi_links WHERE person_id IN (SELECT subject_id FROM {name}) "
                f"OR organisation_id IN (SELECT subject_id FROM {name})"
            )
        every = sorted({*ids, *links["organisation_id"].to_list(), *links["person_id"].to_list()})
        with ids_view(self.store, every) as name:
            cols = ", ".join(TIMELINE_COLUMNS + [c for c in SHOWN_COLUMNS if c not in TIMELINE_COLUMNS])
            some = _timeline_select(f"WHERE r.subject_id IN (SELECT subject_id FROM {name})")
            timeline = self.store.polars(f"SELECT {cols} FROM ({some}) ORDER BY subject_id, record_id")
        return timeline, links

    def at_subject(
        self, as_of: dt.date | str, subject_id: str, frames: tuple[pl.DataFrame, pl.DataFrame] | None = None
    ) -> FeatureMatrix:
        """The feature vector of one subject as of ``as_of``: :meth:`at_subjects` of ``[subject_id]``
        (``frames``: :meth:`subject_frames` already read)."""
        return self.at_subjects(as_of, [subject_id], frames)

    def at_subjects(
        self,
        as_of: dt.date | str,
        subject_ids: Iterable[str],
        frames: tuple[pl.DataFrame, pl.DataFrame] | None = None,
    ) -> FeatureMatrix:
        """The feature vectors of a set of subjects as of ``as_of``, computed from those subjects'
        records and those of the subjects linked to them only (:meth:`subjects_frames`, or ``frames``
        already read for a superset of them), never the population's: the same values as
        ``at(as_of).values.loc[ids]`` (Polars engine) for the ids in the population at ``as_of``;
        ids outside it (an organisation registered later, a person asked for organisation features)
        get no row."""
        as_of = _as_date(as_of)
        ids = sorted({str(s) for s in subject_ids})
        timeline, links = frames if frames is not None else self.subjects_frames(ids)
        with ids_view(self.store, ids) as name:
            population = self.store.polars(
                f"SELECT subject_id FROM ({self.population_sql(as_of)}) WHERE subject_id IN (SELECT subject_id FROM {name})"
            )
        df = engine_polars.compute(timeline.select(TIMELINE_COLUMNS), links, population, self.fset, as_of)
        values = df.to_pandas().set_index("subject_id").sort_index().astype("float64")
        return FeatureMatrix(values, self.meta, as_of, self.fset.name, "polars")


def build_features(
    store: Store,
    as_of: dt.date | str,
    *,
    subjects: str = "persons",
    industry: str | None = None,
    engine: str = "polars",
    catalog: Catalog | None = None,
    feature_dir: str | Path | None = None,
) -> FeatureMatrix:
    """Per-subject feature vectors as of ``as_of`` (see the module docstring)."""
    return FeatureBuilder(store, subjects, industry, engine, catalog, feature_dir).at(as_of)


@contextlib.contextmanager
def subject_views(store: Store, frames: tuple[pl.DataFrame, pl.DataFrame]) -> Iterator[tuple[str, str]]:
    """One subject's (timeline, links) frames (:meth:`FeatureBuilder.subject_frames`) as two views of
    the store's connection for the ``with`` block: their names, for :func:`records_behind`."""
    names = (f"xinyi_one_tl_{uuid.uuid4().hex}", f"xinyi_one_lk_{uuid.uuid4().hex}")
    store.con.register(names[0], frames[0].to_arrow())
    store.con.register(names[1], frames[1].to_arrow())
    try:
        yield names
    finally:
        for n in names:
            store.con.unregister(n)


def records_behind(
    store: Store,
    subject_id: str,
    feature,
    as_of: dt.date,
    views: tuple[str, str] = ("xinyi_timeline", "xinyi_links"),
) -> pd.DataFrame:
    """The records that count for one feature of one subject at ``as_of`` (needs :func:`prepare_views`).
    For a linked feature, ``via`` names the linked subject, masked if it is a person. ``views``: the
    (timeline, links) relations to read, e.g. one subject's rows only (:func:`subject_views`)."""
    timeline, links = views
    where = f"{counts_sql(f'DATE {chr(39)}{as_of}{chr(39)}')} AND NOT excluded AND {mask_sql(feature, as_of)}"
    cols = "record_type, event_date, document_no, agency, severity, amount, t_end AS expires_on"
    if feature.link == "self":
        return store.sql(
            f"SELECT {cols} FROM {timeline} WHERE subject_id = ? AND {where} ORDER BY event_date", [subject_id]
        )
    frm, to = LINK_KEYS[feature.link]
    valid = link_valid_sql("l", f"DATE '{as_of}'")
    df = store.sql(
        f"""SELECT t.subject_id AS via, {cols} FROM {timeline} t
        JOIN (SELECT DISTINCT organisation_id, person_id FROM {links} l WHERE {valid}) l ON l.{frm} = t.subject_id
        WHERE l.{to} = ? AND {where} ORDER BY event_date""",
        [subject_id],
    )
    df["via"] = df["via"].map(mask_id)
    return df


def records_json(records: pd.DataFrame) -> list[dict]:
    """Records as JSON-ready dicts: dates as ISO dates, missing values left out."""
    out = []
    for r in records.to_dict(orient="records"):
        d = {}
        for k, v in r.items():
            if v is None or (not isinstance(v, str) and pd.isna(v)):
                continue
            d[k] = (
                v.date().isoformat() if isinstance(v, pd.Timestamp) else v.isoformat() if isinstance(v, dt.date) else v
            )
        out.append(d)
    return out
