"""Notices by e-mail: hold available, due soon, overdue.

* A notice is queued only for a patron who consented to `email_notices`,
  and is checked again when sent (a withdrawal in between wins).
* The queue holds the patron and the kind of notice, never a title or a
  date: the message is composed at sending time from the open loans or the
  ready holds, so nothing stale or extra waits in the table.
* The message names titles only when the patron consented to it
  (`notice_titles`); otherwise it says how many items and when, and asks the
  patron to sign in.
* The patron's name and address are revealed through `patrons.services.reveal`
  with the purpose "circulation notice" (recorded in the access ledger).
* A row is deleted the moment its message is sent; one that keeps failing is
  dropped after `[circulation] notice_attempts` tries.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from dataclasses import dataclass

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import formats
from django.utils.translation import gettext as _

from shelfguard.circulation import config
from shelfguard.circulation.models import Hold, HoldStatus, Loan, LoanOutcome, Notice, NoticeKind
from shelfguard.circulation.privacy import EMAIL_CONSENT, TITLES_CONSENT, consents
from shelfguard.core import clock
from shelfguard.core.actors import Actor

logger = logging.getLogger(__name__)

NOTICE_PURPOSE = "circulation notice"


def queue(patron_id: int, kind: str) -> bool:
    """Queue one notice of this kind for the patron, if they consented; one per kind at a time."""
    if not consents(patron_id, EMAIL_CONSENT)[EMAIL_CONSENT]:
        return False
    _row, created = Notice.objects.get_or_create(
        patron_id=patron_id, kind=kind, defaults={"queued_at": clock.now()}
    )
    return created


def queue_due_notices(today: dt.date | None = None) -> int:
    """Queue "due soon" and "overdue" notices for open loans that have not had one; return count."""
    today = today or clock.today()
    soon = today + dt.timedelta(days=config.get("due_soon_days"))
    queued = 0
    with transaction.atomic():
        overdue = Loan.objects.filter(
            outcome=LoanOutcome.OPEN, due_on__lt=today, notice_stage__lt=2
        )
        patrons = set(overdue.values_list("patron_id", flat=True))
        overdue.update(notice_stage=2)
        due = Loan.objects.filter(
            outcome=LoanOutcome.OPEN, due_on__gte=today, due_on__lte=soon, notice_stage__lt=1
        )
        soon_patrons = set(due.values_list("patron_id", flat=True))
        due.update(notice_stage=1)
        for pk in patrons - {None}:
            queued += queue(pk, NoticeKind.OVERDUE)
        for pk in soon_patrons - {None}:
            queued += queue(pk, NoticeKind.DUE_SOON)
    return queued


@dataclass(frozen=True)
class SendReport:
    sent: int
    skipped: int
    failed: int

    def as_dict(self) -> dict[str, int]:
        return {"sent": self.sent, "skipped": self.skipped, "failed": self.failed}


def _date(day: dt.date) -> str:
    return formats.date_format(day, "j F")


def _content(notice: Notice, today: dt.date, with_titles: bool) -> dict | None:
    """What the message says, or None when nothing is left to tell."""
    if notice.kind == NoticeKind.HOLD_AVAILABLE:
        holds = list(
            Hold.objects.filter(patron_id=notice.patron_id, status=HoldStatus.READY)
            .select_related("record", "pickup_branch")
            .order_by("expires_on", "id")
        )
        if not holds:
            return None
        groups = defaultdict(list)
        for hold in holds:
            groups[(hold.pickup_branch.name, hold.expires_on)].append(hold.record.title)
        lines = [
            {
                "branch": branch,
                "until": _date(until) if until else "",
                "count": len(titles),
                "titles": titles if with_titles else [],
            }
            for (branch, until), titles in groups.items()
        ]
        return {"groups": lines, "count": len(holds)}
    loans = Loan.objects.filter(patron_id=notice.patron_id, outcome=LoanOutcome.OPEN)
    if notice.kind == NoticeKind.OVERDUE:
        loans = loans.filter(due_on__lt=today)
    else:
        loans = loans.filter(due_on__gte=today)
    rows = list(loans.select_related("item__record").order_by("due_on", "id"))
    if not rows:
        return None
    groups = defaultdict(list)
    for loan in rows:
        groups[loan.due_on].append(loan.item.record.title)
    lines = [
        {"date": _date(day), "count": len(titles), "titles": titles if with_titles else []}
        for day, titles in sorted(groups.items())
    ]
    return {"groups": lines, "count": len(rows)}


_SUBJECTS = {
    NoticeKind.HOLD_AVAILABLE: lambda: _("Your hold is ready to collect"),
    NoticeKind.DUE_SOON: lambda: _("Items due back soon"),
    NoticeKind.OVERDUE: lambda: _("Items overdue"),
}


def send_notices(*, actor: Actor | None = None, limit: int | None = None) -> SendReport:
    """Send queued notices through Django's e-mail backend; delete each row once sent."""
    from shelfguard.patrons.services import PatronError, reveal

    actor = actor or Actor.system("notices")
    today = clock.today()
    sent = skipped = failed = 0
    rows = list(
        Notice.objects.order_by("queued_at", "id")[:limit]
        if limit
        else Notice.objects.order_by("queued_at", "id")
    )
    for notice in rows:
        allowed = consents(notice.patron_id, EMAIL_CONSENT, TITLES_CONSENT)
        content = (
            _content(notice, today, allowed[TITLES_CONSENT]) if allowed[EMAIL_CONSENT] else None
        )
        if content is None:
            notice.delete()
            skipped += 1
            continue
        try:
            values = reveal(
                notice.patron_id, ["name", "email"], actor=actor, purpose=NOTICE_PURPOSE
            )
        except PatronError:
            notice.delete()
            skipped += 1
            continue
        if not values.get("email"):
            notice.delete()
            skipped += 1
            continue
        context = {**content, "name": values.get("name") or "", "library": settings.LIBRARY_NAME}
        body = render_to_string(f"circulation/notices/{notice.kind}.txt", context)
        message = EmailMessage(
            subject=str(_SUBJECTS[NoticeKind(notice.kind)]()),
            body=body,
            to=[values["email"]],
        )
        try:
            message.send()
        except Exception:  # noqa: BLE001  (any transport failure: keep the row, try later)
            # Ids only: the address and the message stay out of the log.
            logger.warning(
                "Notice %s for patron %s could not be sent.", notice.pk, notice.patron_id
            )
            notice.attempts += 1
            if notice.attempts >= config.get("notice_attempts"):
                notice.delete()
            else:
                notice.save(update_fields=["attempts"])
            failed += 1
            continue
        notice.delete()
        sent += 1
    return SendReport(sent=sent, skipped=skipped, failed=failed)
