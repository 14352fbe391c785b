"""Reads the self-check needs that the circulation services do not offer as such.

* `item_summary`: what a machine shows about a copy (title, status, due
  date, how many holds wait for the title). Catalogue and circulation state
  with no patron in it, so it takes no actor and writes no ledger entry,
  like the desk's hold-shelf and transit lists (`circulation.lists`).
* `patron_standing`, `patron_hold_on`, `unpaid_charges` and `terminal_blocks` read one patron's charges and the
  blocks self-check machines put on them: personal data, so each takes
  `actor=` and `purpose=` and writes its ledger entry in its transaction.
  The changes themselves (`settle_charge`, `lift_block`) stay with the
  circulation services.

Exported through `sip2.services`; only the SIP2 handlers use them.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from shelfguard.catalog.models import Item
from shelfguard.circulation.models import (
    ACTIVE_HOLD_STATUSES,
    Charge,
    Hold,
    Loan,
    LoanOutcome,
    PatronBlock,
)
from shelfguard.circulation.rules import Standing, standing
from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.ledger import services as ledger

#: How a block put on by a terminal is marked (`created_by` is "<actor kind>:<ident>").
TERMINAL_PREFIX = "terminal:"


@dataclass(frozen=True)
class ItemSummary:
    barcode: str
    record_id: int
    title: str
    status: str
    home_branch: str
    transit_to: str | None
    due_on: dt.date | None
    holds_waiting: int


def item_summary(barcode: str) -> ItemSummary | None:
    """The copy with this barcode as a self-check shows it, or None if there is none."""
    if not isinstance(barcode, str) or not barcode.strip():
        return None
    item = (
        Item.objects.select_related("record", "branch", "transit_to")
        .filter(barcode=barcode.strip())
        .first()
    )
    if item is None:
        return None
    due_on = (
        Loan.objects.filter(item=item, outcome=LoanOutcome.OPEN)
        .values_list("due_on", flat=True)
        .first()
    )
    waiting = Hold.objects.filter(record_id=item.record_id, status__in=ACTIVE_HOLD_STATUSES).count()
    return ItemSummary(
        barcode=item.barcode,
        record_id=item.record_id,
        title=item.record.title,
        status=item.status,
        home_branch=item.branch.code,
        transit_to=item.transit_to.code if item.transit_to_id else None,
        due_on=due_on,
        holds_waiting=waiting,
    )


def unpaid_charges(patron_id: int, *, actor: Actor, purpose: str) -> list[dict[str, Any]]:
    """The patron's unsettled charges, oldest first: id, amount in cents, kind (recorded)."""
    with transaction.atomic():
        rows = list(
            Charge.objects.filter(patron_id=patron_id, settled_on__isnull=True)
            .order_by("created_on", "id")
            .values("id", "amount_cents", "kind")
        )
        ledger.append(
            actor=actor,
            action="sip2.charges_read",
            purpose=purpose,
            patron_id=patron_id,
            fields=("charges",),
            detail={"count": len(rows)},
        )
    return [{"id": r["id"], "cents": r["amount_cents"], "kind": r["kind"]} for r in rows]


def terminal_blocks(patron_id: int, *, actor: Actor, purpose: str) -> list[int]:
    """Ids of the blocks in force on the patron that a self-check machine put on (recorded).

    Only these may be lifted from a machine (25, patron enable): a block
    staff put on stays until staff lift it.
    """
    with transaction.atomic():
        ids = list(
            PatronBlock.objects.filter(
                patron_id=patron_id,
                lifted_at__isnull=True,
                created_by__startswith=TERMINAL_PREFIX,
            )
            .order_by("id")
            .values_list("id", flat=True)
        )
        ledger.append(
            actor=actor,
            action="sip2.blocks_read",
            purpose=purpose,
            patron_id=patron_id,
            fields=("blocks",),
            detail={"count": len(ids)},
        )
    return ids


def patron_standing(patron_id: int, *, actor: Actor, purpose: str) -> Standing:
    """What blocks the patron now (card, blocks, overdues, charges), as checkout sees it (recorded)."""
    with transaction.atomic():
        found = standing(patron_id, today=clock.today())
        ledger.append(
            actor=actor,
            action="sip2.standing_read",
            purpose=purpose,
            patron_id=patron_id,
            fields=("blocks",),
            detail={"blocks": [code for code, _reason in found.blocks]},
        )
    return found


def patron_hold_on(patron_id: int, record_id: int, *, actor: Actor, purpose: str) -> int | None:
    """The id of the patron's active hold on this title, or None (recorded)."""
    with transaction.atomic():
        hold_id = (
            Hold.objects.filter(
                patron_id=patron_id, record_id=record_id, status__in=ACTIVE_HOLD_STATUSES
            )
            .values_list("id", flat=True)
            .first()
        )
        ledger.append(
            actor=actor,
            action="sip2.hold_find",
            purpose=purpose,
            patron_id=patron_id,
            fields=("holds",),
            detail={"found": hold_id is not None},
        )
    return hold_id
