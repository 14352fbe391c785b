"""Setting and changing portal passwords: the rules, re-authentication, one-time links, CLI."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from shelfguard.core import clock
from shelfguard.ledger.models import Entry
from shelfguard.portal import services
from shelfguard.portal.models import PasswordLink, PatronCredential
from tests.patrons.conftest import DESK
from tests.portal.conftest import PASSWORD, T0, sign_in, signed_in
from tests.portal.helpers import ledger_text

pytestmark = pytest.mark.django_db(databases=["default", "keystore"])

NEW = "lanterns over the harbour wall"


def change(client: Client, current=PASSWORD, new=NEW, again=None, when=T0):
    with clock.frozen(when):
        return client.post(
            "/account/password/",
            {"current_password": current, "new_password": new, "new_password_again": again or new},
        ).content.decode()


def test_the_password_is_an_argon2id_hash_of_the_nfkc_form(reader):
    patron, card = reader(password="ｆｕｌｌ ｗｉｄｔｈ ｐａｓｓｐｈｒａｓｅ")
    stored = PatronCredential.objects.get(patron=patron).password_hash
    assert stored.startswith("argon2$argon2id$")
    assert sign_in(Client(), card, "full width passphrase")["Location"] == "/account/"


def test_change_needs_the_current_password_and_ends_other_sessions(reader):
    _patron, card = reader()
    elsewhere = signed_in(card)
    here = signed_in(card)
    assert "Sign-in failed" in change(here, current="not the current one, no")
    page = change(here)
    assert "Your password is changed. Sessions ended elsewhere: 1." in page
    with clock.frozen(T0):
        assert elsewhere.get("/account/")["Location"] == "/account/login/?ended=password-changed"
        assert here.get("/account/").status_code == 200
    assert sign_in(Client(), card, PASSWORD, at=T0 + dt.timedelta(minutes=1)).status_code == 200
    assert sign_in(Client(), card, NEW, at=T0 + dt.timedelta(minutes=1)).status_code == 302
    assert NEW not in ledger_text() and PASSWORD not in ledger_text()


@pytest.mark.parametrize(
    ("new", "reason"),
    [
        ("short one", "at least 15 characters"),
        ("1234", "at least 15 characters"),
        ("1q2w3e4r5t6y7u8i", "commonly used"),
        ("library library library", "anyone would guess"),
    ],
)
def test_the_rules_are_shown_with_their_reasons(reader, new, reason):
    _patron, card = reader()
    assert reason in change(signed_in(card), new=new)


def test_the_card_number_is_never_a_password(reader):
    _patron, card = reader()
    client = signed_in(card)
    spaced = " ".join(card)
    for candidate in (card, card.lower(), spaced, f"my card is {card} okay", f"{card}{card}"):
        assert "must not be or contain your card number" in change(client, new=candidate)


def test_two_different_new_passwords_are_refused(reader):
    _patron, card = reader()
    assert "The two passwords differ." in change(signed_in(card), again=NEW + "!")


def test_one_time_link_sets_the_password_once(reader, run_cli):
    patron, card = reader(password=None)
    assert not services.has_password(patron)
    with clock.frozen(T0):
        result = run_cli("patron", "password-link", card, "--json")
    assert result.code == 0, result.err
    data = result.json()
    path = data["path"]
    assert data["id"] == patron.pk and path.startswith("/account/set-password/")
    assert data["expires_at"].startswith("2026-09-04T09:00:05")
    token = path.rstrip("/").rsplit("/", 1)[1]
    assert token not in ledger_text()
    assert PasswordLink.objects.get().token_hash != token
    client = Client()
    with clock.frozen(T0 + dt.timedelta(hours=1)):
        assert client.get(path).status_code == 200
        refused = client.post(path, {"new_password": card, "new_password_again": card})
        assert "card number" in refused.content.decode()
        done = client.post(path, {"new_password": NEW, "new_password_again": NEW})
        assert done["Location"] == "/account/login/?password=set"
        assert "Your password is set" in client.get(done["Location"]).content.decode()
        assert client.get(path).status_code == 404
        again = client.post(path, {"new_password": NEW + "x", "new_password_again": NEW + "x"})
        assert again.status_code == 404
    assert sign_in(Client(), card, NEW, at=T0 + dt.timedelta(hours=1)).status_code == 302
    acts = list(Entry.objects.filter(patron_id=patron.pk).values_list("action", "channel"))
    assert ("portal.password_link", "cli") in acts and ("portal.password_set", "web") in acts


def test_links_expire_and_a_new_link_replaces_the_old(reader):
    patron, _card = reader(password=None)
    with clock.frozen(T0):
        old, _ = services.create_password_link(patron, actor=DESK)
        new, expires = services.create_password_link(patron, actor=DESK)
    assert expires == T0 + dt.timedelta(hours=72)
    with clock.frozen(T0 + dt.timedelta(hours=71)):
        assert Client().get(f"/account/set-password/{old}/").status_code == 404
        assert Client().get(f"/account/set-password/{new}/").status_code == 200
    with clock.frozen(T0 + dt.timedelta(hours=72, seconds=1)):
        assert Client().get(f"/account/set-password/{new}/").status_code == 404
    assert Client().get("/account/set-password/" + "x" * 500 + "/").status_code == 404


def test_cli_set_password_from_a_file(reader, run_cli, tmp_path):
    patron, card = reader(password=None)
    pw = tmp_path / "pw.txt"
    pw.write_text(NEW + "\nignored second line\n", encoding="utf-8")
    result = run_cli("patron", "set-password", card, "--password-file", str(pw), "--json")
    assert result.code == 0, result.err
    assert result.json() == {"id": patron.pk, "sessions_ended": 0}
    entry = Entry.objects.get(action="portal.password_set")
    assert entry.actor_kind == "cli" and entry.channel == "cli" and entry.patron_id == patron.pk
    assert NEW not in ledger_text() and card not in ledger_text()
    assert sign_in(Client(), card, NEW).status_code == 302
    text = run_cli("patron", "set-password", f"id:{patron.pk}", "--password-file", str(pw))
    assert text.code == 0 and "sessions ended: 1" in text.out


def test_cli_set_password_refusals(reader, run_cli, tmp_path):
    _patron, card = reader(password=None)
    pw = tmp_path / "pw.txt"
    pw.write_text(card + " is my password\n", encoding="utf-8")
    result = run_cli("patron", "set-password", card, "--password-file", str(pw))
    assert result.code != 0 and "card number" in result.err
    missing = run_cli("patron", "set-password", card, "--password-file", str(tmp_path / "none"))
    assert missing.code != 0 and "Cannot read the password file" in missing.err
    unknown = run_cli("patron", "set-password", "29999999999", "--password-file", str(pw))
    assert unknown.code != 0 and "No patron has that card number" in unknown.err


def test_patron_show_json_includes_the_id(reader, run_cli):
    patron, card = reader()
    result = run_cli("patron", "show", card, "--purpose", "tests", "--json")
    assert result.code == 0, result.err
    assert result.json()["id"] == patron.pk
