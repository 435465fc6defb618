"""Exact determinism (精确可复现): the same store and date give bit-identical features, scores, grades
and SHAP values in every run and with every engine.

The engines run multi-threaded at their defaults (Polars' pool, DuckDB at ``XINYI_THREADS`` = 2 from
the conftest), so group-wise reductions see rows in varying orders; on top of that, the timeline is
fed to each engine in shuffled orders, which a float sum could not survive. Comparisons are on the
IEEE-754 bit patterns, not within a tolerance.
"""

from __future__ import annotations

import datetime as dt
import json
import os

import numpy as np
import pandas as pd
import polars as pl
import pytest

from scoring.archive.ingest import ingest
from scoring.archive.store import open_store
from scoring.features import engine_duckdb, engine_polars
from scoring.features.builder import TIMELINE_COLUMNS, FeatureBuilder, build_features
from scoring.features.exact import AMOUNT_SCALE, finish_amounts, weight_terms
from scoring.features.industry import load_industries

RUNS = 3
ENGINES = ("polars", "duckdb")
DATES = ("2024-06-30", "2025-06-30", "2026-06-30")


def assert_bit_identical(a: pd.DataFrame, b: pd.DataFrame, what: str) -> None:
    """Same index, columns and dtypes, and the same 64 bits in every cell (NaN included)."""
    assert a.index.equals(b.index), f"{what}: the rows differ"
    assert list(a.columns) == list(b.columns), f"{what}: the columns differ"
    assert list(a.dtypes) == list(b.dtypes), f"{what}: the dtypes differ"
    x = np.ascontiguousarray(a.to_numpy(dtype="float64")).view(np.uint64)
    y = np.ascontiguousarray(b.to_numpy(dtype="float64")).view(np.uint64)
    diff = x != y
    if diff.any():
        cols = {str(c): int(n) for c, n in zip(a.columns, diff.sum(axis=0)) if n}
        i, j = np.argwhere(diff)[0]
        raise AssertionError(
            f"{what}: {int(diff.sum())} cells differ in {cols}; e.g. {a.index[i]} {a.columns[j]}: "
            f"{a.iat[i, j]!r} vs {b.iat[i, j]!r}"
        )


def feature_sets() -> list[tuple[str, str | None]]:
    return [("persons", None), ("organisations", None)] + [("organisations", c) for c in sorted(load_industries())]


def repeated_builds(store, subjects: str, industry: str | None, as_of: str) -> list[tuple[str, pd.DataFrame]]:
    """RUNS fresh builds with each engine (a new builder each time: nothing cached between runs)."""
    return [
        (
            f"{engine} run {i + 1}",
            build_features(store, as_of, subjects=subjects, industry=industry, engine=engine).values,
        )
        for engine in ENGINES
        for i in range(RUNS)
    ]


def shuffled_builds(
    store, subjects: str, industry: str | None, as_of: str, seeds=(1, 2)
) -> list[tuple[str, pd.DataFrame]]:
    """Each engine (Polars in memory and streaming, DuckDB) fed the very same timeline in shuffled row orders."""
    fb = FeatureBuilder(store, subjects=subjects, industry=industry)
    d = dt.date.fromisoformat(as_of)
    timeline = store.polars(f"SELECT {', '.join(TIMELINE_COLUMNS)} FROM xinyi_timeline")
    links = store.polars("SELECT * FROM xinyi_links")
    population = store.polars(fb.population_sql(d))
    out = []
    for seed in seeds:
        shuffled = timeline.sample(fraction=1.0, shuffle=True, seed=seed)
        for streaming in (False, True):
            df = engine_polars.compute(shuffled, links, population, fb.fset, d, streaming=streaming).to_pandas()
            name = f"polars{' streaming' if streaming else ''} shuffled {seed}"
            out.append((name, df.set_index("subject_id").sort_index().astype("float64")))
        store.con.register("det_shuffled_df", shuffled.to_arrow())
        store.con.execute("CREATE OR REPLACE TEMP TABLE det_shuffled AS SELECT * FROM det_shuffled_df")
        store.con.unregister("det_shuffled_df")
        store.con.execute(f"CREATE OR REPLACE TEMP VIEW det_population AS {fb.population_sql(d)}")
        df = engine_duckdb.compute(store.con, "det_shuffled", "xinyi_links", "det_population", fb.fset, d)
        out.append((f"duckdb shuffled {seed}", df.set_index("subject_id").sort_index().astype("float64")))
    return out


