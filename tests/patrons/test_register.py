"""Registering a patron: sealed at rest, indexed, consented, recorded; refused when incomplete."""

from __future__ import annotations

import datetime as dt

import pytest

from shelfguard.core import clock
from shelfguard.ledger.models import Entry
from shelfguard.patrons import register as reg
from shelfguard.patrons import services
from shelfguard.patrons.models import Consent, Patron, PatronNameToken, PatronStatus
from shelfguard.patrons.validation import PatronError
from shelfguard.vault.models import DataKey

from .conftest import BOTH_DATABASES, DESK, adult_values

pytestmark = [BOTH_DATABASES, pytest.mark.usefixtures("library")]


def test_registered_patron_holds_only_ciphertext(make_patron):
    patron = make_patron(name="Quentin Marker", email="quentin@example.org")

    row = Patron.objects.filter(pk=patron.pk).values().get()
    for field in reg.SEALED:
        value = row[field.column]
        assert value is None or isinstance(value, (bytes, memoryview))
    assert b"Quentin" not in bytes(row["name_sealed"])
    assert b"quentin@example.org" not in bytes(row["email_sealed"])
    assert row["card_index"] and row["email_index"] and row["phone_index"]
    assert row["key_id"] and DataKey.objects.using("keystore").filter(pk=row["key_id"]).exists()
    # One row per distinct token index: the two name tokens, unless their short
    # (deliberately colliding) indexes happen to coincide under this test's key.
    from shelfguard.vault import blind

    expected = {blind.blind_index("name_token", t) for t in blind.name_tokens("Quentin Marker")}
    assert PatronNameToken.objects.filter(patron=patron).count() == len(expected)
    assert patron.status == PatronStatus.ACTIVE
    assert str(patron) == f"patron {patron.pk}"


def test_registration_is_one_ledger_entry_naming_fields_not_values(make_patron):
    patron = make_patron()

    entry = Entry.objects.get(patron_id=patron.pk)
    assert entry.action == "patron.register"
    assert (entry.actor_kind, entry.actor_id, entry.channel) == ("staff", "desk-7", "web")
    assert entry.purpose == "registration"
    assert {"card_number", "name", "email", "phone", "address", "birth_year"} <= set(entry.fields)
    assert entry.detail == {"consents": ["service"], "notice_version": 1}


def test_service_consent_is_recorded_and_optional_ones_start_off(make_patron):
    patron = make_patron()

    assert list(Consent.objects.filter(patron=patron).values_list("purpose", "given")) == [
        ("service", True)
    ]
    assert services.has_consent(patron, "service")
    for purpose in ("reading_history", "recommendations", "email_notices", "sms_notices"):
        assert not services.has_consent(patron, purpose)


def test_new_card_expires_after_the_configured_years(library, settings):
    settings.CONFIG = {"patrons": {"card_valid_years": 2}}
    with clock.frozen(dt.datetime(2026, 3, 1, 12, tzinfo=dt.UTC)):
        patron = services.register(**adult_values(), actor=DESK)
    assert patron.expires_on == dt.date(2028, 3, 1)


def test_a_patron_is_found_by_card_in_any_spelling(make_patron):
    patron = make_patron(card_number="29001234567")

    assert services.find_by_card("29001234567") == patron
    assert services.find_by_card(" 2900 1234 567 ") == patron
    assert services.find_by_card("2900-1234-567") == patron
    assert services.find_by_card("29001234568") is None
    assert services.find_by_card("not a card!") is None


def test_found_by_email_and_phone_ignoring_case_and_formatting(make_patron):
    patron = make_patron(email="Mixed.Case@Example.org", phone="+1 (555) 010-7788")

    assert services.find_by_email("mixed.case@example.org") == [patron]
    assert services.find_by_phone("+15550107788") == [patron]
    assert services.find_by_email("other@example.org") == []


