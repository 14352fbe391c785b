"""Registering patrons and changing their records; reference data (categories, notice)."""

from __future__ import annotations

import base64
import datetime as dt
import hmac
import logging
from collections.abc import Iterable, Mapping
from typing import Any

from django.contrib.auth.hashers import check_password
from django.db import transaction

from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.core.models import Branch
from shelfguard.core.services import BranchError, get_branch
from shelfguard.ledger import services as ledger
from shelfguard.patrons import privacy_notice
from shelfguard.patrons import register as reg
from shelfguard.patrons import validation as v
from shelfguard.patrons.models import (
    Consent,
    IdentityDocument,
    Patron,
    PatronCategory,
    PatronChange,
    PatronNameToken,
    PatronStatus,
)
from shelfguard.patrons.records import (
    _actor_label,
    _clean,
    _index_columns,
    _lock,
    _name_token_rows,
    _owner,
    _refuse_erased,
    _refuse_taken_card,
    _require_name_tokens,
    _seal_columns,
)
from shelfguard.patrons.validation import PatronError
from shelfguard.vault import KeyDestroyed, VaultError, blind, keystore, sealing

logger = logging.getLogger(__name__)

DEFAULT_CATEGORIES = (("adult", "Adult"), ("child", "Child"))


CHILD_CATEGORY = "child"


#: How long a new card is valid unless `[patrons] card_valid_years` says otherwise.
DEFAULT_CARD_VALID_YEARS = 3


def ensure_defaults() -> dict[str, Any]:
    """Create the adult and child categories and publish the privacy notice (idempotent).

    Called by `shelfguard init`; returns what it created, for the summary.
    """
    created = []
    with transaction.atomic():
        for code, name in DEFAULT_CATEGORIES:
            _, made = PatronCategory.objects.get_or_create(code=code, defaults={"name": name})
            if made:
                created.append(code)
    publication = privacy_notice.publish()
    return {
        "categories_created": created,
        "privacy_notice_version": publication.version,
        "privacy_notice_published": publication.created,
    }


def _category(code: str | PatronCategory) -> PatronCategory:
    if isinstance(code, PatronCategory):
        return code
    key = str(code).strip().lower()
    found = PatronCategory.objects.filter(code=key).first()
    if found is None:
        known = ", ".join(PatronCategory.objects.values_list("code", flat=True)) or "none"
        raise PatronError(
            f"Unknown patron category {key!r} (known: {known}); `shelfguard init` creates "
            "adult and child."
        )
    return found


def _branch(code: str | Branch) -> Branch:
    if isinstance(code, Branch):
        return code
    try:
        return get_branch(str(code))
    except BranchError as exc:
        raise PatronError(str(exc)) from None


def _card_valid_years() -> int:
    from django.conf import settings

    value = settings.CONFIG.get("patrons", {}).get("card_valid_years", DEFAULT_CARD_VALID_YEARS)
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 100:
        raise PatronError(
            "[patrons] card_valid_years in shelfguard.toml must be a whole number from 1 to 100."
        )
    return value


def _default_expiry() -> dt.date:
    today = clock.today()
    years = _card_valid_years()
    try:
        return today.replace(year=today.year + years)
    except ValueError:  # 29 February
        return today.replace(year=today.year + years, day=28)


def _guardian_required(birth: tuple[str, str] | None, category: PatronCategory) -> bool:
    """Below the guardian age by the birth data if kept, else by being in the child category."""
    if birth is not None:
        field, value = birth
        return v.youngest_possible_age(value, field, clock.today()) < reg.guardian_age()
    return category.code == CHILD_CATEGORY


