"""SIP2 patron messages: status, information, PINs and lockout, names, fees, blocks, sessions."""

from __future__ import annotations

import datetime as dt

import pytest

from shelfguard.circulation import services as circulation
from shelfguard.circulation.models import Charge, PatronBlock
from shelfguard.core import clock
from shelfguard.ledger.models import Entry
from shelfguard.portal.credentials import account_key as portal_account_key
from shelfguard.sip2 import handlers, protocol
from shelfguard.sip2.handlers_common import account_key
from tests.circulation.conftest import DESK, NOON, PURPOSE
from tests.sip2.handler_support import (
    BOTH_DATABASES,
    LOGIN,
    PIN,
    answer,
    f,
    frame,
    login_frame,
    new_conn,
    services_card,
    terminal_entries,
)

pytestmark = [BOTH_DATABASES, pytest.mark.usefixtures("library", "at_noon")]


def ask(conn, code, card, pin=PIN, **fixed):
    fields = [("AO", "MAIN"), ("AA", card)]
    if pin is not None:
        fields.append(("AD", pin))
    return answer(conn, frame(code, fields, **fixed))


def test_patron_status_shows_the_first_name_and_records_the_read(conn, patron):
    reply = ask(conn, "23", services_card(patron))

    assert reply.code == "24"
    assert f(reply, "BL") == "Y" and f(reply, "CQ") == "Y"
    assert f(reply, "AE") == "Testa"
    assert reply.fixed["patron_status"] == " " * 14
    for absent in ("BD", "BE", "BF"):
        assert f(reply, absent) is None
    reveal = Entry.objects.filter(action="patron.reveal", actor_kind="terminal").get()
    assert reveal.actor_id == LOGIN and reveal.channel == "sip2"
    assert reveal.patron_id == patron.pk and reveal.fields == ["name"]
    assert reveal.purpose == "self-check"


@pytest.mark.parametrize(("policy", "shown"), [("none", "Patron"), ("full", "Testa Readwell")])
def test_the_terminal_name_policy_decides_what_is_shown(add_terminal, patron, policy, shown):
    add_terminal("sc-names", name_display=policy)
    connection = new_conn()
    answer(connection, login_frame("sc-names"))
    reply = ask(connection, "23", services_card(patron))
    assert f(reply, "AE") == shown
    reveals = Entry.objects.filter(action="patron.reveal", actor_kind="terminal").count()
    assert reveals == (0 if policy == "none" else 1)


@pytest.mark.parametrize("pin", ["0000", None, ""])
def test_a_wrong_or_missing_pin_gets_no_data(conn, patron, pin):
    reply = ask(conn, "63", services_card(patron), pin=pin, summary="  Y       ")

    assert reply.code == "64"
    assert f(reply, "CQ") == "N" and f(reply, "BL") == "N"
    assert f(reply, "AE") == "" and f(reply, "AU") is None
    assert reply.fixed["charged_items_count"] == "0000"
    assert not Entry.objects.filter(action="patron.reveal", actor_kind="terminal").exists()


def test_an_unknown_card_looks_like_a_wrong_pin(conn, patron):
    known = ask(conn, "23", services_card(patron), pin="0000")
    unknown = ask(conn, "23", "29999999999", pin="0000")
    assert (f(known, "BL"), f(known, "CQ")) == (f(unknown, "BL"), f(unknown, "CQ")) == ("N", "N")
    assert f(known, "AF") == f(unknown, "AF")
    failures = terminal_entries("sip2.pin_failure")
    assert [e.patron_id for e in failures] == [patron.pk, None]


def test_pins_share_the_portal_lockout_key(patron):
    assert account_key(patron, "") == portal_account_key(patron, "")
    assert account_key(None, "29000000001") == portal_account_key(None, "29000000001")


def test_repeated_wrong_pins_lock_the_card(conn, patron, settings):
    settings.CONFIG = {**settings.CONFIG, "accounts": {"lockout_after": 5, "lockout_minutes": 30}}
    card = services_card(patron)
    for n in range(5):
        # Past each back-off delay, so that every attempt is counted.
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr(clock, "_frozen", NOON + dt.timedelta(minutes=n))
            ask(conn, "23", card, pin="0000")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(clock, "_frozen", NOON + dt.timedelta(minutes=10))
        locked = ask(conn, "23", card, pin=PIN)
    assert f(locked, "CQ") == "N" and "locked" in f(locked, "AF")
    lockout = Entry.objects.get(action="accounts.lockout")
    assert lockout.channel == "sip2" and lockout.detail["subject"] == f"patron:{patron.pk}"


