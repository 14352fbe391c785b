"""Every operation of the JSON API against its own OpenAPI schema, with Schemathesis.

The schema is loaded from the running Django app (its WSGI application), so
what is checked is what is served. Staff operations get a valid token with
every scope, for a staff member who holds every permission they need; the
database holds a few synthetic items and a synthetic patron whose card and
barcode are the schema's examples, so lookups and loans sometimes succeed.
The example count is bounded so the whole module stays well under a minute.

The last tests prove that this test can fail: a server error and an
undocumented status code are both caught.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from shelfguard.api import services
from shelfguard.api.circulation import EXAMPLE_CARD
from shelfguard.patrons import services as patrons
from shelfguard.wsgi import application
from tests.accounts.helpers import ADMIN
from tests.api.helpers import add_items, bearer, staff_with_token
from tests.patrons.conftest import adult_values, library  # noqa: F401  (fixture)

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
MAX_EXAMPLES = 25

# Loaded when the module is collected (Schemathesis' lazy `from_fixture` does
# not work with the pytest in use). Serving the schema touches no database.
schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", application)


@pytest.fixture
def api_schema():
    return schema


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """Keep the database connection that holds the test's transaction open.

    The WSGI application closes "old" connections around each request, as a
    server should; on PostgreSQL that closes the test's own connection in
    the middle of the test. Django's test client does the same as this.
    """
    from django.core import signals
    from django.db import close_old_connections

    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def staff_token(db, library) -> str:  # noqa: F811  (the fixture, by name)
    """A token with every scope, for a staff member whose roles allow them all.

    Also a patron holding the schema's example card, so that the examples of
    the circulation operations lend, renew and return for real.
    """
    add_items()
    patrons.register(**adult_values(card_number=EXAMPLE_CARD), actor=ADMIN)
    _staff, _token, secret = staff_with_token(
        "api-checker", "circulation-desk", "cataloguer", scopes=tuple(services.SCOPES)
    )
    return secret


def needs_token(case) -> bool:
    return bool(case.operation.definition.raw.get("security"))


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_api_conforms_to_its_schema(case, staff_token):
    headers = bearer(staff_token) if needs_token(case) else None
    case.call_and_validate(headers=headers, checks=CHECKS)


# --- the test above can fail ------------------------------------------------------


def item_case(api_schema):
    operation = api_schema["/api/v1/items/{barcode}"]["GET"]
    return operation.Case(path_parameters={"barcode": "MOSS-0001"})


def test_it_catches_a_server_error(api_schema, staff_token, monkeypatch):
    def broken(barcode):
        raise RuntimeError("synthetic failure")

    monkeypatch.setattr(services, "find_item", broken)
    with pytest.raises(FailureGroup) as caught:
        item_case(api_schema).call_and_validate(headers=bearer(staff_token), checks=CHECKS)
    assert "Server error" in str(caught.value)


def test_it_catches_an_undocumented_status(api_schema, staff_token, monkeypatch):
    from ninja.errors import HttpError

    def teapot(barcode):
        raise HttpError(418, "I'm a teapot")

    monkeypatch.setattr(services, "find_item", teapot)
    with pytest.raises(FailureGroup) as caught:
        item_case(api_schema).call_and_validate(headers=bearer(staff_token), checks=CHECKS)
    assert "Undocumented status code" in str(caught.value)
    assert "Received: 418" in str(caught.value)


def test_it_passes_on_a_documented_answer(api_schema, staff_token):
    response = item_case(api_schema).call_and_validate(headers=bearer(staff_token), checks=CHECKS)
    assert response.status_code == 200
