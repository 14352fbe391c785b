"""Helpers for the circulation tests: a library with branches, patrons, titles and copies.

Every value is synthetic. `DESK` is a trusted system actor so that most tests
exercise the rules, not the permission gate (which has tests of its own).
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from shelfguard.catalog.models import Item, Record
from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.patrons import services as patrons
from shelfguard.patrons.models import Patron
from tests.catalog.factories import make_item, make_record
from tests.patrons.conftest import adult_values, library  # noqa: F401  (fixture)

DESK = Actor(kind="system", ident="tests", channel="job")
PURPOSE = "circulation desk"
BOTH_DATABASES = pytest.mark.django_db(databases=["default", "keystore"])

_titles = itertools.count(1)

#: A Wednesday at noon UTC, far from any daylight-saving change.
NOON = dt.datetime(2026, 6, 10, 12, 0, tzinfo=dt.UTC)


@pytest.fixture
def at_noon():
    with clock.frozen(NOON):
        yield NOON


@pytest.fixture
def make_patron(library: Path) -> Callable[..., Patron]:  # noqa: F811
    """`make_patron(consents=[...], **values)` registers an adult with synthetic values."""

    def make(*, consents: tuple[str, ...] = (), **overrides: Any) -> Patron:
        patron = patrons.register(**adult_values(**overrides), actor=DESK)
        for purpose in consents:
            patrons.give_consent(patron, purpose, actor=DESK)
        return patron

    return make


@pytest.fixture
def title() -> Callable[..., Record]:
    def make(name: str = "") -> Record:
        return make_record(name or f"A Synthetic Title {next(_titles)}", index=False)

    return make


@pytest.fixture
def copy(title) -> Callable[..., Item]:
    """`copy(record=None, branch="MAIN", item_type="book")`: a new available copy."""

    def make(record: Record | None = None, **kwargs: Any) -> Item:
        return make_item(record or title(), **kwargs)

    return make
