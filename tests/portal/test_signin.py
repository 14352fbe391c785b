"""Signing in with card number and password: cookies, errors, PINs, closed cards, fixation."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from shelfguard.accounts.tokens import keyed_hash
from shelfguard.core import clock
from shelfguard.patrons import services as patrons
from shelfguard.portal import credentials
from shelfguard.portal.models import PatronSession
from tests.patrons.conftest import DESK
from tests.portal.conftest import PASSWORD, T0, sign_in, signed_in
from tests.portal.helpers import actions, ledger_text, portal_cookie, token_of

pytestmark = pytest.mark.django_db(databases=["default", "keystore"])

GENERIC = "Sign-in failed: the card number, password or code is wrong"


def test_sign_in_sets_a_strict_http_only_cookie_for_account_pages_only(reader):
    _patron, card = reader()
    client = Client()
    response = sign_in(client, card)
    assert response.status_code == 302 and response["Location"] == "/account/"
    cookie = portal_cookie(response)
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Strict"
    assert cookie["path"] == "/account/"
    # A patron's own device: the cookie lasts at most the absolute timeout (8 h).
    assert cookie["max-age"] == 8 * 3600
    # Not Django's (staff) session: no session cookie at all.
    assert "sessionid" not in response.cookies
    with clock.frozen(T0):
        page = client.get("/account/")
    assert page.status_code == 200 and "no-store" in page["Cache-Control"]
    assert "Ends after 15 minutes without use." in page.content.decode()


def test_public_computer_cookie_ends_with_the_browser(reader):
    _patron, card = reader()
    client = Client()
    response = sign_in(client, card, public=True)
    cookie = portal_cookie(response)
    assert cookie["max-age"] == "" and cookie["expires"] == ""
    assert cookie["httponly"] is True and cookie["samesite"] == "Strict"
    with clock.frozen(T0):
        page = client.get("/account/").content.decode()
    assert "Public computer" in page and "5 minutes" in page
    session = PatronSession.objects.get()
    assert session.public is True


def test_the_login_page_remembers_nothing(reader):
    _patron, card = reader()
    client = Client()
    page = sign_in(client, card, "wrong password entirely here").content.decode()
    assert card not in page
    assert GENERIC in page
    signed = signed_in(card, public=True)
    with clock.frozen(T0):
        signed.post("/account/logout/")
        again = signed.get("/account/login/").content.decode()
    assert card not in again and "remember me" not in again.lower()
    assert 'value="' + card not in again


def test_every_failure_gives_the_same_message(reader, make_patron):
    _patron, card = reader()
    no_password = make_patron()
    no_password_card = patrons.reveal(no_password, ["card_number"], actor=DESK, purpose="tests")[
        "card_number"
    ]
    wrong = sign_in(Client(), card, "not the right password at all").content.decode()
    unknown = sign_in(Client(), "29999999999", PASSWORD).content.decode()
    unset = sign_in(Client(), no_password_card, PASSWORD).content.decode()
    garbage = sign_in(Client(), "!!", PASSWORD).content.decode()
    for page in (wrong, unknown, unset, garbage):
        assert GENERIC in page
        assert "does not exist" not in page and "unknown" not in page.lower()


def test_card_number_spelling_does_not_matter(reader):
    _patron, card = reader()
    spaced = " ".join(card[i : i + 4] for i in range(0, len(card), 4)).lower()
    signed_in(spaced)


def test_unknown_cards_cost_one_argon2_check_like_known_ones(reader, make_patron, monkeypatch):
    _patron, card = reader()
    no_password = make_patron()
    no_password_card = patrons.reveal(no_password, ["card_number"], actor=DESK, purpose="tests")[
        "card_number"
    ]
    dummy_calls, hash_checks = [], []
    real_dummy, real_check = credentials._dummy_check, credentials.check_hash

    def counting_dummy(password):
        dummy_calls.append(1)
        real_dummy(password)

    def counting_check(password, encoded, *args, **kwargs):
        hash_checks.append(encoded.split("$", 1)[0])
        return real_check(password, encoded, *args, **kwargs)

    monkeypatch.setattr(credentials, "_dummy_check", counting_dummy)
    monkeypatch.setattr(credentials, "check_hash", counting_check)

    sign_in(Client(), "29999999999", PASSWORD)
    assert dummy_calls == [1] and hash_checks == ["argon2"]
    sign_in(Client(), no_password_card, PASSWORD)
    assert dummy_calls == [1, 1] and hash_checks == ["argon2", "argon2"]
    sign_in(Client(), card, "not the right password at all")
    # A known card with a password: the real hash, checked once, no dummy.
    assert dummy_calls == [1, 1] and hash_checks == ["argon2"] * 3


def test_a_pin_alone_never_opens_the_portal(make_patron, run_cli, tmp_path):
    patron = make_patron(pin="4321")
    card = patrons.reveal(patron, ["card_number"], actor=DESK, purpose="tests")["card_number"]
    assert patrons.check_pin(patron, "4321")
    assert GENERIC in sign_in(Client(), card, "4321").content.decode()
    assert not PatronSession.objects.exists()
    # Nor can the PIN become the portal password: far too short.
    pw = tmp_path / "pw.txt"
    pw.write_text("4321\n")
    result = run_cli("patron", "set-password", card, "--password-file", str(pw))
    assert result.code != 0 and "at least 15 characters" in result.err


def test_a_card_that_is_not_active_cannot_sign_in(reader):
    patron, card = reader()
    with clock.frozen(T0):
        patrons.update(patron, {"status": "blocked"}, actor=DESK, purpose="tests")
    assert GENERIC in sign_in(Client(), card).content.decode()


def test_blocking_a_card_ends_its_sessions_at_the_next_request(reader):
    patron, card = reader()
    client = signed_in(card)
    with clock.frozen(T0 + dt.timedelta(minutes=1)):
        patrons.update(patron, {"status": "blocked"}, actor=DESK, purpose="tests")
        response = client.get("/account/")
    assert response["Location"] == "/account/login/?ended=closed"
    assert PatronSession.objects.get().end_reason == "closed"


def test_an_erased_patron_cannot_sign_in_and_nothing_of_the_portal_stays(reader):
    patron, card = reader()
    client = signed_in(card)
    with clock.frozen(T0 + dt.timedelta(minutes=1)):
        patrons.erase(patron, actor=DESK, reason="patron request")
        assert client.get("/account/")["Location"].startswith("/account/login/")
    assert GENERIC in sign_in(Client(), card, at=T0 + dt.timedelta(minutes=2)).content.decode()
    from shelfguard.portal.models import PasswordLink, PatronCredential

    assert not PatronCredential.objects.filter(patron_id=patron.pk).exists()
    assert not PatronSession.objects.filter(patron_id=patron.pk).exists()
    assert not PasswordLink.objects.filter(patron_id=patron.pk).exists()


def test_sign_in_gives_a_new_token_and_ends_what_the_browser_held(reader):
    _patron, card = reader()
    client = Client()
    planted = "attacker-chosen-value-attacker-chosen-value"
    client.cookies["shelfguard_portal"] = planted
    sign_in(client, card)
    first = token_of(client)
    assert first != planted
    assert not PatronSession.objects.filter(key_hash=keyed_hash("portal-session", planted)).exists()
    # Someone plants their own real session's token: signing in replaces and ends it.
    sign_in(client, card, at=T0 + dt.timedelta(seconds=10))
    second = token_of(client)
    assert second != first
    old = PatronSession.objects.get(key_hash=keyed_hash("portal-session", first))
    assert old.end_reason == "replaced"


def test_only_a_keyed_hash_of_the_token_is_stored(reader):
    _patron, card = reader()
    client = signed_in(card)
    token = token_of(client)
    session = PatronSession.objects.get()
    assert session.key_hash == keyed_hash("portal-session", token)
    assert token not in session.key_hash


@pytest.mark.parametrize(
    "value",
    ["", "x", "a" * 43, "a" * 5000, "../../etc", "caf\u00e9-token"],
)
def test_a_forged_cookie_opens_nothing(reader, value):
    reader()
    client = Client()
    client.cookies["shelfguard_portal"] = value
    with clock.frozen(T0):
        response = client.get("/account/")
    assert response.status_code == 302 and response["Location"] == "/account/login/"


def test_a_post_without_the_csrf_token_is_refused(reader):
    _patron, card = reader()
    strict = Client(enforce_csrf_checks=True)
    with clock.frozen(T0):
        refused = strict.post("/account/login/", {"card": card, "password": PASSWORD})
    assert refused.status_code == 403
    assert not PatronSession.objects.exists()
    # A signed-in browser cannot be made to sign out (or anything else) by another site.
    client = signed_in(card)
    strict.cookies = client.cookies
    with clock.frozen(T0):
        assert strict.post("/account/logout/").status_code == 403
        assert strict.post("/account/sessions/", {"end_others": "1"}).status_code == 403
        assert client.get("/account/").status_code == 200


def test_over_long_input_is_refused_before_any_hashing(reader, monkeypatch):
    _patron, card = reader()
    calls = []
    monkeypatch.setattr(credentials, "check_hash", lambda *a, **k: calls.append(1))
    for data in (
        {"card": "9" * 100_000, "password": PASSWORD},
        {"card": card, "password": "p" * 100_000},
        {"card": card + "\x00", "password": PASSWORD},
    ):
        with clock.frozen(T0):
            response = Client().post("/account/login/", data)
        assert response.status_code == 200 and GENERIC in response.content.decode()
    assert calls == []


def test_sign_in_and_failures_are_in_the_ledger_without_password_or_card(reader):
    patron, card = reader()
    sign_in(Client(), card, "not the right password at all")
    sign_in(Client(), "29999999999", "another wrong password here")
    signed_in(card, at=T0 + dt.timedelta(minutes=5))
    acts = actions()
    assert acts.count("portal.signin_failure") == 2 and acts.count("portal.signin") == 1
    from shelfguard.ledger.models import Entry

    ok = Entry.objects.get(action="portal.signin")
    assert ok.patron_id == patron.pk and ok.channel == "web" and ok.actor_kind == "patron"
    text = ledger_text()
    for secret in (card, PASSWORD, "not the right password", "29999999999"):
        assert secret not in text


def test_over_tls_the_cookie_is_secure_and_prefixed(reader, settings):
    _patron, card = reader()
    settings.SESSION_COOKIE_SECURE = True
    client = Client()
    response = sign_in(client, card)
    cookie = response.cookies["__Secure-shelfguard_portal"]
    assert cookie["secure"] is True and cookie["path"] == "/account/"
    assert "shelfguard_portal" not in response.cookies
    with clock.frozen(T0):
        assert client.get("/account/", secure=True).status_code == 200
