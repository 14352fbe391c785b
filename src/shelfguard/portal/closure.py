""" "Close my account": the patron asks, waits a cooling-off period, then is erased.

Closing is refused while anything is outstanding, and the refusal says
exactly what: items on loan (how many, due when), charges owed (every
registered obligation check of `patrons.obligations`, so other apps' debts
count too) and holds waiting on the shelf. Otherwise a `ClosureRequest` is
recorded with the date after which the patron is erased
(`[portal] closure_cooling_off_days`, default 14, 0 to 90), and a
circulation block stops new loans meanwhile. The patron can still sign in,
sees the date on every visit, and may cancel until then.

`run_due_closures` (the CLI now, the job runner later) erases each due
patron through `patrons.services.erase`, each in its own transaction, so a
run killed half-way leaves every patron either erased (closure done) or
untouched (closure still due), and the next run carries on. When an
obligation appeared in the meantime (an overdue charge, say), the erasure
refuses: the request goes on hold with the reason, the patron sees it at
their next sign-in, and later runs try again until it is settled or the
patron cancels.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from shelfguard.circulation import services as circulation
from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.ledger import services as ledger
from shelfguard.patrons import services as patrons
from shelfguard.patrons.models import Patron
from shelfguard.portal.credentials import PortalError, reauthenticate
from shelfguard.portal.models import ClosureRequest
from shelfguard.portal.sessions import patron_actor

CLOSURE_PURPOSE = "account closure at the patron's request"
ERASURE_REASON = "account closed at the patron's request"
DEFAULT_COOLING_OFF_DAYS = 14
_OPEN = (ClosureRequest.Status.PENDING, ClosureRequest.Status.ON_HOLD)
#: The system actor that places and lifts the borrowing block and runs the erasures.
CLOSURE_ACTOR = Actor.system("account-closure")

__all__ = [
    "CLOSURE_PURPOSE",
    "ClosureRefused",
    "ClosureRun",
    "Outstanding",
    "cancel_closure",
    "closure_of",
    "cooling_off_days",
    "forget_closures",
    "list_closures",
    "outstanding",
    "request_closure",
    "run_due_closures",
]


def cooling_off_days() -> int:
    raw = settings.CONFIG.get("portal", {}).get(
        "closure_cooling_off_days", DEFAULT_COOLING_OFF_DAYS
    )
    if isinstance(raw, bool) or not isinstance(raw, int) or not 0 <= raw <= 90:
        raise ImproperlyConfigured(
            "[portal] closure_cooling_off_days in shelfguard.toml must be a whole number of "
            f"days from 0 to 90, not {raw!r}."
        )
    return raw


@dataclass(frozen=True)
class Outstanding:
    """What stops a closure now; empty when nothing does."""

    #: Due dates (ISO) of the items on loan, soonest first.
    due_dates: list[str] = field(default_factory=list)
    #: Holds waiting on the shelf for the patron.
    holds_ready: int = 0
    #: Every reason the registered obligation checks give (loans, charges, ...).
    obligations: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.due_dates or self.holds_ready or self.obligations)

    def lines(self) -> list[str]:
        """One sentence per thing outstanding, for the patron's screen."""
        lines = list(self.obligations)
        if self.due_dates:
            lines.append(
                ngettext(
                    "Return the item on loan (due %(dates)s).",
                    "Return the %(n)d items on loan (due %(dates)s).",
                    len(self.due_dates),
                )
                % {"n": len(self.due_dates), "dates": ", ".join(self.due_dates)}
            )
        if self.holds_ready:
            lines.append(
                ngettext(
                    "Collect or cancel the hold waiting for you.",
                    "Collect or cancel the %(n)d holds waiting for you.",
                    self.holds_ready,
                )
                % {"n": self.holds_ready}
            )
        return lines


class ClosureRefused(PortalError):
    """Something is outstanding; `outstanding` says what."""

    def __init__(self, outstanding: Outstanding) -> None:
        self.outstanding = outstanding
        super().__init__(
            _("Your account cannot be closed yet: %(what)s")
            % {"what": " ".join(outstanding.lines())}
        )


def outstanding(patron: Patron, *, actor: Actor, purpose: str = CLOSURE_PURPOSE) -> Outstanding:
    """What stops this patron's account from closing now (loans and holds reads are recorded)."""
    loans = circulation.loans_of(patron, actor=actor, purpose=purpose)
    holds = circulation.holds_of(patron, actor=actor, purpose=purpose)
    return Outstanding(
        due_dates=[loan["due_on"] for loan in loans],
        holds_ready=sum(1 for hold in holds if hold["status"] == "ready"),
        obligations=patrons.outstanding_obligations(patron),
    )


def closure_of(patron: Patron) -> dict[str, Any] | None:
    """The patron's open closure request (pending or on hold), as plain facts, or None."""
    row = ClosureRequest.objects.filter(patron=patron, status__in=_OPEN).first()
    if row is None:
        return None
    return {
        "id": row.pk,
        "status": row.status,
        "requested_at": row.requested_at,
        "erase_after": row.erase_after,
        "hold_reason": row.hold_reason,
    }


