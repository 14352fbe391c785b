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
card's validity. Correction requests (`submit` ... `approve`) live in
`corrections`, card applications from the portal (`apply_for_card`,
`verify_email`, `verify_identity`, `purge_unverified`) in `selfreg`.
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
from shelfguard.patrons.corrections import (
    CorrectionNotFound,
    add_note,
    approve,
    ask_for_proof,
    branch_of_request,
    change_own_details,
    reject,
    requests_of,
    review,
    reviewed_fields_for,
    submit,
    withdraw,
)
from shelfguard.patrons.corrections import queue as correction_queue
from shelfguard.patrons.erasure import erase
from shelfguard.patrons.errors import (
    ErasureRefused,
    KeyMissing,
    PatronErased,
    PatronNotFound,
    SealedDataDamaged,
)
from shelfguard.patrons.export_sections import open_export_key, seal_export_key
from shelfguard.patrons.lookup import (
    find_by_card,
    find_by_email,
    find_by_phone,
    get_patron,
    reveal,
    search_by_name,
)
from shelfguard.patrons.obligations import (
    outstanding as outstanding_obligations,
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
from shelfguard.patrons.selfreg import (
    SelfRegistrationError,
    is_provisional,
    purge_unverified,
    verify_email,
    verify_identity,
)
from shelfguard.patrons.selfreg import apply as apply_for_card
from shelfguard.patrons.selfreg import available as self_registration_available
from shelfguard.patrons.selfreg import form_fields as self_registration_fields
from shelfguard.patrons.selfreg import open_link as open_application_link
from shelfguard.patrons.validation import PatronError

__all__ = [
    "CHILD_CATEGORY",
    "DEFAULT_CATEGORIES",
    "KEY_ROTATION_PURPOSE",
    "ConsentState",
    "CorrectionNotFound",
    "ErasureRefused",
    "KeyMissing",
    "PatronErased",
    "PatronError",
    "PatronNotFound",
    "SealedDataDamaged",
    "SelfRegistrationError",
    "add_note",
    "apply_for_card",
    "approve",
    "ask_for_proof",
    "branch_of_request",
    "change_own_details",
    "check_pin",
    "consent_in_force",
    "consents",
    "correction_queue",
    "ensure_defaults",
    "erase",
    "find_by_card",
    "find_by_email",
    "find_by_phone",
    "get_patron",
    "give_consent",
    "has_consent",
    "is_provisional",
    "open_application_link",
    "open_export_key",
    "outstanding_obligations",
    "purge_unverified",
    "rebuild_blind_indexes",
    "register",
    "register_obligation_check",
    "register_withdrawal_handler",
    "reject",
    "renew_card",
    "requests_of",
    "reveal",
    "review",
    "reviewed_fields_for",
    "seal_export_key",
    "search_by_name",
    "self_registration_available",
    "self_registration_fields",
    "submit",
    "unregister_obligation_check",
    "unregister_withdrawal_handler",
    "update",
    "verify_email",
    "verify_identity",
    "withdraw",
    "withdraw_consent",
]
