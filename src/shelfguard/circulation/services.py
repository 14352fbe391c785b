"""Circulation services: the doors the desk pages, the API, SIP2 and the offline upload all call.

Every function that acts takes `actor=` and `purpose=`, checks the actor at
the one gate (`access.authorise`), runs in one transaction and writes its
ledger entry in that transaction. Refusals are `CirculationError` with a
stable `code` and a reason fit for the desk; permission refusals are
`accounts.services.AccessDenied`.

The ledger entry of a circulation action records the actor, the action, the
patron id and the branch, never the item or the title (promise 4).

Implemented by subject; this module is the one place callers import from.
"""

from __future__ import annotations

from shelfguard.circulation.common import find_patron
from shelfguard.circulation.errors import CirculationError
from shelfguard.circulation.holds import (
    Routing,
    cancel_hold,
    change_pickup,
    expire_holds,
    hold_queue,
    holds_of,
    place_hold,
)
from shelfguard.circulation.lists import hold_shelf, in_transit
from shelfguard.circulation.loans import (
    CheckinResult,
    CheckoutResult,
    block_patron,
    checkin,
    checkout,
    claims_returned,
    lift_block,
    loans_of,
    renew,
    set_item_status,
    settle_charge,
)
from shelfguard.circulation.notices import queue_due_notices, send_notices
from shelfguard.circulation.policy import (
    add_closed_day,
    delete_policy,
    list_closed_days,
    list_policies,
    remove_closed_day,
    set_hours,
    set_policy,
    set_time_zone,
)
from shelfguard.circulation.privacy import delete_history, delete_history_entry, reading_history
from shelfguard.circulation.rules import Standing, Verdict, may_borrow, policy_for, standing

__all__ = [
    "CheckinResult",
    "CheckoutResult",
    "CirculationError",
    "Routing",
    "Standing",
    "Verdict",
    "add_closed_day",
    "block_patron",
    "cancel_hold",
    "change_pickup",
    "checkin",
    "checkout",
    "claims_returned",
    "delete_history",
    "delete_history_entry",
    "delete_policy",
    "expire_holds",
    "find_patron",
    "hold_queue",
    "hold_shelf",
    "holds_of",
    "in_transit",
    "lift_block",
    "list_closed_days",
    "list_policies",
    "loans_of",
    "may_borrow",
    "place_hold",
    "policy_for",
    "queue_due_notices",
    "reading_history",
    "remove_closed_day",
    "renew",
    "send_notices",
    "set_hours",
    "set_item_status",
    "set_policy",
    "set_time_zone",
    "settle_charge",
    "standing",
]