def test_a_second_patron_with_the_same_card_is_refused(make_patron):
    make_patron(card_number="29005550001")
    keys_before = DataKey.objects.using("keystore").count()
    entries_before = Entry.objects.count()

    with pytest.raises(PatronError, match="already registered"):
        make_patron(card_number="2900 5550 001")

    assert Patron.objects.count() == 1
    # The data key made for the refused registration is destroyed, not left behind.
    assert DataKey.objects.using("keystore").count() == keys_before
    assert Entry.objects.count() == entries_before


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"card_number": ""}, "needs a library card number"),
        ({"name": "   "}, "needs a name"),
        ({"name": "— · —"}, "at least one letter or digit"),
        ({"email": None, "phone": None, "address": None}, "at least one way to be reached"),
        ({"category": "senior"}, "Unknown patron category 'senior'"),
        ({"home_branch": "NOWHERE"}, "Unknown branch"),
        ({"email": "not-an-address"}, "email address is not valid"),
        ({"phone": "call me"}, "phone number must be"),
        ({"birth_year": 1850}, "year of birth must be between"),
        ({"card_number": "!!"}, "card number must be"),
    ],
)
def test_incomplete_or_malformed_registration_is_refused(overrides, message):
    with pytest.raises(PatronError, match=message) as caught:
        services.register(**adult_values(**overrides), actor=DESK)
    assert not Patron.objects.exists()
    # Messages name the rule, never the personal value that broke it.
    for key, value in overrides.items():
        if key in reg.SEALED_KEYS and isinstance(value, str) and len(value) > 3:
            assert value not in str(caught.value)


def test_registration_without_service_consent_is_refused():
    with pytest.raises(PatronError, match="'service' purpose"):
        services.register(**adult_values(), consents=("email_notices",), actor=DESK)


def test_a_field_the_library_does_not_collect_is_refused(settings):
    settings.CONFIG = {"patrons": {"collect": ["email"]}}

    with pytest.raises(PatronError, match="does not collect phone number"):
        services.register(**adult_values(address=None, birth_year=None), actor=DESK)

    patron = services.register(
        **adult_values(phone=None, address=None, birth_year=None), actor=DESK
    )
    assert patron.phone_sealed is None and patron.address_sealed is None


def test_identity_check_is_kept_only_when_collected(settings):
    with pytest.raises(PatronError, match="does not record identity checks"):
        services.register(**adult_values(), identity_document="passport", actor=DESK)

    settings.CONFIG = {"patrons": {"collect": ["email", "identity_verification"]}}
    patron = services.register(
        **adult_values(phone=None, address=None, birth_year=None),
        identity_document="passport",
        actor=DESK,
    )
    assert patron.identity_document == "passport"
    assert patron.identity_verified_by == "staff:desk-7"
    assert patron.identity_verified_at is not None


def test_pin_is_stored_as_a_digest_keyed_with_the_patrons_own_key(make_patron):
    patron = make_patron(pin="8642")

    assert patron.pin_hash.startswith("sgpin1$")
    assert "8642" not in patron.pin_hash
    assert services.check_pin(patron, "8642")
    assert not services.check_pin(patron, "8641")
    assert not services.check_pin(patron, "")


def test_the_same_pin_gives_unrelated_digests_for_two_patrons(make_patron):
    first, second = make_patron(pin="1234"), make_patron(pin="1234")

    assert first.pin_hash != second.pin_hash
    # A digest copied into another row matches nothing there.
    second.pin_hash = first.pin_hash
    assert not services.check_pin(second, "1234")


def test_an_older_argon2_pin_is_checked_once_then_replaced_by_its_digest(make_patron):
    from django.contrib.auth.hashers import make_password

    from shelfguard.patrons.models import Patron

    patron = make_patron()
    Patron.objects.filter(pk=patron.pk).update(pin_hash=make_password("5791"))
    patron.refresh_from_db()
    assert patron.pin_hash.startswith("argon2$")

    assert not services.check_pin(patron, "5790")
    assert Patron.objects.get(pk=patron.pk).pin_hash.startswith("argon2$")
    assert services.check_pin(patron, "5791")
    stored = Patron.objects.get(pk=patron.pk).pin_hash
    assert stored.startswith("sgpin1$")
    assert services.check_pin(Patron.objects.get(pk=patron.pk), "5791")


def test_a_pin_changed_through_update_is_a_keyed_digest(make_patron):
    patron = make_patron(pin="1111")
    changed = services.update(patron, {"pin": "2222"}, actor=DESK, purpose="test")

    assert changed.pin_hash.startswith("sgpin1$")
    assert services.check_pin(changed, "2222") and not services.check_pin(changed, "1111")
