"""Checkin at any branch: home copies go back on the shelf, others go in transit."""

from __future__ import annotations

import datetime as dt

import pytest

from shelfguard.catalog.models import ItemStatus
from shelfguard.circulation import errors as e
from shelfguard.circulation import services
from shelfguard.circulation.models import Charge, Loan, LoanOutcome
from shelfguard.core import clock
from shelfguard.ledger.models import Entry

from .conftest import BOTH_DATABASES, DESK, NOON, PURPOSE

pytestmark = [BOTH_DATABASES, pytest.mark.usefixtures("library", "at_noon")]


def lend(patron, item, branch="MAIN"):
    return services.checkout(patron, item.barcode, branch=branch, actor=DESK, purpose=PURPOSE)


def test_checkin_at_home_branch_makes_the_item_available(make_patron, copy):
    patron, item = make_patron(), copy()
    lend(patron, item)

    result = services.checkin(item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)

    assert result.was_on_loan and result.routing.status == ItemStatus.AVAILABLE
    item.refresh_from_db()
    assert item.status == ItemStatus.AVAILABLE and item.transit_to is None
    loan = Loan.objects.get()
    assert loan.outcome == LoanOutcome.RETURNED and loan.ended_on == dt.date(2026, 6, 10)
    entry = Entry.objects.get(action="circulation.checkin")
    assert entry.patron_id == patron.pk and entry.detail == {"branch": "MAIN", "on_loan": True}


def test_checkin_at_another_branch_sends_the_item_home(make_patron, copy):
    item = copy(branch="MAIN")
    lend(make_patron(), item)

    result = services.checkin(item.barcode, branch="EAST", actor=DESK, purpose=PURPOSE)

    assert result.routing.status == ItemStatus.IN_TRANSIT and result.routing.transit_to == "MAIN"
    item.refresh_from_db()
    assert item.status == ItemStatus.IN_TRANSIT and item.transit_to.code == "MAIN"
    assert Loan.objects.get().return_branch.code == "EAST"

    arrived = services.checkin(item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    assert not arrived.was_on_loan and arrived.routing.status == ItemStatus.AVAILABLE
    assert Entry.objects.filter(action="circulation.checkin").last().patron_id is None


def test_checkin_of_an_unknown_barcode(library):
    with pytest.raises(e.CirculationError) as caught:
        services.checkin("NOPE", branch="MAIN", actor=DESK, purpose=PURPOSE)
    assert caught.value.code == e.UNKNOWN_ITEM


def test_a_found_lost_item_is_available_again(copy):
    item = copy(status=ItemStatus.LOST)
    result = services.checkin(item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    assert result.routing.status == ItemStatus.AVAILABLE


def test_fine_free_by_default_even_when_late(make_patron, copy):
    item = copy()
    lend(make_patron(), item)
    with clock.frozen(NOON + dt.timedelta(days=30)):
        result = services.checkin(item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    assert result.days_late == 9 and result.charge_cents == 0
    assert not Charge.objects.exists()
    assert Loan.objects.get().patron_id is None


def test_charges_when_the_rule_says_so_keep_the_link_until_settled(make_patron, copy):
    services.set_policy(
        actor=DESK, charges_apply=True, daily_charge_cents=20, grace_days=2, max_charge_cents=500
    )
    patron, item = make_patron(), copy()
    lend(patron, item)
    with clock.frozen(NOON + dt.timedelta(days=30)):
        result = services.checkin(item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    assert result.charge_cents == 9 * 20 and result.kept_link
    charge = Charge.objects.get()
    assert Loan.objects.get().patron_id == patron.pk

    services.settle_charge(charge.pk, actor=DESK, purpose=PURPOSE)

    assert Loan.objects.get().patron_id is None
    charge.refresh_from_db()
    assert charge.loan_id is None and charge.settled_on is not None


def test_no_charge_within_the_grace_days(make_patron, copy):
    services.set_policy(actor=DESK, charges_apply=True, daily_charge_cents=20, grace_days=3)
    item = copy()
    lend(make_patron(), item)
    with clock.frozen(NOON + dt.timedelta(days=24)):
        result = services.checkin(item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    assert result.days_late == 3 and result.charge_cents == 0


def test_claims_returned_ends_the_loan_and_marks_the_item_missing(make_patron, copy):
    patron, item = make_patron(), copy()
    lend(patron, item)
    services.claims_returned(item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    loan = Loan.objects.get()
    assert loan.outcome == LoanOutcome.CLAIMS_RETURNED and loan.patron_id is None
    item.refresh_from_db()
    assert item.status == ItemStatus.MISSING
    with pytest.raises(e.CirculationError) as caught:
        services.claims_returned(item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    assert caught.value.code == e.NOT_ON_LOAN


def test_marking_a_lent_item_lost_ends_the_loan(make_patron, copy):
    item = copy()
    lend(make_patron(), item)
    services.set_item_status(
        item.barcode, ItemStatus.LOST, branch="MAIN", actor=DESK, purpose=PURPOSE
    )
    loan = Loan.objects.get()
    assert loan.outcome == LoanOutcome.LOST and loan.patron_id is None
    item.refresh_from_db()
    assert item.status == ItemStatus.LOST


def test_damaged_needs_a_checkin_first_and_stays_damaged_after(make_patron, copy):
    item = copy()
    lend(make_patron(), item)
    with pytest.raises(e.CirculationError):
        services.set_item_status(
            item.barcode, ItemStatus.DAMAGED, branch="MAIN", actor=DESK, purpose=PURPOSE
        )
    services.checkin(item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    services.set_item_status(
        item.barcode, ItemStatus.DAMAGED, branch="MAIN", actor=DESK, purpose=PURPOSE
    )
    result = services.checkin(item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    assert result.routing.status == ItemStatus.DAMAGED


def test_unknown_status_is_refused(copy):
    with pytest.raises(e.CirculationError):
        services.set_item_status(
            copy().barcode, "on_loan", branch="MAIN", actor=DESK, purpose=PURPOSE
        )
