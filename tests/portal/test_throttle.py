"""Growing delays and lockout, per account and per source; unknown cards exactly alike."""

from __future__ import annotations

import datetime as dt

import pytest
from django.test import Client

from shelfguard.accounts.models import Throttle
from shelfguard.accounts.tokens import keyed_hash
from shelfguard.ledger.models import Entry
from shelfguard.portal.models import PatronSession
from tests.portal.conftest import PASSWORD, T0, sign_in
from tests.portal.helpers import ledger_text

pytestmark = pytest.mark.django_db(databases=["default", "keystore"])

WRONG = "this is not the password at all"


def _message(response) -> str:
    text = response.content.decode()
    start = text.index('id="form-error">') + len('id="form-error">')
    return text[start : text.index("</p>", start)]


def test_delays_grow_after_three_failures(reader):
    _patron, card = reader()
    messages = [_message(sign_in(Client(), card, WRONG)) for _ in range(3)]
    assert all("Wait" not in m for m in messages[:2])
    # The third failure starts the delay; even the right password waits.
    assert "Wait 1 second" in messages[2]
    refused = sign_in(Client(), card, PASSWORD)
    assert "Wait 1 second" in _message(refused) and refused["Retry-After"] == "1"
    assert not PatronSession.objects.exists()
    later = T0 + dt.timedelta(seconds=1)
    assert sign_in(Client(), card, WRONG, at=later).status_code == 200
    assert "Wait 2 seconds" in _message(sign_in(Client(), card, PASSWORD, at=later))
    assert sign_in(Client(), card, at=T0 + dt.timedelta(seconds=3)).status_code == 302


def _attempts(card: str, n: int) -> list[str]:
    at, seen = T0, []
    for _ in range(n):
        at += dt.timedelta(minutes=10)
        seen.append(_message(sign_in(Client(), card, WRONG, at=at)))
    return seen


def test_lockout_after_the_configured_number_of_failures(reader, settings):
    patron, card = reader()
    settings.CONFIG = {"accounts": {"lockout_after": 5, "lockout_minutes": 30}}
    _attempts(card, 5)
    entry = Entry.objects.get(action="accounts.lockout")
    assert entry.detail["subject"] == f"patron:{patron.pk}" and entry.detail["failures"] == 5
    # Locked: the right password does not open it until the lockout ends.
    at = T0 + dt.timedelta(minutes=55)
    assert "Wait" in _message(sign_in(Client(), card, PASSWORD, at=at))
    assert sign_in(Client(), card, at=T0 + dt.timedelta(minutes=81)).status_code == 302
    assert card not in ledger_text() and WRONG not in ledger_text()


def test_unknown_cards_are_throttled_and_locked_exactly_like_known_ones(reader, settings):
    _patron, card = reader()
    settings.CONFIG = {"accounts": {"lockout_after": 4}}
    known = _attempts(card, 6)
    Throttle.objects.all().delete()
    unknown = _attempts("29999999999", 6)
    assert known == unknown
    lockouts = list(
        Entry.objects.filter(action="accounts.lockout").values_list("detail", flat=True)
    )
    assert [d["subject"] for d in lockouts] == [lockouts[0]["subject"], "unknown-account"]


def test_patron_counters_are_apart_from_staff_ones(reader):
    _patron, card = reader()
    sign_in(Client(), card, WRONG)
    keys = set(Throttle.objects.filter(scope="account").values_list("key", flat=True))
    assert keyed_hash("throttle-account", card.lower()) not in keys
    assert keyed_hash("throttle-account", card) not in keys
    assert len(keys) == 1


def test_a_source_guessing_many_cards_is_slowed_down(reader):
    reader()
    at = T0
    for n in range(20):
        at += dt.timedelta(seconds=1)
        sign_in(Client(), f"2988{n:07d}", WRONG, at=at)
    # Every card is new, but the source has used up its free attempts.
    assert "Wait" in _message(sign_in(Client(), "29770000001", WRONG, at=at))
