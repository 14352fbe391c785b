"""Revealing sealed fields: recorded with the fields named; damaged data fails for one record only."""

from __future__ import annotations

import pytest
from django.db import connection

from shelfguard.ledger.models import Entry
from shelfguard.patrons import services
from shelfguard.patrons.models import Patron
from shelfguard.patrons.validation import PatronError

from .conftest import BOTH_DATABASES, DESK

pytestmark = [BOTH_DATABASES, pytest.mark.usefixtures("library")]


def _overwrite(patron: Patron, column: str, value: bytes) -> None:
    """Write raw bytes into a sealed column, as damage or an intruder would."""
    table = connection.ops.quote_name(Patron._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET {column} = %s WHERE id = %s", [value, patron.pk])


def test_reveal_returns_the_values_and_records_the_fields(make_patron):
    patron = make_patron(name="Wren Example", email="wren@example.org", address="1 Test Lane")

    values = services.reveal(
        patron, ["name", "email", "address"], actor=DESK, purpose="renewal at the desk"
    )

    assert values == {"name": "Wren Example", "email": "wren@example.org", "address": "1 Test Lane"}
    entry = Entry.objects.get(patron_id=patron.pk, action="patron.reveal")
    assert entry.fields == ["address", "email", "name"]
    assert entry.purpose == "renewal at the desk"
    assert (entry.actor_kind, entry.actor_id, entry.channel) == ("staff", "desk-7", "web")


def test_a_field_not_kept_reveals_as_none(make_patron):
    patron = make_patron(phone=None)

    assert services.reveal(patron, ["phone"], actor=DESK, purpose="check") == {"phone": None}


@pytest.mark.parametrize("fields", [[], ["pin"], ["category"], ["shoe_size"], "name"])
def test_only_sealed_fields_can_be_revealed(make_patron, fields):
    patron = make_patron()

    with pytest.raises(PatronError):
        services.reveal(patron, fields, actor=DESK, purpose="check")
    assert not Entry.objects.filter(action="patron.reveal").exists()


def test_a_reveal_needs_a_purpose(make_patron):
    patron = make_patron()

    with pytest.raises(Exception, match="purpose"):
        services.reveal(patron, ["name"], actor=DESK, purpose="  ")
    assert not Entry.objects.filter(action="patron.reveal").exists()


def test_damaged_ciphertext_fails_that_record_clearly_and_others_keep_working(make_patron):
    damaged = make_patron(email="damaged@example.org")
    healthy = make_patron(email="healthy@example.org")
    sealed = bytearray(damaged.email_sealed)
    sealed[-1] ^= 0x01
    _overwrite(damaged, "email_sealed", bytes(sealed))

    with pytest.raises(services.SealedDataDamaged) as caught:
        services.reveal(damaged, ["name", "email"], actor=DESK, purpose="check")

    assert caught.value.patron_id == damaged.pk
    assert caught.value.fields == ["email"]
    assert f"patron {damaged.pk}" in str(caught.value)
    assert "damaged@example.org" not in str(caught.value)
    # Nothing was revealed, so nothing is recorded.
    assert not Entry.objects.filter(patron_id=damaged.pk, action="patron.reveal").exists()
    # The undamaged fields of that patron, and every other patron, still work.
    assert services.reveal(damaged, ["name"], actor=DESK, purpose="check")["name"]
    assert services.reveal(healthy, ["email"], actor=DESK, purpose="check") == {
        "email": "healthy@example.org"
    }
    assert services.find_by_email("healthy@example.org") == [healthy]
    assert services.find_by_email("damaged@example.org") == []


def test_a_value_moved_from_another_patron_does_not_open(make_patron):
    source = make_patron(phone="+1 555 010 4444")
    target = make_patron(phone="+1 555 010 5555")
    _overwrite(target, "phone_sealed", bytes(source.phone_sealed))

    with pytest.raises(services.SealedDataDamaged):
        services.reveal(target, ["phone"], actor=DESK, purpose="check")


def test_a_value_moved_between_fields_does_not_open(make_patron):
    patron = make_patron()
    _overwrite(patron, "address_sealed", bytes(patron.email_sealed))

    with pytest.raises(services.SealedDataDamaged) as caught:
        services.reveal(patron, ["address", "email"], actor=DESK, purpose="check")
    assert caught.value.fields == ["address"]


def test_unknown_patron_id_is_not_found(library):
    with pytest.raises(services.PatronNotFound):
        services.reveal(999_999, ["name"], actor=DESK, purpose="check")
