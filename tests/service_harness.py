"""The platform service as the browser, role and fuzz tests and the load bench use it.

- :func:`populate` fills a serving database with plausible published grade lists (A's
  :func:`scoring.serving.synthetic.fill`) and creates one user of every role (B's
  :func:`scoring.serving.identity.create_user`), each with an API token; it returns a
  :class:`Population` naming the organisations, lists and persons in and out of each user's scope.
- :class:`ServiceProcess` starts the app in its own process on 127.0.0.1 at a free port (``scoring
  serve``, uvicorn), waits for ``/healthz`` and stops it at the end (a context manager).

Both work on SQLite and PostgreSQL (the ``serving_url`` fixture; ``tests/postgres.py``).
"""

from __future__ import annotations

import os
import re
import secrets
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
#: Every password of the test users (the policy wants >= 10 characters).
PASSWORD = "correct-horse-信义-2026"
#: The roles the role matrix walks through; ``regulator`` and ``regulator_out`` are two regulators,
#: one whose scope holds the population's chosen industry and region, one with another industry.
ACTORS = ("citizen", "regulator", "regulator_out", "officer", "analyst", "auditor", "admin")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass(frozen=True)
class Actor:
    """A user of the population: who logs in, with which role, and their API token."""

    key: str  # one of ACTORS
    username: str
    role: str
    token: str
    industries: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    subject_key: str | None = None


@dataclass
class Population:
    """What :func:`populate` put into the serving database."""

    url: str
    fill: dict[str, Any]
    actors: dict[str, Actor]
    industry: str  # the in-scope regulator's industry
    other_industry: str  # the out-of-scope regulator's industry
    region: str  # a region in the in-scope regulator's scope
    list_id: str  # latest grade list of ``industry``
    other_list_id: str  # latest grade list of ``other_industry``
    organisation: str  # an organisation in ``list_id`` within ``region``
    other_organisation: str  # an organisation in ``other_list_id`` only
    citizen_key: str | None  # the citizen's own subject_key
    other_person_key: str | None  # another person's subject_key
    extra: dict[str, Any] = field(default_factory=dict)

    def actor(self, key: str) -> Actor:
        return self.actors[key]


def _one(conn: Any, sql: str, **params: Any) -> Any:
    import sqlalchemy as sa

    row = conn.execute(sa.text(sql), params).first()
    return None if row is None else row[0]


def populate(url: str, *, organisations: int = 600, persons: int = 40, seed: int = 0) -> Population:
    """Fill the serving database at ``url`` and create one user of every role (see :data:`ACTORS`)."""
    from scoring.serving import database, identity, synthetic

    eng = database.connect(url)
    try:
        filled = synthetic.fill(eng, organisations=organisations, persons=persons, seed=seed)
        with eng.connect() as c:
            lists = c.exec_driver_sql(
                "SELECT scope, publication_id, as_of FROM publications WHERE kind = 'grade_list' ORDER BY as_of DESC"
            ).all()
            latest: dict[str, str] = {}
            for scope, pid, _as_of in lists:
                latest.setdefault(scope, pid)
            sizes = {
                s: _one(c, "SELECT count(*) FROM grade_entries WHERE publication_id = :p", p=p)
                for s, p in latest.items()
            }
            industry, other = sorted(latest, key=lambda s: (-sizes[s], s))[:2]
            region = _one(
                c,
                "SELECT region_code FROM grade_entries WHERE publication_id = :p GROUP BY region_code "
                "ORDER BY count(*) DESC, region_code LIMIT 1",
                p=latest[industry],
            )
            org = _one(
                c,
                "SELECT subject_id FROM grade_entries WHERE publication_id = :p AND region_code = :r "
                "ORDER BY subject_id LIMIT 1",
                p=latest[industry],
                r=region,
            )
            other_org = _one(
                c,
                "SELECT subject_id FROM grade_entries WHERE publication_id = :p AND subject_id NOT IN "
                "(SELECT subject_id FROM grade_entries WHERE industry_code = :i) ORDER BY subject_id LIMIT 1",
                p=latest[other],
                i=industry,
            )
            keys = [
                r[0]
                for r in c.exec_driver_sql(
                    "SELECT DISTINCT subject_key FROM score_entries ORDER BY subject_key LIMIT 2"
                ).all()
            ]
        citizen_key = keys[0] if keys else secrets.token_hex(8)
        other_key = keys[1] if len(keys) > 1 else None
        specs: dict[str, dict[str, Any]] = {
            "citizen": {"role": "citizen", "subject_key": citizen_key},
            "regulator": {"role": "regulator", "industries": (industry,), "regions": (region,), "agency": "市场监管局"},
            "regulator_out": {"role": "regulator", "industries": (other,), "regions": ("*",), "agency": "卫生健康委"},
            "officer": {"role": "officer", "agency": "市场监管局"},
            "analyst": {"role": "analyst"},
            "auditor": {"role": "auditor"},
            "admin": {"role": "admin"},
        }
        actors: dict[str, Actor] = {}
        with eng.begin() as c:
            for key, spec in specs.items():
                role = spec.pop("role")
                user = identity.create_user(c, f"{key}_{seed}", PASSWORD, role, display_name=f"测试{key}", **spec)
                token = identity.issue_token(c, user, f"tests {key}")
                actors[key] = Actor(
                    key=key,
                    username=user.username,
                    role=role,
                    token=token,
                    industries=tuple(user.industries),
                    regions=tuple(user.regions),
                    subject_key=user.subject_key,
                )
    finally:
        eng.dispose()
    return Population(
        url=url,
        fill=filled,
        actors=actors,
        industry=industry,
        other_industry=other,
        region=str(region),
        list_id=latest[industry],
        other_list_id=latest[other],
        organisation=str(org),
        other_organisation=str(other_org),
        citizen_key=citizen_key,
        other_person_key=other_key,
    )


