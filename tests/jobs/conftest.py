"""Helpers for the job and retention tests: the circulation library, a clock, table counts.

Every value is synthetic (see tests/patrons/conftest.py).
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.apps import apps
from django.db import router

from shelfguard.core import clock
from tests.circulation.conftest import copy, make_patron, title  # noqa: F401  (fixtures)
from tests.patrons.conftest import library  # noqa: F401  (fixture)

BOTH_DATABASES = pytest.mark.django_db(databases=["default", "keystore"])

#: The day the tests stand on: a Wednesday, far from daylight-saving changes.
TODAY = dt.date(2026, 6, 10)


def at(day: dt.date, hour: int = 12) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, hour, 0, tzinfo=dt.UTC)


def frozen_on(day: dt.date, hour: int = 12):
    """Stop the project clock at noon UTC of `day`."""
    return clock.frozen(at(day, hour))


def days(n: int) -> dt.timedelta:
    return dt.timedelta(days=n)


def table_counts() -> dict[str, int]:
    """Rows per model in every app, plus linked loans/holds and erased patrons."""
    from shelfguard.circulation.models import Hold, Loan
    from shelfguard.patrons.models import Patron

    counts = {}
    for model in apps.get_models():
        if router.allow_migrate_model("default", model):
            counts[model._meta.label] = model._default_manager.using("default").count()
    counts["linked loans"] = Loan.objects.filter(patron__isnull=False).count()
    counts["linked holds"] = Hold.objects.filter(patron__isnull=False).count()
    counts["erased patrons"] = Patron.objects.filter(status="erased").count()
    return counts