def request_closure(
    patron: Patron,
    *,
    password: str,
    code: str = "",
    source: str,
    purpose: str = CLOSURE_PURPOSE,
) -> ClosureRequest:
    """Record the patron's request to close; refused with `ClosureRefused` when anything is owed.

    The patron confirms with their password (and code), as for any change
    that cannot be undone once it runs.
    """
    reauthenticate(patron, password, code, source=source)
    actor = patron_actor(patron)
    now = clock.now()
    if ClosureRequest.objects.filter(patron=patron, status__in=_OPEN).exists():
        raise PortalError(_("You have already asked to close your account."))
    # Read (and recorded) outside the request's transaction, so a refusal keeps
    # the record of what was shown; the erasure checks the obligations again.
    found = outstanding(patron, actor=actor, purpose=purpose)
    if found:
        raise ClosureRefused(found)
    with transaction.atomic():
        erase_after = now + dt.timedelta(days=cooling_off_days())
        block = circulation.block_patron(
            patron,
            f"Account closing at the patron's request; erased after {erase_after:%Y-%m-%d}",
            actor=CLOSURE_ACTOR,
            purpose=purpose,
        )
        try:
            with transaction.atomic():
                row = ClosureRequest.objects.create(
                    patron=patron, requested_at=now, erase_after=erase_after, block_id=block.pk
                )
        except IntegrityError:
            # A second request raced this one and won: one open request per patron.
            raise PortalError(_("You have already asked to close your account.")) from None
        ledger.append(
            actor=actor,
            action="portal.closure.request",
            purpose=purpose,
            patron_id=patron.pk,
            detail={"closure": row.pk, "cooling_off_days": cooling_off_days()},
        )
    return row


def cancel_closure(
    patron: Patron, *, actor: Actor | None = None, purpose: str = CLOSURE_PURPOSE
) -> bool:
    """Cancel the patron's open closure request and lift its block; False when there is none."""
    actor = actor or patron_actor(patron)
    with transaction.atomic():
        row = (
            ClosureRequest.objects.select_for_update()
            .filter(patron=patron, status__in=_OPEN)
            .first()
        )
        if row is None:
            return False
        _end(row, ClosureRequest.Status.CANCELLED, clock.now())
        _lift(row, purpose)
        ledger.append(
            actor=actor,
            action="portal.closure.cancel",
            purpose=purpose,
            patron_id=patron.pk,
            detail={"closure": row.pk},
        )
    return True


def _end(row: ClosureRequest, status: str, now: dt.datetime) -> None:
    row.status = status
    row.ended_at = now
    row.save(update_fields=["status", "ended_at"])


def _lift(row: ClosureRequest, purpose: str) -> None:
    if row.block_id is None:
        return
    try:
        circulation.lift_block(row.block_id, actor=CLOSURE_ACTOR, purpose=purpose)
    except circulation.CirculationError:
        pass  # staff lifted it already


@dataclass
class ClosureRun:
    erased: list[int] = field(default_factory=list)
    on_hold: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, list[int]]:
        return {"erased": self.erased, "on_hold": self.on_hold}


def run_due_closures(
    now: dt.datetime | None = None,
    *,
    actor: Actor = CLOSURE_ACTOR,
    purpose: str = CLOSURE_PURPOSE,
    progress: Any = None,
) -> ClosureRun:
    """Erase every patron whose cooling-off has passed; idempotent, one transaction per patron.

    `progress`, when given, is called once per closure handled (for a bar).
    """
    now = now or clock.now()
    result = ClosureRun()
    due = ClosureRequest.objects.filter(status__in=_OPEN, erase_after__lte=now)
    for closure_id in list(due.order_by("erase_after", "id").values_list("pk", flat=True)):
        with transaction.atomic():
            row = (
                ClosureRequest.objects.select_for_update()
                .filter(pk=closure_id, status__in=_OPEN, erase_after__lte=now)
                .first()
            )
            if row is None:
                continue  # cancelled or done since the list was read
            patron = Patron.objects.get(pk=row.patron_id)
            try:
                if not patron.is_erased:
                    patrons.erase(patron, actor=actor, reason=ERASURE_REASON, purpose=purpose)
            except patrons.ErasureRefused as refused:
                row.status = ClosureRequest.Status.ON_HOLD
                row.hold_reason = "; ".join(refused.reasons)[:500]
                row.save(update_fields=["status", "hold_reason"])
                action, listed = "portal.closure.hold", result.on_hold
            else:
                # The erasure's own receiver may have ended the row already.
                row.refresh_from_db()
                if row.status != ClosureRequest.Status.DONE:
                    _end(row, ClosureRequest.Status.DONE, now)
                action, listed = "portal.closure.done", result.erased
            ledger.append(
                actor=actor,
                action=action,
                purpose=purpose,
                patron_id=row.patron_id,
                detail={"closure": row.pk},
            )
            listed.append(row.patron_id)
        if progress is not None:
            progress()
    return result


def forget_closures(patron: Patron) -> None:
    """Run in every erasure's transaction: open requests of the erased patron are done."""
    ClosureRequest.objects.filter(patron=patron, status__in=_OPEN).update(
        status=ClosureRequest.Status.DONE, ended_at=clock.now()
    )


def list_closures(*, actor: Actor, purpose: str, include_ended: bool = False) -> list[dict]:
    """Closure requests (pending and on hold, or all) for the privacy officer; recorded.

    Patrons by id only: that someone asked to leave is itself about them.
    """
    with transaction.atomic():
        rows = (
            ClosureRequest.objects.all()
            if include_ended
            else ClosureRequest.objects.filter(status__in=_OPEN)
        )
        found = [
            {
                "closure": row.pk,
                "patron": row.patron_id,
                "status": row.status,
                "requested_at": row.requested_at.isoformat(),
                "erase_after": row.erase_after.isoformat(),
                "hold_reason": row.hold_reason,
                "ended_at": row.ended_at.isoformat() if row.ended_at else None,
            }
            for row in rows.order_by("erase_after", "id")
        ]
        ledger.append(
            actor=actor,
            action="portal.closure.list",
            purpose=purpose,
            detail={"results": len(found)},
        )
    return found
