"""Changing a patron: re-sealed, re-indexed, one history row and one ledger entry per change."""

from __future__ import annotations

import datetime as dt

import pytest

from shelfguard.ledger.models import Entry
from shelfguard.patrons import services
from shelfguard.patrons.models import PatronChange, PatronStatus
from shelfguard.patrons.validation import PatronError

from .conftest import BOTH_DATABASES, DESK

pytestmark = [BOTH_DATABASES, pytest.mark.usefixtures("library")]


def test_changed_email_is_resealed_and_reindexed(make_patron):
    patron = make_patron(email="old.address@example.org")
    sealed_before = bytes(patron.email_sealed)

    services.update(patron, {"email": "new.address@example.org"}, actor=DESK, purpose="correction")

    patron.refresh_from_db()
    assert bytes(patron.email_sealed) != sealed_before
    assert services.find_by_email("new.address@example.org") == [patron]
    assert services.find_by_email("old.address@example.org") == []
    values = services.reveal(patron, ["email"], actor=DESK, purpose="check")
    assert values == {"email": "new.address@example.org"}


def test_each_change_is_one_history_row_and_one_ledger_entry(make_patron):
    patron = make_patron()

    services.update(
        patron,
        {"phone": None, "home_branch": "EAST", "expires_on": dt.date(2030, 1, 31)},
        actor=DESK,
        purpose="patron moved",
    )

    change = PatronChange.objects.get(patron=patron)
    assert change.fields == ["expires_on", "home_branch", "phone"]
    assert (change.actor, change.channel, change.purpose) == ("staff:desk-7", "web", "patron moved")
    entry = Entry.objects.filter(patron_id=patron.pk, action="patron.update").get()
    assert entry.fields == ["expires_on", "home_branch", "phone"]
    patron.refresh_from_db()
    assert patron.phone_sealed is None and patron.phone_index is None
    assert patron.home_branch.code == "EAST"


def test_changed_name_replaces_the_name_tokens(make_patron):
    patron = make_patron(name="Oriel Fenwick")

    services.update(patron, {"name": "Oriel Marchbank"}, actor=DESK, purpose="name change")

    assert services.search_by_name("Marchbank") == [patron]
    assert services.search_by_name("Fenwick") == []


def test_card_number_cannot_move_to_another_patrons_card(make_patron):
    make_patron(card_number="29007770001")
    patron = make_patron(card_number="29007770002")

    with pytest.raises(PatronError, match="already registered"):
        services.update(patron, {"card_number": "2900-7770-001"}, actor=DESK, purpose="new card")

    services.update(patron, {"card_number": "29007770003"}, actor=DESK, purpose="new card")
    assert services.find_by_card("29007770003") == patron
    assert services.find_by_card("29007770002") is None


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"name": None}, "name cannot be removed"),
        ({"card_number": ""}, "card number cannot be removed"),
        ({"email": None, "phone": None, "address": None}, "at least one way to be reached"),
        ({"status": PatronStatus.ERASED}, "erasure has its own command"),
        ({"favourite_colour": "green"}, "Cannot change favourite_colour"),
        ({}, "Nothing to change"),
    ],
)
def test_changes_that_would_break_the_record_are_refused(make_patron, changes, message):
    patron = make_patron()
    entries = Entry.objects.count()

    with pytest.raises(PatronError, match=message):
        services.update(patron, changes, actor=DESK, purpose="correction")

    assert not PatronChange.objects.exists()
    assert Entry.objects.count() == entries


def test_pin_change_stores_a_new_hash(make_patron):
    patron = make_patron(pin="1111")

    services.update(patron, {"pin": "2222"}, actor=DESK, purpose="forgotten PIN")

    patron.refresh_from_db()
    assert services.check_pin(patron, "2222") and not services.check_pin(patron, "1111")
    assert PatronChange.objects.get(patron=patron).fields == ["pin"]


def test_an_erased_patron_cannot_be_changed(make_patron):
    patron = make_patron()
    services.erase(patron, actor=DESK, reason="patron request")

    with pytest.raises(services.PatronErased):
        services.update(patron, {"email": "back@example.org"}, actor=DESK, purpose="correction")
