"""Consent: given under a notice version, withdrawn at once, guardians for children."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.ledger import services as ledger
from shelfguard.patrons import obligations, privacy_notice
from shelfguard.patrons import register as reg
from shelfguard.patrons.errors import (
    PatronNotFound,
)
from shelfguard.patrons.models import (
    Consent,
    Patron,
)
from shelfguard.patrons.records import (
    _lock,
    _refuse_erased,
)
from shelfguard.patrons.validation import PatronError


@dataclass(frozen=True)
class ConsentState:
    purpose: str
    given: bool
    notice_version: int | None
    at: dt.datetime | None
    by_guardian: bool
    #: Given under an older notice than the current one: ask again.
    needs_renewal: bool

    def as_dict(self) -> dict[str, Any]:
        return {
            "purpose": self.purpose,
            "given": self.given,
            "notice_version": self.notice_version,
            "at": self.at.isoformat() if self.at else None,
            "by_guardian": self.by_guardian,
            "needs_renewal": self.needs_renewal,
        }


def _latest_consents(patron_id: int) -> dict[str, Consent]:
    latest: dict[str, Consent] = {}
    for row in Consent.objects.filter(patron_id=patron_id).order_by("at", "id"):
        latest[row.purpose] = row
    return latest


def consent_in_force(row: Consent | None, guardian_required: bool) -> bool:
    """Given, and (for a patron below the guardian age) given by the guardian."""
    return row is not None and row.given and (row.by_guardian or not guardian_required)


def has_consent(patron: Patron, consent_purpose: str) -> bool:
    """Whether the consent is in force now; used by services to decide, not to show.

    False for unknown purposes and erased patrons (fail closed). A withdrawal
    takes effect the moment it commits, since this reads the newest record.
    """
    if consent_purpose not in reg.CONSENT_PURPOSES or patron.is_erased:
        return False
    row = (
        Consent.objects.filter(patron_id=patron.pk, purpose=consent_purpose)
        .order_by("-at", "-id")
        .first()
    )
    return consent_in_force(row, patron.guardian_required)


def consents(
    patron: Patron | int, *, actor: Actor, purpose: str, origin: str = ""
) -> list[ConsentState]:
    """Every consent purpose with its state, for showing to staff or to the patron (recorded)."""
    pk = patron if isinstance(patron, int) else patron.pk
    with transaction.atomic():
        row = Patron.objects.filter(pk=pk).first()
        if row is None:
            raise PatronNotFound(f"There is no patron {pk}.")
        _refuse_erased(row)
        current = privacy_notice.current_version()
        latest = _latest_consents(pk)
        states = []
        for key in reg.CONSENT_PURPOSES:
            record = latest.get(key)
            given = consent_in_force(record, row.guardian_required)
            states.append(
                ConsentState(
                    purpose=key,
                    given=given,
                    notice_version=record.notice_version if record else None,
                    at=record.at if record else None,
                    by_guardian=record.by_guardian if record else False,
                    needs_renewal=given and record is not None and record.notice_version < current,
                )
            )
        ledger.append(
            actor=actor,
            action="patron.consent.read",
            purpose=purpose,
            patron_id=pk,
            fields=["consents"],
            origin=origin,
        )
    return states


def _consent_purpose(value: str) -> str:
    if value not in reg.CONSENT_PURPOSES:
        raise PatronError(
            f"Unknown consent purpose {value!r}; known: {', '.join(reg.CONSENT_PURPOSES)}."
        )
    return value


def give_consent(
    patron: Patron | int,
    consent_purpose: str,
    *,
    actor: Actor,
    purpose: str = "consent",
    by_guardian: bool = False,
    notice_version: int | None = None,
    origin: str = "",
) -> Consent:
    """Record consent to `consent_purpose` under the current (or a named) notice version.

    A patron below the guardian age cannot consent alone: `by_guardian=True`
    is required, and the guardian's name must be on the record.
    """
    consent_purpose = _consent_purpose(consent_purpose)
    with transaction.atomic():
        row = _lock(patron)
        _refuse_erased(row)
        if row.guardian_required:
            if not by_guardian:
                raise PatronError(
                    f"Patron {row.pk} is under {reg.guardian_age()}: only a parent or "
                    "guardian can give consent; record it as given by the guardian."
                )
            if row.guardian_name_sealed is None:
                raise PatronError(
                    f"Record the name of patron {row.pk}'s parent or guardian first, then their "
                    "consent."
                )
        current = privacy_notice.current_version()
        version = current if notice_version is None else notice_version
        if not 1 <= version <= current:
            raise PatronError(f"Notice version {version} was never published (current: {current}).")
        record = Consent.objects.create(
            patron=row,
            purpose=consent_purpose,
            notice_version=version,
            given=True,
            at=clock.now(),
            channel=actor.channel,
            by_guardian=by_guardian,
        )
        ledger.append(
            actor=actor,
            action="patron.consent.give",
            purpose=purpose,
            patron_id=row.pk,
            fields=["consents"],
            origin=origin,
            detail={
                "consent": consent_purpose,
                "notice_version": version,
                "by_guardian": by_guardian,
            },
        )
    return record


def withdraw_consent(
    patron: Patron | int,
    consent_purpose: str,
    *,
    actor: Actor,
    purpose: str = "consent",
    by_guardian: bool = False,
    origin: str = "",
) -> Consent:
    """Withdraw consent at once. Anyone may withdraw (a child too): it only ever stops processing.

    Registered withdrawal handlers (e.g. circulation unlinking a kept reading
    history) run in the same transaction. Withdrawing `service` means the
    patron can no longer borrow; their data stays until they are erased.
    """
    consent_purpose = _consent_purpose(consent_purpose)
    with transaction.atomic():
        row = _lock(patron)
        _refuse_erased(row)
        record = Consent.objects.create(
            patron=row,
            purpose=consent_purpose,
            notice_version=privacy_notice.current_version(),
            given=False,
            at=clock.now(),
            channel=actor.channel,
            by_guardian=by_guardian,
        )
        obligations.run_withdrawal_handlers(row, consent_purpose, actor)
        ledger.append(
            actor=actor,
            action="patron.consent.withdraw",
            purpose=purpose,
            patron_id=row.pk,
            fields=["consents"],
            origin=origin,
            detail={"consent": consent_purpose, "by_guardian": by_guardian},
        )
    return record
