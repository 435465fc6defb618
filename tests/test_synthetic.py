"""The synthetic archive: deterministic, lawful by the catalogue, carrying its truth; its profiles."""

import collections
import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml

from scoring.archive.catalog import load_catalog
from scoring.archive.ingest import ingest
from scoring.archive.store import open_store
from scoring.core.errors import ConfigError
from scoring.sample.generator import GRADES, generate_sample
from scoring.sample.prevalence import MEASURES, compare, measure
from scoring.sample.profiles import DEFAULT_PROFILE, SampleProfile, list_profiles, load_profile, profile_path


def _auc(score, label):
    """Rank AUC (Mann-Whitney), no sklearn needed."""
    r = pd.Series(score).rank().to_numpy()
    pos = np.asarray(label) == 1
    n1, n0 = pos.sum(), (~pos).sum()
    return (r[pos].sum() - n1 * (n1 + 1) / 2) / (n1 * n0)


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    out = tmp_path_factory.mktemp("gen") / "a"
    # the stress profile: many events of every kind (the grade and outcome checks below need them)
    res = generate_sample(out, seed=11, persons=3000, organisations=1500, chunk_subjects=1000, profile="stress")
    return out, res


@pytest.mark.smoke
def test_deterministic_by_seed(small, tmp_path):
    out, res = small
    again = generate_sample(
        tmp_path / "b", seed=11, persons=3000, organisations=1500, chunk_subjects=1000, profile="stress"
    )
    for f in ("subjects.parquet", "records.parquet", "truth/organisations.parquet", "truth/persons.parquet"):
        a, b = pq.read_table(out / f), pq.read_table(tmp_path / "b" / f)
        assert a.equals(b), f
    generate_sample(tmp_path / "c", seed=12, persons=3000, organisations=1500, chunk_subjects=1000, profile="stress")
    assert not pq.read_table(out / "records.parquet").equals(pq.read_table(tmp_path / "c" / "records.parquet"))
    assert again.records == res.records


def test_streams_in_chunks(small):
    out, res = small
    pf = pq.ParquetFile(out / "records.parquet")
    assert pf.metadata.num_row_groups >= 4  # one or more per chunk: written as it goes
    assert pf.metadata.num_rows == res.records


def test_generated_archive_is_clean_and_follows_the_catalogue(small, tmp_path):
    out, res = small
    with open_store(tmp_path / "s.duckdb") as st:
        r = ingest([out], st)
        assert r.quarantined == 0, r.by_reason
        types = st.sql(
            "SELECT s.subject_type, r.record_type FROM records r JOIN subjects s USING (subject_id) GROUP BY ALL"
        )
        n_ids = st.sql("SELECT count(DISTINCT record_id) FROM records").iloc[0, 0]
        inds = st.sql("SELECT DISTINCT industry_code FROM subjects WHERE subject_type <> 'person'")
    cat = load_catalog()
    for stype, rtype in types.itertuples(index=False):
        assert stype in {s.value for s in cat[rtype].subject_types}, (stype, rtype)
    assert n_ids == res.records
    assert len(inds) >= 6


def test_truth_is_consistent_with_the_archive(small):
    out, _ = small
    orgs = pd.read_parquet(out / "truth" / "organisations.parquet")
    persons = pd.read_parquet(out / "truth" / "persons.parquet")
    manifest = json.loads((out / "manifest.json").read_text())
    assert len(orgs) == 1500 and len(persons) == 3000
    assert set(orgs["true_grade"].dropna()) == set(GRADES)
    assert orgs["industry"].replace("", np.nan).dropna().nunique() >= 5
    assert (orgs["cutoff"] == manifest["cutoff"]).all()
    for df in (orgs, persons):
        assert 0 < df["outcome"].mean() < 0.5
        # the latent truth ranks the outcome well above chance, and p_outcome follows z
        assert _auc(-df["latent_z"], df["outcome"]) > 0.7
        assert np.corrcoef(df["latent_z"], df["p_outcome"])[0, 1] < -0.5
    # worse true grades have more outcomes
    rates = orgs.dropna(subset=["true_grade"]).groupby("true_grade")["outcome"].mean()
    assert rates["差"] > rates["中等"] > rates["优秀"]


