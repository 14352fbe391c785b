"""Patron passkeys: added after re-authentication, the second step at sign-in, renamed, removed.

The software authenticator is the staff tests' one (an independent ES256
implementation, 'none' attestation); the server is the portal, reached
through its pages as the Django test client ("http://testserver").
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.test import Client

from shelfguard.accounts.models import Throttle
from shelfguard.accounts.tokens import keyed_hash
from shelfguard.core import clock
from shelfguard.ledger.models import Entry
from shelfguard.patrons import services as patrons
from shelfguard.portal import credentials, services
from shelfguard.portal import passkeys as patron_passkeys
from shelfguard.portal.models import PatronPasskey, PatronSession
from tests.accounts.helpers import code_from_secret
from tests.accounts.test_passkeys import SoftAuthenticator, b64u
from tests.patrons.conftest import DESK
from tests.portal.conftest import PASSWORD, T0, sign_in, signed_in
from tests.portal.helpers import actions, ledger_text, token_of
from tests.portal.test_totp import turn_on

pytestmark = pytest.mark.django_db(databases=["default", "keystore"])

ORIGIN = "http://testserver"
RP = patron_passkeys.RelyingParty(id="testserver", origin=ORIGIN)
SHORT = "owl lamp 42x"  # 12 characters: long enough only with a second factor


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def add_options(client: Client, *, password: str = PASSWORD, code: str = "", name: str = ""):
    return client.post(
        "/account/security/passkey/",
        {"current_password": password, "code": code, "name": name},
    )


def add_passkey(
    client: Client, authenticator: SoftAuthenticator, *, when=T0, name="My phone", code=""
) -> str:
    """Add a passkey through the security page; returns the page's text."""
    with clock.frozen(when):
        options = add_options(client, code=code, name=name)
        assert options.status_code == 200, options.content.decode()
        answer = authenticator.create(options.content.decode(), origin=ORIGIN)
        page = client.post(
            "/account/security/", {"action": "passkey_add", "credential": answer, "name": name}
        )
    return page.content.decode()


def to_second_step(card: str, *, when=T0) -> Client:
    client = Client()
    response = sign_in(client, card, at=when)
    assert response.status_code == 302 and response["Location"] == "/account/verify/"
    return client


def answer_second_step(client: Client, authenticator: SoftAuthenticator, *, when=T0, **kwargs):
    with clock.frozen(when):
        options = client.post("/account/verify/passkey/")
        assert options.status_code == 200, options.content.decode()
        answer = authenticator.get(options.content.decode(), origin=ORIGIN, **kwargs)
        return client.post("/account/verify/", {"credential": answer}), answer


def session_row(client: Client) -> PatronSession:
    from shelfguard.portal.sessions import _hash

    return PatronSession.objects.get(key_hash=_hash(token_of(client)))


@pytest.fixture
def with_passkey(reader):
    """A patron (no authenticator app) with one passkey; returns (patron, card, authenticator)."""
    patron, card = reader()
    authenticator = SoftAuthenticator()
    text = add_passkey(signed_in(card), authenticator)
    assert "Passkey “My phone” added." in text, text[-2000:]
    return patron, card, authenticator


# --- adding ---------------------------------------------------------------------------------


def test_add_a_passkey_after_the_password(reader):
    patron, card = reader()
    client = signed_in(card)
    other = signed_in(card)
    authenticator = SoftAuthenticator()
    with clock.frozen(T0):
        options = json.loads(add_options(client, name="Phone").content)
    assert options["rp"]["id"] == "testserver"
    assert options["authenticatorSelection"]["userVerification"] == "preferred"
    # The user handle and name say nothing about the patron.
    assert options["user"]["name"] == "Library account"
    card_bytes = card.encode()
    assert card_bytes not in json.dumps(options).encode()
    # The challenge is kept server-side, on the patron's portal session.
    row = session_row(client)
    assert row.webauthn_kind == "register" and row.webauthn_challenge == options["challenge"]

    with clock.frozen(T0):
        answer = authenticator.create(options, origin=ORIGIN)
        page = client.post(
            "/account/security/",
            {"action": "passkey_add", "credential": answer, "name": "  Phone   in bag "},
        ).content.decode()
    assert "Passkey “Phone in bag” added." in page
    passkey = PatronPasskey.objects.get(patron=patron)
    assert passkey.credential_id == b64u(authenticator.credential_id)
    assert bytes(passkey.public_key) == authenticator.cose_key()
    assert passkey.created_at == T0 and passkey.last_used_at is None
    assert session_row(client).webauthn_challenge == ""  # used up
    entry = Entry.objects.get(action="portal.passkey_add")
    assert entry.actor_kind == "patron" and entry.channel == "web"
    assert entry.actor_id == str(patron.pk)
    assert entry.detail["passkey"] == passkey.pk and entry.detail["sessions_ended"] == 1
    # No credential material in the ledger.
    assert passkey.credential_id not in ledger_text()
    # Changing sign-in settings ends the patron's other sessions.
    with clock.frozen(T0):
        assert other.get("/account/").status_code == 302
        assert client.get("/account/").status_code == 200


