"""The card's life at the desk: replacing a lost card, and renewing it.

A replaced card stops working the moment the change commits (its blind index
is replaced in the same transaction, by `services.update`); renewals are
recorded in the change history and the ledger like any other update.
"""

from __future__ import annotations

import datetime as dt

import pytest

from shelfguard.core import clock
from shelfguard.ledger.models import Entry
from shelfguard.patrons import services
from shelfguard.patrons.models import PatronChange, PatronStatus
from shelfguard.patrons.validation import PatronError

from .conftest import BOTH_DATABASES, DESK

pytestmark = [BOTH_DATABASES, pytest.mark.usefixtures("library")]


# --- replacing a card ------------------------------------------------------------------


def test_a_replaced_card_is_unfindable_at_once_and_the_new_one_works(make_patron):
    patron = make_patron(card_number="29001230001")

    services.update(
        patron, {"card_number": "29001230002"}, actor=DESK, purpose="card replaced: lost"
    )

    assert services.find_by_card("29001230001") is None
    assert services.find_by_card("2900 1230 002").pk == patron.pk
    assert services.reveal(patron, ["card_number"], actor=DESK, purpose="check") == {
        "card_number": "29001230002"
    }
    entry = Entry.objects.get(patron_id=patron.pk, action="patron.update")
    assert entry.fields == ["card_number"]
    assert entry.purpose == "card replaced: lost"
    change = PatronChange.objects.get(patron=patron)
    assert change.fields == ["card_number"]


def test_the_old_number_can_be_given_to_someone_else_afterwards(make_patron):
    first = make_patron(card_number="29001230011")
    services.update(first, {"card_number": "29001230012"}, actor=DESK, purpose="card replaced")

    second = make_patron(card_number="29001230011")

    assert services.find_by_card("29001230011").pk == second.pk
    assert services.find_by_card("29001230012").pk == first.pk


def test_a_card_held_by_another_patron_is_refused(make_patron):
    patron = make_patron(card_number="29001230021")
    make_patron(card_number="29001230022")

    with pytest.raises(PatronError, match="already registered"):
        services.update(patron, {"card_number": "29001230022"}, actor=DESK, purpose="replace")

    assert services.find_by_card("29001230021").pk == patron.pk
    assert not Entry.objects.filter(patron_id=patron.pk, action="patron.update").exists()


def test_the_name_search_still_finds_the_patron_after_a_new_card(make_patron):
    patron = make_patron(card_number="29001230031", name="Quill Replacer")
    services.update(patron, {"card_number": "29001230032"}, actor=DESK, purpose="replace")

    assert [p.pk for p in services.search_by_name("quill replacer")] == [patron.pk]


# --- renewing -------------------------------------------------------------------------


def test_renewal_defaults_to_the_standard_period(make_patron):
    patron = make_patron(expires_on=clock.today() + dt.timedelta(days=10))

    renewed = services.renew_card(patron, actor=DESK)

    today = clock.today()
    assert renewed.expires_on == today.replace(year=today.year + 3)
    entry = Entry.objects.get(patron_id=patron.pk, action="patron.update")
    assert entry.purpose == "card renewal" and entry.fields == ["expires_on"]


def test_renewal_revives_an_expired_card_but_not_a_blocked_one(make_patron):
    expired = make_patron()
    services.update(expired, {"status": PatronStatus.EXPIRED}, actor=DESK, purpose="test")
    blocked = make_patron()
    services.update(blocked, {"status": PatronStatus.BLOCKED}, actor=DESK, purpose="test")
    until = clock.today() + dt.timedelta(days=365)

    assert services.renew_card(expired, expires_on=until, actor=DESK).status == PatronStatus.ACTIVE
    renewed = services.renew_card(blocked, expires_on=until, actor=DESK)
    assert (renewed.status, renewed.expires_on) == (PatronStatus.BLOCKED, until)


@pytest.mark.parametrize("days", [0, -5])
def test_renewal_must_reach_past_today(make_patron, days):
    patron = make_patron()
    with pytest.raises(PatronError, match="after today"):
        services.renew_card(patron, expires_on=clock.today() + dt.timedelta(days=days), actor=DESK)


def test_a_closed_card_is_not_renewed(make_patron):
    patron = make_patron()
    services.update(patron, {"status": PatronStatus.CLOSED}, actor=DESK, purpose="test")
    with pytest.raises(PatronError, match="closed"):
        services.renew_card(patron, actor=DESK)


def test_an_erased_patron_cannot_be_renewed(make_patron):
    patron = make_patron()
    services.erase(patron, actor=DESK, reason="patron request")
    with pytest.raises(services.PatronErased):
        services.renew_card(patron, actor=DESK)