def _outcomes_from_records(out):
    """The outcome of every subject recomputed from the records after the cut-off."""
    rec = pd.read_parquet(out / "records.parquet", columns=["subject_id", "record_type", "event_date", "severity"])
    truth = pd.concat([pd.read_parquet(out / "truth" / f"{k}.parquet") for k in ("persons", "organisations")])
    cut = truth["cutoff"].iloc[0]
    prof_serious = ["ADM_PENALTY", "ADM_PENALTY_SAMR", "ADM_SAFETY_ACCIDENT", "ADM_INSPECTION_FAIL", "CON_BREACH"]
    lists = ["SDL_SERIOUS_DISHONEST", "JUD_DISHONEST_DEBTOR", "SDL_TAX_MAJOR_CASE", "SDL_WAGE_ARREARS"]
    hit = rec[
        (rec["event_date"] > cut)
        & (((rec["record_type"].isin(prof_serious)) & (rec["severity"] == "serious")) | rec["record_type"].isin(lists))
    ]
    expected = truth["subject_id"].isin(set(hit["subject_id"])).astype(int)
    return expected.to_numpy(), truth["outcome"].to_numpy()


def test_outcome_matches_records_after_cutoff(small):
    expected, outcome = _outcomes_from_records(small[0])
    assert outcome.sum() > 0
    assert (expected == outcome).all()


# -- profiles ------------------------------------------------------------------------------------
def _fingerprint(folder: Path) -> dict[str, str]:
    """Content hash of every file of an archive: Parquet by column names and values (independent of
    the Parquet writer's version), Excel by its cells (the file embeds its creation time), the rest
    by bytes."""
    out = {}
    for p in sorted(folder.rglob("*")):
        if p.is_dir():
            continue
        h = hashlib.sha256()
        if p.suffix == ".parquet":
            t = pq.read_table(p)
            for name in t.column_names:
                h.update(name.encode() + b"\0")
                h.update(json.dumps(t.column(name).to_pylist(), ensure_ascii=False).encode())
        elif p.suffix == ".xlsx":
            h.update(pd.read_excel(p, dtype=str, engine="calamine").to_csv(index=False).encode())
        else:
            h.update(p.read_bytes())
        out[p.relative_to(folder).as_posix()] = h.hexdigest()[:16]
    return out


# Computed with the generator as it was before profiles existed (commit 6432748, configs/sample.yaml),
# seed 2026: the stress profile must reproduce it exactly.
STRESS_2026 = {
    "plain": {
        "manifest.json": "d2d9bbedaa7828d3",
        "records.parquet": "687357e83e8fdf65",
        "subjects.parquet": "0347eacbbdd112c4",
        "truth/organisations.parquet": "8c0d3d613b7082e9",
        "truth/persons.parquet": "987ec2d74179223c",
    },
    "mixed": {
        "manifest.json": "96d4162ff0b13959",
        "records.parquet": "d762beac486d7160",
        "records_court.csv": "e7912128bf73762c",
        "records_volunteer.xlsx": "73f5a032e8836000",
        "subjects.parquet": "ee7f01c019ca106b",
        "truth/organisations.parquet": "30387c69ea787af8",
        "truth/persons.parquet": "5ed4c16129ec1b88",
        "truth/planted_errors.csv": "bfcf13aa5237a250",
    },
}


def test_stress_profile_reproduces_the_original_generator(tmp_path):
    generate_sample(
        tmp_path / "plain", seed=2026, persons=2000, organisations=800, chunk_subjects=700, profile="stress"
    )
    generate_sample(
        tmp_path / "mixed",
        seed=2026,
        persons=2000,
        organisations=800,
        mixed_formats=True,
        plant_errors=True,
        profile="stress",
    )
    assert _fingerprint(tmp_path / "plain") == STRESS_2026["plain"]
    assert _fingerprint(tmp_path / "mixed") == STRESS_2026["mixed"]
    assert "profile" not in json.loads((tmp_path / "plain" / "manifest.json").read_text())


def test_the_default_profile_is_the_realistic_one(tmp_path):
    """`scoring sample` and generate_sample without a profile make a realistic archive (the committed
    sample's profile); the stress profile is asked for by name."""
    assert DEFAULT_PROFILE == "realistic"
    generate_sample(tmp_path / "default", seed=2026, persons=400, organisations=150)
    generate_sample(tmp_path / "named", seed=2026, persons=400, organisations=150, profile="realistic")
    generate_sample(tmp_path / "stress", seed=2026, persons=400, organisations=150, profile="stress")
    default, named = _fingerprint(tmp_path / "default"), _fingerprint(tmp_path / "named")
    assert default == named
    assert default["records.parquet"] != _fingerprint(tmp_path / "stress")["records.parquet"]
    assert json.loads((tmp_path / "default" / "manifest.json").read_text())["profile"] == "realistic"


def test_fingerprint_sees_a_changed_value(tmp_path):
    """The hash above would notice a single changed record."""
    generate_sample(tmp_path / "a", seed=2026, persons=300, organisations=100)
    before = _fingerprint(tmp_path / "a")
    t = pq.read_table(tmp_path / "a" / "records.parquet").to_pandas()
    t.loc[0, "agency"] = t.loc[0, "agency"] + "x"
    t.to_parquet(tmp_path / "a" / "records.parquet", index=False)
    after = _fingerprint(tmp_path / "a")
    assert before["records.parquet"] != after["records.parquet"]
    assert {k: v for k, v in before.items() if k != "records.parquet"} == {
        k: v for k, v in after.items() if k != "records.parquet"
    }