def test_adding_needs_the_right_password(reader):
    _patron, card = reader()
    client = signed_in(card)
    with clock.frozen(T0):
        refused = add_options(client, password="not the password, not at all")
    assert refused.status_code == 400
    assert "Sign-in failed" in refused.json()["error"]
    assert session_row(client).webauthn_challenge == ""
    assert "portal.signin_failure" in actions()
    # Counted under the portal's account key for the patron.
    assert Throttle.objects.filter(failures__gte=1).exists()
    assert not PatronPasskey.objects.exists()


def test_adding_with_the_authenticator_app_on_needs_a_code_too(reader):
    _patron, card = reader()
    client = signed_in(card)
    secret = turn_on(client)
    with clock.frozen(at(30)):
        assert add_options(client).status_code == 400
    authenticator = SoftAuthenticator()
    text = add_passkey(
        client, authenticator, when=at(60), code=code_from_secret(secret.replace(" ", ""), at(60))
    )
    assert "added" in text


def test_an_answer_to_no_challenge_or_an_old_one_is_refused(reader):
    patron, card = reader()
    client = signed_in(card)
    authenticator = SoftAuthenticator()
    with clock.frozen(T0):
        options = add_options(client).content.decode()
    answer = authenticator.create(options, origin=ORIGIN)
    with clock.frozen(at(121)):  # the challenge lasts 2 minutes
        page = client.post("/account/security/", {"action": "passkey_add", "credential": answer})
    assert "Sign-in failed" in page.content.decode()
    with clock.frozen(at(122)):  # and once: it is gone now
        client.post("/account/security/", {"action": "passkey_add", "credential": answer})
    assert not PatronPasskey.objects.filter(patron=patron).exists()


def test_another_origin_is_refused(reader):
    _patron, card = reader()
    client = signed_in(card)
    with clock.frozen(T0):
        options = add_options(client).content.decode()
        answer = SoftAuthenticator().create(options, origin="https://look-alike.example")
        client.post("/account/security/", {"action": "passkey_add", "credential": answer})
    assert not PatronPasskey.objects.exists()


def test_a_credential_is_never_moved_to_another_patron(with_passkey, reader):
    _patron, _card, authenticator = with_passkey
    other, other_card = reader(card_number="29000111222")
    client = signed_in(other_card)
    with clock.frozen(T0):
        options = add_options(client).content.decode()
        answer = authenticator.create(options, origin=ORIGIN)  # the same credential id
        client.post("/account/security/", {"action": "passkey_add", "credential": answer})
    assert not PatronPasskey.objects.filter(patron=other).exists()


# --- signing in ---------------------------------------------------------------------------------


def test_a_passkey_is_the_second_step_at_sign_in(with_passkey):
    patron, card, authenticator = with_passkey
    client = to_second_step(card, when=at(10))
    with clock.frozen(at(10)):
        page = client.get("/account/verify/").content.decode()
    assert "Sign in with a passkey" in page
    # No authenticator app: no code box.
    assert 'name="code"' not in page
    pending = session_row(client)
    done, _answer = answer_second_step(client, authenticator, when=at(10))
    assert done.status_code == 302 and done["Location"] == "/account/"
    with clock.frozen(at(11)):
        assert client.get("/account/").status_code == 200
    promoted = PatronSession.objects.get(pk=pending.pk)
    assert promoted.stage == PatronSession.Stage.SIGNED_IN and promoted.webauthn_challenge == ""
    passkey = PatronPasskey.objects.get(patron=patron)
    assert passkey.sign_count == 1 and passkey.last_used_at == at(10)
    use = Entry.objects.get(action="portal.passkey_use")
    assert use.purpose == "sign-in" and use.detail == {"passkey": passkey.pk}
    signin = Entry.objects.filter(action="portal.signin").last()
    assert signin.detail["second_factor"] is True


