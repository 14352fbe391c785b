"""Helpers for the patron tests: a data home with vault keys, defaults, and a patron factory.

Every value here is synthetic (example.org addresses, 555-style numbers,
made-up names).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from shelfguard.core.actors import Actor
from shelfguard.core.services import ensure_branch
from shelfguard.patrons import services
from shelfguard.patrons.models import Patron
from shelfguard.vault.keys import ensure_keys
from shelfguard.vault.sealing import forget_cached_keys

#: Tests touching patrons use both databases: data keys live in the keystore.
BOTH_DATABASES = pytest.mark.django_db(databases=["default", "keystore"])

DESK = Actor(kind="staff", ident="desk-7", channel="web")

_serial = itertools.count(1)


@pytest.fixture
def library(home: Path, settings) -> Path:
    """A data home with vault keys, the MAIN branch, categories and a published notice."""
    settings.CONFIG = {}
    forget_cached_keys()
    ensure_keys(home)
    ensure_branch("MAIN", "Main Library", actor=DESK)
    ensure_branch("EAST", "East Branch", actor=DESK)
    services.ensure_defaults()
    yield home
    forget_cached_keys()


def adult_values(**overrides: Any) -> dict[str, Any]:
    n = next(_serial)
    values: dict[str, Any] = {
        "card_number": f"2900{n:07d}",
        "name": f"Testa Person{n}",
        "email": f"reader{n}@example.org",
        "phone": f"+1 555 010 {n % 10000:04d}",
        "address": f"{n} Synthetic Street\nSampletown",
        "birth_year": 1980,
        "category": "adult",
        "home_branch": "MAIN",
    }
    values.update(overrides)
    return values


@pytest.fixture
def make_patron(library: Path) -> Callable[..., Patron]:
    """`make_patron(name=...)` registers an adult patron with synthetic values."""

    def make(**overrides: Any) -> Patron:
        values = adult_values(**overrides)
        return services.register(**values, actor=DESK)

    return make
