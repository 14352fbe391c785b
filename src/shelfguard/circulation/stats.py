"""De-identified daily statistics, recorded at the moment of the event.

Each event adds one to a cell (day, action, branch, item type, patron
category, age band). Nothing in a cell points back to a patron, a loan or a
time of day, so there is nothing to anonymise later.
"""

from __future__ import annotations

import datetime as dt

from django.db import IntegrityError, connection, transaction
from django.db.models import F

from shelfguard.circulation.models import CirculationStat

#: The cell's key: the unique constraint `circulation_stat_cell_once`.
CELL = ("day", "action", "branch", "item_type", "patron_category", "age_band")

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
    if connection.features.supports_update_conflicts_with_target:
        _upsert(cell)
        return
    if CirculationStat.objects.filter(**cell).update(count=F("count") + 1):
        return
    try:
        with transaction.atomic():
            CirculationStat.objects.create(**cell, count=1)
    except IntegrityError:
        # Another process made the cell in the meantime.
        CirculationStat.objects.filter(**cell).update(count=F("count") + 1)


def _upsert(cell: dict) -> None:
    """One statement: make the cell with a count of one, or add one to it.

    Plain SQL (`INSERT ... ON CONFLICT DO UPDATE`, SQLite ≥ 3.24 and
    PostgreSQL): this runs on every loan and return, and the ORM's
    `bulk_create(update_conflicts=True)` can set a value but not add to it.
    """
    quote = connection.ops.quote_name
    table = quote(CirculationStat._meta.db_table)
    columns = ", ".join(quote(name) for name in CELL)
    count = quote("count")
    params = [connection.ops.adapt_datefield_value(cell["day"])]
    params += [cell[name] for name in CELL[1:]]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} ({columns}, {count}) "
            f"VALUES ({', '.join(['%s'] * len(CELL))}, 1) "
            f"ON CONFLICT ({columns}) DO UPDATE SET {count} = {table}.{count} + 1",
            params,
        )


def totals(*, since: dt.date, until: dt.date) -> list[dict]:
    """The cells between two days, for reports."""
    return list(
        CirculationStat.objects.filter(day__gte=since, day__lte=until)
        .order_by("day", "action", "branch", "item_type", "patron_category", "age_band")
        .values("day", "action", "branch", "item_type", "patron_category", "age_band", "count")
    )
