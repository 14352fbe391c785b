"""SIP2 item messages: checkout, checkin, renew, renew all, item information, holds."""

from __future__ import annotations

import datetime as dt

import pytest

from shelfguard.catalog.models import ItemStatus
from shelfguard.circulation import services as circulation
from shelfguard.circulation import stats
from shelfguard.circulation.models import Hold, HoldStatus, Loan, LoanOutcome
from shelfguard.core import clock
from shelfguard.ledger.models import Entry
from shelfguard.sip2 import handlers, protocol
from tests.circulation.conftest import DESK, NOON, PURPOSE
from tests.sip2.handler_support import (
    BOTH_DATABASES,
    LOGIN,
    PIN,
    answer,
    f,
    frame,
    services_card,
    terminal_entries,
)

pytestmark = [BOTH_DATABASES, pytest.mark.usefixtures("library", "at_noon")]


def send(conn, code, card, barcode, pin=PIN, extra=(), **fixed):
    fields = [("AO", "MAIN"), ("AA", card), ("AB", barcode)]
    if pin is not None:
        fields.append(("AD", pin))
    return answer(conn, frame(code, [*fields, *extra], **fixed))


def test_checkout_lends_the_item_as_the_terminal(conn, patron, copy):
    item = copy()
    reply = send(conn, "11", services_card(patron), item.barcode)

    assert reply.code == "12" and reply.fixed["ok"] == "1"
    assert reply.fixed["desensitize"] == "Y" and reply.fixed["renewal_ok"] == "N"
    loan = Loan.objects.get(item=item, outcome=LoanOutcome.OPEN)
    assert loan.patron_id == patron.pk and loan.branch.code == "MAIN"
    assert f(reply, "AB") == item.barcode and f(reply, "AJ") == item.record.title
    assert protocol.parse_date(f(reply, "AH")).date() >= loan.due_on
    entry = terminal_entries("circulation.checkout")[-1]
    assert (entry.actor_id, entry.channel, entry.patron_id) == (LOGIN, "sip2", patron.pk)
    assert entry.detail["branch"] == "MAIN"


def test_checkout_of_an_unknown_item_is_refused_clearly(conn, patron):
    reply = send(conn, "11", services_card(patron), "39999999999")
    assert reply.fixed["ok"] == "0" and "not recognised" in f(reply, "AF")
    assert not Loan.objects.exists()


def test_checkout_with_a_wrong_pin_lends_nothing(conn, patron, copy):
    reply = send(conn, "11", services_card(patron), copy().barcode, pin="0000")
    assert reply.fixed["ok"] == "0" and not Loan.objects.exists()
    assert not terminal_entries("circulation.checkout")


def test_a_blocked_patron_cannot_borrow(conn, patron, copy):
    circulation.block_patron(patron, "synthetic test block", actor=DESK, purpose=PURPOSE)
    reply = send(conn, "11", services_card(patron), copy().barcode)
    assert reply.fixed["ok"] == "0" and "cannot be used to borrow" in f(reply, "AF")


