"""Session lifetimes: idle and absolute timeouts, my sessions, disabling, signing out."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from shelfguard.accounts import services
from shelfguard.accounts.models import StaffSession
from shelfguard.core import clock
from tests.accounts.helpers import make_staff
from tests.staff.signin import sign_in

pytestmark = pytest.mark.django_db

T0 = dt.datetime(2026, 9, 1, 9, 0, 5, tzinfo=dt.UTC)


@pytest.fixture
def desk():
    with clock.frozen(T0):
        return make_staff("desk", "circulation-desk")


def signed_in(staff, at=T0):
    client = Client()
    with clock.frozen(at):
        sign_in(client, staff)
    return client


def test_idle_timeout_after_15_minutes(desk):
    client = signed_in(desk)
    with clock.frozen(T0 + dt.timedelta(minutes=14)):
        assert client.get("/staff/").status_code == 200
    with clock.frozen(T0 + dt.timedelta(minutes=28, seconds=59)):
        assert client.get("/staff/").status_code == 200
    with clock.frozen(T0 + dt.timedelta(minutes=44)):
        response = client.get("/staff/")
    assert response["Location"] == "/staff/login/?next=%2Fstaff%2F&ended=idle"
    assert StaffSession.objects.get(staff=desk).end_reason == "idle"
    page = client.get(response["Location"]).content.decode()
    assert "after a period without activity" in page


def test_absolute_timeout_even_when_active(desk):
    client = signed_in(desk)
    at = T0
    while at < T0 + dt.timedelta(hours=11, minutes=50):
        at += dt.timedelta(minutes=10)
        with clock.frozen(at):
            assert client.get("/staff/").status_code == 200
    with clock.frozen(T0 + dt.timedelta(hours=12)):
        response = client.get("/staff/")
    assert "ended=absolute" in response["Location"]


def test_my_sessions_lists_and_ends_another_session(desk):
    phone = signed_in(desk)
    desktop = signed_in(desk, T0 + dt.timedelta(seconds=30))
    with clock.frozen(T0 + dt.timedelta(minutes=1)):
        page = desktop.get("/staff/sessions/")
        assert page.status_code == 200 and "no-store" in page["Cache-Control"]
        assert page.content.decode().count("End this session") == 2
        other = StaffSession.objects.filter(staff=desk).order_by("created_at").first()
        assert (
            desktop.post("/staff/sessions/", {"session": other.pk})["Location"]
            == "/staff/sessions/"
        )
        assert phone.get("/staff/")["Location"].endswith("ended=ended")
        assert desktop.get("/staff/").status_code == 200


def test_nobody_ends_someone_elses_session(desk):
    with clock.frozen(T0):
        other = make_staff("other", "cataloguer")
    mine = signed_in(desk)
    theirs = signed_in(other, T0 + dt.timedelta(seconds=30))
    their_session = StaffSession.objects.get(staff=other)
    with clock.frozen(T0 + dt.timedelta(minutes=1)):
        mine.post("/staff/sessions/", {"session": their_session.pk})
        assert theirs.get("/staff/").status_code == 200


def test_disabling_ends_all_sessions_at_once(desk):
    first = signed_in(desk)
    second = signed_in(desk, T0 + dt.timedelta(seconds=30))
    with clock.frozen(T0 + dt.timedelta(minutes=1)):
        services.disable_staff(desk, actor=services.staff_actor(desk, "cli"))
        for client in (first, second):
            assert client.get("/staff/").status_code == 302


def test_sign_out_ends_the_session(desk):
    client = signed_in(desk)
    with clock.frozen(T0 + dt.timedelta(minutes=1)):
        response = client.post("/staff/logout/")
        assert response["Location"].endswith("ended=signed-out")
        assert client.get("/staff/").status_code == 302
    assert StaffSession.objects.get(staff=desk).end_reason == "signed-out"


def test_a_django_login_without_the_register_is_refused(desk, client):
    # Fail closed: a session that did not come through the sign-in pages
    # (here: force_login) has no register entry and is signed out.
    client.force_login(desk)
    assert client.get("/staff/").status_code == 302


def test_certification_expiry_shows_on_my_account(desk):
    client = signed_in(desk)
    with clock.frozen(T0 + dt.timedelta(days=366)):
        # Outside the idle limit too: sign in again on the day.
        client = signed_in(desk, T0 + dt.timedelta(days=366))
        page = client.get("/staff/").content.decode()
    assert "Your privacy certification expired on" in page
