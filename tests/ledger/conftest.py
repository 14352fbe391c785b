"""Helpers for the ledger tests: an actor, a chain of entries, raw SQL to tamper with."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from django.db import connection, transaction

from shelfguard.core.actors import Actor
from shelfguard.ledger import services
from shelfguard.ledger.checkpoints import ensure_signing_key
from shelfguard.ledger.models import Entry

DESK = Actor(kind="staff", ident="alice", channel="web")


def append_one(i: int = 0, **overrides) -> Entry:
    values = {
        "actor": DESK,
        "action": "patron.reveal",
        "purpose": "circulation desk",
        "patron_id": 100 + i,
        "fields": ["name", "email"],
        "origin": "192.0.2.7",
        "detail": {"count": i},
    }
    values.update(overrides)
    with transaction.atomic():
        return services.append(**values)


@pytest.fixture
def chain_of() -> Callable[[int], list[Entry]]:
    """`chain_of(n)` appends n entries, each in its own transaction, and returns them."""

    def build(n: int) -> list[Entry]:
        return [append_one(i) for i in range(n)]

    return build


def sql(statement: str, params: tuple = ()) -> None:
    """Tamper with the database directly, as an intruder with write access would."""
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


@pytest.fixture
def signing_home(home: Path) -> Path:
    """A data home with a ledger signing key, so checkpoints can be written and checked."""
    assert ensure_signing_key(home) is True
    return home


@pytest.fixture(autouse=True)
def _own_home(home: Path) -> Path:
    """Every ledger test gets its own data home: checkpoints and keys never leak between tests."""
    return home
