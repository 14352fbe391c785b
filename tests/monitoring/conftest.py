"""Helpers for the monitoring tests: a library with opening hours, staff, and a ledger writer.

Entries are written with the real `ledger.services.append`, each at a chosen
moment of the project clock, so the rules read exactly what the services
would have written. Every value is synthetic.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.db import transaction

from shelfguard.circulation import services as circulation
from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.ledger import services as ledger
from shelfguard.patrons import services as patrons
from shelfguard.vault.keys import ensure_keys
from shelfguard.vault.sealing import forget_cached_keys
from tests.accounts.helpers import branches, make_staff

BOTH_DATABASES = pytest.mark.django_db(databases=["default", "keystore"])
SETUP = Actor(kind="system", ident="tests", channel="job")
OFFICER_EMAIL = "privacy-officer@example.org"

#: A Monday in October; the library's time zone is UTC in the tests.
MONDAY = dt.date(2026, 10, 5)


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=dt.UTC)


@pytest.fixture
def library(home: Path, settings) -> Path:
    """Vault keys, branches MAIN and EAST open Monday to Friday 09:00-17:00, patron defaults."""
    settings.CONFIG = {
        "monitoring": {"volume_floor": 8},
        "privacy": {"officer_email": OFFICER_EMAIL},
    }
    forget_cached_keys()
    ensure_keys(home)
    with clock.frozen(at(MONDAY, 0) - dt.timedelta(days=60)):
        branches()
        patrons.ensure_defaults()
        for code in ("MAIN", "EAST"):
            for weekday in range(5):
                circulation.set_hours(code, weekday, dt.time(9, 0), dt.time(17, 0), actor=SETUP)
    yield home
    forget_cached_keys()


@pytest.fixture
def desk(library: Path):
    with clock.frozen(at(MONDAY, 0) - dt.timedelta(days=59)):
        return make_staff("desk-one", "circulation-desk", branch="MAIN", enrol=False)


@pytest.fixture
def record() -> Callable[..., Any]:
    """`record(moment, action, actor=..., patron_id=...)`: one real ledger entry at `moment`."""

    def write(
        moment: dt.datetime,
        action: str,
        *,
        actor: str = "desk-one",
        kind: str = "staff",
        patron_id: int | None = None,
        detail: dict | None = None,
    ):
        who = Actor(kind=kind, ident=actor, channel="web")
        with clock.frozen(moment), transaction.atomic():
            return ledger.append(
                actor=who,
                action=action,
                purpose="serving a patron at the desk",
                patron_id=patron_id,
                detail=detail,
            )

    return write


@pytest.fixture
def desk_day(record) -> Callable[..., None]:
    """A normal desk day: reveals spread over opening hours, each followed by a checkout."""

    def run(day: dt.date = MONDAY, *, actor: str = "desk-one", per_hour: int = 4) -> None:
        for hour in range(10, 16):
            for n in range(per_hour):
                patron = 500_000 + hour * 100 + n
                moment = at(day, hour, n * 12)
                record(moment, "patron.reveal", actor=actor, patron_id=patron)
                record(
                    moment + dt.timedelta(minutes=3),
                    "circulation.checkout",
                    actor=actor,
                    patron_id=patron,
                )

    return run


@pytest.fixture
def make_patron(library: Path):
    serial = iter(range(1, 1000))

    def make(name: str | None = None, card: str | None = None):
        n = next(serial)
        with clock.frozen(at(MONDAY, 8)):
            return patrons.register(
                card_number=card or f"2955{n:07d}",
                name=name or f"Testa Monitored{n}",
                email=f"monitored{n}@example.org",
                phone=f"+1 555 020 {n:04d}",
                address=f"{n} Synthetic Street\nSampletown",
                birth_year=1980,
                category="adult",
                home_branch="MAIN",
                actor=SETUP,
            )

    return make
