"""De-identified daily statistics, recorded at the moment of the event.

Each event adds one to a cell (day, action, branch, item type, patron
category, age band). Nothing in a cell points back to a patron, a loan or a
time of day, so there is nothing to anonymise later.
"""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, transaction
from django.db.models import F

from shelfguard.circulation.models import CirculationStat

ACTIONS = (
    "checkout",
    "checkin",
    "renew",
    "hold_placed",
    "hold_filled",
    "hold_cancelled",
    "hold_expired",
    "lost",
    "claims_returned",
)


def record(
    action: str,
    *,
    day: dt.date,
    branch: str,
    item_type: str = "",
    patron_category: str = "",
    age_band: str = "",
) -> None:
    """Add one to the day's cell; call inside the service's transaction."""
    if action not in ACTIONS:
        raise ValueError(f"Unknown statistics action {action!r}.")
    cell = {
        "day": day,
        "action": action,
        "branch": branch,
        "item_type": item_type,
        "patron_category": patron_category,
        "age_band": age_band,
    }
    if CirculationStat.objects.filter(**cell).update(count=F("count") + 1):
        return
    try:
        with transaction.atomic():
            CirculationStat.objects.create(**cell, count=1)
    except IntegrityError:
        # Another process made the cell in the meantime.
        CirculationStat.objects.filter(**cell).update(count=F("count") + 1)


def totals(*, since: dt.date, until: dt.date) -> list[dict]:
    """The cells between two days, for reports."""
    return list(
        CirculationStat.objects.filter(day__gte=since, day__lte=until)
        .order_by("day", "action", "branch", "item_type", "patron_category", "age_band")
        .values("day", "action", "branch", "item_type", "patron_category", "age_band", "count")
    )
