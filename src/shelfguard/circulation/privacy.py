"""Reading history is the patron's: unlinking loans and holds, kept histories, erasure.

When a loan ends (and any charge on it is settled) the service drops its
patron link here, unless the patron consented to `reading_history`. A kept
history is the patron's: they may read, download and delete it (the portal
calls `reading_history` and `delete_history`), and withdrawing the consent
unlinks it at once, in the withdrawal's own transaction. Erasing a patron
unlinks everything circulation still holds about them in the erasure's
transaction. Filled, cancelled and expired holds lose their link always.
"""

from __future__ import annotations

from typing import Any

from django.db import connection, transaction
from django.utils.translation import gettext as _

from shelfguard.circulation import access
from shelfguard.circulation.common import entry, patron_id_of
from shelfguard.circulation.errors import INVALID, CirculationError
from shelfguard.circulation.models import (
    ACTIVE_HOLD_STATUSES,
    Charge,
    Hold,
    HoldStatus,
    Loan,
    LoanOutcome,
    Notice,
    NoticeKind,
    PatronBlock,
)
from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.patrons.models import Consent, Patron, PatronStatus

HISTORY_CONSENT = "reading_history"
EMAIL_CONSENT = "email_notices"
#: Consent to name titles in notices. Until the patrons register lists it,
#: `has_consent` answers False (fail closed) and notices name no titles.
TITLES_CONSENT = "notice_titles"


def consents(patron_id: int, *purposes: str) -> dict[str, bool]:
    """Which of these consents are in force now (fewest queries; fail closed)."""
    from shelfguard.patrons.services import has_consent

    patron = Patron.objects.filter(pk=patron_id).only("id", "status", "guardian_required").first()
    if patron is None:
        return dict.fromkeys(purposes, False)
    return {purpose: has_consent(patron, purpose) for purpose in purposes}


def keeps_history(patron_id: int) -> bool:
    """Whether the patron's consent to keep a reading history is in force now (one query).

    The same answer as `has_consent(patron, HISTORY_CONSENT)` (fail closed:
    False for an unknown or erased patron, or without the guardian's consent
    below the guardian age), read with one plain SQL query because every
    return asks: the patron's clear columns and their newest consent row.
    """
    from shelfguard.patrons import register
    from shelfguard.patrons.services import consent_in_force

    if HISTORY_CONSENT not in register.CONSENT_PURPOSES:
        return False
    quote = connection.ops.quote_name
    patron_table = quote(Patron._meta.db_table)
    consent_table = quote(Consent._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT p.status, p.guardian_required, k.given, k.by_guardian FROM {patron_table} p "
            f"LEFT JOIN {consent_table} k ON k.id = (SELECT n.id FROM {consent_table} n "
            f"WHERE n.patron_id = p.id AND n.purpose = %s ORDER BY n.at DESC, n.id DESC LIMIT 1) "
            f"WHERE p.id = %s",
            [HISTORY_CONSENT, patron_id],
        )
        found = cursor.fetchone()
    if found is None:
        return False
    status, guardian_required, given, by_guardian = found
    if status == PatronStatus.ERASED or given is None:
        return False
    newest = Consent(given=bool(given), by_guardian=bool(by_guardian))
    return consent_in_force(newest, bool(guardian_required))


def unlinked_history(patron_id: int) -> int:
    """Drop the patron link of every ended loan without an unsettled charge; return how many."""
    unsettled = Charge.objects.filter(settled_on__isnull=True, loan__isnull=False).values("loan_id")
    return (
        Loan.objects.filter(patron_id=patron_id)
        .exclude(outcome=LoanOutcome.OPEN)
        .exclude(pk__in=unsettled)
        .update(patron=None)
    )


def on_consent_withdrawn(patron: Patron, consent_purpose: str, actor: Actor) -> None:
    """Withdrawal handler (registered in `apps.py`), run in the withdrawal's transaction."""
    if consent_purpose == HISTORY_CONSENT:
        unlinked_history(patron.pk)
    elif consent_purpose == EMAIL_CONSENT:
        Notice.objects.filter(patron_id=patron.pk).delete()


def on_patron_erased(patron_id: int) -> None:
    """Remove every circulation link to an erased patron (run in the erasure's transaction).

    Erasure is refused while loans are open or charges unpaid (see
    `obligations`), so what remains is a kept history, holds, blocks,
    settled charges and queued notices.
    """
    Loan.objects.filter(patron_id=patron_id).update(patron=None)
    today = clock.today()
    Hold.objects.filter(patron_id=patron_id, status__in=ACTIVE_HOLD_STATUSES).update(
        status=HoldStatus.CANCELLED, ended_on=today
    )
    Hold.objects.filter(patron_id=patron_id).update(patron=None)
    Notice.objects.filter(patron_id=patron_id).delete()
    PatronBlock.objects.filter(patron_id=patron_id).delete()
    Charge.objects.filter(patron_id=patron_id).delete()


