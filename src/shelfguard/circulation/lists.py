"""Desk lists that name no patron: the hold shelf of a branch and the items in transit.

Plain reads of circulation state (titles, barcodes, dates, branch codes),
so they take no actor and write no ledger entry; any list that names a
patron goes through a service that records the read.
"""

from __future__ import annotations

from typing import Any

from django.db.models import OuterRef, Q, Subquery

from shelfguard.catalog.models import Item, ItemStatus
from shelfguard.circulation.models import Hold, HoldStatus, Loan, LoanOutcome
from shelfguard.core import clock

LIMIT = 500


def hold_shelf(branch_id: int, *, limit: int = LIMIT) -> list[dict[str, Any]]:
    """What waits on a branch's hold shelf, by pickup number, with the day each is kept until."""
    today = clock.today()
    rows = (
        Hold.objects.filter(pickup_branch_id=branch_id, status=HoldStatus.READY)
        .select_related("record", "trapped_item")
        .order_by("expires_on", "id")[:limit]
    )
    return [
        {
            "hold": h.pk,
            "title": h.record.title,
            "barcode": h.trapped_item.barcode if h.trapped_item_id else "",
            "ready_on": h.ready_on,
            "expires_on": h.expires_on,
            "expired": bool(h.expires_on and h.expires_on < today),
        }
        for h in rows
    ]


def in_transit(branch_id: int, *, limit: int = LIMIT) -> dict[str, list[dict[str, Any]]]:
    """Items travelling to a branch (`incoming`) and from it to another (`outgoing`).

    Where a copy was sent from is not recorded as such: "from here" means
    copies whose last loan was returned here, or the branch's own copies
    (sent to fill a hold elsewhere), travelling to another branch.
    """
    base = Item.objects.filter(status=ItemStatus.IN_TRANSIT).select_related(
        "record", "branch", "transit_to"
    )
    last_return = Subquery(
        Loan.objects.filter(item=OuterRef("pk"))
        .exclude(outcome=LoanOutcome.OPEN)
        .order_by("-ended_on", "-id")
        .values("return_branch_id")[:1]
    )

    def rows(items) -> list[dict[str, Any]]:
        return [
            {
                "barcode": i.barcode,
                "title": i.record.title,
                "home": i.branch.code,
                "to": i.transit_to.code if i.transit_to_id else "",
            }
            for i in items.order_by("barcode")[:limit]
        ]

    return {
        "incoming": rows(base.filter(transit_to_id=branch_id)),
        "outgoing": rows(
            base.annotate(returned_at=last_return)
            .filter(Q(branch_id=branch_id) | Q(returned_at=branch_id))
            .exclude(transit_to_id=branch_id)
        ),
    }
