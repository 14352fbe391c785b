"""Faults: a crash anywhere leaves no half-done change and no lost ledger entry."""

from __future__ import annotations

import pytest

from shelfguard.catalog.models import ItemStatus
from shelfguard.circulation import services, stats
from shelfguard.circulation.models import CirculationStat, Hold, HoldStatus, Loan, LoanOutcome
from shelfguard.ledger.models import Entry

from .conftest import BOTH_DATABASES, DESK, PURPOSE

pytestmark = [BOTH_DATABASES, pytest.mark.usefixtures("library", "at_noon")]


def _crash(*args, **kwargs):
    raise RuntimeError("disk full")


def test_a_crash_mid_checkin_leaves_the_loan_open_and_linked(make_patron, copy, monkeypatch):
    patron, item = make_patron(), copy()
    services.checkout(patron, item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    monkeypatch.setattr(stats, "record", _crash)

    with pytest.raises(RuntimeError):
        services.checkin(item.barcode, branch="EAST", actor=DESK, purpose=PURPOSE)

    loan = Loan.objects.get()
    assert loan.outcome == LoanOutcome.OPEN and loan.patron_id == patron.pk
    item.refresh_from_db()
    assert item.status == ItemStatus.ON_LOAN and item.transit_to is None
    assert not Entry.objects.filter(action="circulation.checkin").exists()


def test_a_crash_while_trapping_a_hold_undoes_the_return_too(make_patron, copy, monkeypatch):
    from shelfguard.circulation import holds

    patron, item = make_patron(), copy()
    services.checkout(patron, item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    services.place_hold(
        make_patron(), record=item.record_id, pickup_branch="MAIN", actor=DESK, purpose=PURPOSE
    )
    monkeypatch.setattr(holds, "entry", _crash)

    with pytest.raises(RuntimeError):
        services.checkin(item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)

    assert Loan.objects.get().patron_id == patron.pk
    assert Hold.objects.get().status == HoldStatus.WAITING
    assert CirculationStat.objects.filter(action="checkin").count() == 0


def test_a_crash_in_a_consent_withdrawal_keeps_the_history_linked(make_patron, copy, monkeypatch):
    from shelfguard.ledger import services as ledger
    from shelfguard.patrons import services as patrons

    patron = make_patron(consents=("reading_history",))
    item = copy()
    services.checkout(patron, item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    services.checkin(item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    real_append = ledger.append

    def fail_on_withdraw(**kwargs):
        if kwargs["action"] == "patron.consent.withdraw":
            raise RuntimeError("disk full")
        return real_append(**kwargs)

    monkeypatch.setattr(ledger, "append", fail_on_withdraw)
    with pytest.raises(RuntimeError):
        patrons.withdraw_consent(patron, "reading_history", actor=DESK)
    # The withdrawal did not happen, so neither did the unlinking.
    assert Loan.objects.get().patron_id == patron.pk


def test_an_unpaid_charge_stops_erasure(make_patron, copy):
    import datetime as dt

    from shelfguard.circulation.models import Charge
    from shelfguard.patrons import services as patrons

    patron = make_patron()
    Charge.objects.create(patron=patron, amount_cents=350, created_on=dt.date(2026, 6, 1))
    with pytest.raises(patrons.ErasureRefused) as caught:
        patrons.erase(patron, actor=DESK, reason="patron request")
    assert caught.value.reasons == ["charges of 3.50 are unpaid"]


def test_cancelling_a_hold_in_transit_sends_the_copy_home(make_patron, copy):
    item = copy(branch="MAIN")
    request = services.place_hold(
        make_patron(), record=item.record_id, pickup_branch="EAST", actor=DESK, purpose=PURPOSE
    )
    assert (
        services.checkin(
            item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE
        ).routing.transit_to
        == "EAST"
    )
    services.cancel_hold(request.pk, actor=DESK, purpose=PURPOSE)
    item.refresh_from_db()
    assert item.status == ItemStatus.IN_TRANSIT and item.transit_to.code == "MAIN"
    assert (
        services.checkin(
            item.barcode, branch="EAST", actor=DESK, purpose=PURPOSE
        ).routing.transit_to
        == "MAIN"
    )


def test_a_missing_trapped_copy_puts_the_hold_back_in_the_queue(make_patron, copy):
    item = copy()
    request = services.place_hold(
        make_patron(), record=item.record_id, pickup_branch="MAIN", actor=DESK, purpose=PURPOSE
    )
    services.checkin(item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    services.set_item_status(
        item.barcode, ItemStatus.MISSING, branch="MAIN", actor=DESK, purpose=PURPOSE
    )
    request.refresh_from_db()
    assert request.status == HoldStatus.WAITING and request.trapped_item_id is None
