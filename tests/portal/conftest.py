"""Patrons with portal passwords, and signing a test client in through the real pages.

Every value is synthetic (see tests/patrons/conftest.py).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

import pytest
from django.test import Client

from shelfguard.core import clock
from shelfguard.patrons.models import Patron
from shelfguard.portal import services
from tests.patrons.conftest import DESK, library, make_patron  # noqa: F401  (fixtures)

PASSWORD = "a quiet reading room at dusk"
T0 = dt.datetime(2026, 9, 1, 9, 0, 5, tzinfo=dt.UTC)

pytestmark = pytest.mark.django_db(databases=["default", "keystore"])


def _card(patron: Patron) -> str:
    from shelfguard.patrons import services as patrons

    return patrons.reveal(patron, ["card_number"], actor=DESK, purpose="tests")["card_number"]


@pytest.fixture
def reader(make_patron) -> Callable[..., tuple[Patron, str]]:  # noqa: F811
    """`reader()` registers a patron with a portal password; returns (patron, card number)."""

    def make(password: str | None = PASSWORD, **overrides) -> tuple[Patron, str]:
        with clock.frozen(overrides.pop("at", T0)):
            patron = make_patron(**overrides)
            if password is not None:
                services.set_password(patron, password, actor=DESK, purpose="tests")
        return patron, _card(patron)

    return make


def sign_in(client: Client, card: str, password: str = PASSWORD, *, public: bool = False, at=T0):
    data = {"card": card, "password": password}
    if public:
        data["public"] = "on"
    with clock.frozen(at):
        return client.post("/account/login/", data)


def signed_in(card: str, *, public: bool = False, at=T0) -> Client:
    client = Client()
    response = sign_in(client, card, public=public, at=at)
    assert response.status_code == 302 and response["Location"] == "/account/", (
        response.content.decode()[:2000]
    )
    return client
