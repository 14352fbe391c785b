"""Every portal URL: no-store, refused without a live session, and never another patron's."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from shelfguard.core import clock
from shelfguard.portal import urls as portal_urls
from shelfguard.portal.models import PatronSession
from tests.portal.conftest import PASSWORD, T0, sign_in, signed_in
from tests.portal.helpers import token_of

pytestmark = pytest.mark.django_db(databases=["default", "keystore"])

GET_PAGES = [
    "/account/",
    "/account/login/",
    "/account/verify/",
    "/account/sessions/",
    "/account/password/",
    "/account/security/",
    "/account/set-password/abcd-efgh-jkmn-pqrs-tuvw/",
]
BOBS = "bob keeps another long passphrase"
SIGNED_IN_PAGES = ["/account/", "/account/sessions/", "/account/password/", "/account/security/"]
# The patron's own account and data pages (portal/account_urls.py).
ACCOUNT_PAGES = [
    "/account/my-data/",
    "/account/who-looked/",
    "/account/consent/",
    "/account/history/",
]
GET_PAGES += ACCOUNT_PAGES
SIGNED_IN_PAGES += ACCOUNT_PAGES


def _patterns(patterns):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _patterns(pattern.url_patterns)
        else:
            yield pattern


def test_every_view_declares_who_may_open_it():
    for pattern in _patterns(portal_urls.urlpatterns):
        assert isinstance(pattern, URLPattern)
        assert getattr(pattern.callback, "portal_access", None) in {"patron", "public"}, pattern
    resolver = get_resolver()
    assert resolver.resolve("/account/").func.portal_access == "patron"


@pytest.mark.parametrize("path", GET_PAGES)
def test_every_portal_page_is_no_store_signed_in_or_not(reader, path):
    _patron, card = reader()
    with clock.frozen(T0):
        anonymous = Client().get(path)
    assert "no-store" in anonymous["Cache-Control"]
    client = signed_in(card)
    with clock.frozen(T0):
        response = client.get(path)
        posted = client.post("/account/logout/")
    assert "no-store" in response["Cache-Control"] and "no-store" in posted["Cache-Control"]


@pytest.mark.parametrize("path", SIGNED_IN_PAGES)
def test_signed_in_pages_send_strangers_to_sign_in(reader, path):
    reader()
    with clock.frozen(T0):
        assert Client().get(path)["Location"] == "/account/login/"
        assert Client().post(path, {"session": 1})["Location"] == "/account/login/"


def test_a_staff_session_cookie_opens_no_portal_page(reader, settings):
    _patron, card = reader()
    client = signed_in(card)
    stranger = Client()
    # The portal token under the staff cookie's name is not the portal cookie.
    stranger.cookies[settings.SESSION_COOKIE_NAME] = token_of(client)
    with clock.frozen(T0):
        assert stranger.get("/account/").status_code == 302
        assert stranger.get("/staff/").status_code == 302


def test_patron_b_cannot_use_patron_a_s_urls(reader):
    _a, card_a = reader()
    _b, card_b = reader(password=BOBS)
    alice = signed_in(card_a)
    bob = Client()
    assert sign_in(bob, card_b, BOBS).status_code == 302
    alice_session = PatronSession.objects.get(patron=_a)
    with clock.frozen(T0):
        # Bob's pages show only Bob's sessions.
        bobs_page = bob.get("/account/sessions/").content.decode()
        assert f'value="{alice_session.pk}"' not in bobs_page
        # Ending Alice's session by its id does nothing.
        assert bob.post("/account/sessions/", {"session": alice_session.pk}).status_code == 404
        assert bob.post("/account/sessions/", {"session": "x"}).status_code == 404
        assert alice.get("/account/").status_code == 200
        alice_session.refresh_from_db()
        assert alice_session.ended_at is None
        # Bob's "end all other sessions" ends none of Alice's.
        bob.post("/account/sessions/", {"end_others": "1"})
        assert alice.get("/account/").status_code == 200
        # No portal URL names a patron: the session is the only handle.
        for pattern in _patterns(portal_urls.urlpatterns):
            assert "patron" not in str(pattern.pattern)
        # Alice's password does not re-authenticate Bob.
        response = bob.post(
            "/account/password/",
            {
                "current_password": PASSWORD,
                "new_password": "a whole new sentence for bob",
                "new_password_again": "a whole new sentence for bob",
            },
        )
        assert "Sign-in failed" in response.content.decode()
    assert sign_in(Client(), card_b, BOBS, at=T0).status_code == 302


def test_the_middleware_covers_what_no_view_answers():
    missing = Client().get("/account/no-such-page/")
    assert missing.status_code == 404 and "no-store" in missing["Cache-Control"]
    assert "no-store" not in Client().get("/").get("Cache-Control", "")
