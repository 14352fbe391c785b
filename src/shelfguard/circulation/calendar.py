"""Branch calendars: time zone, weekly opening hours, closed days; due dates land on open days.

Due dates are *local dates* of the branch, computed by adding whole days to
the local date of the loan (never by adding 24-hour periods to an instant),
so a daylight-saving change cannot move a due date or make it fall at a
strange hour. The moment a loan is due is the branch's closing time on that
date (or the end of the day when the branch keeps no hours), converted to
UTC with the branch's time zone on that date.

A branch without a `BranchCalendar` row or with an empty time zone uses the
library's `TIME_ZONE`. A branch without any `OpeningHours` rows is open
every day; once it has some, a weekday without a row is closed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.db import connection

from shelfguard.core import clock
from shelfguard.core.models import Branch

#: How far ahead closed days are read when looking for the next open day.
HORIZON_DAYS = 400


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name or settings.TIME_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"Unknown time zone {name!r}; use a name such as Europe/London.") from None


@dataclass
class Calendar:
    tz: ZoneInfo
    #: weekday -> (opens, closes), local time; empty means open every day.
    hours: dict[int, tuple[dt.time, dt.time]] = field(default_factory=dict)
    closed: frozenset[dt.date] = frozenset()
    #: Closed days are known up to this date (inclusive).
    known_until: dt.date = dt.date.max

    def today(self, moment: dt.datetime | None = None) -> dt.date:
        """The branch's local date at `moment` (default: now, from the one clock)."""
        return (moment or clock.now()).astimezone(self.tz).date()

    def is_open(self, day: dt.date) -> bool:
        if day in self.closed:
            return False
        return not self.hours or day.weekday() in self.hours

    def next_open_day(self, day: dt.date) -> dt.date:
        """`day` itself when open, else the first open day after it."""
        probe = day
        for _ in range(HORIZON_DAYS):
            if self.is_open(probe):
                return probe
            probe += dt.timedelta(days=1)
        raise ValueError(
            f"The branch calendar has no open day within {HORIZON_DAYS} days of {day}; "
            "check its opening hours and closed days."
        )

    def due_date(self, start: dt.date, days: int) -> dt.date:
        """`days` calendar days after `start`, moved forward to an open day."""
        return self.next_open_day(start + dt.timedelta(days=days))

    def closing(self, day: dt.date) -> dt.datetime:
        """The moment (UTC) the branch closes on `day`; the end of the day without hours."""
        hours = self.hours.get(day.weekday())
        local_time = hours[1] if hours else dt.time(23, 59, 59)
        # fold=0: on a repeated hour (autumn) take the first; a time in the
        # spring gap is read with the offset before the change, which lands
        # just after it. Either way it is a real instant on that local date.
        local = dt.datetime.combine(day, local_time, tzinfo=self.tz)
        return local.astimezone(dt.UTC)


def _as_time(value) -> dt.time:
    return dt.time.fromisoformat(value) if isinstance(value, str) else value


def _as_date(value) -> dt.date:
    return dt.date.fromisoformat(value) if isinstance(value, str) else value


def calendar_for(branch: Branch, *, start: dt.date | None = None) -> Calendar:
    """The branch's calendar, with closed days from `start` (default: today) for a year ahead.

    One query for hours and closed days together; the time zone comes with
    the branch from `common.branch_of` (or one more query without it).
    """
    from shelfguard.circulation.models import BranchCalendar, ClosedDay, OpeningHours

    tz_name = getattr(branch, "circ_time_zone", None)
    if tz_name is None:
        tz_name = (
            BranchCalendar.objects.filter(branch_id=branch.pk)
            .values_list("time_zone", flat=True)
            .first()
            or ""
        )
    tz = zone(tz_name)
    first = start or clock.now().astimezone(tz).date()
    last = first + dt.timedelta(days=HORIZON_DAYS)
    ops = connection.ops
    hours_table = ops.quote_name(OpeningHours._meta.db_table)
    closed_table = ops.quote_name(ClosedDay._meta.db_table)
    with connection.cursor() as cursor:
        # Plain SQL: two small reads in one round trip, on every loan.
        date = ops.quote_name("date")
        cursor.execute(
            f"SELECT weekday, opens, closes, NULL FROM {hours_table} WHERE branch_id = %s "
            f"UNION ALL SELECT NULL, NULL, NULL, {date} FROM {closed_table} "
            f"WHERE (branch_id = %s OR branch_id IS NULL) AND {date} >= %s AND {date} <= %s",
            [
                branch.pk,
                branch.pk,
                ops.adapt_datefield_value(first),
                ops.adapt_datefield_value(last),
            ],
        )
        rows = cursor.fetchall()
    hours = {
        weekday: (_as_time(opens), _as_time(closes))
        for weekday, opens, closes, day in rows
        if day is None
    }
    closed = frozenset(_as_date(day) for _w, _o, _c, day in rows if day is not None)
    return Calendar(tz=tz, hours=hours, closed=closed, known_until=last)
