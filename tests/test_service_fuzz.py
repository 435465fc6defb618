"""An OpenAPI fuzz run (schemathesis, from the app's /api/openapi.json) with a regulator's Bearer
token and a purpose: no request makes the service answer 5xx. The examples are bounded (hypothesis
``max_examples``), and every generated case is sent twice: as generated (mostly unknown ids) and
with the path's ids replaced by real ones of the regulator's scope, so filters and paging are
fuzzed on real data too. In process (ASGI) on a real SQLite serving database.
"""

from __future__ import annotations

import secrets
from typing import Any

import pytest

pytest.importorskip("scoring.service.app", reason="the service (D) is not merged yet")
schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402

from tests.service_harness import Population, populate  # noqa: E402

MAX_EXAMPLES = 25


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory) -> tuple[Any, Population]:
    from scoring.service.app import create_app
    from scoring.service.settings import Settings
    from scoring.serving import access

    url = f"sqlite:///{tmp_path_factory.mktemp('fuzz') / 'serving.sqlite'}"
    pop = populate(url, organisations=400, persons=10, seed=9)
    pop.extra["purpose"] = sorted(access.PURPOSES)[0]
    app = create_app(Settings(serving_url=url, secret_key=secrets.token_hex(32)))
    return app, pop


@pytest.fixture(scope="module")
def api_schema(fuzzed) -> Any:
    app, _pop = fuzzed
    return schemathesis.openapi.from_asgi("/api/openapi.json", app)


schema = schemathesis.pytest.from_fixture("api_schema")


def _real(pop: Population) -> dict[str, str]:
    return {
        "publication_id": pop.list_id,
        "subject_id": pop.organisation,
        "industry": pop.industry,
        "subject_key": pop.citizen_key or "",
        "plan_id": str(pop.extra.get("plan_id", "")),
    }


@schema.parametrize()
@settings(max_examples=MAX_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_server_error(case, fuzzed):
    _app, pop = fuzzed
    headers = {"Authorization": f"Bearer {pop.actor('regulator').token}", "X-Purpose": pop.extra["purpose"]}
    case.call_and_validate(headers=headers, checks=[not_a_server_error])
    if case.path_parameters:
        real = _real(pop)
        case.path_parameters = {k: real.get(k) or v for k, v in case.path_parameters.items()}
        case.call_and_validate(headers=headers, checks=[not_a_server_error])


def test_the_schema_has_the_api(api_schema):
    """The fuzz run covers the contract's API: every route of the contract is in the OpenAPI."""
    paths = set(api_schema.raw_schema["paths"])
    for p in (
        "/api/v1/lists",
        "/api/v1/lists/{publication_id}",
        "/api/v1/lists/{publication_id}/download",
        "/api/v1/organisations/{subject_id}",
        "/api/v1/plans",
        "/api/v1/plans/{plan_id}",
        "/api/v1/whitelists/{industry}",
        "/api/v1/register",
        "/api/v1/register/verify",
        "/api/v1/persons/{subject_key}/score",
    ):
        assert p in paths, (p, sorted(paths))
