"""Holds: the queue in order, trapping on return, transit to pickup, collection, expiry, cancel."""

from __future__ import annotations

import datetime as dt

import pytest

from shelfguard.catalog.models import ItemStatus
from shelfguard.circulation import errors as e
from shelfguard.circulation import services
from shelfguard.circulation.models import HoldStatus
from shelfguard.core import clock
from shelfguard.ledger.models import Entry

from .conftest import BOTH_DATABASES, DESK, NOON, PURPOSE

pytestmark = [BOTH_DATABASES, pytest.mark.usefixtures("library", "at_noon")]


def hold(patron, *, record=None, barcode=None, pickup="MAIN"):
    return services.place_hold(
        patron, record=record, barcode=barcode, pickup_branch=pickup, actor=DESK, purpose=PURPOSE
    )


def test_the_queue_is_in_order_of_placing(make_patron, copy, title):
    record = title()
    copy(record)
    placed = []
    for minutes in range(3):
        with clock.frozen(NOON + dt.timedelta(minutes=minutes)):
            placed.append(
                hold(make_patron(), record=record.pk, pickup=("MAIN", "EAST")[minutes % 2])
            )

    queue = services.hold_queue(record)

    assert [row["hold"] for row in queue] == [h.pk for h in placed]
    assert [row["position"] for row in queue] == [1, 2, 3]
    assert "patron" not in queue[0]


