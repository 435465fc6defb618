"""Shared set-up of the service tests: a filled serving database (synthetic.fill), users of every
role and a TestClient of the app, on the database of the ``serving_url`` fixture."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from fastapi.testclient import TestClient

from scoring.service.app import create_app
from scoring.service.settings import Settings
from scoring.serving import database, identity, schema, synthetic

PASSWORD = "correct-horse-battery"
SECRET = "s" * 48
IND = "construction"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Service:
    url: str
    engine: sa.Engine
    app: Any
    filled: dict
    region: str  # the scoped regulator's region
    other_region: str
    citizen_key: str
    other_key: str
    users: dict[str, identity.User] = field(default_factory=dict)

    def client(self) -> TestClient:
        return TestClient(self.app, follow_redirects=False)

    def pub(self, industry: str = IND, newest: bool = True) -> str:
        pubs = sorted(
            (p for p in self.filled["publications"] if _pub_industry(self, p) == industry),
            key=lambda p: _pub_as_of(self, p),
        )
        return pubs[-1] if newest else pubs[0]

    def org(self, industry: str = IND, region: str | None = None, publication_id: str | None = None) -> str:
        t = schema.grade_entries
        q = sa.select(t.c.subject_id).where(t.c.industry_code == industry)
        if region:
            q = q.where(t.c.region_code == region)
        q = q.where(t.c.publication_id == (publication_id or self.pub(industry))).order_by(t.c.subject_id)
        with self.engine.connect() as conn:
            return str(conn.execute(q).scalars().first())


def _pub_row(svc: Service, pub_id: str) -> Any:
    with svc.engine.connect() as conn:
        return conn.execute(
            sa.select(schema.publications).where(schema.publications.c.publication_id == pub_id)
        ).first()


def _pub_industry(svc: Service, pub: Any) -> str:
    pid = pub if isinstance(pub, str) else pub["publication_id"]
    return str(_pub_row(svc, pid)._mapping["scope"])


def _pub_as_of(svc: Service, pub: Any) -> Any:
    pid = pub if isinstance(pub, str) else pub["publication_id"]
    return _pub_row(svc, pid)._mapping["as_of"]


def build(url: str, *, organisations: int = 600) -> Service:
    eng = database.connect(url)
    filled = synthetic.fill(eng, organisations=organisations, persons=8, seed=3)
    filled["publications"] = [p if isinstance(p, str) else p["publication_id"] for p in filled["publications"]]
    with eng.connect() as conn:
        keys = list(
            conn.execute(
                sa.select(schema.score_entries.c.subject_key).distinct().order_by(schema.score_entries.c.subject_key)
            ).scalars()
        )
        regions = list(
            conn.execute(
                sa.select(schema.grade_entries.c.region_code)
                .where(schema.grade_entries.c.industry_code == IND)
                .distinct()
                .order_by(schema.grade_entries.c.region_code)
            ).scalars()
        )
    app = create_app(Settings(url, secret_key=SECRET))
    svc = Service(url, eng, app, filled, regions[0], regions[1], keys[0], keys[1])
    specs: dict[str, dict[str, Any]] = {
        "reg": {"role": "regulator", "industries": (IND,), "regions": (svc.region,)},
        "reg_all": {"role": "regulator", "industries": (IND,), "regions": ("*",)},
        "analyst": {"role": "analyst"},
        "auditor": {"role": "auditor"},
        "admin": {"role": "admin"},
        "citizen": {"role": "citizen", "subject_key": svc.citizen_key},
        "officer": {"role": "officer", "agency": "金华市市场监督管理局"},
    }
    with eng.begin() as conn:
        for name, spec in specs.items():
            spec = dict(spec)
            role = spec.pop("role")
            svc.users[name] = identity.create_user(conn, name, PASSWORD, role, display_name=f"测试{name}", **spec)
    return svc


def csrf_of(html: str) -> str:
    m = CSRF.search(html)
    assert m, "the page carries a CSRF token"
    return m.group(1)


def login(
    client: TestClient, username: str, password: str = PASSWORD, purpose: str | None = "daily_supervision"
) -> Any:
    r = client.get("/login")
    token = csrf_of(r.text)
    r = client.post("/login", data={"username": username, "password": password, "csrf_token": token, "next": "/"})
    if r.status_code == 303 and r.headers["location"].startswith("/purpose") and purpose:
        page = client.get(r.headers["location"])
        r2 = client.post("/purpose", data={"purpose": purpose, "csrf_token": csrf_of(page.text), "next": "/"})
        assert r2.status_code == 303, r2.text
    return r


def token_of(client: TestClient) -> str:
    return csrf_of(client.get("/").text)


def register_rows(svc: Service) -> list[dict]:
    with svc.engine.connect() as conn:
        return [
            dict(r._mapping)
            for r in conn.execute(sa.select(schema.query_register).order_by(schema.query_register.c.seq))
        ]