def test_engines_run_in_parallel(sample_store):
    """The determinism below is not bought with single-threading: both engines use several threads
    (wherever the machine has more than one core)."""
    if (os.cpu_count() or 1) < 2:
        pytest.skip("a single core: nothing runs in parallel here")
    path, _ = sample_store
    with open_store(path, read_only=True) as st:
        threads = st.con.execute("SELECT current_setting('threads')").fetchone()
    assert threads is not None and int(threads[0]) >= 2
    assert pl.thread_pool_size() >= 2


def test_sample_features_are_bit_identical_across_runs_and_engines(sample_store):
    path, _ = sample_store
    with open_store(path, read_only=True) as st:
        for subjects, industry in feature_sets():
            builds = repeated_builds(st, subjects, industry, "2025-06-30")
            ref_name, ref = builds[0]
            for name, values in builds[1:]:
                assert_bit_identical(ref, values, f"{subjects}/{industry or '-'}: {ref_name} vs {name}")
        # the features that used to drift (float sums) are present and not trivial
        hours = build_features(st, "2025-06-30", subjects="persons").values["volunteer_hours_effective"]
        assert (hours % 1 != 0).sum() > 1000


def test_row_order_changes_nothing(sample_store):
    """A float sum depends on the order of its terms; the engines' exact reductions do not."""
    path, _ = sample_store
    with open_store(path, read_only=True) as st:
        for subjects, industry in [("persons", None), ("organisations", "food")]:
            ref = build_features(st, "2025-06-30", subjects=subjects, industry=industry).values
            for name, values in shuffled_builds(st, subjects, industry, "2025-06-30"):
                assert_bit_identical(ref, values, f"{subjects}/{industry or '-'}: built vs {name}")


@pytest.fixture(scope="module")
def random_store(tmp_path_factory):
    """A freshly generated archive (another seed, smaller) whose amounts get random fractions of a
    yuan or an hour (cents, tenths, thirds rounded to 2 decimals), ingested into its own store."""
    from scoring.sample.generator import generate_sample

    d = tmp_path_factory.mktemp("random_archive")
    generate_sample(d / "archive", seed=20261201, persons=3000, organisations=800, profile="stress")
    rec = pd.read_parquet(d / "archive" / "records.parquet")
    rng = np.random.default_rng(7)
    amount = pd.to_numeric(rec["amount"], errors="coerce")
    has = amount.notna().to_numpy()
    frac = rng.choice([0.0, 0.01, 0.1, 0.25, 0.33, 0.5, 0.67, 0.99], size=len(rec))
    new = (amount + frac).round(2)
    rec["amount"] = rec["amount"].where(~has, new.map(lambda v: f"{v:.2f}"))  # the archive holds amounts as text
    rec.to_parquet(d / "archive" / "records.parquet", index=False)
    path = d / "store.duckdb"
    with open_store(path) as st:
        ingest([d / "archive"], st)
        n = st.sql("SELECT count(*) AS n FROM records WHERE amount <> floor(amount)")["n"].iloc[0]
    assert n > 1000, "the random archive should carry fractional amounts"
    return path