def purpose_for(role: str) -> str:
    """A purpose code the role may give (configs/access ``purposes``: the first by code)."""
    from scoring.serving import access

    return sorted(access.purposes_for(role))[0]


def register_rows(url: str, since_seq: int = 0) -> list[dict[str, Any]]:
    """The register's rows after ``since_seq`` (plain dicts, chain order)."""
    from scoring.serving import database

    eng = database.engine(url)
    try:
        with eng.connect() as c:
            rows = (
                c.exec_driver_sql(
                    "SELECT seq, username, role, action, what, subject, purpose, legal_basis, result "
                    f"FROM query_register WHERE seq > {int(since_seq)} ORDER BY seq"
                )
                .mappings()
                .all()
            )
            return [dict(r) for r in rows]
    finally:
        eng.dispose()


def last_seq(url: str) -> int:
    from scoring.serving import database

    eng = database.engine(url)
    try:
        with eng.connect() as c:
            return int(_one(c, "SELECT coalesce(max(seq), 0) FROM query_register") or 0)
    finally:
        eng.dispose()


# -- the app in its own process -------------------------------------------------------------------
class ServiceProcess:
    """``scoring serve --serving URL --port P`` in its own process; ``with ServiceProcess(url) as s:
    s.base`` is ``http://127.0.0.1:P``. Output goes to ``log`` (a file), shown when start fails."""

    def __init__(
        self, url: str, *, log: Path, workers: int = 1, env: dict[str, str] | None = None, timeout: float = 90.0
    ):
        self.url = url
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.workers = workers
        self.timeout = timeout
        self.env = {**os.environ, "XINYI_SECRET_KEY": secrets.token_hex(32), "XINYI_SERVING_URL": url, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        cmd = [sys.executable, "-m", "scoring.cli", "serve", "--serving", self.url, "--port", str(self.port)]
        return cmd + (["--workers", str(self.workers)] if self.workers != 1 else [])

    def start(self) -> ServiceProcess:
        self.log.parent.mkdir(parents=True, exist_ok=True)
        out = self.log.open("wb")
        self.proc = subprocess.Popen(self.command(), cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the service exited with {self.proc.returncode}:\n{self.output()}")
            try:
                if httpx.get(f"{self.base}/healthz", timeout=2.0).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"the service did not answer /healthz within {self.timeout:.0f} s:\n{self.output()}")

    def output(self) -> str:
        try:
            return self.log.read_text(errors="replace")[-4000:]
        except OSError:
            return ""

    def stop(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)

    def __enter__(self) -> ServiceProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


_CSRF = re.compile(r'name="csrf_token"\s+value="([^"]+)"|value="([^"]+)"\s+name="csrf_token"')


def csrf_of(html: str) -> str | None:
    """The CSRF token of the first form of a page, or None."""
    m = _CSRF.search(html)
    return (m.group(1) or m.group(2)) if m else None
