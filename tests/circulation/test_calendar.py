"""Branch calendars: due dates never fall on a closed day; time zones and daylight saving."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from shelfguard.circulation import services
from shelfguard.circulation.calendar import Calendar
from shelfguard.core import clock

from .conftest import BOTH_DATABASES, DESK, PURPOSE

LONDON = ZoneInfo("Europe/London")


def lend(patron, item, branch="MAIN"):
    return services.checkout(patron, item.barcode, branch=branch, actor=DESK, purpose=PURPOSE)


# --- the pure calendar --------------------------------------------------------


def test_due_date_skips_closed_days_and_closed_weekdays():
    cal = Calendar(
        tz=LONDON,
        hours={d: (dt.time(9), dt.time(17)) for d in range(6)},  # closed on Sundays
        closed=frozenset({dt.date(2026, 12, 25), dt.date(2026, 12, 26)}),
    )
    assert cal.due_date(dt.date(2026, 12, 4), 21) == dt.date(2026, 12, 28)  # 25 Fri, 26 Sat, 27 Sun
    assert cal.due_date(dt.date(2026, 6, 7), 0) == dt.date(2026, 6, 8)  # Sunday -> Monday


def test_a_calendar_with_no_open_day_says_so():
    cal = Calendar(
        tz=LONDON,
        hours={0: (dt.time(9), dt.time(10))},
        closed=frozenset(dt.date(2026, 1, 5) + dt.timedelta(weeks=w) for w in range(60)),
    )
    with pytest.raises(ValueError, match="no open day"):
        cal.due_date(dt.date(2026, 1, 1), 1)


def test_closing_time_across_the_spring_change():
    cal = Calendar(tz=LONDON, hours={6: (dt.time(10), dt.time(16))})
    # 29 March 2026: clocks go forward at 01:00 UTC; 16:00 BST is 15:00 UTC.
    assert cal.closing(dt.date(2026, 3, 29)) == dt.datetime(2026, 3, 29, 15, tzinfo=dt.UTC)
    # The Sunday before, in GMT, 16:00 is 16:00 UTC.
    assert cal.closing(dt.date(2026, 3, 22)) == dt.datetime(2026, 3, 22, 16, tzinfo=dt.UTC)


def test_closing_time_inside_the_autumn_repeated_hour_is_the_first():
    cal = Calendar(tz=LONDON, hours={6: (dt.time(0, 30), dt.time(1, 30))})
    # 25 October 2026: 01:30 happens twice; the first is BST (00:30 UTC).
    assert cal.closing(dt.date(2026, 10, 25)) == dt.datetime(2026, 10, 25, 0, 30, tzinfo=dt.UTC)


def test_closing_time_in_the_spring_gap_is_a_real_instant_that_day():
    cal = Calendar(tz=LONDON, hours={6: (dt.time(0, 0), dt.time(1, 30))})
    moment = cal.closing(dt.date(2026, 3, 29))  # 01:30 does not exist in London that day
    assert moment.astimezone(LONDON).date() == dt.date(2026, 3, 29)


def test_the_local_date_not_the_utc_date_starts_the_loan():
    cal = Calendar(tz=ZoneInfo("Pacific/Auckland"))
    late_utc = dt.datetime(2026, 6, 10, 20, 0, tzinfo=dt.UTC)  # already 11 June in Auckland
    assert cal.today(late_utc) == dt.date(2026, 6, 11)


# --- through the services ----------------------------------------------------


@BOTH_DATABASES
def test_checkout_moves_the_due_date_past_closed_days(library, make_patron, copy):
    with clock.frozen(dt.datetime(2026, 12, 4, 12, tzinfo=dt.UTC)):
        services.add_closed_day(dt.date(2026, 12, 25), actor=DESK, reason="Holiday")
        services.add_closed_day(dt.date(2026, 12, 26), branch="MAIN", actor=DESK)
        services.add_closed_day(dt.date(2026, 12, 27), branch="EAST", actor=DESK)
        assert lend(make_patron(), copy()).due_on == dt.date(2026, 12, 27)
        assert lend(make_patron(), copy(), branch="EAST").due_on == dt.date(2026, 12, 26)
    assert [d["date"] for d in services.list_closed_days()] == [
        "2026-12-25",
        "2026-12-26",
        "2026-12-27",
    ]


@BOTH_DATABASES
def test_a_daylight_saving_change_does_not_move_the_due_date(library, make_patron, copy):
    services.set_time_zone("MAIN", "Europe/London", actor=DESK)
    for weekday in range(7):
        services.set_hours("MAIN", weekday, dt.time(9), dt.time(17), actor=DESK)
    # 23:30 BST on 7 October is 22:30 UTC; the loan starts on 7 October local time.
    with clock.frozen(dt.datetime(2026, 10, 7, 22, 30, tzinfo=dt.UTC)):
        result = lend(make_patron(), copy())
    assert result.due_on == dt.date(2026, 10, 28)  # 21 days later, after the change on the 25th
    assert result.due_at == dt.datetime(2026, 10, 28, 17, tzinfo=dt.UTC)  # 17:00 GMT


@BOTH_DATABASES
def test_branches_in_different_time_zones(library, make_patron, copy):
    services.set_time_zone("EAST", "Pacific/Auckland", actor=DESK)
    with clock.frozen(dt.datetime(2026, 6, 10, 20, 0, tzinfo=dt.UTC)):
        assert lend(make_patron(), copy()).due_on == dt.date(2026, 7, 1)
        assert lend(make_patron(), copy(branch="EAST"), branch="EAST").due_on == dt.date(2026, 7, 2)


@BOTH_DATABASES
def test_calendar_edits_are_checked(library):
    with pytest.raises(services.CirculationError):
        services.set_time_zone("MAIN", "Mars/Olympus", actor=DESK)
    with pytest.raises(services.CirculationError):
        services.set_hours("MAIN", 7, dt.time(9), dt.time(17), actor=DESK)
    with pytest.raises(services.CirculationError):
        services.set_hours("MAIN", 1, dt.time(17), dt.time(9), actor=DESK)
    services.add_closed_day(dt.date(2026, 1, 1), actor=DESK)
    with pytest.raises(services.CirculationError):
        services.add_closed_day(dt.date(2026, 1, 1), actor=DESK)
    services.remove_closed_day(dt.date(2026, 1, 1), actor=DESK)
    assert services.list_closed_days() == []
