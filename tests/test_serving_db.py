"""The serving database: Alembic migrations equal to the tables of schema.py, the synthetic fill, the
regions of the jurisdiction. Every test runs on SQLite and on a real PostgreSQL server (``serving_url``)."""

from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from scoring.features.industry import GRADES, load_industries
from scoring.serving import database, regions, synthetic
from scoring.serving import schema as t
from scoring.serving.schema import metadata


def test_migrated_database_equals_the_schema(serving_url):
    eng = database.engine(serving_url)
    assert database.revision(eng) is None  # an empty database: never migrated
    eng = database.connect(serving_url)
    assert database.revision(eng) == database.head() == "0002"
    with eng.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
        assert diff == []
        tables = set(sa.inspect(conn).get_table_names())
    assert set(metadata.tables) <= tables
    assert database.upgrade(eng) == "0002"  # again: nothing to do
    eng.dispose()


def test_shown_hides_the_password():
    shown = database.shown("postgresql+psycopg://xinyi:s3cret@db.example:5432/serving")
    assert "s3cret" not in shown and "***" in shown and "db.example" in shown
    assert database.shown("sqlite:///work/serving.sqlite") == "sqlite:///work/serving.sqlite"


def test_regions_are_the_jurisdiction(tmp_path):
    reg = regions.load_regions()
    assert reg["330702"] == "婺城区" and all(len(c) == 6 and c.isdigit() for c in reg)
    assert regions.district("330782") == "义乌市"
    assert regions.district("999999") == "999999"
    bad = tmp_path / "regions.yaml"
    bad.write_text('regions:\n  "33070": 婺城区\n', encoding="utf-8")
    import pytest

    from scoring.core.errors import ConfigError

    with pytest.raises(ConfigError, match=r"regions\.yaml.*33070.*6-digit"):
        regions.load_regions(bad)
    bad.write_text('regions:\n  "330702": ""\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="330702"):
        regions.load_regions(bad)


def test_synthetic_fill_counts_and_shares(serving_url):
    eng = database.connect(serving_url)
    out = synthetic.fill(eng, organisations=3000, persons=200, seed=3)
    inds = load_industries()
    assert out["organisations"] == 3000
    with eng.connect() as conn:
        first = min(r for (r,) in conn.execute(sa.select(t.publications.c.as_of)))
        registered = conn.execute(
            sa.select(sa.func.count()).select_from(t.organisations).where(t.organisations.c.registered_on <= first)
        ).scalar_one()
    # two periods: every organisation in its industry's list of each period it was registered by
    assert out["grade_entries"] == 3000 + registered
    assert 0 < 3000 - registered < 3000 * 0.2
    assert out["score_entries"] == 2 * 200
    assert len(out["publications"]) == 2 * len(inds) + 2
    with eng.connect() as conn:
        n_org = conn.execute(sa.select(sa.func.count()).select_from(t.organisations)).scalar_one()
        assert n_org == 3000
        regions_used = {r for (r,) in conn.execute(sa.select(t.organisations.c.region_code).distinct())}
        assert regions_used <= set(regions.load_regions())
        reps = [r for (r,) in conn.execute(sa.select(t.organisations.c.legal_rep_masked))]
        assert all(r[0] != "*" and set(r[1:]) == {"*"} for r in reps)
        rows = conn.execute(
            sa.select(t.grade_entries.c.industry_code, t.grade_entries.c.grade, t.grade_entries.c.veto,
                      t.grade_entries.c.new_entrant, t.grade_entries.c.model_grade)
        ).all()  # fmt: skip
    # the band table's grades (model_grade) of each industry are at its target shares
    for code, ind in inds.items():
        mine = [r for r in rows if r.industry_code == code]
        assert mine
        targets = ind.bands.targets
        for g in GRADES:
            share = sum(r.model_grade == g for r in mine) / len(mine)
            assert abs(share - targets[g]) <= 0.02, (code, g, share)
    assert any(r.veto for r in rows) and any(r.new_entrant for r in rows)
    # no ID-number-like value anywhere (USCCs are valid organisation codes; persons are pseudonyms)
    import json

    from scoring.core.privacy import contains_raw_id

    with eng.connect() as conn:
        for table in t.metadata.sorted_tables:
            for row in conn.execute(sa.select(table).limit(2000)):
                for v in row:
                    text = json.dumps(v, ensure_ascii=False) if isinstance(v, (dict, list)) else v
                    assert not (isinstance(text, str) and contains_raw_id(text)), (table.name, text)
    assert all(r.grade == "中等" for r in rows if r.new_entrant and not r.veto)
    eng.dispose()


def test_synthetic_fill_is_seeded(tmp_path):
    a = database.connect(f"sqlite:///{tmp_path / 'a.sqlite'}")
    b = database.connect(f"sqlite:///{tmp_path / 'b.sqlite'}")
    ra = synthetic.fill(a, organisations=300, seed=5)
    rb = synthetic.fill(b, organisations=300, seed=5)
    assert ra["publications"] == rb["publications"]
    q = sa.select(t.grade_entries.c.subject_id, t.grade_entries.c.grade).order_by(t.grade_entries.c.subject_id)
    with a.connect() as ca, b.connect() as cb:
        assert ca.execute(q).all() == cb.execute(q).all()


def test_cli_upgrade_and_status(serving_url):
    import json

    from typer.testing import CliRunner

    from scoring.cli import app

    runner = CliRunner()
    res = runner.invoke(app, ["serving", "status", "--serving", serving_url, "--json"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output)
    assert out["revision"] is None and out["head"] == "0002" and out["tables"] == {}
    res = runner.invoke(app, ["serving", "upgrade", "--serving", serving_url, "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["revision"] == "0002"
    synthetic.fill(database.connect(serving_url), organisations=200, seed=1)
    out = json.loads(runner.invoke(app, ["serving", "status", "--serving", serving_url, "--json"]).output)
    assert out["tables"]["organisations"] == 200 and len(out["publications"]) == 2 * len(load_industries())


def test_cli_push_without_store_is_a_clear_error(tmp_path, monkeypatch):
    import json

    from typer.testing import CliRunner

    from scoring.cli import app

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("XINYI_STORE", raising=False)
    res = CliRunner().invoke(app, ["serving", "push", "--json"])
    assert res.exit_code != 0
    err = json.loads(res.output)
    assert "--store" in err["error"] and err["kind"] == "store"