def register(
    *,
    card_number: str,
    name: str,
    category: str | PatronCategory = "adult",
    home_branch: str | Branch = "MAIN",
    email: str | None = None,
    phone: str | None = None,
    address: str | None = None,
    birth_year: int | str | None = None,
    birth_date: dt.date | str | None = None,
    guardian_name: str | None = None,
    pin: str | None = None,
    identity_document: str = "",
    expires_on: dt.date | None = None,
    consents: Iterable[str] = (reg.REQUIRED_CONSENT,),
    by_guardian: bool = False,
    actor: Actor,
    purpose: str = "registration",
    origin: str = "",
) -> Patron:
    """Register a card holder: seal their fields, index them, record consents, one ledger entry.

    `consents` must include `service` (holding a card needs it); the others
    start off unless named. For a patron below the guardian age a guardian's
    name and `by_guardian=True` are required. Refused values raise
    `PatronError` with the rule that was broken.
    """
    given = {
        "card_number": card_number,
        "name": name,
        "email": email,
        "phone": phone,
        "address": address,
        "birth_year": birth_year,
        "birth_date": birth_date,
        "guardian_name": guardian_name,
    }
    cleaned = {k: val for k, val in _clean(given).items() if val is not None}
    for required in ("card_number", "name"):
        if required not in cleaned:
            raise PatronError(f"A patron needs a {reg.get(required).label.lower()}.")
    contacts = reg.collected_contact_keys()
    if not any(key in cleaned for key in contacts):
        raise PatronError(
            f"A patron needs at least one way to be reached: {' or '.join(contacts)}."
        )
    _require_name_tokens(cleaned["name"])
    category_obj = _category(category)
    branch = _branch(home_branch)
    birth_key = reg.birth_field()
    birth = (birth_key, cleaned[birth_key]) if birth_key and birth_key in cleaned else None
    guardian_required = _guardian_required(birth, category_obj)
    _check_guardian_name(guardian_required, "guardian_name" in cleaned)

    wanted = list(dict.fromkeys(consents))
    unknown = [c for c in wanted if c not in reg.CONSENT_PURPOSES]
    if unknown:
        raise PatronError(
            f"Unknown consent purpose(s) {', '.join(unknown)}; "
            f"known: {', '.join(reg.CONSENT_PURPOSES)}."
        )
    if reg.REQUIRED_CONSENT not in wanted:
        raise PatronError(
            "Holding a card needs consent to the 'service' purpose: the patron must accept "
            "the privacy notice."
        )
    if guardian_required and not by_guardian:
        raise PatronError(
            f"The patron is under {reg.guardian_age()}: a parent or guardian must give "
            "the consent; record it as given by the guardian."
        )
    document = _identity_document(identity_document)
    pin = v.pin(pin) if pin not in (None, "") else ""
    notice_version = privacy_notice.current_version()
    index_fn = blind.blind_index
    index_columns = _index_columns(cleaned, index_fn)

    key_id = keystore.new_data_key()
    try:
        with transaction.atomic():
            _refuse_taken_card(cleaned["card_number"])
            now = clock.now()
            patron = Patron.objects.create(
                status=PatronStatus.ACTIVE,
                category=category_obj,
                home_branch=branch,
                expires_on=expires_on or _default_expiry(),
                guardian_required=guardian_required,
                key_id=key_id,
                identity_document=document,
                identity_verified_by=_actor_label(actor) if document else "",
                identity_verified_at=now if document else None,
                created_at=now,
                updated_at=now,
                **index_columns,
            )
            # Sealed after the insert: the ciphertexts are bound to the patron's id.
            for column, value in _seal_columns(patron.pk, key_id, cleaned).items():
                setattr(patron, column, value)
            patron.pin_hash = pin_digest(patron.pk, key_id, pin) if pin else ""
            patron.save(update_fields=[reg.get(k).column for k in cleaned] + ["pin_hash"])
            PatronNameToken.objects.bulk_create(
                _name_token_rows(patron.pk, cleaned["name"], index_fn)
            )
            Consent.objects.bulk_create(
                Consent(
                    patron=patron,
                    purpose=c,
                    notice_version=notice_version,
                    given=True,
                    at=now,
                    channel=actor.channel,
                    by_guardian=by_guardian,
                )
                for c in wanted
            )
            recorded = sorted(
                {*cleaned, "category", "home_branch", "consents"}
                | ({"pin"} if pin else set())
                | ({"identity_verification"} if document else set())
            )
            ledger.append(
                actor=actor,
                action="patron.register",
                purpose=purpose,
                patron_id=patron.pk,
                fields=recorded,
                origin=origin,
                detail={"consents": sorted(wanted), "notice_version": notice_version},
            )
    except BaseException:
        _discard_key(key_id)
        raise
    return patron


def _discard_key(key_id: str) -> None:
    """Destroy the data key of a registration that did not commit, so no orphan key is kept."""
    try:
        keystore.destroy_data_key(key_id, owner="unregistered")
    except VaultError:
        logger.warning("Could not destroy the unused data key %s; the vault keeps it.", key_id)


def _check_guardian_name(guardian_required: bool, has_guardian_name: bool) -> None:
    if guardian_required and not has_guardian_name:
        raise PatronError(
            f"The patron is under {reg.guardian_age()}: give the name of the parent or "
            "guardian who consents."
        )
    if has_guardian_name and not guardian_required:
        raise PatronError(
            f"A guardian's name is kept only for patrons under {reg.guardian_age()}; leave it out."
        )


