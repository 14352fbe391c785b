"""The optional authenticator app: turned on and off after re-authentication, codes work once."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client

from shelfguard.core import clock
from shelfguard.portal import services
from shelfguard.portal.models import PatronCredential, PatronSession
from tests.accounts.helpers import code_from_secret
from tests.patrons.conftest import DESK
from tests.portal.conftest import PASSWORD, T0, sign_in, signed_in
from tests.portal.helpers import actions, ledger_text, token_of

pytestmark = pytest.mark.django_db(databases=["default", "keystore"])


def at(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def turn_on(client: Client, when=T0) -> str:
    """Turn the authenticator on through the security page; returns the secret."""
    with clock.frozen(when):
        page = client.post("/account/security/", {"action": "start", "current_password": PASSWORD})
        text = page.content.decode()
        secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', text).group(1)
        assert "otpauth://totp/" in text
        done = client.post(
            "/account/security/", {"action": "confirm", "code": code_from_secret(secret, when)}
        )
    assert "now needed to sign in" in done.content.decode(), done.content.decode()[-3000:]
    return secret


def test_turning_on_needs_the_password(reader):
    patron, card = reader()
    client = signed_in(card)
    with clock.frozen(T0):
        page = client.post(
            "/account/security/", {"action": "start", "current_password": "not it at all, sorry"}
        ).content.decode()
    assert "Sign-in failed" in page and "totp-secret" not in page
    assert not services.has_totp(patron)


def test_the_secret_is_sealed_for_the_patron(reader):
    patron, card = reader()
    secret = turn_on(signed_in(card))
    credential = PatronCredential.objects.get(patron=patron)
    raw = bytes(credential.totp_sealed)
    assert secret.replace(" ", "").encode() not in raw
    assert credential.totp_pending_sealed is None
    assert secret.replace(" ", "") not in ledger_text()


def test_sign_in_then_needs_a_code_and_each_code_works_once(reader):
    patron, card = reader()
    secret = turn_on(signed_in(card))
    client = Client()
    response = sign_in(client, card, at=at(60))
    assert response["Location"] == "/account/verify/"
    pending_token = token_of(client)
    with clock.frozen(at(60)):
        # The password step alone opens no page.
        assert client.get("/account/")["Location"].startswith("/account/login/")
    client.cookies["shelfguard_portal"] = pending_token
    with clock.frozen(at(61)):
        wrong = client.post("/account/verify/", {"code": "000000"}).content.decode()
        assert "Sign-in failed" in wrong
        code = code_from_secret(secret, at(61))
        done = client.post("/account/verify/", {"code": code})
    assert done["Location"] == "/account/"
    assert token_of(client) != pending_token
    with clock.frozen(at(62)):
        assert client.get("/account/").status_code == 200
    # The same code again, in another sign-in, is refused.
    replay = Client()
    sign_in(replay, card, at=at(63))
    with clock.frozen(at(63)):
        assert "Sign-in failed" in replay.post("/account/verify/", {"code": code}).content.decode()
    assert "portal.totp_on" in actions()
    signins = [e for e in actions() if e == "portal.signin"]
    assert len(signins) == 2 and patron.pk


def test_turning_on_ends_other_sessions(reader):
    _patron, card = reader()
    elsewhere = signed_in(card)
    here = signed_in(card)
    turn_on(here)
    with clock.frozen(T0):
        assert elsewhere.get("/account/")["Location"] == "/account/login/?ended=factor-changed"
        assert here.get("/account/").status_code == 200


def test_the_pending_step_expires(reader):
    _patron, card = reader()
    secret = turn_on(signed_in(card))
    client = Client()
    sign_in(client, card, at=at(60))
    late = at(60 + 6 * 60)
    with clock.frozen(late):
        response = client.post("/account/verify/", {"code": code_from_secret(secret, late)})
    assert response["Location"] == "/account/login/"


def test_turning_off_needs_password_and_code(reader):
    patron, card = reader()
    client = signed_in(card)
    secret = turn_on(client)
    with clock.frozen(at(90)):
        refused = client.post(
            "/account/security/",
            {"action": "disable", "current_password": PASSWORD, "code": "123456"},
        )
        assert "Sign-in failed" in refused.content.decode()
        assert services.has_totp(patron)
        done = client.post(
            "/account/security/",
            {
                "action": "disable",
                "current_password": PASSWORD,
                "code": code_from_secret(secret, at(90)),
            },
        )
    assert "no longer needed" in done.content.decode()
    assert not services.has_totp(patron)
    assert "portal.totp_off" in actions()
    assert sign_in(Client(), card, at=at(120))["Location"] == "/account/"


def test_turning_off_refuses_a_password_too_short_to_stand_alone(reader):
    patron, card = reader()
    client = signed_in(card)
    secret = turn_on(client)
    short = "brisk otter jam"[:11]
    with clock.frozen(at(30)):
        ended = services.change_password(
            patron,
            current=PASSWORD,
            new=short,
            again=short,
            code=code_from_secret(secret, at(30)),
            keep=PatronSession.objects.filter(patron=patron, ended_at=None).first(),
            source="192.0.2.1",
        )
    assert ended == 0
    with clock.frozen(at(60)), pytest.raises(services.PortalError, match="15 characters"):
        services.disable_totp(
            patron,
            password=short,
            code=code_from_secret(secret, at(60)),
            keep=None,
            source="192.0.2.1",
        )
    assert services.has_totp(patron)


def test_an_operator_set_password_keeps_the_authenticator(reader):
    patron, card = reader()
    turn_on(signed_in(card))
    services.set_password(patron, "another long passphrase here", actor=DESK, purpose="tests")
    assert services.has_totp(patron)


def test_a_desk_link_for_a_lost_phone_turns_the_authenticator_off(reader, run_cli):
    patron, card = reader()
    turn_on(signed_in(card))
    with clock.frozen(at(30)):
        result = run_cli("patron", "password-link", card, "--remove-authenticator", "--json")
        assert result.code == 0, result.err
        path = result.json()["path"]
        client = Client()
        short = client.post(
            path, {"new_password": "eleven char", "new_password_again": "eleven char"}
        )
        assert "at least 15 characters" in short.content.decode()
        assert services.has_totp(patron)
        new = "a brand new passphrase for me"
        done = client.post(path, {"new_password": new, "new_password_again": new})
        assert done["Location"] == "/account/login/?password=set"
    assert not services.has_totp(patron)
    assert sign_in(Client(), card, new, at=at(60))["Location"] == "/account/"


def test_an_operator_can_remove_the_authenticator_with_a_new_password(reader, run_cli, tmp_path):
    patron, card = reader()
    turn_on(signed_in(card))
    pw = tmp_path / "pw.txt"
    pw.write_text("operator chosen passphrase here\n", encoding="utf-8")
    result = run_cli(
        "patron", "set-password", card, "--password-file", str(pw), "--remove-authenticator"
    )
    assert result.code == 0, result.err
    assert not services.has_totp(patron)


def test_a_second_authenticator_cannot_replace_the_first_with_the_password_alone(reader):
    _patron, card = reader()
    client = signed_in(card)
    turn_on(client)
    with clock.frozen(at(30)):
        page = client.post(
            "/account/security/", {"action": "start", "current_password": PASSWORD}
        ).content.decode()
    assert "already on" in page and "totp-secret" not in page
