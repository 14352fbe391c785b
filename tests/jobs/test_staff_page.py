"""/staff/admin/jobs/: the jobs and the retention register, for staff who change configuration."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from shelfguard.core import clock
from shelfguard.jobs import services
from tests.accounts.helpers import make_staff
from tests.staff.signin import sign_in

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("home")]

T0 = dt.datetime(2026, 9, 1, 9, 0, 5, tzinfo=dt.UTC)
URL = "/staff/admin/jobs/"


def client_for(staff) -> Client:
    client = Client()
    with clock.frozen(T0):
        sign_in(client, staff)
    return client


def test_the_page_shows_jobs_and_rules_to_a_system_administrator():
    with clock.frozen(T0):
        admin = make_staff("admin", "system-administrator")
        services.run_job("hold-expiry")
    client = client_for(admin)
    with clock.frozen(T0 + dt.timedelta(minutes=1)):
        response = client.get(URL)
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="jobs-table"' in page and 'id="retention-table"' in page
    assert "hold-expiry" in page and "2026-09-01 09:00" in page and "expired 0" in page
    assert "expired-patrons" in page and "[retention] expired_patron_days" in page
    assert "730" in page


def test_the_page_is_refused_without_config_change():
    with clock.frozen(T0):
        desk = make_staff("desk", "circulation-desk")
    client = client_for(desk)
    with clock.frozen(T0 + dt.timedelta(minutes=1)):
        assert client.get(URL).status_code == 403