def _identity_document(value: str | None) -> str:
    value = (value or "").strip()
    if not value:
        return ""
    if not reg.is_collected("identity_verification"):
        raise PatronError(
            "This library does not record identity checks; leave the document kind out, or "
            "add identity_verification to [patrons] collect in shelfguard.toml."
        )
    if value not in IdentityDocument.values:
        raise PatronError(
            f"Unknown identity document kind {value!r}; "
            f"known: {', '.join(x for x in IdentityDocument.values if x)}."
        )
    return value


# Changeable attributes that are not sealed fields (kept in clear, or hashed).
_RECORD_CHANGES = ("category", "home_branch", "expires_on", "pin", "status", "identity_document")


_SETTABLE_STATUSES = {
    PatronStatus.ACTIVE,
    PatronStatus.EXPIRED,
    PatronStatus.BLOCKED,
    PatronStatus.CLOSED,
}


def update(
    patron: Patron | int,
    changes: Mapping[str, Any],
    *,
    actor: Actor,
    purpose: str,
    origin: str = "",
) -> Patron:
    """Change fields of a patron; records a `PatronChange` (field names only) and a ledger entry.

    `changes` maps register keys of sealed fields, or `category`,
    `home_branch`, `expires_on`, `pin`, `status`, `identity_document`, to new
    values; None clears an optional field. The card number and name cannot
    be cleared, and at least one contact channel must remain.
    """
    if not changes:
        raise PatronError("Nothing to change.")
    unknown = [k for k in changes if k not in reg.SEALED_KEYS and k not in _RECORD_CHANGES]
    if unknown:
        raise PatronError(
            f"Cannot change {', '.join(unknown)}; changeable: "
            f"{', '.join(reg.SEALED_KEYS + _RECORD_CHANGES)}."
        )
    sealed_changes = _clean({k: val for k, val in changes.items() if k in reg.SEALED_KEYS})
    for required in ("card_number", "name"):
        if required in sealed_changes and sealed_changes[required] is None:
            raise PatronError(f"The {reg.get(required).label.lower()} cannot be removed.")

    index_fn = blind.blind_index
    with transaction.atomic():
        row = _lock(patron)
        _refuse_erased(row)
        now = clock.now()
        changed: set[str] = set(changes)

        if "category" in changes:
            row.category = _category(changes["category"])
        if "home_branch" in changes:
            row.home_branch = _branch(changes["home_branch"])
        if "expires_on" in changes:
            value = changes["expires_on"]
            if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
                raise PatronError("expires_on must be a date.")
            row.expires_on = value
        if "status" in changes:
            if changes["status"] not in _SETTABLE_STATUSES:
                raise PatronError(
                    f"Status can be set to {', '.join(sorted(_SETTABLE_STATUSES))}; "
                    "erasure has its own command."
                )
            row.status = changes["status"]
        if "pin" in changes:
            row.pin_hash = (
                ""
                if changes["pin"] in (None, "")
                else pin_digest(row.pk, row.key_id, v.pin(changes["pin"]))
            )
        if "identity_document" in changes:
            document = _identity_document(changes["identity_document"])
            row.identity_document = document
            row.identity_verified_by = _actor_label(actor) if document else ""
            row.identity_verified_at = now if document else None
            changed.discard("identity_document")
            changed.add("identity_verification")

        # The guardian rule follows the birth data (if this change brings it) or the category.
        birth_key = reg.birth_field()
        birth_changed = birth_key is not None and birth_key in sealed_changes
        if birth_changed or "category" in changes:
            if birth_changed and sealed_changes[birth_key] is not None:
                required = _guardian_required((birth_key, sealed_changes[birth_key]), row.category)
            elif (
                birth_key is not None and not birth_changed and getattr(row, f"{birth_key}_sealed")
            ):
                required = row.guardian_required  # the stored birth data still decides
            else:
                required = _guardian_required(None, row.category)
            if not required and row.guardian_required:
                # No longer a child: the guardian's name is not kept "just in case".
                sealed_changes.setdefault("guardian_name", None)
            row.guardian_required = required
        if "guardian_name" in sealed_changes:
            has_name = sealed_changes["guardian_name"] is not None
        else:
            has_name = row.guardian_name_sealed is not None
        _check_guardian_name(row.guardian_required, has_name)

        contacts = reg.collected_contact_keys()
        remaining = [
            k
            for k in contacts
            if (
                sealed_changes[k] is not None
                if k in sealed_changes
                else getattr(row, f"{k}_sealed")
            )
        ]
        if not remaining:
            raise PatronError(
                f"A patron needs at least one way to be reached ({' or '.join(contacts)}); "
                "add another before removing this one."
            )

        if "card_number" in sealed_changes:
            _refuse_taken_card(sealed_changes["card_number"], exclude=row.pk)
        if sealed_changes.get("name") is not None:
            _require_name_tokens(sealed_changes["name"])
        for column, value in _seal_columns(row.pk, row.key_id, sealed_changes).items():
            setattr(row, column, value)
        for column, value in _index_columns(sealed_changes, index_fn).items():
            setattr(row, column, value)
        if "name" in sealed_changes:
            PatronNameToken.objects.filter(patron=row).delete()
            PatronNameToken.objects.bulk_create(
                _name_token_rows(row.pk, sealed_changes["name"], index_fn)
            )
        changed |= set(sealed_changes)
        row.updated_at = now
        row.save()
        fields = sorted(changed)
        PatronChange.objects.create(
            patron=row,
            at=now,
            actor=_actor_label(actor),
            channel=actor.channel,
            purpose=purpose,
            fields=fields,
        )
        ledger.append(
            actor=actor,
            action="patron.update",
            purpose=purpose,
            patron_id=row.pk,
            fields=fields,
            origin=origin,
        )
    return row