def patron_saved(sender: Any, instance: Patron, **kwargs: Any) -> None:
    """`post_save` receiver: when a patron becomes an erased tombstone, unlink circulation."""
    if instance.status == PatronStatus.ERASED:
        on_patron_erased(instance.pk)


def obligations(patron: Patron) -> list[str]:
    """Obligation check (registered in `apps.py`): what stops this patron's erasure."""
    reasons = []
    on_loan = Loan.objects.filter(patron_id=patron.pk, outcome=LoanOutcome.OPEN).count()
    if on_loan:
        reasons.append(_("%(n)d item(s) on loan") % {"n": on_loan})
    owed = sum(
        Charge.objects.filter(patron_id=patron.pk, settled_on__isnull=True).values_list(
            "amount_cents", flat=True
        )
    )
    if owed:
        from shelfguard.circulation.rules import money

        reasons.append(_("charges of %(amount)s are unpaid") % {"amount": money(owed)})
    return reasons


def _history_access(actor: Actor, patron_id: int, purpose: str) -> None:
    if actor.kind == "patron":
        access.authorise(
            actor, access.LOAN, purpose=purpose, patron_id=patron_id, self_service=True
        )
    elif actor.kind == "staff":
        from shelfguard.accounts.models import StaffUser
        from shelfguard.accounts.services import require

        staff = StaffUser.objects.prefetch_related("roles").filter(username=actor.ident).first()
        require(staff, "patron.view_history", purpose=purpose, channel=actor.channel)
    else:
        access.authorise(actor, access.LOAN, purpose=purpose)


def reading_history(patron: Patron | int, *, actor: Actor, purpose: str) -> list[dict[str, Any]]:
    """The patron's kept history (ended loans still linked to them), newest first; recorded."""
    pk = patron_id_of(patron)
    _history_access(actor, pk, purpose)
    with transaction.atomic():
        rows = list(
            Loan.objects.filter(patron_id=pk)
            .exclude(outcome=LoanOutcome.OPEN)
            .select_related("item__record", "branch")
            .order_by("-ended_on", "-id")
        )
        entry(
            actor,
            "history_read",
            purpose=purpose,
            patron_id=pk,
            branch=None,
            fields=("reading_history",),
            count=len(rows),
        )
    return [
        {
            "loan": row.pk,
            "title": row.item.record.title,
            "barcode": row.item.barcode,
            "branch": row.branch.code,
            "loaned_on": row.loaned_on.isoformat(),
            "ended_on": row.ended_on.isoformat() if row.ended_on else None,
            "outcome": row.outcome,
        }
        for row in rows
    ]


def delete_history(patron: Patron | int, *, actor: Actor, purpose: str) -> int:
    """Unlink the patron's kept history now (their right to delete it); returns how many loans."""
    pk = patron_id_of(patron)
    _history_access(actor, pk, purpose)
    with transaction.atomic():
        count = unlinked_history(pk)
        entry(
            actor,
            "history_delete",
            purpose=purpose,
            patron_id=pk,
            branch=None,
            fields=("reading_history",),
            count=count,
        )
    return count


def delete_history_entry(patron: Patron | int, loan: int, *, actor: Actor, purpose: str) -> None:
    """Unlink one loan of the patron's kept history (one entry of their right to delete it).

    Refused for a loan that is not in this patron's kept history (someone
    else's, still open, or already unlinked), and for one with a charge still
    unpaid: that link stays until the charge is settled, as for the whole
    history.
    """
    pk = patron_id_of(patron)
    _history_access(actor, pk, purpose)
    with transaction.atomic():
        unsettled = Charge.objects.filter(settled_on__isnull=True, loan__isnull=False).values(
            "loan_id"
        )
        count = (
            Loan.objects.filter(pk=loan, patron_id=pk)
            .exclude(outcome=LoanOutcome.OPEN)
            .exclude(pk__in=unsettled)
            .update(patron=None)
        )
        if count != 1:
            raise CirculationError(
                INVALID,
                _("This loan is not in your kept reading history (or a charge on it is unpaid)."),
            )
        entry(
            actor,
            "history_delete",
            purpose=purpose,
            patron_id=pk,
            branch=None,
            fields=("reading_history",),
            count=1,
        )


__all__ = [
    "EMAIL_CONSENT",
    "HISTORY_CONSENT",
    "TITLES_CONSENT",
    "NoticeKind",
    "delete_history",
    "delete_history_entry",
    "keeps_history",
    "reading_history",
]
