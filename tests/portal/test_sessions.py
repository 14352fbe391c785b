"""Portal sessions: idle and absolute timeouts, public computers, my sessions, sign-out."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from shelfguard.core import clock
from shelfguard.ledger.models import Entry
from shelfguard.portal.models import PatronSession
from tests.portal.conftest import T0, signed_in
from tests.portal.helpers import portal_cookie

pytestmark = pytest.mark.django_db(databases=["default", "keystore"])


def at(minutes: float = 0, **kwargs) -> dt.datetime:
    return T0 + dt.timedelta(minutes=minutes, **kwargs)


def test_idle_timeout_after_15_minutes(reader):
    _patron, card = reader()
    client = signed_in(card)
    with clock.frozen(at(14)):
        assert client.get("/account/").status_code == 200
    with clock.frozen(at(28, seconds=59)):
        assert client.get("/account/").status_code == 200
    with clock.frozen(at(44)):
        response = client.get("/account/")
    assert response["Location"] == "/account/login/?ended=idle"
    # The stale cookie is removed, and the ending is recorded.
    assert portal_cookie(response)["max-age"] == 0
    assert PatronSession.objects.get().end_reason == "idle"
    assert Entry.objects.get(action="portal.session_end").detail == {"count": 1, "reason": "idle"}
    with clock.frozen(at(44)):
        page = Client().get(response["Location"]).content.decode()
    assert "after a period without activity" in page


def test_public_computer_idle_timeout_is_5_minutes(reader):
    _patron, card = reader()
    client = signed_in(card, public=True)
    with clock.frozen(at(4, seconds=59)):
        assert client.get("/account/").status_code == 200
    with clock.frozen(at(9, seconds=58)):
        assert client.get("/account/").status_code == 200
    with clock.frozen(at(15)):
        assert client.get("/account/")["Location"] == "/account/login/?ended=idle"


def test_idle_timeouts_are_configurable(reader, settings):
    _patron, card = reader()
    settings.CONFIG = {"portal": {"idle_minutes": 30, "public_idle_minutes": 2}}
    own, public = signed_in(card), signed_in(card, public=True)
    with clock.frozen(at(2, seconds=1)):
        assert public.get("/account/").status_code == 302
        assert own.get("/account/").status_code == 200
    with clock.frozen(at(31, seconds=59)):
        assert own.get("/account/").status_code == 200


def test_absolute_timeout_even_when_active(reader):
    _patron, card = reader()
    client = signed_in(card)
    moment = T0
    while moment < at(7 * 60 + 50):
        moment += dt.timedelta(minutes=10)
        with clock.frozen(moment):
            assert client.get("/account/").status_code == 200
    with clock.frozen(at(8 * 60)):
        assert client.get("/account/")["Location"] == "/account/login/?ended=absolute"


def test_my_sessions_lists_and_ends_one(reader):
    _patron, card = reader()
    phone = signed_in(card)
    desktop = signed_in(card, public=True, at=at(seconds=30))
    with clock.frozen(at(1)):
        page = desktop.get("/account/sessions/")
        text = page.content.decode()
        assert page.status_code == 200 and "no-store" in page["Cache-Control"]
        assert text.count("End this session") == 2 and "(public computer)" in text
        assert "(this one)" in text
        other = PatronSession.objects.order_by("created_at").first()
        response = desktop.post("/account/sessions/", {"session": other.pk})
        assert response["Location"] == "/account/sessions/"
        assert phone.get("/account/")["Location"] == "/account/login/?ended=ended"
        assert desktop.get("/account/").status_code == 200


def test_end_all_other_sessions(reader):
    _patron, card = reader()
    first, second = signed_in(card), signed_in(card, at=at(seconds=10))
    mine = signed_in(card, at=at(seconds=20))
    with clock.frozen(at(1)):
        mine.post("/account/sessions/", {"end_others": "1"})
        assert first.get("/account/").status_code == 302
        assert second.get("/account/").status_code == 302
        assert mine.get("/account/").status_code == 200
    entry = Entry.objects.filter(action="portal.session_end").get()
    assert entry.detail == {"count": 2, "reason": "ended"}


def test_ending_ones_own_current_session_signs_out(reader):
    _patron, card = reader()
    client = signed_in(card)
    with clock.frozen(at(1)):
        current = PatronSession.objects.get()
        response = client.post("/account/sessions/", {"session": current.pk})
        assert response["Location"] == "/account/login/?ended=ended"
        assert client.get("/account/").status_code == 302


def test_sign_out_ends_the_session_on_the_server(reader):
    _patron, card = reader()
    client = signed_in(card)
    with clock.frozen(at(1)):
        stolen = Client()
        stolen.cookies = client.cookies.__class__(client.cookies)
        response = client.post("/account/logout/")
        assert response["Location"] == "/account/login/?ended=signed-out"
        assert portal_cookie(response)["max-age"] == 0
        # A copy of the cookie taken before signing out opens nothing either.
        assert stolen.get("/account/").status_code == 302
        assert "You have signed out." in client.get(response["Location"]).content.decode()
    assert PatronSession.objects.get().end_reason == "signed-out"


def test_logout_is_post_only(reader):
    _patron, card = reader()
    client = signed_in(card)
    with clock.frozen(at(1)):
        assert client.get("/account/logout/").status_code == 405
        assert client.get("/account/").status_code == 200
