"""Changing the password and the recovery codes needs re-authentication."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client

from shelfguard.accounts import mfa
from shelfguard.accounts.models import StaffSession, StaffUser
from shelfguard.core import clock
from shelfguard.ledger.models import Entry
from tests.accounts.helpers import PASSWORD, device_of, make_staff, totp_code
from tests.staff.signin import sign_in

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 9, 1, 9, 0, 5, tzinfo=dt.UTC)
NEW = "an owl reads by lamplight"


@pytest.fixture
def desk():
    with clock.frozen(T0):
        return make_staff("desk", "circulation-desk")


def signed_in(staff, at=T0):
    client = Client()
    with clock.frozen(at):
        sign_in(client, staff)
    return client


def change(client, staff, at, **overrides):
    data = {
        "current_password": PASSWORD,
        "new_password": NEW,
        "new_password_again": NEW,
        "code": totp_code(device_of(staff).key, at),
        **overrides,
    }
    with clock.frozen(at):
        return client.post("/staff/account/password/", data)


def test_password_change_keeps_this_session_and_ends_the_others(desk):
    other = signed_in(desk)
    mine = signed_in(desk, T0 + dt.timedelta(seconds=30))
    at = T0 + dt.timedelta(seconds=60)
    response = change(mine, desk, at)
    assert "Your password is changed. Sessions ended elsewhere: 1." in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    with clock.frozen(at):
        assert mine.get("/staff/").status_code == 200
        assert other.get("/staff/").status_code == 302
    assert StaffUser.objects.get(pk=desk.pk).check_password(NEW)
    assert Entry.objects.filter(action="accounts.password_change").exists()
    assert StaffSession.objects.filter(end_reason="password-changed").count() == 1


def test_password_change_refused_without_the_second_factor_or_current_password(desk):
    client = signed_in(desk)
    at = T0 + dt.timedelta(seconds=30)
    no_code = change(client, desk, at, code="000000")
    assert "Sign-in failed" in no_code.content.decode()
    wrong = change(client, desk, at + dt.timedelta(seconds=30), current_password="not my password")
    assert "Sign-in failed" in wrong.content.decode()
    assert StaffUser.objects.get(pk=desk.pk).check_password(PASSWORD)


def test_password_change_shows_the_rules(desk):
    client = signed_in(desk)
    response = change(
        client,
        desk,
        T0 + dt.timedelta(seconds=30),
        new_password="password1",
        new_password_again="password1",
    )
    assert "commonly used passwords" in response.content.decode()


def test_new_recovery_codes_replace_the_old(desk):
    with clock.frozen(T0):
        old = mfa.new_recovery_codes(desk)
    client = signed_in(desk)
    at = T0 + dt.timedelta(seconds=30)
    with clock.frozen(at):
        response = client.post(
            "/staff/account/recovery-codes/",
            {"current_password": PASSWORD, "code": totp_code(device_of(desk).key, at)},
        )
    new = re.findall(r"<li><code>([a-z2-9-]+)</code></li>", response.content.decode())
    assert len(new) == 10 and not set(new) & set(old)
    assert "Your old recovery codes no longer work." in response.content.decode()
    with clock.frozen(at):
        assert mfa.use_recovery_code(desk, old[0]) is None
        assert mfa.use_recovery_code(desk, new[0]) is not None