def test_the_password_alone_does_not_sign_in_a_patron_with_a_passkey(with_passkey):
    _patron, card, _authenticator = with_passkey
    client = to_second_step(card, when=at(10))
    with clock.frozen(at(10)):
        # A code is no way in without an authenticator app.
        refused = client.post("/account/verify/", {"code": "123456"})
        assert "Sign-in failed" in refused.content.decode()
        # The pending session opens no page.
        assert client.get("/account/").status_code == 302


def test_with_both_factors_either_serves(with_passkey):
    _patron, card, authenticator = with_passkey
    client = signed_in_with_passkey(card, authenticator, when=at(10))
    turn_on(client, at(20))
    second = to_second_step(card, when=at(40))
    with clock.frozen(at(40)):
        page = second.get("/account/verify/").content.decode()
    assert "Sign in with a passkey" in page and 'name="code"' in page
    done, _answer = answer_second_step(second, authenticator, when=at(40))
    assert done["Location"] == "/account/"


def signed_in_with_passkey(card: str, authenticator, *, when) -> Client:
    client = to_second_step(card, when=when)
    done, _answer = answer_second_step(client, authenticator, when=when)
    assert done.status_code == 302 and done["Location"] == "/account/"
    return client


def test_an_answer_works_once(with_passkey):
    _patron, card, authenticator = with_passkey
    client = to_second_step(card, when=at(10))
    with clock.frozen(at(10)):
        options = client.post("/account/verify/passkey/").content.decode()
        answer = authenticator.get(options, origin=ORIGIN)
    replay = to_second_step(card, when=at(11))
    with clock.frozen(at(11)):
        replay.post("/account/verify/passkey/")  # a fresh challenge of its own
        refused = replay.post("/account/verify/", {"credential": answer})
    assert refused.status_code == 200 and "Sign-in failed" in refused.content.decode()
    with clock.frozen(at(12)):
        assert client.post("/account/verify/", {"credential": answer})["Location"] == "/account/"
        again = client.post("/account/verify/", {"credential": answer})
    assert again.status_code == 302 and again["Location"] == "/account/login/"


def test_an_expired_challenge_is_refused(with_passkey):
    _patron, card, authenticator = with_passkey
    client = to_second_step(card, when=at(10))
    with clock.frozen(at(10)):
        options = client.post("/account/verify/passkey/").content.decode()
    answer = authenticator.get(options, origin=ORIGIN)
    with clock.frozen(at(10 + 121)):
        refused = client.post("/account/verify/", {"credential": answer})
    assert "Sign-in failed" in refused.content.decode()


def test_a_cloned_authenticator_is_refused_and_recorded(with_passkey):
    _patron, card, authenticator = with_passkey
    signed_in_with_passkey(card, authenticator, when=at(10))
    client = to_second_step(card, when=at(20))
    done, _answer = answer_second_step(client, authenticator, when=at(20), counter_step=0)
    assert done.status_code == 200
    clone = Entry.objects.get(action="portal.passkey_clone_suspected")
    assert clone.detail["review"] is True


def test_another_patrons_passkey_does_not_open_this_account(with_passkey, reader):
    _patron, _card, authenticator = with_passkey
    _other, other_card = reader(card_number="29000111222")
    other_key = SoftAuthenticator()
    add_passkey(signed_in(other_card), other_key)
    client = to_second_step(other_card, when=at(10))
    done, _answer = answer_second_step(client, authenticator, when=at(10))
    assert done.status_code == 200 and "Sign-in failed" in done.content.decode()


def test_failures_count_under_the_patrons_throttle_key(with_passkey):
    patron, card, authenticator = with_passkey
    client = to_second_step(card, when=at(10))
    with clock.frozen(at(10)):
        options = client.post("/account/verify/passkey/").content.decode()
        bad = json.loads(authenticator.get(options, origin=ORIGIN))
        bad["response"]["signature"] = b64u(b"\x30\x06\x02\x01\x01\x02\x01\x01")
        client.post("/account/verify/", {"credential": json.dumps(bad)})
    key = keyed_hash("throttle-account", credentials.account_key(patron, ""))
    row = Throttle.objects.get(scope="account", key=key)
    assert row.failures == 1
    failure = Entry.objects.filter(action="portal.signin_failure").last()
    assert failure.detail["step"] == "second-factor"


def test_options_need_a_pending_session():
    client = Client()
    with clock.frozen(T0):
        refused = client.post("/account/verify/passkey/")
    assert refused.status_code == 403 and "expired" in refused.json()["error"]