REALISTIC_PERSONS, REALISTIC_ORGS = 20_000, 5_000


@pytest.fixture(scope="module")
def realistic(tmp_path_factory):
    out = tmp_path_factory.mktemp("realistic") / "a"
    res = generate_sample(
        out,
        seed=2026,
        persons=REALISTIC_PERSONS,
        organisations=REALISTIC_ORGS,
        chunk_subjects=5000,
        profile="realistic",
    )
    return out, res, measure(out)


def test_realistic_prevalences_are_within_their_targets(realistic):
    out, res, prev = realistic
    v = prev.values
    assert prev.persons == REALISTIC_PERSONS and prev.organisations == REALISTIC_ORGS
    # 严重失信名单主体占比: seed 000 gives 1.69% in 2020 and a target under 1.5%
    assert 0.005 < v["serious_list_all"] < 0.015
    assert 0.005 < v["serious_list_persons"] < 0.015
    assert 0.005 < v["serious_list_organisations"] < 0.02
    # about a third of persons with no record at all; most with few; a long tail
    assert 0.25 <= v["persons_no_record"] <= 0.45
    assert v["persons_few_records"] > 0.5
    assert v["persons_records_p99"] >= 5 * max(1.0, v["persons_records_mean"])
    assert v["persons_top1pct_share"] > 0.06
    # penalties, court enforcement and contract breaches each touch under 3% of persons (but do occur)
    for m in ("persons_penalty", "persons_enforcement", "persons_breach"):
        assert 0.002 < v[m] < 0.03, m
    # true grades follow Zhejiang's 2.3 / 76.4 / 20.0 / 1.3 %, 差 tiny
    want = {"excellent": 0.023, "good": 0.764, "fair": 0.200, "poor": 0.013}
    for en, share in want.items():
        assert abs(v[f"true_grade_{en}"] - share) < 0.02, en
        assert abs(v[f"recorded_grade_{en}"] - share) < 0.03, en
    assert 0 < v["true_grade_bad"] < 0.01
    # outcome base rates in the low single-digit percent
    assert 0.002 < v["outcome_persons"] < 0.05
    assert 0.005 < v["outcome_organisations"] < 0.06
    # records under each of the 2019, 2023 and 2026 publicity regimes
    assert min(prev.penalties_by_regime.values()) > 0
    assert set(prev.penalties_by_regime) == {"ndrc_2019_527", "ndrc_order_58", "ndrc_order_36"}
    rec = pd.read_parquet(out / "records.parquet", columns=["event_date"])["event_date"]
    for lo, hi in (("2019-07-01", "2023-05-01"), ("2023-05-01", "2026-04-01"), ("2026-04-01", "2026-07-01")):
        assert ((rec >= lo) & (rec < hi)).sum() > 1000, lo
    # and every target the profile file declares holds
    checks = compare(prev, load_profile("realistic"))
    assert {c.measure for c in checks if c.ok is not None} == set(load_profile("realistic").targets)
    assert [c.measure for c in checks if c.ok is False] == []


def test_the_profiles_differ_where_they_should(realistic, tmp_path):
    """The stress profile has many events: far above the realistic targets."""
    generate_sample(tmp_path / "s", seed=2026, persons=5000, organisations=1500, profile="stress")
    stress = measure(tmp_path / "s").values
    real = realistic[2].values
    assert stress["persons_penalty"] > 0.1 > real["persons_penalty"]
    assert stress["persons_no_record"] < 0.05 < real["persons_no_record"]
    assert stress["serious_list_all"] > real["serious_list_all"]


def test_realistic_truth_is_consistent(realistic):
    out, _, _ = realistic
    expected, outcome = _outcomes_from_records(out)
    assert (expected == outcome).all()
    orgs = pd.read_parquet(out / "truth" / "organisations.parquet")
    persons = pd.read_parquet(out / "truth" / "persons.parquet")
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["profile"] == "realistic"
    assert set(orgs["true_grade"].dropna()) == set(GRADES)
    for df in (orgs, persons):
        # the truth ranks the outcome: p_outcome includes the activity multiplier
        assert _auc(df["p_outcome"], df["outcome"]) > 0.75
        assert abs(df["p_outcome"].mean() - df["outcome"].mean()) < 0.01
        a = df["activity"]
        assert abs(a.mean() - 1) < 0.1 and a.min() >= 0
    # persons' activity has a long tail: the top 1% are far above the median
    a = persons["activity"]
    assert a.quantile(0.99) > 8 * a.median()
    rates = orgs.dropna(subset=["true_grade"]).groupby("true_grade")["outcome"].mean()
    assert rates["较差"] > rates["中等"] > rates["良好"]


