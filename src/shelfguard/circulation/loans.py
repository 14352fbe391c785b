"""Lending, returning, renewing; lost, damaged and missing items; claims returned; charges; blocks.

Every function is one transaction: the item row is locked first, the
decision is made on what is in the database now, then the loan, the item,
the statistics cell and the ledger entry are written together. An exception
anywhere rolls all of it back, so there is never a half-done loan or a loan
without its ledger entry.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from shelfguard.catalog.models import Item, ItemStatus
from shelfguard.circulation import access, holds, stats
from shelfguard.circulation import errors as e
from shelfguard.circulation.calendar import Calendar, calendar_for
from shelfguard.circulation.common import _table, branch_of, entry, lock_item, patron_id_of
from shelfguard.circulation.models import (
    ACTIVE_HOLD_STATUSES,
    Charge,
    Hold,
    HoldStatus,
    Loan,
    LoanOutcome,
    PatronBlock,
)
from shelfguard.circulation.privacy import keeps_history
from shelfguard.circulation.rules import age_band, may_borrow, policy_for, standing
from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.core.models import Branch
from shelfguard.patrons.models import Patron

#: How far back an action may be dated (`at=`), unless `[circulation] offline_window_days` says.
DEFAULT_BACKDATE_DAYS = 30


def backdate_window() -> dt.timedelta:
    """How old an `at=` moment may be: `[circulation] offline_window_days` (default 30 days)."""
    section = getattr(settings, "CONFIG", {}).get("circulation", {})
    days = (
        section.get("offline_window_days", DEFAULT_BACKDATE_DAYS)
        if isinstance(section, dict)
        else DEFAULT_BACKDATE_DAYS
    )
    if isinstance(days, bool) or not isinstance(days, int) or days < 1:
        raise ImproperlyConfigured(
            "[circulation] offline_window_days in shelfguard.toml must be a whole number ≥ 1, "
            f"not {days!r}."
        )
    return dt.timedelta(days=days)


def checked_moment(at: dt.datetime | None) -> dt.datetime | None:
    """`at` if it may date an action (aware, not in the future, inside the window), else raise."""
    if at is None:
        return None
    if not isinstance(at, dt.datetime) or at.tzinfo is None or at.utcoffset() is None:
        raise e.CirculationError(e.INVALID, _("The time of the action needs a time zone."))
    now = clock.now()
    if at > now:
        raise e.CirculationError(e.INVALID, _("The time of the action is in the future."))
    window = backdate_window()
    if at < now - window:
        raise e.CirculationError(
            e.INVALID,
            _("The action is older than %(n)d days, the most that may be back-dated.")
            % {"n": window.days},
        )
    return at


def _calendar_and_day(desk: Branch, moment: dt.datetime | None) -> tuple[Calendar, dt.date]:
    """The branch calendar and the local date of the action (today, or the back-dated day)."""
    calendar = calendar_for(desk)
    if moment is None:
        return calendar, calendar.today()
    day = calendar.today(moment)
    if day < calendar.today():
        # Closed days are read from the day of the action, so a back-dated due date is right.
        calendar = calendar_for(desk, start=day)
    return calendar, day


def _when(moment: dt.datetime | None, day: dt.date) -> dict:
    """Ledger detail for a back-dated action: the local day it happened (never the time)."""
    return {"on": day.isoformat()} if moment is not None else {}


@dataclass(frozen=True)
class CheckoutResult:
    loan: Loan
    due_on: dt.date
    #: The moment the item is due: the branch's closing time on the due date (UTC).
    due_at: dt.datetime
    hold_filled: bool


def checkout(
    patron: Patron | int,
    barcode: str,
    *,
    branch: Branch | str | int,
    actor: Actor,
    purpose: str,
    at: dt.datetime | None = None,
) -> CheckoutResult:
    """Lend the item to the patron at `branch`, or raise `CirculationError` saying why not.

    `at` back-dates the loan (offline upload): the loan day and the due date
    count from it. It must be aware, not in the future and within
    `backdate_window()`.
    """
    pk = patron_id_of(patron)
    moment = checked_moment(at)
    desk = branch_of(branch)
    access.authorise(actor, access.LOAN, purpose=purpose, branch=desk)
    with transaction.atomic():
        item = lock_item(barcode)
        calendar, today = _calendar_and_day(desk, moment)
        current = standing(pk, today=today)
        verdict = may_borrow(pk, item, desk, today=today, calendar=calendar, current=current)
        verdict.refuse()
        band = age_band(current.patron)
        try:
            loan = Loan.objects.create(
                item=item,
                patron_id=pk,
                patron_category=current.category_code,
                age_band=band,
                branch=desk,
                loaned_on=today,
                due_on=verdict.due_on,
            )
        except IntegrityError:
            # Another desk lent this item between our read and our write (only
            # possible where the item lock is weaker than on our databases).
            # Raising rolls this whole transaction (or savepoint) back.
            raise e.CirculationError(
                e.ON_LOAN_TO_OTHER, _("This item was just lent at another desk.")
            ) from None
        Item.objects.filter(pk=item.pk).update(status=ItemStatus.ON_LOAN, transit_to=None)
        if verdict.fills_hold is not None:
            verdict.fills_hold.pickup_branch = (
                desk
                if verdict.fills_hold.pickup_branch_id == desk.pk
                else Branch.objects.get(pk=verdict.fills_hold.pickup_branch_id)
            )
            holds.fill(
                verdict.fills_hold,
                current.patron,
                today=today,
                item_type=item.item_type.code,
                category=current.category_code,
            )
        stats.record(
            "checkout",
            day=today,
            branch=desk.code,
            item_type=item.item_type.code,
            patron_category=current.category_code,
            age_band=band,
        )
        entry(actor, "checkout", purpose=purpose, patron_id=pk, branch=desk, **_when(moment, today))
    return CheckoutResult(
        loan=loan,
        due_on=loan.due_on,
        due_at=calendar.closing(loan.due_on),
        hold_filled=verdict.fills_hold is not None,
    )


@dataclass(frozen=True)
class CheckinResult:
    """What became of the item; `routing` tells the desk where to put it."""

    was_on_loan: bool
    routing: holds.Routing
    days_late: int = 0
    charge_cents: int = 0
    #: True when the loan kept its patron link (reading history, or a charge).
    kept_link: bool = False


def _end_loan(
    loan: Loan, item: Item, *, outcome: str, today: dt.date, branch: Branch
) -> tuple[int, bool]:
    """Close the loan of `item` (locked); return (charge in cents, whether the link was kept)."""
    charge_cents = 0
    patron_id = loan.patron_id
    if outcome == LoanOutcome.RETURNED and patron_id is not None and today > loan.due_on:
        late = (today - loan.due_on).days
        category_id = (
            Patron.objects.filter(pk=patron_id).values_list("category_id", flat=True).first()
        )
        policy = policy_for(category_id, item.item_type_id, loan.branch_id)
        if policy.charges_apply and late > policy.grace_days and policy.daily_charge_cents:
            charge_cents = late * policy.daily_charge_cents
            if policy.max_charge_cents:
                charge_cents = min(charge_cents, policy.max_charge_cents)
            Charge.objects.create(
                patron_id=patron_id, loan=loan, amount_cents=charge_cents, created_on=today
            )
    keep = patron_id is not None and (charge_cents > 0 or keeps_history(patron_id))
    loan.outcome = outcome
    loan.ended_on = today
    loan.return_branch = branch
    if not keep:
        loan.patron = None
    loan.save(update_fields=["outcome", "ended_on", "return_branch", "patron"])
    return charge_cents, keep


def _open_loan(item: Item) -> Loan | None:
    """The item's open loan, locked (on PostgreSQL) for the rest of the transaction.

    Plain SQL through `raw`, as `lock_item` (this runs on every return). At
    most one open loan per item (a constraint), so no ORDER BY.
    """
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    found = list(
        Loan.objects.raw(
            f"SELECT * FROM {_table(Loan)} WHERE item_id = %s AND outcome = %s LIMIT 1{lock}",
            [item.pk, LoanOutcome.OPEN.value],
        )
    )
    return found[0] if found else None


def checkin(
    barcode: str,
    *,
    branch: Branch | str | int,
    actor: Actor,
    purpose: str,
    at: dt.datetime | None = None,
) -> CheckinResult:
    """Take an item back at any branch; route it to a hold, home, or in transit.

    Also what the desk does with an item that is not on loan (arriving in
    transit, found after being missing, or scanned from the shelf to trap
    a hold).

    `at` back-dates the return (offline upload): lateness counts to that day.
    A return dated before the day the open loan began is refused.
    """
    moment = checked_moment(at)
    desk = branch_of(branch)
    access.authorise(actor, access.LOAN, purpose=purpose, branch=desk)
    with transaction.atomic():
        item = lock_item(barcode)
        calendar, today = _calendar_and_day(desk, moment)
        loan = _open_loan(item)
        if loan is not None and loan.loaned_on > today:
            raise e.CirculationError(
                e.INVALID, _("The item was lent after the time given for this return.")
            )
        borrower = loan.patron_id if loan else None
        charge = late = 0
        kept = False
        if loan is not None:
            late = max(0, (today - loan.due_on).days)
            charge, kept = _end_loan(
                loan, item, outcome=LoanOutcome.RETURNED, today=today, branch=desk
            )
            stats.record(
                "checkin",
                day=today,
                branch=desk.code,
                item_type=item.item_type.code,
                patron_category=loan.patron_category,
                age_band=loan.age_band,
            )
        if item.status in (ItemStatus.ON_LOAN, ItemStatus.LOST, ItemStatus.MISSING):
            item.status = ItemStatus.AVAILABLE  # found or back: route it like any returned copy
        routing = holds.route(
            item, desk, calendar=calendar, today=today, actor=actor, purpose=purpose
        )
        entry(
            actor,
            "checkin",
            purpose=purpose,
            patron_id=borrower,
            branch=desk,
            on_loan=loan is not None,
            **_when(moment, today),
        )
    return CheckinResult(
        was_on_loan=loan is not None,
        routing=routing,
        days_late=late,
        charge_cents=charge,
        kept_link=kept,
    )


def renew(
    barcode: str,
    *,
    actor: Actor,
    purpose: str,
    patron: Patron | int | None = None,
    branch: Branch | str | int | None = None,
    at: dt.datetime | None = None,
) -> Loan:
    """Renew an open loan: refused while another patron waits for the title, or at the limit.

    The new due date counts from today (never earlier than the old one), on
    the calendar of `branch` (default: the branch that lent it). `at`
    back-dates the renewal (offline upload): the new due date counts from it.
    """
    moment = checked_moment(at)
    with transaction.atomic():
        item = lock_item(barcode)
        loan = _open_loan(item)
        if loan is None or loan.patron_id is None:
            raise e.CirculationError(e.NOT_ON_LOAN, _("This item is not on loan."))
        access.authorise(
            actor,
            access.LOAN,
            purpose=purpose,
            branch=branch and branch_of(branch),
            patron_id=loan.patron_id,
            self_service=True,
        )
        if patron is not None and patron_id_of(patron) != loan.patron_id:
            raise e.CirculationError(e.NOT_YOURS, _("This item is on loan to another patron."))
        desk = branch_of(branch if branch is not None else loan.branch_id)
        calendar, today = _calendar_and_day(desk, moment)
        if loan.loaned_on > today:
            raise e.CirculationError(
                e.INVALID, _("The item was lent after the time given for this renewal.")
            )
        current = standing(loan.patron_id, today=today)
        if current.blocks:
            raise e.CirculationError(e.PATRON_BLOCKED, " ".join(r for _c, r in current.blocks))
        waiting = (
            Hold.objects.filter(status__in=ACTIVE_HOLD_STATUSES)
            .filter(Q(record_id=item.record_id, item__isnull=True) | Q(item=item))
            .exclude(patron_id=loan.patron_id)
        )
        if waiting.exists():
            raise e.CirculationError(
                e.HOLD_PENDING, _("Another patron is waiting for this title; it cannot be renewed.")
            )
        policy = policy_for(current.patron.category_id, item.item_type_id, loan.branch_id)
        if loan.renewals >= policy.renewals:
            raise e.CirculationError(
                e.RENEWAL_LIMIT,
                _("This loan has been renewed %(n)d times, the most allowed.")
                % {"n": policy.renewals},
            )
        loan.due_on = max(loan.due_on, calendar.due_date(today, policy.loan_days))
        loan.renewals += 1
        loan.notice_stage = 0
        loan.save(update_fields=["due_on", "renewals", "notice_stage"])
        stats.record(
            "renew",
            day=today,
            branch=desk.code,
            item_type=item.item_type.code,
            patron_category=loan.patron_category,
            age_band=loan.age_band,
        )
        entry(
            actor,
            "renew",
            purpose=purpose,
            patron_id=loan.patron_id,
            branch=desk,
            **_when(moment, today),
        )
    return loan


SETTABLE_STATUSES = (
    ItemStatus.LOST,
    ItemStatus.DAMAGED,
    ItemStatus.MISSING,
    ItemStatus.WITHDRAWN,
    ItemStatus.AVAILABLE,
)


def set_item_status(
    barcode: str, status: str, *, branch: Branch | str | int, actor: Actor, purpose: str
) -> Item:
    """Mark an item lost, damaged, missing, withdrawn (or available again).

    Marking a lent item lost ends its loan (outcome "lost"; no charge is
    made by the program) and drops the patron link as a return would. A copy
    set aside for a hold goes back, and the hold waits for another copy.
    """
    if status not in SETTABLE_STATUSES:
        raise e.CirculationError(
            e.INVALID,
            _("Choose one of: %(s)s.") % {"s": ", ".join(str(s) for s in SETTABLE_STATUSES)},
        )
    desk = branch_of(branch)
    access.authorise(actor, access.LOAN, purpose=purpose, branch=desk)
    with transaction.atomic():
        item = lock_item(barcode)
        today = calendar_for(desk).today()
        loan = _open_loan(item)
        borrower = loan.patron_id if loan else None
        if loan is not None:
            if status != ItemStatus.LOST:
                raise e.CirculationError(
                    e.INVALID, _("This item is on loan; check it in first, or mark it lost.")
                )
            _end_loan(loan, item, outcome=LoanOutcome.LOST, today=today, branch=desk)
            stats.record(
                "lost",
                day=today,
                branch=desk.code,
                item_type=item.item_type.code,
                patron_category=loan.patron_category,
                age_band=loan.age_band,
            )
        _untrap(item)
        Item.objects.filter(pk=item.pk).update(status=status, transit_to=None)
        item.status = status
        entry(
            actor,
            "item_status",
            purpose=purpose,
            patron_id=borrower,
            branch=desk,
            status=str(status),
        )
    return item


def _untrap(item: Item) -> None:
    """A copy set aside for a hold can no longer fill it: the hold waits again."""
    Hold.objects.filter(
        trapped_item=item, status__in=(HoldStatus.IN_TRANSIT, HoldStatus.READY)
    ).update(status=HoldStatus.WAITING, trapped_item=None, ready_on=None, expires_on=None)


def claims_returned(
    barcode: str, *, branch: Branch | str | int, actor: Actor, purpose: str
) -> Loan:
    """The patron says they returned it: the loan ends (not as overdue); the item is missing."""
    desk = branch_of(branch)
    access.authorise(actor, access.LOAN, purpose=purpose, branch=desk)
    with transaction.atomic():
        item = lock_item(barcode)
        loan = _open_loan(item)
        if loan is None:
            raise e.CirculationError(e.NOT_ON_LOAN, _("This item is not on loan."))
        borrower = loan.patron_id
        today = calendar_for(desk).today()
        _end_loan(loan, item, outcome=LoanOutcome.CLAIMS_RETURNED, today=today, branch=desk)
        Item.objects.filter(pk=item.pk).update(status=ItemStatus.MISSING, transit_to=None)
        stats.record(
            "claims_returned",
            day=today,
            branch=desk.code,
            item_type=item.item_type.code,
            patron_category=loan.patron_category,
            age_band=loan.age_band,
        )
        entry(actor, "claims_returned", purpose=purpose, patron_id=borrower, branch=desk)
    return loan


def settle_charge(charge: Charge | int, *, actor: Actor, purpose: str) -> Charge:
    """Record a charge as paid or waived; the loan it came from then forgets the patron."""
    charge_id = charge if isinstance(charge, int) else charge.pk
    access.authorise(actor, access.LOAN, purpose=purpose)
    with transaction.atomic():
        row = Charge.objects.select_for_update(of=("self",)).filter(pk=charge_id).first()
        if row is None or row.settled_on is not None:
            raise e.CirculationError(e.INVALID, _("There is no such unpaid charge."))
        loan_id = row.loan_id
        row.settled_on = clock.today()
        row.loan = None
        row.save(update_fields=["settled_on", "loan"])
        others_unpaid = Charge.objects.filter(loan_id=loan_id, settled_on__isnull=True).exists()
        if loan_id is not None and not others_unpaid and not keeps_history(row.patron_id):
            Loan.objects.filter(pk=loan_id).exclude(outcome=LoanOutcome.OPEN).update(patron=None)
        entry(
            actor,
            "charge_settle",
            purpose=purpose,
            patron_id=row.patron_id,
            branch=None,
            fields=("charges",),
            cents=row.amount_cents,
        )
    return row


def block_patron(patron: Patron | int, reason: str, *, actor: Actor, purpose: str) -> PatronBlock:
    """Stop a patron borrowing, with a reason staff can read (no personal details in it)."""
    pk = patron_id_of(patron)
    reason = " ".join(str(reason or "").split())
    if not reason or len(reason) > 200:
        raise e.CirculationError(e.INVALID, _("Give a short reason (under 200 characters)."))
    # Checked for the patron's home branch, so a branch-scoped role may block its own patrons.
    home = Patron.objects.filter(pk=pk).values_list("home_branch_id", flat=True).first()
    access.authorise(actor, access.LOAN, purpose=purpose, branch=home)
    with transaction.atomic():
        if not Patron.objects.filter(pk=pk).exists():
            raise e.CirculationError(e.UNKNOWN_PATRON, _("There is no such patron."))
        block = PatronBlock.objects.create(
            patron_id=pk,
            reason=reason,
            created_at=clock.now(),
            created_by=f"{actor.kind}:{actor.ident}",
        )
        entry(actor, "block", purpose=purpose, patron_id=pk, branch=None, fields=("blocks",))
    return block


def lift_block(block: PatronBlock | int, *, actor: Actor, purpose: str) -> PatronBlock:
    block_id = block if isinstance(block, int) else block.pk
    home = (
        PatronBlock.objects.filter(pk=block_id)
        .values_list("patron__home_branch_id", flat=True)
        .first()
    )
    access.authorise(actor, access.LOAN, purpose=purpose, branch=home)
    with transaction.atomic():
        row = (
            PatronBlock.objects.select_for_update()
            .filter(pk=block_id, lifted_at__isnull=True)
            .first()
        )
        if row is None:
            raise e.CirculationError(e.INVALID, _("There is no such block in force."))
        row.lifted_at = clock.now()
        row.save(update_fields=["lifted_at"])
        entry(
            actor,
            "unblock",
            purpose=purpose,
            patron_id=row.patron_id,
            branch=None,
            fields=("blocks",),
        )
    return row


def loans_of(patron: Patron | int, *, actor: Actor, purpose: str) -> list[dict]:
    """The patron's open loans, soonest due first, for the desk or the portal (recorded)."""
    pk = patron_id_of(patron)
    access.authorise(actor, access.LOAN, purpose=purpose, patron_id=pk, self_service=True)
    with transaction.atomic():
        rows = list(
            Loan.objects.filter(patron_id=pk, outcome=LoanOutcome.OPEN)
            .select_related("item__record", "branch")
            .order_by("due_on", "id")
        )
        entry(actor, "loans_read", purpose=purpose, patron_id=pk, branch=None, count=len(rows))
    return [
        {
            "loan": row.pk,
            "title": row.item.record.title,
            "barcode": row.item.barcode,
            "branch": row.branch.code,
            "loaned_on": row.loaned_on.isoformat(),
            "due_on": row.due_on.isoformat(),
            "renewals": row.renewals,
        }
        for row in rows
    ]
