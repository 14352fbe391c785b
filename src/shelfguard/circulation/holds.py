"""Holds: placing and cancelling, the queue, trapping returned copies, expiry.

A hold is on a title (any copy of the record can fill it) or on one item.
The queue of a title is its active holds oldest first. A copy that comes
back (or is scanned in from the shelf) goes to the oldest waiting hold it
can fill: straight onto the hold shelf when it is at the pickup branch, or
in transit there. A hold on the shelf that is not collected by its expiry
date expires, and the copy goes to the next hold or home.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils.translation import gettext as _

from shelfguard.catalog.models import Item, ItemStatus, Record
from shelfguard.circulation import access, config, notices, stats
from shelfguard.circulation import errors as e
from shelfguard.circulation.calendar import Calendar, calendar_for
from shelfguard.circulation.common import _table, branch_of, entry, lock_item, patron_id_of
from shelfguard.circulation.models import (
    ACTIVE_HOLD_STATUSES,
    Hold,
    HoldStatus,
    NoticeKind,
)
from shelfguard.circulation.rules import age_band, policy_for, standing
from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.core.models import Branch
from shelfguard.patrons.models import Patron


@dataclass(frozen=True)
class Routing:
    """Where a copy goes after it was scanned in."""

    status: str  # the item's new ItemStatus
    transit_to: str | None = None  # branch code
    hold_id: int | None = None
    hold_patron_id: int | None = None


def _close(hold: Hold, status: str, today: dt.date) -> None:
    """End a hold and drop its patron link (filled, cancelled, expired)."""
    hold.status = status
    hold.ended_on = today
    hold.patron = None
    hold.trapped_item = None
    # The exact moment it was placed would match the ledger entry of the placing.
    hold.placed_at = hold.placed_at.replace(hour=0, minute=0, second=0, microsecond=0)
    hold.save(update_fields=["status", "ended_on", "patron", "trapped_item", "placed_at"])


def _stat(
    action: str,
    hold: Hold,
    patron: Patron | None,
    day: dt.date,
    item_type: str = "",
    category: str | None = None,
) -> None:
    if category is None:
        category = patron.category.code if patron is not None and patron.category_id else ""
    stats.record(
        action,
        day=day,
        branch=hold.pickup_branch.code,
        item_type=item_type,
        patron_category=category,
        age_band=age_band(patron) if patron else "",
    )


def _make_ready(hold: Hold, item: Item, calendar: Calendar, today: dt.date) -> None:
    hold.status = HoldStatus.READY
    hold.trapped_item = item
    hold.ready_on = today
    hold.expires_on = calendar.due_date(today, config.get("hold_shelf_days"))
    hold.save(update_fields=["status", "trapped_item", "ready_on", "expires_on"])
    if hold.patron_id:
        notices.queue(hold.patron_id, NoticeKind.HOLD_AVAILABLE)


def route(
    item: Item,
    branch: Branch,
    *,
    calendar: Calendar,
    today: dt.date,
    actor: Actor,
    purpose: str,
    skip_hold: int | None = None,
) -> Routing:
    """Send a copy that is at `branch` to the hold it fills, or home. Item must be locked."""
    # One query (plain SQL: building the OR-ed conditions through the ORM cost
    # more than running them, on every return): a hold this copy is already
    # set aside for comes first, else the oldest waiting hold it can fill (a
    # title hold, or one on this copy). Each branch of the OR has its index:
    # (trapped_item, status), (record, status, placed_at) and item.
    skip = "AND id <> %s " if skip_hold is not None else ""
    candidates = list(
        Hold.objects.raw(
            f"SELECT * FROM {_table(Hold)} WHERE "
            "((trapped_item_id = %s AND status IN (%s, %s)) "
            "OR (record_id = %s AND status = %s AND item_id IS NULL) "
            "OR (item_id = %s AND status = %s)) "
            f"{skip}"
            "ORDER BY CASE WHEN trapped_item_id = %s THEN 0 ELSE 1 END, placed_at, id LIMIT 1",
            [
                item.pk,
                HoldStatus.IN_TRANSIT.value,
                HoldStatus.READY.value,
                item.record_id,
                HoldStatus.WAITING.value,
                item.pk,
                HoldStatus.WAITING.value,
                *([skip_hold] if skip_hold is not None else []),
                item.pk,
            ],
        )
    )
    trapped = next((h for h in candidates if h.trapped_item_id == item.pk), None)
    hold = trapped
    if hold is None and item.status not in (ItemStatus.DAMAGED, ItemStatus.WITHDRAWN):
        hold = next((h for h in candidates if h.status == HoldStatus.WAITING), None)
    if (
        trapped is not None
        and trapped.status == HoldStatus.READY
        and trapped.pickup_branch_id == branch.pk
    ):
        # Already on this branch's hold shelf: scanning it again changes nothing.
        return Routing(
            status=ItemStatus.ON_HOLD_SHELF, hold_id=trapped.pk, hold_patron_id=trapped.patron_id
        )
    if hold is not None:
        if hold.pickup_branch_id == branch.pk:
            _make_ready(hold, item, calendar, today)
            status, transit_to = ItemStatus.ON_HOLD_SHELF, None
        else:
            hold.status = HoldStatus.IN_TRANSIT
            hold.trapped_item = item
            hold.save(update_fields=["status", "trapped_item"])
            status, transit_to = ItemStatus.IN_TRANSIT, hold.pickup_branch_id
        if trapped is None:
            entry(
                actor,
                "hold_trap",
                purpose=purpose,
                patron_id=hold.patron_id,
                branch=branch,
                fields=("holds",),
                ready=status == ItemStatus.ON_HOLD_SHELF,
            )
    elif item.status in (ItemStatus.DAMAGED, ItemStatus.WITHDRAWN):
        status, transit_to = item.status, None
    elif item.branch_id == branch.pk:
        status, transit_to = ItemStatus.AVAILABLE, None
    else:
        status, transit_to = ItemStatus.IN_TRANSIT, item.branch_id
    Item.objects.filter(pk=item.pk).update(status=status, transit_to=transit_to)
    item.status, item.transit_to_id = status, transit_to
    code = (
        Branch.objects.filter(pk=transit_to).values_list("code", flat=True).first()
        if transit_to
        else None
    )
    return Routing(
        status=status,
        transit_to=code,
        hold_id=hold.pk if hold else None,
        hold_patron_id=hold.patron_id if hold else None,
    )


def place_hold(
    patron: Patron | int,
    *,
    pickup_branch: Branch | str | int,
    record: Record | int | None = None,
    barcode: str | None = None,
    actor: Actor,
    purpose: str,
) -> Hold:
    """Place a hold on a title (`record`) or one copy (`barcode`), to collect at `pickup_branch`."""
    pk = patron_id_of(patron)
    pickup = branch_of(pickup_branch)
    access.authorise(
        actor, access.LOAN, purpose=purpose, branch=pickup, patron_id=pk, self_service=True
    )
    if (record is None) == (barcode is None):
        raise e.CirculationError(e.INVALID, _("Name either a title or one item to hold."))
    with transaction.atomic():
        item = None
        if barcode is not None:
            item = lock_item(barcode)
            record_id = item.record_id
        else:
            record_id = record if isinstance(record, int) else record.pk
            if not Record.objects.filter(pk=record_id).exists():
                raise e.CirculationError(e.UNKNOWN_RECORD, _("There is no such title."))
        calendar = calendar_for(pickup)
        today = calendar.today()
        current = standing(pk, today=today)
        if current.blocks:
            raise e.CirculationError(e.PATRON_BLOCKED, " ".join(r for _c, r in current.blocks))
        copies = Item.objects.filter(record_id=record_id).exclude(
            status__in=(ItemStatus.WITHDRAWN, ItemStatus.LOST, ItemStatus.MISSING)
        )
        if item is not None:
            copies = copies.filter(pk=item.pk)
        types = set(copies.values_list("item_type_id", flat=True))
        if not types:
            raise e.CirculationError(
                e.ITEM_UNAVAILABLE, _("There is no copy that could fill this hold.")
            )
        if not any(
            policy_for(current.patron.category_id, t, pickup.pk).holds_allowed for t in types
        ):
            raise e.CirculationError(
                e.HOLDS_NOT_ALLOWED, _("The loan rules do not allow holds on this for this patron.")
            )
        if Hold.objects.filter(
            patron_id=pk, record_id=record_id, status__in=ACTIVE_HOLD_STATUSES
        ).exists():
            raise e.CirculationError(
                e.ALREADY_HELD, _("The patron already has a hold on this title.")
            )
        hold = Hold.objects.create(
            patron_id=pk,
            record_id=record_id,
            item=item,
            pickup_branch=pickup,
            placed_at=clock.now(),
        )
        hold.pickup_branch = pickup
        _stat("hold_placed", hold, current.patron, today, category=current.category_code)
        entry(actor, "hold_place", purpose=purpose, patron_id=pk, branch=pickup, fields=("holds",))
    return hold


def _lock_hold(hold_id: int) -> Hold:
    hold = (
        Hold.objects.select_for_update(of=("self",))
        .select_related("pickup_branch__calendar")
        .filter(pk=hold_id)
        .first()
    )
    if hold is None:
        raise e.CirculationError(e.UNKNOWN_HOLD, _("There is no such hold."))
    return hold


def _release(hold: Hold, *, actor: Actor, purpose: str, today: dt.date) -> None:
    """The copy set aside for an ending hold goes to the next hold, or home."""
    if hold.trapped_item_id is None:
        return
    item = Item.objects.select_for_update(of=("self",)).get(pk=hold.trapped_item_id)
    if hold.status == HoldStatus.READY:
        # On the shelf at the pickup branch: route it from there.
        branch = branch_of(hold.pickup_branch_id)
        route(
            item,
            branch,
            calendar=calendar_for(branch),
            today=today,
            actor=actor,
            purpose=purpose,
            skip_hold=hold.pk,
        )
    else:
        # Still in transit: it will be routed when it is scanned in.
        Item.objects.filter(pk=item.pk).update(transit_to=item.branch_id)


def cancel_hold(
    hold: Hold | int, *, actor: Actor, purpose: str, patron: Patron | int | None = None
) -> Hold:
    """Cancel an active hold (the patron's own when `patron` is given); the link is dropped."""
    hold_id = hold if isinstance(hold, int) else hold.pk
    with transaction.atomic():
        row = _lock_hold(hold_id)
        owner = row.patron_id
        access.authorise(
            actor,
            access.LOAN,
            purpose=purpose,
            branch=row.pickup_branch,
            patron_id=owner,
            self_service=True,
        )
        if patron is not None and patron_id_of(patron) != owner:
            raise e.CirculationError(e.NOT_YOURS, _("This hold belongs to another patron."))
        if row.status not in ACTIVE_HOLD_STATUSES:
            raise e.CirculationError(e.INVALID, _("This hold has already ended."))
        today = calendar_for(row.pickup_branch).today()
        patron_row = Patron.objects.select_related("category").filter(pk=owner).first()
        _release(row, actor=actor, purpose=purpose, today=today)
        _close(row, HoldStatus.CANCELLED, today)
        _stat("hold_cancelled", row, patron_row, today)
        entry(
            actor,
            "hold_cancel",
            purpose=purpose,
            patron_id=owner,
            branch=row.pickup_branch,
            fields=("holds",),
        )
    return row


def change_pickup(
    hold: Hold | int,
    pickup_branch: Branch | str | int,
    *,
    actor: Actor,
    purpose: str,
    patron: Patron | int | None = None,
) -> Hold:
    """Move a waiting hold to another pickup branch (the patron's own when `patron` is given).

    Only while the hold waits: once a copy is trapped for it (in transit or on
    the shelf) the copy is already on its way to the old branch, so the hold
    must be cancelled and placed again instead. The new branch must allow
    holds on the title for this patron, as when placing. The queue position
    does not change.
    """
    hold_id = hold if isinstance(hold, int) else hold.pk
    new_pickup = branch_of(pickup_branch)
    with transaction.atomic():
        row = _lock_hold(hold_id)
        owner = row.patron_id
        access.authorise(
            actor,
            access.LOAN,
            purpose=purpose,
            branch=new_pickup,
            patron_id=owner,
            self_service=True,
        )
        if patron is not None and patron_id_of(patron) != owner:
            raise e.CirculationError(e.NOT_YOURS, _("This hold belongs to another patron."))
        if row.status not in ACTIVE_HOLD_STATUSES:
            raise e.CirculationError(e.INVALID, _("This hold has already ended."))
        if row.status != HoldStatus.WAITING:
            raise e.CirculationError(
                e.INVALID,
                _(
                    "A copy is already on its way to the pickup branch or waiting there; "
                    "cancel the hold and place it again to collect it elsewhere."
                ),
            )
        if row.pickup_branch_id == new_pickup.pk:
            return row
        current = standing(owner, today=calendar_for(new_pickup).today())
        copies = Item.objects.filter(record_id=row.record_id).exclude(
            status__in=(ItemStatus.WITHDRAWN, ItemStatus.LOST, ItemStatus.MISSING)
        )
        if row.item_id is not None:
            copies = copies.filter(pk=row.item_id)
        types = set(copies.values_list("item_type_id", flat=True))
        if not any(
            policy_for(current.patron.category_id, t, new_pickup.pk).holds_allowed for t in types
        ):
            raise e.CirculationError(
                e.HOLDS_NOT_ALLOWED,
                _("The loan rules do not allow holds on this to be collected at that branch."),
            )
        old = row.pickup_branch
        row.pickup_branch = new_pickup
        row.save(update_fields=["pickup_branch"])
        entry(
            actor,
            "hold_pickup_change",
            purpose=purpose,
            patron_id=owner,
            branch=new_pickup,
            fields=("holds",),
            previous=old.code,
        )
    return row


def hold_queue(record: Record | int) -> list[dict[str, Any]]:
    """The title's active holds in queue order, without patron ids (so nothing to record)."""
    record_id = record if isinstance(record, int) else record.pk
    rows = (
        Hold.objects.filter(record_id=record_id, status__in=ACTIVE_HOLD_STATUSES)
        .select_related("pickup_branch", "item")
        .order_by("placed_at", "id")
    )
    return [
        {
            "position": n,
            "hold": h.pk,
            "status": h.status,
            "pickup": h.pickup_branch.code,
            "placed_on": h.placed_at.date().isoformat(),
            "item": h.item.barcode if h.item_id else None,
            "expires_on": h.expires_on.isoformat() if h.expires_on else None,
        }
        for n, h in enumerate(rows, 1)
    ]


def holds_of(patron: Patron | int, *, actor: Actor, purpose: str) -> list[dict[str, Any]]:
    """The patron's active holds with their queue positions (recorded: it says what they want)."""
    pk = patron_id_of(patron)
    access.authorise(actor, access.LOAN, purpose=purpose, patron_id=pk, self_service=True)
    with transaction.atomic():
        rows = list(
            Hold.objects.filter(patron_id=pk, status__in=ACTIVE_HOLD_STATUSES).select_related(
                "record", "pickup_branch"
            )
        )
        result = []
        for h in rows:
            ahead = (
                Hold.objects.filter(record_id=h.record_id, status__in=ACTIVE_HOLD_STATUSES)
                .filter(Q(placed_at__lt=h.placed_at) | Q(placed_at=h.placed_at, id__lt=h.pk))
                .count()
            )
            result.append(
                {
                    "hold": h.pk,
                    "title": h.record.title,
                    "status": h.status,
                    "pickup": h.pickup_branch.code,
                    "position": ahead + 1,
                    "expires_on": h.expires_on.isoformat() if h.expires_on else None,
                }
            )
        entry(actor, "hold_read", purpose=purpose, patron_id=pk, branch=None, fields=("holds",))
    return result


def expire_holds(*, actor: Actor | None = None, purpose: str = "hold expiry") -> int:
    """Expire holds left on the shelf past their date; each copy goes to the next hold or home."""
    actor = actor or Actor.system("holds-expire")
    expired = 0
    candidates = list(
        # A day of slack: a branch's local date may be ahead of the library's.
        Hold.objects.filter(
            status=HoldStatus.READY, expires_on__lt=clock.today() + dt.timedelta(days=1)
        ).values_list("pk", flat=True)
    )
    for hold_id in candidates:
        with transaction.atomic():
            row = _lock_hold(hold_id)
            calendar = calendar_for(row.pickup_branch)
            today = calendar.today()
            if row.status != HoldStatus.READY or row.expires_on >= today:
                continue
            owner = row.patron_id
            patron_row = Patron.objects.select_related("category").filter(pk=owner).first()
            _release(row, actor=actor, purpose=purpose, today=today)
            _close(row, HoldStatus.EXPIRED, today)
            _stat("hold_expired", row, patron_row, today)
            entry(
                actor,
                "hold_expire",
                purpose=purpose,
                patron_id=owner,
                branch=row.pickup_branch,
                fields=("holds",),
            )
            expired += 1
    return expired


def fill(hold: Hold, patron: Patron, *, today: dt.date, item_type: str, category: str) -> None:
    """The patron collected (borrowed) the copy: the hold is filled and forgets them."""
    _stat("hold_filled", hold, patron, today, item_type, category=category)
    _close(hold, HoldStatus.FILLED, today)


__all__ = [
    "Routing",
    "cancel_hold",
    "change_pickup",
    "expire_holds",
    "hold_queue",
    "holds_of",
    "place_hold",
    "route",
]
