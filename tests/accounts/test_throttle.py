"""Throttling and lockout: growing delays, lockout in the ledger, nothing about existence."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from shelfguard.accounts import signin, throttle
from shelfguard.accounts.models import Throttle
from shelfguard.core import clock
from shelfguard.ledger.models import Entry
from tests.accounts.helpers import PASSWORD, device_of, make_staff, totp_code

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 6, 1, 8, 0, tzinfo=dt.UTC)
SRC = "192.0.2.10"


def attempt(username, password, at, source=SRC):
    with clock.frozen(at):
        try:
            signin.check_password(username, password, source=source)
        except signin.SignInFailed as exc:
            return str(exc), exc.retry_after
    return "ok", 0


@pytest.fixture
def lockout_after(settings):
    def set_limit(n):
        settings.CONFIG = {
            **settings.CONFIG,
            "accounts": {"lockout_after": n, "lockout_minutes": 30},
        }

    return set_limit


def test_delays_grow_after_the_free_attempts():
    with clock.frozen(T0):
        staff = make_staff("reader", "cataloguer")
    at = T0
    waits = []
    for _ in range(6):
        message, wait = attempt("reader", "wrong guess here", at)
        waits.append(wait)
        at += dt.timedelta(seconds=wait)
    assert waits == [0, 0, 1, 2, 4, 8]
    # Inside the delay even the right password is not tried.
    message, wait = attempt("reader", PASSWORD, at - dt.timedelta(seconds=1))
    assert "Wait" in message and wait >= 1
    assert attempt("reader", PASSWORD, at) == ("ok", 0)
    # The password alone is half a sign-in: the count stays until the second
    # factor succeeds too, then it is cleared.
    with clock.frozen(at):
        signin.check_second_factor(staff, totp_code(device_of(staff).key), source=SRC)
    assert attempt("reader", "wrong again", at)[1] == 0


def test_lockout_after_the_configured_number_is_recorded(lockout_after):
    lockout_after(5)
    with clock.frozen(T0):
        staff = make_staff("reader", "cataloguer")
    at = T0
    for _ in range(5):
        _message, wait = attempt("reader", "wrong guess here", at)
        if wait < 60:
            at += dt.timedelta(seconds=wait)
    assert wait == 30 * 60
    entry = Entry.objects.get(action="accounts.lockout")
    assert entry.detail == {
        "subject": f"staff:{staff.pk}",
        "failures": 5,
        "minutes": 30,
        "review": True,
    }
    message, wait = attempt("reader", PASSWORD, at + dt.timedelta(minutes=10))
    assert message != "ok" and wait == 20 * 60
    assert attempt("reader", PASSWORD, at + dt.timedelta(minutes=30, seconds=1)) == ("ok", 0)


def test_unknown_names_are_answered_exactly_like_real_ones(lockout_after):
    lockout_after(4)
    with clock.frozen(T0):
        make_staff("reader", "cataloguer")
    real, ghost = [], []
    at = T0
    for _ in range(5):
        real.append(attempt("reader", "wrong guess here", at, source="192.0.2.1"))
        ghost.append(attempt("nobody-here", "wrong guess here", at, source="192.0.2.2"))
        at += dt.timedelta(minutes=1)
    assert real == ghost
    entries = Entry.objects.filter(action="accounts.lockout")
    assert sorted(e.detail["subject"] for e in entries)[1] == "unknown-account"


def test_source_throttle_spans_accounts():
    at = T0
    waits = []
    for i in range(throttle.SOURCE_FREE_ATTEMPTS + 2):
        waits.append(attempt(f"name{i}", "wrong guess here", at)[1])
    assert waits[-2:] == [0, 1] or waits[-1] >= 1
    # Another source is not affected.
    assert attempt("name0", "wrong guess here", at, source="198.51.100.1")[1] == 0


def test_attempted_passwords_and_names_are_not_stored():
    secret = "hunter2-unique-attempt"
    attempt("some-person", secret, T0)
    rows = list(Throttle.objects.values_list("scope", "key"))
    assert rows and all("some-person" not in key and SRC not in key for _s, key in rows)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM accounts_throttle")
        dump = repr(cursor.fetchall())
    assert secret not in dump and "some-person" not in dump
    assert secret not in repr(list(Entry.objects.values()))


@pytest.mark.parametrize("value", [0, 101, "10", True])
def test_lockout_limit_is_bounded(lockout_after, value):
    lockout_after(value)
    with pytest.raises(ImproperlyConfigured, match="lockout_after"):
        attempt("anyone", "wrong guess here", T0)


def test_forgotten_rows_are_cleared_out():
    attempt("made-up-name-1", "wrong guess here", T0, source="192.0.2.50")
    assert Throttle.objects.count() == 2
    attempt("made-up-name-2", "wrong guess here", T0 + dt.timedelta(days=2), source="192.0.2.51")
    assert Throttle.objects.count() == 2
