"""Erasure destroys the key and every personal column, and keeps a tombstone with the id only."""

from __future__ import annotations

import pytest

from shelfguard.ledger.models import Entry
from shelfguard.patrons import register as reg
from shelfguard.patrons import services
from shelfguard.patrons.models import Consent, Patron, PatronChange, PatronNameToken, PatronStatus
from shelfguard.patrons.validation import PatronError
from shelfguard.vault import KeyDestroyed, sealing
from shelfguard.vault.models import DataKey, ErasureEntry

from .conftest import BOTH_DATABASES, DESK

pytestmark = [BOTH_DATABASES, pytest.mark.usefixtures("library")]


def test_erasure_leaves_a_tombstone_without_personal_data(make_patron):
    patron = make_patron(card_number="29004440001", name="Erin Eraseme", pin="2468")
    services.update(patron, {"phone": None}, actor=DESK, purpose="correction")
    services.give_consent(patron, "email_notices", actor=DESK)
    key_id = patron.key_id

    services.erase(patron, actor=DESK, reason="patron request")

    row = Patron.objects.filter(pk=patron.pk).values().get()
    assert row["status"] == PatronStatus.ERASED
    assert row["erased_at"] is not None
    for field in reg.SEALED:
        assert row[field.column] is None
    for column in (
        "card_index",
        "email_index",
        "phone_index",
        "address_index",
        "category_id",
        "home_branch_id",
        "expires_on",
        "identity_verified_at",
        "created_at",
        "updated_at",
    ):
        assert row[column] is None, column
    assert row["pin_hash"] == "" and row["identity_document"] == ""
    assert row["identity_verified_by"] == "" and row["guardian_required"] is False
    assert not PatronNameToken.objects.filter(patron_id=patron.pk).exists()
    assert not Consent.objects.filter(patron_id=patron.pk).exists()
    assert not PatronChange.objects.filter(patron_id=patron.pk).exists()
    # The key is gone from the keystore, and the vault recorded the erasure by id.
    assert not DataKey.objects.using("keystore").filter(pk=key_id).exists()
    assert ErasureEntry.objects.using("keystore").get(pk=key_id).owner == f"patron:{patron.pk}"
    with pytest.raises(KeyDestroyed):
        sealing.open_key(key_id)


def test_erasure_is_recorded_in_the_ledger_by_id(make_patron):
    patron = make_patron()

    services.erase(patron, actor=DESK, reason="patron request")

    entry = Entry.objects.get(patron_id=patron.pk, action="patron.erase")
    assert entry.detail == {"reason": "patron request"}
    assert "name" in entry.fields and "card_number" in entry.fields
    # Earlier entries stay: they name the patron by id only.
    assert Entry.objects.filter(patron_id=patron.pk, action="patron.register").exists()


def test_an_erased_patron_cannot_be_found_revealed_or_erased_again(make_patron):
    patron = make_patron(card_number="29004440002", name="Gone Person", email="gone@example.org")

    services.erase(patron, actor=DESK, reason="patron request")

    assert services.find_by_card("29004440002") is None
    assert services.find_by_email("gone@example.org") == []
    assert services.search_by_name("Gone Person") == []
    with pytest.raises(services.PatronErased):
        services.reveal(patron, ["name"], actor=DESK, purpose="check")
    with pytest.raises(services.PatronErased):
        services.erase(patron, actor=DESK, reason="again")
    assert not services.has_consent(patron, "service")


def test_the_card_number_can_be_issued_again_after_erasure(make_patron):
    patron = make_patron(card_number="29004440003")
    services.erase(patron, actor=DESK, reason="patron request")

    again = make_patron(card_number="29004440003")

    assert services.find_by_card("29004440003") == again


def test_erasure_needs_a_reason_without_much_text(make_patron):
    patron = make_patron()

    with pytest.raises(PatronError, match="Say why"):
        services.erase(patron, actor=DESK, reason="  ")
    with pytest.raises(PatronError, match="under 200"):
        services.erase(patron, actor=DESK, reason="x" * 201)
    patron.refresh_from_db()
    assert patron.status == PatronStatus.ACTIVE


def test_other_patrons_are_untouched(make_patron):
    gone = make_patron()
    kept = make_patron(email="kept@example.org")

    services.erase(gone, actor=DESK, reason="patron request")

    assert services.reveal(kept, ["email"], actor=DESK, purpose="check") == {
        "email": "kept@example.org"
    }
