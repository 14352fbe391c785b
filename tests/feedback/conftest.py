"""Fixtures for the feedback tests: a data home with vault keys, staff, patrons.

Every value is synthetic (example.org addresses, made-up names and texts).
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction
from django.test import Client

from shelfguard.portal.access import cookie_name
from shelfguard.portal.sessions import start as start_portal_session
from tests.accounts.helpers import make_staff
from tests.patrons.conftest import DESK, library, make_patron  # noqa: F401  (fixtures)
from tests.staff.signin import sign_in

T0 = dt.datetime(2026, 3, 2, 10, 15, 0, tzinfo=dt.UTC)

pytestmark = pytest.mark.django_db(databases=["default", "keystore"])


@pytest.fixture
def staff_client(library):  # noqa: F811
    """`staff_client(role)` signs a new staff member of MAIN in; returns the client."""
    made = {"n": 0}

    def make(role: str, branch: str = "MAIN") -> Client:
        made["n"] += 1
        staff = make_staff(f"fb-{role}-{made['n']}", role, branch=branch)
        client = Client()
        sign_in(client, staff)
        return client

    return make


def portal_client(patron) -> Client:
    """A client holding a live portal session of `patron` (the cookie the portal sets)."""
    with transaction.atomic():
        _session, token = start_portal_session(patron, public=False)
    client = Client()
    client.cookies[cookie_name()] = token
    return client
