"""Renewal: from today, up to the limit, never while another patron waits."""

from __future__ import annotations

import datetime as dt

import pytest

from shelfguard.circulation import errors as e
from shelfguard.circulation import services
from shelfguard.core import clock
from shelfguard.ledger.models import Entry

from .conftest import BOTH_DATABASES, DESK, NOON, PURPOSE

pytestmark = [BOTH_DATABASES, pytest.mark.usefixtures("library", "at_noon")]


def test_renew_counts_from_today(make_patron, copy):
    patron, item = make_patron(), copy()
    services.checkout(patron, item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    with clock.frozen(NOON + dt.timedelta(days=10)):
        loan = services.renew(item.barcode, actor=DESK, purpose=PURPOSE)
    assert loan.due_on == dt.date(2026, 7, 11) and loan.renewals == 1
    assert Entry.objects.get(action="circulation.renew").patron_id == patron.pk


def test_renewal_limit(make_patron, copy):
    services.set_policy(actor=DESK, renewals=1)
    item = copy()
    services.checkout(make_patron(), item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    services.renew(item.barcode, actor=DESK, purpose=PURPOSE)
    with pytest.raises(e.CirculationError) as caught:
        services.renew(item.barcode, actor=DESK, purpose=PURPOSE)
    assert caught.value.code == e.RENEWAL_LIMIT


def test_renewal_refused_while_another_patron_holds_the_title(make_patron, copy):
    item = copy()
    borrower = make_patron()
    services.checkout(borrower, item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    services.place_hold(
        make_patron(), record=item.record_id, pickup_branch="MAIN", actor=DESK, purpose=PURPOSE
    )
    with pytest.raises(e.CirculationError) as caught:
        services.renew(item.barcode, actor=DESK, purpose=PURPOSE)
    assert caught.value.code == e.HOLD_PENDING


def test_renewing_an_item_not_on_loan(copy):
    with pytest.raises(e.CirculationError) as caught:
        services.renew(copy().barcode, actor=DESK, purpose=PURPOSE)
    assert caught.value.code == e.NOT_ON_LOAN


def test_renewing_someone_elses_loan(make_patron, copy):
    item = copy()
    services.checkout(make_patron(), item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    with pytest.raises(e.CirculationError) as caught:
        services.renew(item.barcode, patron=make_patron(), actor=DESK, purpose=PURPOSE)
    assert caught.value.code == e.NOT_YOURS


def test_a_blocked_patron_cannot_renew(make_patron, copy):
    patron, item = make_patron(), copy()
    services.checkout(patron, item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    services.block_patron(patron, "card reported stolen", actor=DESK, purpose=PURPOSE)
    with pytest.raises(e.CirculationError) as caught:
        services.renew(item.barcode, actor=DESK, purpose=PURPOSE)
    assert caught.value.code == e.PATRON_BLOCKED
