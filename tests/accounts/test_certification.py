"""Patron-data permissions need a current certification, checked on every call."""

from __future__ import annotations

import datetime as dt

import pytest

from shelfguard.accounts import services
from shelfguard.core import clock
from shelfguard.ledger.models import Entry
from tests.accounts.helpers import ADMIN, make_staff

pytestmark = pytest.mark.django_db

NOON = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)


def test_uncertified_staff_lose_patron_data_but_keep_other_work():
    manager = make_staff("manager", "branch-manager", certified=False)
    decision = services.has_permission(manager, "patron.view_name", branch=manager.branch)
    assert not decision
    assert "no current privacy certification" in decision.reason
    assert services.has_permission(manager, "staff.manage", branch=manager.branch)


def test_expiry_takes_effect_the_next_day_without_any_job():
    with clock.frozen(NOON):
        desk = make_staff("desk", "circulation-desk", certified=False)
        services.certify(desk, course="Privacy 101", until=dt.date(2026, 3, 31), actor=ADMIN)
        assert services.has_permission(desk, "patron.view_name")
    with clock.frozen(dt.datetime(2026, 3, 31, 23, 0, tzinfo=dt.UTC)):
        assert services.has_permission(desk, "patron.view_name")
    with clock.frozen(dt.datetime(2026, 4, 1, 0, 1, tzinfo=dt.UTC)):
        decision = services.has_permission(desk, "patron.view_name")
        assert not decision
        assert "expired on 2026-03-31" in decision.reason
        assert services.has_permission(desk, "circulation.loan").allowed is False
    with clock.frozen(dt.datetime(2026, 4, 1, 9, 0, tzinfo=dt.UTC)):
        services.certify(
            desk, course="Privacy 101 refresher", until=dt.date(2027, 4, 1), actor=ADMIN
        )
        assert services.has_permission(desk, "patron.view_name")


def test_certify_refuses_past_dates_and_is_recorded():
    with clock.frozen(NOON):
        desk = make_staff("desk", "circulation-desk", certified=False)
        with pytest.raises(services.AccountError, match="in the past"):
            services.certify(desk, course="Privacy 101", until=dt.date(2026, 1, 1), actor=ADMIN)
        cert = services.certify(
            desk, course="Privacy 101", until=dt.date(2026, 12, 31), actor=ADMIN
        )
    entry = Entry.objects.filter(action="accounts.certify").last()
    assert entry.detail == {"staff": desk.pk, "certification": cert.pk, "until": "2026-12-31"}


def test_only_the_privacy_officer_records_certifications_from_the_web():
    officer = make_staff("officer", "privacy-officer")
    admin = make_staff("admin", "system-administrator")
    desk = make_staff("desk", "circulation-desk", certified=False)
    until = clock.today() + dt.timedelta(days=30)
    with pytest.raises(services.AccessDenied):
        services.certify(desk, course="Privacy", until=until, actor=ADMIN, by=admin)
    cert = services.certify(desk, course="Privacy", until=until, actor=ADMIN, by=officer)
    assert cert.recorded_by == officer