#: Marks a PIN kept as a keyed digest (see `pin_digest`); anything else is an
#: older Django password hash, upgraded at the next correct PIN.
PIN_DIGEST_PREFIX = "sgpin1$"


def pin_digest(patron_id: int, key_id: str, pin: str) -> str:
    """What is stored for a PIN: an HMAC under the patron's own data key.

    A PIN has 4 to 6 digits. A slow password hash (Argon2) cannot protect so
    few possibilities: a copy of the database or of a data backup gives them
    up in hours, offline, and every check at a self-check machine costs a
    tenth of a second or more. Keyed with the patron's data key, which lives
    only in the keystore (never in the database or in a data backup), the
    stored value is useless without the keys, a check costs microseconds,
    guessing online is capped by the sign-in throttle and lockout, and
    erasing the patron destroys the key, so the PIN can never be matched
    again. The SIP2 self-check is where this matters most (issue 8's latency
    target). Passwords, which can be long, stay Argon2 hashes.
    """
    digest = sealing.open_key(key_id).digest(_owner(patron_id), "pin", pin)
    return PIN_DIGEST_PREFIX + base64.b64encode(digest).decode("ascii")


def check_pin(patron: Patron, pin: str) -> bool:
    """True when `pin` matches the patron's stored PIN (always False without one).

    Fails closed: a destroyed or unreadable key is a wrong PIN. A PIN stored
    before keyed digests is checked the old way once and then replaced by
    its digest (the same PIN, so nothing the patron set changes; like
    Django's own hash upgrades, this is not a change worth a ledger entry).
    """
    if patron.is_erased or not patron.pin_hash or not isinstance(pin, str) or not pin:
        return False
    try:
        if patron.pin_hash.startswith(PIN_DIGEST_PREFIX):
            expected = pin_digest(patron.pk, patron.key_id, pin)
            return hmac.compare_digest(expected.encode(), patron.pin_hash.encode())
        if not check_password(pin, patron.pin_hash):
            return False
        upgraded = pin_digest(patron.pk, patron.key_id, pin)
    except (KeyDestroyed, VaultError, ValueError):
        logger.warning("PIN of patron %s could not be checked: key unavailable", patron.pk)
        return False
    Patron.objects.filter(pk=patron.pk, pin_hash=patron.pin_hash).update(pin_hash=upgraded)
    patron.pin_hash = upgraded
    return True


# --- Card renewal ---------------------------------------------------------------


def renew_card(
    patron: Patron | int,
    *,
    expires_on: dt.date | None = None,
    actor: Actor,
    purpose: str = "card renewal",
    origin: str = "",
) -> Patron:
    """Extend the card to `expires_on` (default: today plus `[patrons] card_valid_years`).

    An expired card becomes active again; a blocked card stays blocked (a
    renewal does not lift a block) and a closed card is refused. Recorded as
    an `update` of `expires_on` (and `status` when it changes).
    """
    new_expiry = expires_on or _default_expiry()
    if not isinstance(new_expiry, dt.date) or isinstance(new_expiry, dt.datetime):
        raise PatronError("The new expiry must be a date.")
    if new_expiry <= clock.today():
        raise PatronError("The new expiry date must be after today.")
    with transaction.atomic():
        row = _lock(patron)
        _refuse_erased(row)
        if row.status == PatronStatus.CLOSED:
            raise PatronError(f"Patron {row.pk}'s card is closed; a closed card is not renewed.")
        changes: dict[str, Any] = {"expires_on": new_expiry}
        if row.status == PatronStatus.EXPIRED:
            changes["status"] = PatronStatus.ACTIVE
        return update(row, changes, actor=actor, purpose=purpose, origin=origin)