def test_random_archive_features_are_bit_identical(random_store):
    with open_store(random_store, read_only=True) as st:
        for as_of in DATES:
            for subjects, industry in [("persons", None), ("organisations", None), ("organisations", "construction")]:
                builds = repeated_builds(st, subjects, industry, as_of)
                builds += shuffled_builds(st, subjects, industry, as_of, seeds=(3,))
                ref_name, ref = builds[0]
                for name, values in builds[1:]:
                    assert_bit_identical(ref, values, f"{as_of} {subjects}/{industry or '-'}: {ref_name} vs {name}")


def test_amount_sums_are_exact():
    """The shared finisher: integer units divided once (the double nearest the decimal total), tiers
    applied in order; weighted counts add in one fixed order."""
    # 0.1 + 0.2 in floats is 0.30000000000000004; in units it is 3000 / 10000 = 0.3 exactly
    units = np.array([0.1 * AMOUNT_SCALE + 0.2 * AMOUNT_SCALE, np.nan, 123456789.0])
    assert finish_amounts("sum_amount", units).tolist() == [0.3, 0.0, 12345.6789]
    tiers = ((20.0, 1.0), (80.0, 0.5), (200.0, 0.3333), (None, 0.25))
    got = finish_amounts(
        "hours_diminishing", np.array([10 * AMOUNT_SCALE, 100 * AMOUNT_SCALE, 250 * AMOUNT_SCALE]), tiers
    )
    assert got.tolist() == [10.0, 20.0 + 30.0 + 20.0 * 0.3333, 20.0 + 30.0 + 120.0 * 0.3333 + 50.0 * 0.25]
    assert weight_terms({"serious": 3, "minor": 0.5, "general": 1, "none": 0}) == [
        ("general", 1.0),
        ("minor", 0.5),
        ("serious", 3.0),
    ]


def test_points_scores_are_identical(stress_store):
    """A fitted 信义金 card gives the same points from every build and engine; fitting it again on the
    same store gives the same card. On the stress archive, whose card spreads persons over many
    scores (the committed sample's card is checked in tests/test_score_properties.py)."""
    from scoring.points.personal import fit_card

    path, _ = stress_store
    with open_store(path, read_only=True) as st:
        card, _ = fit_card(st)
        again, _ = fit_card(st)
        assert json.dumps(card.to_dict(), sort_keys=True, default=str) == json.dumps(
            again.to_dict(), sort_keys=True, default=str
        )
        builds = repeated_builds(st, "persons", None, "2026-06-30")
        scores = [(name, card.score(v[card.features_]).to_frame("points").astype("float64")) for name, v in builds]
        for name, s in scores[1:]:
            assert_bit_identical(scores[0][1], s, f"points: {scores[0][0]} vs {name}")
        assert_bit_identical(
            scores[0][1],
            again.score(builds[0][1][again.features_]).to_frame("points").astype("float64"),
            "points of the refitted card",
        )
        assert scores[0][1]["points"].nunique() > 10


@pytest.mark.slow
def test_grades_probabilities_and_shap_are_identical(sample_store):
    """An industry's grade model gives the same class probabilities, grades and TreeSHAP values from
    every build and engine; fitting it again on the same store gives the same numbers."""
    from scoring.grades.grading import fit_industry

    path, _ = sample_store
    with open_store(path, read_only=True) as st:
        model, _ = fit_industry(st, "food")
        again, _ = fit_industry(st, "food")
        builds = repeated_builds(st, "organisations", "food", "2026-06-30")

        def outputs(m, X: pd.DataFrame) -> pd.DataFrame:
            proba = pd.DataFrame(m.predict_proba(X), index=X.index).add_prefix("p")
            shap = m.contributions(X).add_prefix("shap_")
            return pd.concat([proba, shap], axis=1).assign(grade=m.predict_class(X).astype("float64"))

        ref = outputs(model, builds[0][1])
        for name, X in builds[1:]:
            assert_bit_identical(ref, outputs(model, X), f"grades: {builds[0][0]} vs {name}")
        assert_bit_identical(ref, outputs(again, builds[0][1]), "grades of the refitted model")
        assert ref["grade"].nunique() > 1
