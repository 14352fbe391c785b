"""Staff sign-in: password, then a TOTP code (each works once), recovery codes."""

from __future__ import annotations

import datetime as dt

import pytest
from django.conf import settings
from django.test import Client

from shelfguard.accounts import mfa, signin
from shelfguard.core import clock
from shelfguard.ledger.models import Entry
from tests.accounts.helpers import PASSWORD, device_of, make_staff, totp_code
from tests.staff.signin import sign_in

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 9, 1, 9, 0, 5, tzinfo=dt.UTC)


def session_id(client: Client) -> str | None:
    cookie = client.cookies.get(settings.SESSION_COOKIE_NAME)
    return cookie.value if cookie else None


def test_password_then_totp_signs_in_with_new_session_ids(client):
    with clock.frozen(T0):
        desk = make_staff("desk", "circulation-desk")
        client.get("/staff/login/")
        before = session_id(client)
        response = client.post("/staff/login/", {"username": "DESK", "password": PASSWORD})
        assert response["Location"].startswith("/staff/verify/")
        after_password = session_id(client)
        assert after_password and after_password != before
        # Half-way, nothing is open yet.
        assert client.get("/staff/")["Location"].startswith("/staff/login/")
        response = client.post("/staff/verify/", {"code": totp_code(device_of(desk).key)})
        assert response["Location"] == "/staff/"
        assert session_id(client) not in (before, after_password)
        home = client.get("/staff/")
    assert home.status_code == 200
    assert 'id="staff-username">desk<' in home.content.decode()
    assert "no-store" in home["Cache-Control"]


def test_a_totp_code_works_only_once(client):
    with clock.frozen(T0):
        desk = make_staff("desk", "circulation-desk")
        code = totp_code(device_of(desk).key)
        sign_in(client, desk, code=code)
        other = Client()
        other.post("/staff/login/", {"username": "desk", "password": PASSWORD})
        replay = other.post("/staff/verify/", {"code": code})
    assert replay.status_code == 200
    assert "Sign-in failed" in replay.content.decode()
    assert other.get("/staff/").status_code == 302
    # The next time step's code is accepted.
    with clock.frozen(T0 + dt.timedelta(seconds=30)):
        assert (
            other.post("/staff/verify/", {"code": totp_code(device_of(desk).key)})["Location"]
            == "/staff/"
        )


def test_wrong_code_and_wrong_password_give_the_same_answer(client):
    with clock.frozen(T0):
        make_staff("desk", "circulation-desk")
        wrong_password = client.post(
            "/staff/login/", {"username": "desk", "password": "not it at all"}
        )
        unknown = Client().post("/staff/login/", {"username": "ghost", "password": "not it at all"})
    assert wrong_password.status_code == unknown.status_code == 200
    text = str(signin.GENERIC_FAILURE)
    assert text in wrong_password.content.decode() and text in unknown.content.decode()


def test_recovery_codes_each_work_once(client):
    with clock.frozen(T0):
        desk = make_staff("desk", "circulation-desk")
        codes = mfa.new_recovery_codes(desk)
        sign_in(client, desk, code=codes[0].upper().replace("-", " "))
        assert mfa.recovery_codes_left(desk) == 9
        assert Entry.objects.filter(action="accounts.recovery_code_use").exists()
        again = Client()
        again.post("/staff/login/", {"username": "desk", "password": PASSWORD})
        refused = again.post("/staff/verify/", {"code": codes[0]})
        assert "Sign-in failed" in refused.content.decode()
        assert again.post("/staff/verify/", {"code": codes[1]})["Location"] == "/staff/"
    # Only hashes are stored.
    from django_otp.plugins.otp_static.models import StaticToken

    stored = set(StaticToken.objects.values_list("token", flat=True))
    assert not stored & {c.replace("-", "") for c in codes} and not stored & set(codes)


def test_staff_without_a_device_reaches_only_enrolment(client):
    with clock.frozen(T0):
        make_staff("newbie", "cataloguer", enrol=False)
        response = client.post("/staff/login/", {"username": "newbie", "password": PASSWORD})
        assert response["Location"].startswith("/staff/enrol/")
        for path in ("/staff/", "/staff/sessions/", "/staff/verify/", "/staff/enrol/device/"):
            assert client.get(path).status_code == 302, path
        assert client.get("/staff/enrol/").status_code == 200


def test_verify_step_expires(client):
    with clock.frozen(T0):
        desk = make_staff("desk", "circulation-desk")
        client.post("/staff/login/", {"username": "desk", "password": PASSWORD})
    with clock.frozen(T0 + dt.timedelta(minutes=6)):
        response = client.post("/staff/verify/", {"code": totp_code(device_of(desk).key)})
    assert response["Location"] == "/staff/login/"


def test_next_only_leads_to_staff_pages(client):
    with clock.frozen(T0):
        desk = make_staff("desk", "circulation-desk")
        response = client.post(
            "/staff/login/?next=//evil.example/", {"username": "desk", "password": PASSWORD}
        )
        assert "evil" not in response["Location"]
        response = client.post(
            "/staff/login/?next=/staff/sessions/", {"username": "desk", "password": PASSWORD}
        )
        final = client.post(response["Location"], {"code": totp_code(device_of(desk).key)})
    assert final["Location"] == "/staff/sessions/"


def test_over_long_input_is_refused_cleanly(client):
    with clock.frozen(T0):
        make_staff("desk", "circulation-desk")
        response = client.post("/staff/login/", {"username": "d" * 5000, "password": "p" * 100_000})
    assert response.status_code == 200
    assert "Sign-in failed" in response.content.decode()


def test_forms_need_csrf():
    strict = Client(enforce_csrf_checks=True)
    assert strict.post("/staff/login/", {"username": "a", "password": "b"}).status_code == 403
    assert strict.post("/staff/enrol/", {"username": "a"}).status_code == 403
    assert strict.post("/staff/logout/").status_code == 403
    page = strict.get("/staff/login/").content.decode()
    assert "csrfmiddlewaretoken" in page


def test_forged_session_cookie_is_refused(client):
    client.cookies[settings.SESSION_COOKIE_NAME] = "forged0000000000000000000000000000"
    response = client.get("/staff/")
    assert response.status_code == 302 and response["Location"].startswith("/staff/login/")
