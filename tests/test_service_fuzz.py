"""An OpenAPI fuzz run (schemathesis' Python API, from the app's /api/openapi.json) with a
regulator's Bearer token and its purpose (X-Purpose) — the auditor's for the register, the
citizen's for a person's score — : no request makes the service answer 5xx.

Per API operation, hypothesis draws a bounded number of cases (``MAX_EXAMPLES``, derandomized, so a
run is repeatable) from schemathesis' strategies: valid (positive) and invalid (negative) data, with
generated path ids (mostly unknown) and with the path's ids fixed to real ones of the regulator's
scope, so filters, paging and bodies are fuzzed on real rows too. In process (ASGI) on a real
SQLite serving database. (The pytest plugin's lazy ``from_fixture`` loader fails under pytest 9:
``Function`` has no ``_nodeid``; the strategies are used directly.)
"""

from __future__ import annotations

import secrets
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from tests.service_harness import Population, populate, purpose_for

MAX_EXAMPLES = 20
#: The contract's API (CONTRACTS15 "D · service"); test_the_schema_has_the_api checks the app has it.
OPERATIONS = (
    ("GET", "/api/v1/lists"),
    ("GET", "/api/v1/lists/{publication_id}"),
    ("GET", "/api/v1/lists/{publication_id}/download"),
    ("GET", "/api/v1/organisations/{subject_id}"),
    ("POST", "/api/v1/plans"),
    ("GET", "/api/v1/plans/{plan_id}"),
    ("GET", "/api/v1/whitelists/{industry}"),
    ("GET", "/api/v1/register"),
    ("GET", "/api/v1/register/verify"),
    ("GET", "/api/v1/persons/{subject_key}/score"),
)
#: Who fuzzes an operation: someone it serves (the regulator, else the auditor or the citizen).
ACTOR = {
    "/api/v1/register": "auditor",
    "/api/v1/register/verify": "auditor",
    "/api/v1/persons/{subject_key}/score": "citizen",
}


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory) -> tuple[Any, Population, Any]:
    from scoring.service.app import create_app
    from scoring.service.settings import Settings
    from scoring.serving import database
    from scoring.workflows.supervision import draw_inspection_plan

    url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'serving.sqlite'}"
    pop = populate(url, organisations=400, persons=10, seed=9)
    eng = database.connect(url)
    reg = pop.actor("regulator")
    plan = draw_inspection_plan(
        eng,
        user=reg.username,
        role=reg.role,
        industry=pop.industry,
        region=pop.region,
        period="2026H1",
        seed=1,
        purpose=purpose_for("regulator"),
    )
    eng.dispose()
    pop.extra["plan_id"] = plan.plan_id
    app = create_app(Settings(serving_url=url, secret_key=secrets.token_hex(32)))
    return app, pop, schemathesis.openapi.from_asgi("/api/openapi.json", app)


def _real(pop: Population) -> dict[str, str]:
    return {
        "publication_id": pop.list_id,
        "subject_id": pop.organisation,
        "industry": pop.industry,
        "subject_key": pop.citizen_key or "",
        "plan_id": str(pop.extra["plan_id"]),
    }


CASES = [(m, p, ids) for m, p in OPERATIONS for ids in (("generated", "real") if "{" in p else ("generated",))]


@pytest.mark.parametrize("mode", ["positive", "negative"])
@pytest.mark.parametrize(("method", "path", "ids"), CASES, ids=[f"{m} {p} {i}" for m, p, i in CASES])
def test_no_server_error(fuzzed, method: str, path: str, ids: str, mode: str):
    _app, pop, schema = fuzzed
    op = schema[path][method]
    params = {k: v for k, v in _real(pop).items() if "{" + k + "}" in path}
    actor = pop.actor(ACTOR.get(path, "regulator"))
    headers = {"Authorization": f"Bearer {actor.token}"}
    if actor.role == "regulator":
        headers["X-Purpose"] = purpose_for("regulator")
    strategy = op.as_strategy(schemathesis.GenerationMode(mode), path_parameters=params if ids == "real" else None)
    seen: list[int] = []

    @given(case=strategy)
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        response = case.call_and_validate(headers=headers, checks=[not_a_server_error])
        seen.append(response.status_code)

    run()
    assert seen, "no case was sent"
    if ids == "real" and mode == "positive" and method == "GET":
        assert 200 in seen, f"{path}: valid requests on real ids never answered 200: {sorted(set(seen))}"


def test_the_schema_has_the_api(fuzzed):
    """The fuzz run covers the contract's API: every operation of the contract is in the OpenAPI."""
    _app, _pop, schema = fuzzed
    paths = schema.raw_schema["paths"]
    missing = [(m, p) for m, p in OPERATIONS if m.lower() not in paths.get(p, {})]
    assert not missing, (missing, sorted(paths))
    extra = [(m.upper(), p) for p, ops in paths.items() for m in ops if (m.upper(), p) not in OPERATIONS]
    assert not extra, f"API operations not fuzzed (add them to OPERATIONS): {extra}"
