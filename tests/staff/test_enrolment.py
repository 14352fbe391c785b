"""Enrolment: the one-time code, choosing a password, adding the authenticator."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from shelfguard.accounts import mfa, services, signin
from shelfguard.accounts.models import StaffUser
from shelfguard.core import clock
from shelfguard.ledger.models import Entry
from tests.accounts.helpers import ADMIN, PASSWORD, branches, code_from_secret

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 9, 1, 9, 0, 5, tzinfo=dt.UTC)


def create(password=None):
    branches()
    return services.create_staff(
        "nova", roles=["circulation-desk"], branch="MAIN", password=password, actor=ADMIN
    )


def enrol_form(code, password=PASSWORD, again=PASSWORD, username="nova"):
    return {"username": username, "code": code, "password": password, "password_again": again}


def test_new_staff_member_enrols_and_is_signed_in(client):
    with clock.frozen(T0):
        staff, code = create()
        response = client.post("/staff/enrol/", enrol_form(code.upper()))
        assert response["Location"] == "/staff/enrol/device/"
        page = client.get("/staff/enrol/device/")
        assert "no-store" in page["Cache-Control"]
        html = page.content.decode()
        secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', html).group(1)
        assert "otpauth://totp/" in html and "<img" not in html
        done = client.post("/staff/enrol/device/", {"code": code_from_secret(secret)})
        assert done.status_code == 200
        codes = re.findall(r"<li><code>([a-z2-9-]+)</code></li>", done.content.decode())
        assert len(codes) == 10
        assert client.get("/staff/").status_code == 200
    staff = StaffUser.objects.get(pk=staff.pk)
    assert staff.check_password(PASSWORD) and mfa.has_second_factor(staff)
    assert Entry.objects.filter(action="accounts.mfa_enrol").exists()
    # The code is spent.
    again = client.__class__().post("/staff/enrol/", enrol_form(code))
    assert "Sign-in failed" in again.content.decode()


def test_enrolment_shows_password_rules(client):
    with clock.frozen(T0):
        _staff, code = create()
        response = client.post("/staff/enrol/", enrol_form(code, "library1", "library1"))
        assert "anyone would guess" in response.content.decode()
        response = client.post("/staff/enrol/", enrol_form(code, PASSWORD, PASSWORD + "x"))
        assert "The two passwords differ." in response.content.decode()


def test_given_password_must_be_entered_to_enrol(client):
    with clock.frozen(T0):
        _staff, code = create(password=PASSWORD)
        wrong = client.post("/staff/enrol/", enrol_form(code, "some other phrase here", ""))
        assert "Sign-in failed" in wrong.content.decode()
        right = client.post("/staff/enrol/", enrol_form(code, PASSWORD, ""))
        assert right["Location"] == "/staff/enrol/device/"


def test_expired_enrolment_code_refused(client):
    with clock.frozen(T0):
        _staff, code = create()
    with clock.frozen(T0 + dt.timedelta(hours=73)):
        response = client.post("/staff/enrol/", enrol_form(code))
    assert "Sign-in failed" in response.content.decode()


def test_wrong_enrolment_code_looks_like_unknown_user(client):
    with clock.frozen(T0):
        create()
        wrong = client.post(
            "/staff/enrol/", enrol_form("aaaa-bbbb-cccc-dddd-eeee")
        ).content.decode()
        ghost = client.post(
            "/staff/enrol/", enrol_form("aaaa-bbbb-cccc-dddd-eeee", username="ghost")
        ).content.decode()
    assert str(signin.GENERIC_FAILURE) in wrong and str(signin.GENERIC_FAILURE) in ghost


def test_wrong_device_code_does_not_finish_enrolment(client):
    with clock.frozen(T0):
        staff, code = create()
        client.post("/staff/enrol/", enrol_form(code))
        response = client.post("/staff/enrol/device/", {"code": "000000"})
        assert "Sign-in failed" in response.content.decode()
        assert not mfa.has_second_factor(staff)
        assert client.get("/staff/").status_code == 302


def test_guessing_device_codes_during_enrolment_is_throttled(client):
    with clock.frozen(T0):
        _staff, code = create()
        client.post("/staff/enrol/", enrol_form(code))
        answers = [
            client.post("/staff/enrol/device/", {"code": "000000"}).content.decode()
            for _ in range(4)
        ]
    assert "Wait" not in answers[0]
    assert "Wait 1 second before" in answers[3]


def test_a_reissued_code_replaces_the_first(client):
    with clock.frozen(T0):
        staff, first = create()
        second = services.issue_enrolment_code(staff, actor=ADMIN)
        old = client.post("/staff/enrol/", enrol_form(first)).content.decode()
        assert str(signin.GENERIC_FAILURE) in old
        assert (
            client.post("/staff/enrol/", enrol_form(second))["Location"] == "/staff/enrol/device/"
        )
