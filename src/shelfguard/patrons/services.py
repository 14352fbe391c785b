"""Patron services: the only doors through which patron data is written, found or read.

Every function here that reads or changes personal data takes `actor=` and
`purpose=` keywords, runs in one transaction, and writes one ledger entry in
that same transaction, so the action and its record commit together or not
at all. Plain values leave the app only through `reveal` (and
`rebuild_blind_indexes`, which hands them to the vault's new index key and
nowhere else). Look-ups (`find_by_card`, `find_by_email`, `find_by_phone`,
`search_by_name`) return `Patron` instances, which hold ciphertext only.

Errors are `PatronError` (or a subclass) with a message that says what to do
and never contains a personal value: messages reach screens and logs.

The doors are implemented by subject (registration, lookup, consent,
erasure, reindex); this module is the one place callers import them from.
A lost card is replaced with `update(patron, {"card_number": new})`: the new
number's blind index replaces the old one in the same transaction, so the
old number finds nobody from the moment it commits. `renew_card` extends a
card's validity.
"""

from __future__ import annotations

from shelfguard.patrons.consent import (
    ConsentState,
    consent_in_force,
    consents,
    give_consent,
    has_consent,
    withdraw_consent,
)
from shelfguard.patrons.erasure import erase
from shelfguard.patrons.errors import (
    ErasureRefused,
    KeyMissing,
    PatronErased,
    PatronNotFound,
    SealedDataDamaged,
)
from shelfguard.patrons.lookup import (
    find_by_card,
    find_by_email,
    find_by_phone,
    get_patron,
    reveal,
    search_by_name,
)
from shelfguard.patrons.obligations import (
    register_obligation_check,
    register_withdrawal_handler,
    unregister_obligation_check,
    unregister_withdrawal_handler,
)
from shelfguard.patrons.registration import (
    CHILD_CATEGORY,
    DEFAULT_CATEGORIES,
    check_pin,
    ensure_defaults,
    register,
    renew_card,
    update,
)
from shelfguard.patrons.reindex import KEY_ROTATION_PURPOSE, rebuild_blind_indexes
from shelfguard.patrons.validation import PatronError

__all__ = [
    "CHILD_CATEGORY",
    "DEFAULT_CATEGORIES",
    "KEY_ROTATION_PURPOSE",
    "ConsentState",
    "ErasureRefused",
    "KeyMissing",
    "PatronErased",
    "PatronError",
    "PatronNotFound",
    "SealedDataDamaged",
    "check_pin",
    "consent_in_force",
    "consents",
    "ensure_defaults",
    "erase",
    "find_by_card",
    "find_by_email",
    "find_by_phone",
    "get_patron",
    "give_consent",
    "has_consent",
    "rebuild_blind_indexes",
    "register",
    "register_obligation_check",
    "register_withdrawal_handler",
    "renew_card",
    "reveal",
    "search_by_name",
    "unregister_obligation_check",
    "unregister_withdrawal_handler",
    "update",
    "withdraw_consent",
]