def test_return_traps_the_copy_for_the_first_hold_and_notifies(make_patron, copy, title):
    record = title()
    item = copy(record)
    services.checkout(make_patron(), item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    first = hold(make_patron(consents=("email_notices",)), record=record.pk)
    with clock.frozen(NOON + dt.timedelta(minutes=1)):
        hold(make_patron(), record=record.pk)

    result = services.checkin(item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)

    assert result.routing.status == ItemStatus.ON_HOLD_SHELF
    assert result.routing.hold_id == first.pk
    first.refresh_from_db()
    assert first.status == HoldStatus.READY and first.trapped_item_id == item.pk
    assert first.expires_on == dt.date(2026, 6, 17)
    from shelfguard.circulation.models import Notice

    assert Notice.objects.get().patron_id == first.patron_id
    assert Entry.objects.get(action="circulation.hold_trap").patron_id == first.patron_id


def test_the_copy_goes_in_transit_to_the_pickup_branch(make_patron, copy, title):
    record = title()
    item = copy(record, branch="MAIN")
    services.checkout(make_patron(), item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    request = hold(make_patron(), record=record.pk, pickup="EAST")

    result = services.checkin(item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)

    assert result.routing.status == ItemStatus.IN_TRANSIT and result.routing.transit_to == "EAST"
    request.refresh_from_db()
    assert request.status == HoldStatus.IN_TRANSIT

    arrived = services.checkin(item.barcode, branch="EAST", actor=DESK, purpose=PURPOSE)
    assert arrived.routing.status == ItemStatus.ON_HOLD_SHELF
    request.refresh_from_db()
    assert request.status == HoldStatus.READY


def test_only_the_hold_patron_can_collect_and_the_hold_then_forgets_them(make_patron, copy, title):
    record = title()
    item = copy(record)
    waiting = make_patron()
    request = hold(waiting, record=record.pk)
    services.checkin(item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)  # scanned from shelf

    with pytest.raises(e.CirculationError) as caught:
        services.checkout(make_patron(), item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    assert caught.value.code == e.ON_HOLD_FOR_OTHER

    result = services.checkout(waiting, item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    assert result.hold_filled
    request.refresh_from_db()
    assert request.status == HoldStatus.FILLED and request.patron_id is None


def test_item_level_hold_blocks_other_borrowers_of_that_copy(make_patron, copy, title):
    record = title()
    item, other_copy = copy(record), copy(record)
    hold(make_patron(), barcode=item.barcode)
    with pytest.raises(e.CirculationError) as caught:
        services.checkout(make_patron(), item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    assert caught.value.code == e.ON_HOLD_FOR_OTHER
    services.checkout(make_patron(), other_copy.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)


def test_item_level_hold_is_filled_only_by_that_copy(make_patron, copy, title):
    record = title()
    wanted, other = copy(record), copy(record)
    request = hold(make_patron(), barcode=wanted.barcode)
    assert (
        services.checkin(other.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE).routing.status
        == ItemStatus.AVAILABLE
    )
    assert (
        services.checkin(wanted.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE).routing.hold_id
        == request.pk
    )


def test_a_title_hold_is_filled_when_the_patron_borrows_any_copy(make_patron, copy, title):
    record = title()
    item = copy(record)
    patron = make_patron()
    request = hold(patron, record=record.pk)
    assert services.checkout(
        patron, item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE
    ).hold_filled
    request.refresh_from_db()
    assert request.status == HoldStatus.FILLED and request.patron_id is None


def test_cancel_drops_the_link_and_passes_the_copy_on(make_patron, copy, title):
    record = title()
    item = copy(record)
    first = hold(make_patron(), record=record.pk)
    with clock.frozen(NOON + dt.timedelta(minutes=1)):
        second = hold(make_patron(), record=record.pk)
    services.checkin(item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)

    services.cancel_hold(first.pk, actor=DESK, purpose=PURPOSE)

    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == HoldStatus.CANCELLED and first.patron_id is None
    assert second.status == HoldStatus.READY and second.trapped_item_id == item.pk
    with pytest.raises(e.CirculationError):
        services.cancel_hold(first.pk, actor=DESK, purpose=PURPOSE)


def test_cancel_someone_elses_hold_is_refused(make_patron, copy):
    request = hold(make_patron(), record=copy().record_id)
    with pytest.raises(e.CirculationError) as caught:
        services.cancel_hold(request.pk, patron=make_patron(), actor=DESK, purpose=PURPOSE)
    assert caught.value.code == e.NOT_YOURS


def test_uncollected_holds_expire_and_the_copy_goes_home(make_patron, copy, title):
    record = title()
    item = copy(record)
    request = hold(make_patron(), record=record.pk)
    services.checkin(item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)

    with clock.frozen(NOON + dt.timedelta(days=7)):
        assert services.expire_holds() == 0
    with clock.frozen(NOON + dt.timedelta(days=8)):
        assert services.expire_holds() == 1

    request.refresh_from_db()
    item.refresh_from_db()
    assert request.status == HoldStatus.EXPIRED and request.patron_id is None
    assert item.status == ItemStatus.AVAILABLE


def test_place_hold_refusals(make_patron, copy, title):
    patron = make_patron()
    record = title()
    with pytest.raises(e.CirculationError) as caught:
        hold(patron, record=record.pk)  # no copies
    assert caught.value.code == e.ITEM_UNAVAILABLE
    copy(record)
    hold(patron, record=record.pk)
    with pytest.raises(e.CirculationError) as caught:
        hold(patron, record=record.pk)
    assert caught.value.code == e.ALREADY_HELD
    with pytest.raises(e.CirculationError) as caught:
        hold(patron, record=999999)
    assert caught.value.code == e.UNKNOWN_RECORD
    with pytest.raises(e.CirculationError) as caught:
        services.place_hold(patron, pickup_branch="MAIN", actor=DESK, purpose=PURPOSE)
    assert caught.value.code == e.INVALID


def test_holds_not_allowed_by_the_rules(make_patron, copy, title):
    record = title()
    copy(record, item_type="dvd")
    services.set_policy(item_type="dvd", actor=DESK, holds_allowed=False)
    with pytest.raises(e.CirculationError) as caught:
        hold(make_patron(), record=record.pk)
    assert caught.value.code == e.HOLDS_NOT_ALLOWED


def test_holds_of_a_patron_show_positions(make_patron, copy, title):
    record = title()
    copy(record)
    hold(make_patron(), record=record.pk)
    patron = make_patron()
    with clock.frozen(NOON + dt.timedelta(minutes=1)):
        hold(patron, record=record.pk)
    rows = services.holds_of(patron, actor=DESK, purpose=PURPOSE)
    assert [r["position"] for r in rows] == [2]
    assert Entry.objects.filter(action="circulation.hold_read", patron_id=patron.pk).exists()


def test_an_expired_hold_passes_the_copy_to_the_next_in_the_queue(make_patron, copy, title):
    record = title()
    item = copy(record)
    first = hold(make_patron(), record=record.pk)
    with clock.frozen(NOON + dt.timedelta(minutes=1)):
        second = hold(make_patron(), record=record.pk)
    services.checkin(item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    with clock.frozen(NOON + dt.timedelta(days=8)):
        assert services.expire_holds() == 1
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == HoldStatus.EXPIRED
    assert second.status == HoldStatus.READY and second.expires_on == dt.date(2026, 6, 25)
