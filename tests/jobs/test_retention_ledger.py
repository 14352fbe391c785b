"""The access-ledger rule: whole months, kept `[ledger] retention_days` after they end."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import transaction

from shelfguard.core.actors import Actor
from shelfguard.ledger import services as ledger
from shelfguard.ledger.models import Entry
from shelfguard.lifecycle import retention

from .conftest import days, frozen_on

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("home")]

ACTOR = Actor(kind="system", ident="tests", channel="job")


def entry_on(day: dt.date) -> None:
    with frozen_on(day), transaction.atomic():
        ledger.append(actor=ACTOR, action="test.entry", purpose="test", patron_id=7)


def sweep_on(day: dt.date, **kwargs) -> retention.RuleResult:
    with frozen_on(day):
        (result,) = retention.sweep(only=["access-ledger"], **kwargs).rules
    return result


def test_a_month_goes_the_day_after_its_period_ends(settings):
    settings.CONFIG = {}
    entry_on(dt.date(2023, 1, 15))
    entry_on(dt.date(2023, 2, 15))
    last_kept = dt.date(2023, 1, 31) + days(1095)

    assert sweep_on(last_kept).counts == {"destroyed": 0}
    assert sweep_on(last_kept + days(1), dry_run=True).counts == {"due": 1}
    assert Entry.objects.filter(action="test.entry").count() == 2  # the dry run kept it
    assert sweep_on(last_kept + days(1)).counts == {"destroyed": 1}
    assert Entry.objects.filter(action="test.entry").count() == 1
    sweep_entry = Entry.objects.filter(action="retention.sweep").latest("seq")
    assert sweep_entry.detail == {"rule": "access-ledger", "days": 1095, "destroyed": 1}


def test_the_ledger_setting_sets_the_period(settings):
    settings.CONFIG = {"ledger": {"retention_days": 400}}
    entry_on(dt.date(2023, 1, 15))
    assert sweep_on(dt.date(2023, 1, 31) + days(400)).counts == {"destroyed": 0}
    assert sweep_on(dt.date(2023, 1, 31) + days(401)).counts == {"destroyed": 1}