def test_realistic_is_deterministic_by_seed(tmp_path):
    def gen(name: str, seed: int) -> None:
        generate_sample(
            tmp_path / name, seed=seed, persons=4000, organisations=1200, chunk_subjects=1500, profile="realistic"
        )

    gen("a", 5)
    gen("b", 5)
    gen("c", 6)
    fa, fb, fc = (_fingerprint(tmp_path / x) for x in "abc")
    assert fa == fb
    assert fa["records.parquet"] != fc["records.parquet"]
    # streamed chunk by chunk (bounded memory): at least one row group per chunk
    assert pq.ParquetFile(tmp_path / "a" / "records.parquet").metadata.num_row_groups >= 4


def test_realistic_archive_is_clean_and_planted_rows_are_caught(tmp_path):
    """A small realistic archive in mixed formats with planted errors: only the planted rows are quarantined."""
    out = tmp_path / "a"
    generate_sample(
        out, seed=3, persons=3000, organisations=1000, profile="realistic", mixed_formats=True, plant_errors=True
    )
    planted = pd.read_csv(out / "truth" / "planted_errors.csv", dtype={"key": str})
    expected = planted[planted["expect"] == "quarantine"]
    with open_store(tmp_path / "s.duckdb") as st:
        r = ingest([out], st)
        q = st.sql("SELECT source_file, source_row, reason FROM quarantine")
    got = {(Path(f).name, int(x), y) for f, x, y in zip(q["source_file"], q["source_row"], q["reason"])}
    want = {(f, int(x), y) for f, x, y in zip(expected["file"], expected["row"], expected["reason"])}
    assert got == want
    assert r.by_reason == dict(collections.Counter(expected["reason"]))
    # the measure reads the CSV and Excel record files too
    prev = measure(out)
    assert prev.records == r.rows_read - (prev.persons + prev.organisations)


def test_both_profiles_load_and_validate():
    assert {"realistic", "stress"} <= set(list_profiles())
    for name in ("realistic", "stress"):
        prof = load_profile(name)
        assert isinstance(prof, SampleProfile) and prof.name == name
        assert load_profile(profile_path(name)) == prof  # by path too
    assert load_profile().name == DEFAULT_PROFILE
    real = load_profile("realistic")
    assert real.activity is not None and real.grade_shares is not None
    assert set(real.targets) <= set(MEASURES)
    assert abs(sum(real.grade_shares.values()) - 1) < 1e-9


def test_an_unknown_profile_name_names_the_known_ones():
    with pytest.raises(ConfigError, match=r"no sample profile named 'gentle'.*realistic.*stress"):
        load_profile("gentle")


def _write_variant(tmp_path: Path, change) -> Path:
    data = yaml.safe_load(profile_path("realistic").read_text(encoding="utf-8"))
    change(data)
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return p


@pytest.mark.parametrize(
    "change, field",
    [
        (lambda d: d["grade_shares"].update({"差": 0.2}), "grade_shares"),
        (lambda d: d["grade_shares"].pop("差"), "grade_shares"),
        (lambda d: d["processes"]["ADM_PENALTY"].update({"person": -0.1}), "processes.ADM_PENALTY.person"),
        (lambda d: d["processes"].update({"JAYWALKING": {"person": 0.1}}), "processes.JAYWALKING"),
        (lambda d: d["activity"].update({"person_shape": 0}), "activity.person_shape"),
        (
            lambda d: d["list_exits"].update({"ADM_PENALTY": {"p": 0.5, "min_days": 1, "max_days": 9}}),
            "list_exits.ADM_PENALTY",
        ),
        (lambda d: d["list_exits"]["JUD_DISHONEST_DEBTOR"].update({"max_days": 10}), "list_exits.JUD_DISHONEST_DEBTOR"),
        (lambda d: d["targets"].update({"happiness": {"value": 1}}), "targets"),
        (lambda d: d["targets"]["persons_penalty"].update({"low": 0.5}), "targets.persons_penalty"),
        (lambda d: d.update({"opt_out_share": 1.5}), "opt_out_share"),
        (lambda d: d.update({"colour": "blue"}), "colour"),
        (lambda d: d["industries"].update({"casinos": dict(d["industries"]["food"])}), "industries.casinos"),
    ],
)
def test_an_invalid_profile_fails_with_file_and_field(tmp_path, change, field):
    p = _write_variant(tmp_path, change)
    with pytest.raises(ConfigError) as exc:
        load_profile(p)
    msg = str(exc.value)
    assert str(p) in msg and field in msg, msg