# --- renaming and removing -----------------------------------------------------------------------


def _manage(client, passkey: PatronPasskey, action: str, *, password=PASSWORD, name="", when):
    with clock.frozen(when):
        return client.post(
            "/account/security/",
            {
                "action": action,
                "passkey": passkey.pk,
                "name": name,
                "current_password": password,
                "code": "",
            },
        ).content.decode()


def test_rename_needs_the_password(with_passkey):
    patron, card, authenticator = with_passkey
    client = signed_in_with_passkey(card, authenticator, when=at(10))
    passkey = PatronPasskey.objects.get(patron=patron)
    page = _manage(client, passkey, "passkey_rename", password="wrong wrong wrong", when=at(11))
    assert "Sign-in failed" in page
    page = _manage(client, passkey, "passkey_rename", name="Blue key", when=at(12))
    assert "Passkey renamed." in page and "Blue key" in page
    assert Entry.objects.filter(action="portal.passkey_rename").exists()


def test_the_only_second_factor_goes_only_with_a_long_password(with_passkey):
    patron, card, authenticator = with_passkey
    # A short password is allowed while the passkey is there...
    services.set_password(patron, SHORT, actor=DESK, purpose="tests")
    client = Client()
    with clock.frozen(at(10)):
        client.post("/account/login/", {"card": card, "password": SHORT})
    done, _answer = answer_second_step(client, authenticator, when=at(10))
    assert done["Location"] == "/account/"
    passkey = PatronPasskey.objects.get(patron=patron)
    # ...but then the passkey cannot go: the password would stand alone.
    page = _manage(client, passkey, "passkey_remove", password=SHORT, when=at(11))
    assert "only second factor" in page
    assert PatronPasskey.objects.filter(pk=passkey.pk).exists()


def test_remove_a_passkey(with_passkey):
    patron, card, authenticator = with_passkey
    client = signed_in_with_passkey(card, authenticator, when=at(10))
    passkey = PatronPasskey.objects.get(patron=patron)
    page = _manage(client, passkey, "passkey_remove", when=at(11))
    assert "Passkey removed." in page and "You have no passkey yet." in page
    assert not PatronPasskey.objects.exists()
    entry = Entry.objects.get(action="portal.passkey_remove")
    assert entry.detail["passkey"] == passkey.pk and entry.detail["passkeys_left"] == 0
    # Signing in is the password alone again.
    assert sign_in(Client(), card, at=at(20))["Location"] == "/account/"


def test_another_patrons_passkey_cannot_be_removed_or_renamed(with_passkey, reader):
    _patron, _card, _authenticator = with_passkey
    passkey = PatronPasskey.objects.get()
    _other, other_card = reader(card_number="29000111222")
    client = signed_in(other_card)
    assert "No such passkey." in _manage(client, passkey, "passkey_remove", when=T0)
    assert "No such passkey." in _manage(client, passkey, "passkey_rename", name="x", when=T0)
    assert PatronPasskey.objects.get().name == "My phone"


def test_the_app_can_go_while_a_passkey_stays_even_with_a_short_password(with_passkey):
    patron, card, authenticator = with_passkey
    client = signed_in_with_passkey(card, authenticator, when=at(10))
    secret = turn_on(client, at(20)).replace(" ", "")
    services.set_password(patron, SHORT, actor=DESK, purpose="tests")
    session, _token = services.begin_sign_in(patron, public=False, client="")
    with clock.frozen(at(60)):
        services.disable_totp(
            patron,
            password=SHORT,
            code=code_from_secret(secret, at(60)),
            keep=session,
            source="192.0.2.1",
        )
    assert not services.has_totp(patron)
    assert PatronPasskey.objects.filter(patron=patron).exists()


# --- lost phone, erasure ----------------------------------------------------------------------------


def test_a_lost_phone_link_removes_the_passkeys_too(with_passkey):
    patron, _card, _authenticator = with_passkey
    services.set_password(
        patron, "a brand new long password here", actor=DESK, purpose="tests", remove_totp=True
    )
    assert not PatronPasskey.objects.filter(patron=patron).exists()
    entry = Entry.objects.filter(action="portal.password_set").last()
    assert entry.detail["passkeys_removed"] == 1


def test_erasure_removes_the_passkeys(with_passkey):
    patron, _card, _authenticator = with_passkey
    patrons.erase(patron, actor=DESK, reason="patron request")
    assert not PatronPasskey.objects.filter(patron=patron).exists()
