"""Shared fixtures: small valid archives built from real identifiers, and the committed sample."""

from __future__ import annotations

import datetime as dt
import json
import os
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scoring.core.identifiers import complete_id_number, complete_uscc

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "data" / "sample"
EXPORT = dt.date(2026, 6, 30)

os.environ.setdefault("XINYI_THREADS", "2")


def make_uscc(i: int, prefix: str = "91") -> str:
    body = f"{prefix}330702{i:08d}"
    return complete_uscc(np.frombuffer(body.encode(), dtype=np.uint8).reshape(1, 16))[0]


def make_person_id(i: int) -> str:
    body = f"330702{1960 + i % 40}0{1 + i % 9}1{i % 10}{i % 1000:03d}"
    return complete_id_number(np.frombuffer(body.encode(), dtype=np.uint8).reshape(1, 17))[0]


def small_archive(n_orgs: int = 3, n_persons: int = 3) -> tuple[pd.DataFrame, list[str], list[str]]:
    """A valid subjects table: organisations registered in 2010, persons."""
    orgs = [make_uscc(i + 1) for i in range(n_orgs)]
    persons = [make_person_id(i + 1) for i in range(n_persons)]
    rows = [
        {
            "subject_id": o,
            "subject_type": "enterprise",
            "name": f"测试企业{i}",
            "industry_code": "8514",
            "region_code": "330702",
            "registered_on": "2010-01-01",
            "legal_rep_id": persons[i % n_persons],
            "actual_controller_id": None,
            "positive_opt_out": None,
        }
        for i, o in enumerate(orgs)
    ] + [
        {
            "subject_id": p,
            "subject_type": "person",
            "name": f"测试{i}",
            "industry_code": None,
            "region_code": "330702",
            "registered_on": None,
            "legal_rep_id": None,
            "actual_controller_id": None,
            "positive_opt_out": "false",
        }
        for i, p in enumerate(persons)
    ]
    return pd.DataFrame(rows), orgs, persons


def penalty(record_id: str, subject: str, day: str = "2024-03-01", **kw) -> dict:
    row = {
        "record_id": record_id,
        "subject_id": subject,
        "record_type": "ADM_PENALTY",
        "event_date": day,
        "document_no": f"金市监罚〔2024〕{record_id}号",
        "agency": "金华市市场监督管理局",
        "severity": "general",
        "amount": "5000",
    }
    row.update(kw)
    return row


@pytest.fixture(scope="session")
def sample_dir() -> Path:
    assert (SAMPLE / "manifest.json").exists(), "data/sample is missing; run `scoring sample` (see README)"
    return SAMPLE


def _ingested(tmp_path_factory, name: str, archive: Path):
    """``archive`` ingested into a new store in a session folder ``name``: (path, ingest result)."""
    from scoring.archive.ingest import ingest
    from scoring.archive.store import open_store

    path = tmp_path_factory.mktemp(name) / "store.duckdb"
    with open_store(path) as st:
        res = ingest([archive], st)
    return path, res


@pytest.fixture(scope="session")
def sample_store(tmp_path_factory, sample_dir):
    """The committed sample ingested once per test session (read-only use)."""
    return _ingested(tmp_path_factory, "sample", sample_dir)


@pytest.fixture(scope="session")
def stress_dir(tmp_path_factory) -> Path:
    """An archive of the stress profile (many events of every kind), made as the committed sample
    was before it became realistic: seed 2026, 20,000 persons, 5,000 organisations, mixed formats and
    planted errors. For tests whose figures need many events (every grade populated, many distinct
    scores); tests of the committed sample itself use ``sample_dir``."""
    from scoring.sample.generator import generate_sample

    out = tmp_path_factory.mktemp("stress-sample") / "archive"
    generate_sample(
        out, seed=2026, persons=20_000, organisations=5_000, mixed_formats=True, plant_errors=True, profile="stress"
    )
    return out


@pytest.fixture(scope="session")
def stress_store(tmp_path_factory, stress_dir):
    """The stress archive (``stress_dir``) ingested once per test session (read-only use): (path, result)."""
    return _ingested(tmp_path_factory, "stress-store", stress_dir)


@pytest.fixture(scope="session")
def registered(sample_store, tmp_path_factory):
    """The construction grade model and the 信义金 card fitted on the sample, logged and registered
    as champions in a local MLflow store (the workflows the CLI and the main job use):
    (store path, tracking URI)."""
    from scoring.archive.store import open_store
    from scoring.workflows import Workspace, fit_and_register_card, fit_and_register_grades

    path, _ = sample_store
    d = tmp_path_factory.mktemp("registered")
    ws = Workspace(path, f"sqlite:///{d / 'mlflow.db'}", d)
    with open_store(path, read_only=True) as st:
        grades = fit_and_register_grades(st, ws, "construction", out=d / "construction.json")
        card = fit_and_register_card(st, ws, out=d / "card.json")
    assert grades.registered.aliases == card.registered.aliases == ("champion",)
    return path, ws.tracking_uri


@pytest.fixture(scope="session")
def demo_run(tmp_path_factory):
    """The main job (``scoring demo --workdir <folder>/work --json``), run once per test session:
    (the folder holding ``work/``, the JSON summary, everything the command printed)."""
    from typer.testing import CliRunner

    from scoring.cli import app

    root = tmp_path_factory.mktemp("main-job")
    r = CliRunner().invoke(app, ["demo", "--workdir", str(root / "work"), "--json"])
    assert r.exit_code == 0, r.output
    return root, json.loads(r.stdout), r.output


# -- the serving database: SQLite and a real PostgreSQL server --------------------------------
@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server on loopback for this test process (tests/postgres.py). Missing
    PostgreSQL fails under CI (``.ci/run`` installs it with ``make postgres``) and skips elsewhere."""
    from tests.postgres import PostgresServer, pg_bin

    bin_dir = pg_bin()
    if bin_dir is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed; `make postgres` installs Debian's postgresql")
        pytest.skip("PostgreSQL not installed (make postgres)")
    server = PostgresServer(bin_dir).start()
    yield server
    server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def serving_url(request, tmp_path) -> str:
    """An empty serving database (no tables yet), once on SQLite and once on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'serving.sqlite'}"
    return request.getfixturevalue("postgres_server").new_database()


@pytest.fixture(scope="session")
def spark():
    """The Spark session in local mode (scoring.core.spark). Missing pyspark or Java fails under CI
    (``make test`` installs both: the test extra and ``make java``) and skips elsewhere."""
    from scoring.core.spark import spark_available, spark_session

    if not spark_available():
        if os.environ.get("CI"):
            pytest.fail("pyspark or Java is missing; `make setup java` installs them")
        pytest.skip("pyspark or Java not installed (make setup java)")
    return spark_session()