def test_an_item_kept_for_another_patron_is_refused(conn, patron, make_patron, copy):
    item = copy()
    circulation.place_hold(
        make_patron(), pickup_branch="MAIN", barcode=item.barcode, actor=DESK, purpose=PURPOSE
    )
    circulation.checkin(item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    reply = send(conn, "11", services_card(patron), item.barcode)
    assert reply.fixed["ok"] == "0" and "another reader" in f(reply, "AF")


def test_a_checkout_that_fails_midway_leaves_no_loan_and_no_entry(conn, patron, copy, monkeypatch):
    item = copy()

    def crash(*args, **kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr(stats, "record", crash)
    reply = handlers.handle(
        conn,
        frame(
            "11", [("AO", "MAIN"), ("AA", services_card(patron)), ("AB", item.barcode), ("AD", PIN)]
        ),
    )
    assert reply.close and reply.data is None
    assert not Loan.objects.exists()
    assert not Entry.objects.filter(action="circulation.checkout").exists()
    item.refresh_from_db()
    assert item.status == ItemStatus.AVAILABLE


def test_checking_out_an_item_the_patron_has_renews_it_when_the_machine_may(conn, patron, copy):
    item, card = copy(), services_card(patron)
    send(conn, "11", card, item.barcode)
    refused = send(conn, "11", card, item.barcode)
    assert refused.fixed["ok"] == "0" and "renew" in f(refused, "AF")
    renewed = send(conn, "11", card, item.barcode, sc_renewal_policy="Y")
    assert renewed.fixed["ok"] == "1" and renewed.fixed["renewal_ok"] == "Y"
    assert Loan.objects.get().renewals == 1


def test_an_offline_checkout_is_dated_when_the_machine_did_it(conn, patron, copy):
    item, earlier = copy(), NOON - dt.timedelta(days=2)
    reply = send(
        conn,
        "11",
        services_card(patron),
        item.barcode,
        no_block="Y",
        transaction_date=protocol.format_date(earlier),
    )
    assert reply.fixed["ok"] == "1"
    assert Loan.objects.get().loaned_on == earlier.date()
    assert terminal_entries("circulation.checkout")[-1].detail["on"] == earlier.date().isoformat()


def test_checkin_takes_the_item_back_and_says_where_it_goes(conn, patron, make_patron, copy):
    item, plain = copy(), copy()
    for lent in (item, plain):
        circulation.checkout(patron, lent.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    circulation.place_hold(
        make_patron(), pickup_branch="EAST", record=item.record_id, actor=DESK, purpose=PURPOSE
    )

    back = answer(conn, frame("09", [("AO", "MAIN"), ("AB", plain.barcode)]))
    assert back.code == "10" and back.fixed["ok"] == "1" and back.fixed["alert"] == "N"
    assert f(back, "AQ") == "MAIN"
    travel = answer(conn, frame("09", [("AO", "MAIN"), ("AB", item.barcode)]))
    assert travel.fixed["alert"] == "Y"
    assert (f(travel, "CT"), f(travel, "CV"), f(travel, "CL")) == ("EAST", "02", "EAST")
    assert f(travel, "AA") is None  # never who the hold is for
    assert not Loan.objects.filter(outcome=LoanOutcome.OPEN).exists()
    entries = terminal_entries("circulation.checkin")
    assert [e.patron_id for e in entries] == [patron.pk, patron.pk]


def test_checkin_of_an_unknown_item_keeps_the_tag_on(conn):
    reply = answer(conn, frame("09", [("AO", "MAIN"), ("AB", "39999999999")]))
    assert reply.fixed["ok"] == "0" and reply.fixed["resensitize"] == "Y"


def test_renew_and_its_refusal_when_someone_waits(conn, patron, make_patron, copy):
    item, card = copy(), services_card(patron)
    circulation.checkout(patron, item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    renewed = send(conn, "29", card, item.barcode)
    assert renewed.code == "30" and renewed.fixed["ok"] == "1"
    assert Loan.objects.get().renewals == 1

    circulation.place_hold(
        make_patron(), pickup_branch="MAIN", record=item.record_id, actor=DESK, purpose=PURPOSE
    )
    refused = send(conn, "29", card, item.barcode)
    assert refused.fixed["ok"] == "0" and "waiting" in f(refused, "AF")


def test_renew_all(conn, patron, make_patron, copy):
    free, wanted, card = copy(), copy(), services_card(patron)
    for item in (free, wanted):
        circulation.checkout(patron, item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    circulation.place_hold(
        make_patron(), pickup_branch="MAIN", record=wanted.record_id, actor=DESK, purpose=PURPOSE
    )
    reply = answer(conn, frame("65", [("AO", "MAIN"), ("AA", card), ("AD", PIN)]))
    assert reply.code == "66" and reply.fixed["ok"] == "1"
    assert (reply.fixed["renewed_count"], reply.fixed["unrenewed_count"]) == ("0001", "0001")
    assert protocol.fields(reply, "BM") == [free.barcode]
    assert protocol.fields(reply, "BN") == [wanted.barcode]


def test_item_information(conn, patron, copy):
    item = copy()
    available = answer(conn, frame("17", [("AO", "MAIN"), ("AB", item.barcode)]))
    assert available.code == "18" and available.fixed["circulation_status"] == "03"
    assert f(available, "AJ") == item.record.title and f(available, "AH") is None

    circulation.checkout(patron, item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    lent = answer(conn, frame("17", [("AO", "MAIN"), ("AB", item.barcode)]))
    assert lent.fixed["circulation_status"] == "04" and f(lent, "AH")
    assert f(lent, "AA") is None

    unknown = answer(conn, frame("17", [("AO", "MAIN"), ("AB", "39999999999")]))
    assert "not recognised" in f(unknown, "AF")


def test_item_status_update_is_not_supported(conn, copy):
    reply = answer(conn, frame("19", [("AO", "MAIN"), ("AB", copy().barcode), ("CH", "x")]))
    assert reply.code == "20" and reply.fixed["item_properties_ok"] == "0"
    assert "not supported" in f(reply, "AF")


def test_holds_are_placed_and_cancelled(conn, patron, make_patron, copy):
    item, card = copy(), services_card(patron)
    circulation.checkout(make_patron(), item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)

    placed = send(conn, "15", card, item.barcode, hold_mode="+", extra=[("BS", "EAST")])
    assert placed.code == "16" and placed.fixed["ok"] == "1"
    assert f(placed, "BR") == "1" and f(placed, "BS") == "EAST"
    hold = Hold.objects.get()
    assert (
        hold.patron_id == patron.pk and hold.item_id is None and hold.pickup_branch.code == "EAST"
    )
    again = send(conn, "15", card, item.barcode, hold_mode="+")
    assert again.fixed["ok"] == "0" and "already" in f(again, "AF")

    cancelled = send(conn, "15", card, item.barcode, hold_mode="-")
    assert cancelled.fixed["ok"] == "1"
    hold.refresh_from_db()
    assert hold.status == HoldStatus.CANCELLED
    assert [e.patron_id for e in terminal_entries("circulation.hold_cancel")] == [patron.pk]
    none_left = send(conn, "15", card, item.barcode, hold_mode="-")
    assert none_left.fixed["ok"] == "0"


def test_cancelling_a_checkout_returns_the_item(conn, patron, copy):
    item, card = copy(), services_card(patron)
    send(conn, "11", card, item.barcode)
    reply = send(conn, "11", card, item.barcode, extra=[("BI", "Y")])
    assert reply.fixed["ok"] == "1" and reply.fixed["desensitize"] == "N"
    assert not Loan.objects.filter(outcome=LoanOutcome.OPEN).exists()


def test_due_dates_use_the_clock(conn, patron, copy):
    item = copy()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(clock, "_frozen", NOON + dt.timedelta(days=1))
        send(conn, "11", services_card(patron), item.barcode)
    assert Loan.objects.get().loaned_on == (NOON + dt.timedelta(days=1)).date()
