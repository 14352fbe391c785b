"""Fixtures of the SIP2 handler tests: terminals, a signed-in connection, a patron.

The library, clock and catalogue fixtures come from the circulation and
patrons tests; the plain helpers are in `handler_support.py`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from shelfguard.sip2 import services
from shelfguard.sip2.models import Terminal
from shelfguard.sip2.session import Connection
from tests.circulation.conftest import at_noon, copy, make_patron, title  # noqa: F401  (fixtures)
from tests.patrons.conftest import library  # noqa: F401  (fixture)
from tests.sip2.handler_support import LOGIN, OPERATOR, PASSWORD, PIN, answer, login_frame, new_conn


@pytest.fixture
def add_terminal() -> Callable[..., Terminal]:
    def add(login: str = LOGIN, **options: Any) -> Terminal:
        options.setdefault("branch", "MAIN")
        return services.add_terminal(
            login, password=PASSWORD, actor=OPERATOR, purpose="tests", **options
        )

    return add


@pytest.fixture
def terminal(add_terminal) -> Terminal:
    return add_terminal()


@pytest.fixture
def conn(terminal) -> Connection:
    """A connection whose terminal has signed in."""
    connection = new_conn()
    reply = answer(connection, login_frame())
    assert reply.fixed["ok"] == "1"
    return connection


@pytest.fixture
def patron(make_patron):  # noqa: F811  (the imported fixture)
    return make_patron(name="Testa Readwell", pin=PIN)