def test_patron_information_lists_only_loans_out_now_and_holds(conn, patron, copy):
    out, other, held, waiting = copy(), copy(), copy(), copy()
    for item in (out, other):
        circulation.checkout(patron, item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    circulation.checkin(other.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)  # history
    circulation.place_hold(
        patron, pickup_branch="MAIN", record=held.record_id, actor=DESK, purpose=PURPOSE
    )
    circulation.checkin(held.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)  # now ready
    circulation.checkout(
        other_patron(), waiting.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE
    )
    circulation.place_hold(
        patron, pickup_branch="MAIN", record=waiting.record_id, actor=DESK, purpose=PURPOSE
    )
    card = services_card(patron)

    charged = ask(conn, "63", card, summary="  Y       ")
    assert protocol.fields(charged, "AU") == [out.barcode]
    assert charged.fixed["charged_items_count"] == "0001"
    assert charged.fixed["hold_items_count"] == "0001"
    assert charged.fixed["unavailable_holds_count"] == "0001"
    holds = ask(conn, "63", card, summary="Y         ")
    assert protocol.fields(holds, "AS") == [held.record.title]
    unavailable = ask(conn, "63", card, summary="     Y    ")
    assert protocol.fields(unavailable, "CD") == [waiting.record.title]
    assert f(unavailable, "AV") is None and f(unavailable, "BV") is None

    entries = terminal_entries("circulation.loans_read")
    assert entries and all(e.patron_id == patron.pk and e.channel == "sip2" for e in entries)


def other_patron():
    """A second, synthetic borrower."""
    from shelfguard.patrons import services as patrons
    from tests.patrons.conftest import adult_values

    return patrons.register(**adult_values(), actor=DESK)


def test_overdue_items_and_their_range(conn, patron, copy):
    items = [copy() for _n in range(3)]
    for item in items:
        circulation.checkout(patron, item.barcode, branch="MAIN", actor=DESK, purpose=PURPOSE)
    card = services_card(patron)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(clock, "_frozen", NOON + dt.timedelta(days=60))
        reply = ask(conn, "63", card, summary=" Y        ")
        second = answer(
            conn,
            frame(
                "63",
                [("AO", "MAIN"), ("AA", card), ("AD", PIN), ("BP", "2"), ("BQ", "3")],
                summary=" Y        ",
            ),
        )
    assert reply.fixed["overdue_items_count"] == "0003"
    assert sorted(protocol.fields(reply, "AT")) == sorted(i.barcode for i in items)
    assert len(protocol.fields(second, "AT")) == 2


def test_a_blocked_patron_sees_the_block_in_the_status(conn, patron):
    circulation.block_patron(patron, "synthetic test block", actor=DESK, purpose=PURPOSE)
    reply = ask(conn, "23", services_card(patron))
    assert reply.fixed["patron_status"][:4] == "YYYY"
    assert "cannot be used to borrow" in f(reply, "AF")


def test_fines_are_listed_and_paid_through_settle_charge(conn, patron):
    charge = Charge.objects.create(patron=patron, amount_cents=250, created_on=clock.today())
    card = services_card(patron)

    info = ask(conn, "63", card, summary="   Y      ")
    assert protocol.fields(info, "AV") == [f"{charge.pk} 2.50 overdue"]
    assert f(info, "BV") == "2.50" and info.fixed["fine_items_count"] == "0001"

    short = answer(
        conn,
        frame(
            "37",
            [("AO", "MAIN"), ("AA", card), ("AD", PIN), ("BV", "1.00"), ("CG", str(charge.pk))],
        ),
    )
    assert short.fixed["payment_accepted"] == "N"
    paid = answer(
        conn,
        frame(
            "37",
            [("AO", "MAIN"), ("AA", card), ("BV", "2.50"), ("CG", str(charge.pk)), ("BK", "T1")],
        ),
    )
    assert paid.code == "38" and paid.fixed["payment_accepted"] == "Y" and f(paid, "BK") == "T1"
    charge.refresh_from_db()
    assert charge.settled_on == clock.today()
    settle = terminal_entries("circulation.charge_settle")[-1]
    assert settle.patron_id == patron.pk and settle.actor_id == LOGIN


def test_block_patron_has_no_answer_and_enable_lifts_only_machine_blocks(conn, patron):
    card = services_card(patron)
    staff_block = circulation.block_patron(
        patron, "synthetic staff block", actor=DESK, purpose=PURPOSE
    )

    reply = handlers.handle(
        conn, frame("01", [("AO", "MAIN"), ("AL", "card kept"), ("AA", card)], card_retained="Y")
    )
    assert reply.data is None and not reply.close
    machine_block = PatronBlock.objects.exclude(pk=staff_block.pk).get()
    assert (
        machine_block.created_by == f"terminal:{LOGIN}" and "card kept" not in machine_block.reason
    )

    enabled = ask(conn, "25", card)
    assert enabled.code == "26" and f(enabled, "CQ") == "Y"
    machine_block.refresh_from_db()
    staff_block.refresh_from_db()
    assert machine_block.lifted_at is not None and staff_block.lifted_at is None
    unblock = terminal_entries("circulation.unblock")
    assert [e.patron_id for e in unblock] == [patron.pk]


def test_end_session_forgets_the_pin(conn, patron, copy):
    card, item = services_card(patron), copy()
    ask(conn, "23", card)
    lent = answer(conn, frame("11", [("AO", "MAIN"), ("AA", card), ("AB", item.barcode)]))
    assert lent.fixed["ok"] == "1"

    bye = answer(conn, frame("35", [("AO", "MAIN"), ("AA", card)]))
    assert bye.code == "36" and bye.fixed["end_session"] == "Y"
    again = answer(conn, frame("11", [("AO", "MAIN"), ("AA", card), ("AB", copy().barcode)]))
    assert again.fixed["ok"] == "0" and "PIN" in f(again, "AF")


def test_screen_messages_follow_the_terminal_language(conn, patron):
    reply = ask(conn, "23", services_card(patron), pin="0000", language="019")
    assert reply.fixed["language"] == "019"
    assert f(reply, "AF")
