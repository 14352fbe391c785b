"""SIP2 handlers: framing, checksums, resend, login and the terminal's rules.

Frames are made with `protocol.build` and fed to `handlers.handle` as the
listener would (one message, terminator removed), against the real
database. The fixtures are in `conftest.py` and the helpers in
`handler_support.py`, shared with `test_handlers_*.py`. Every value is
synthetic.
"""

from __future__ import annotations

import logging

import pytest

from shelfguard.ledger.models import Entry
from shelfguard.sip2 import handlers, protocol, services
from tests.sip2.handler_support import (
    BOTH_DATABASES,
    LOGIN,
    OPERATOR,
    PASSWORD,
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

# --- login ----------------------------------------------------------------------------


def test_login_signs_the_terminal_in_and_is_recorded(terminal):
    connection = new_conn()
    reply = answer(connection, login_frame())

    assert reply.code == "94" and reply.fixed["ok"] == "1"
    assert connection.terminal.login == LOGIN and connection.encoding == "utf-8"
    entry = terminal_entries("sip2.terminal_signin")[-1]
    assert entry.channel == "sip2" and entry.actor_id == LOGIN
    assert entry.detail == {"terminal": LOGIN, "ok": True, "reason": ""}


@pytest.mark.parametrize(
    ("login", "password"), [(LOGIN, "wrong-password-123"), ("no-such-machine", PASSWORD)]
)
def test_a_wrong_login_or_password_answers_ok_0_and_closes(terminal, login, password):
    connection = new_conn()
    reply = handlers.handle(connection, login_frame(login, password))

    assert reply.close
    assert protocol.parse(reply.data).fixed["ok"] == "0"
    assert connection.terminal is None
    assert Entry.objects.filter(action="sip2.terminal_signin").last().detail["reason"] == (
        "credentials"
    )


def test_a_disabled_terminal_cannot_sign_in(terminal):
    services.disable_terminal(LOGIN, actor=OPERATOR, purpose="tests")
    reply = handlers.handle(new_conn(), login_frame())

    assert reply.close and protocol.parse(reply.data).fixed["ok"] == "0"


def test_the_address_allowlist_is_enforced(add_terminal):
    add_terminal(allow_from=["192.0.2.0/28", "2001:db8::1"])

    outside = handlers.handle(new_conn(peer_host="198.51.100.7"), login_frame())
    assert outside.close and protocol.parse(outside.data).fixed["ok"] == "0"
    assert Entry.objects.filter(action="sip2.terminal_signin").last().detail["reason"] == "address"
    for inside in ("192.0.2.10", "2001:db8::1", "::ffff:192.0.2.3"):
        assert answer(new_conn(peer_host=inside), login_frame()).fixed["ok"] == "1"


def test_plaintext_sign_in_is_refused_unless_loopback_or_allowed(add_terminal):
    add_terminal()
    clear = handlers.handle(new_conn(tls=False), login_frame())
    assert clear.close and protocol.parse(clear.data).fixed["ok"] == "0"
    assert Entry.objects.filter(action="sip2.terminal_signin").last().detail["reason"] == (
        "plaintext"
    )
    assert answer(new_conn(tls=False, loopback=True), login_frame()).fixed["ok"] == "1"

    add_terminal("sc-trusted-lan", allow_plaintext=True)
    reply = answer(new_conn(tls=False), login_frame("sc-trusted-lan"))
    assert reply.fixed["ok"] == "1"


def test_terminal_sign_in_is_throttled(terminal):
    for _attempt in range(3):
        handlers.handle(new_conn(), login_frame(password="wrong-password-123"))
    # The fourth try comes too soon: refused even with the right password.
    reply = handlers.handle(new_conn(), login_frame())
    assert reply.close and protocol.parse(reply.data).fixed["ok"] == "0"
    assert Entry.objects.filter(action="sip2.terminal_signin").last().detail["reason"] == (
        "throttled"
    )


def test_only_93_and_99_are_answered_before_login(terminal):
    connection = new_conn()
    status = answer(connection, frame("99"))
    assert status.code == "98" and status.fixed["online_status"] == "N"
    assert f(status, "BX") == "N" * 16 and f(status, "AO") == ""

    reply = handlers.handle(connection, frame("63", [("AO", "MAIN"), ("AA", "29000000001")]))
    assert reply.close and reply.data is None
    assert handlers.handle(new_conn(), frame("97")).close


def test_a_terminal_disabled_after_login_is_closed_at_its_next_message(conn):
    services.disable_terminal(LOGIN, actor=OPERATOR, purpose="tests")
    reply = handlers.handle(conn, frame("99"))
    assert reply.close and reply.data is None


# --- framing --------------------------------------------------------------------------


def test_a_bad_checksum_is_answered_96(conn):
    good = frame("99")
    bad = good[:-4] + (b"0000" if good[-4:] != b"0000" else b"0001")
    reply = handlers.handle(conn, bad)
    assert reply.data == protocol.resend() and not reply.close


def test_a_damaged_message_is_answered_96_and_garbage_closes(conn):
    assert handlers.handle(conn, b"6300").data == protocol.resend()  # fixed part too short
    assert handlers.handle(conn, b"23001\xff\xfe").data == protocol.resend()  # not UTF-8
    garbage = handlers.handle(conn, b"GET / HTTP/1.1")
    assert garbage.close and garbage.data is None


def test_too_many_damaged_messages_in_a_row_close(conn):
    for _n in range(handlers.MAX_DAMAGED):
        assert handlers.handle(conn, b"6300").data == protocol.resend()
    assert handlers.handle(conn, b"6300").close


def test_97_resends_the_last_reply_byte_for_byte(conn):
    first = handlers.handle(conn, frame("99", seq=4)).data
    again = handlers.handle(conn, frame("97"))
    assert again.data == first and not again.close


def test_the_sequence_number_is_echoed_and_checksums_mirror_the_request(conn):
    reply = answer(conn, frame("99", seq=7))
    assert reply.sequence == 7
    plain = handlers.handle(conn, frame("99", error_detection=False)).data
    assert b"AZ" not in plain and plain.startswith(b"98")


def test_status_lists_the_messages_the_terminal_may_send(add_terminal):
    add_terminal(allowed_codes=["93", "99", "09", "17"])
    connection = new_conn()
    answer(connection, login_frame())
    status = answer(connection, frame("99"))

    assert status.fixed["online_status"] == "Y"
    assert status.fixed["checkin_ok"] == "Y" and status.fixed["checkout_ok"] == "N"
    bx = f(status, "BX")
    order = handlers.SUPPORTED_ORDER
    assert {order[i] for i, flag in enumerate(bx) if flag == "Y"} == {"93", "99", "09", "17", "97"}
    assert f(status, "AO") == "MAIN"


def test_a_message_the_terminal_may_not_send_is_refused(add_terminal, patron):
    add_terminal(allowed_codes=["93", "99", "63"])
    connection = new_conn()
    answer(connection, login_frame())
    reply = answer(connection, frame("11", [("AO", "MAIN"), ("AA", "x"), ("AB", "y")]))
    assert reply.code == "12" and reply.fixed["ok"] == "0"
    assert "may not" in f(reply, "AF")


def test_a_response_code_from_a_terminal_closes(conn):
    reply = handlers.handle(conn, frame("94", ok="1"))
    assert reply.close


# --- encodings and logging -------------------------------------------------------------


def test_a_latin_1_terminal_gets_latin_1(add_terminal, make_patron):
    add_terminal("sc-latin", encoding="latin-1", name_display="full")
    patron = make_patron(name="Zoë Séverine Testperson", pin=PIN)
    card = services_card(patron)
    connection = new_conn()
    answer(connection, login_frame("sc-latin"))
    assert connection.encoding == "latin-1"

    data = frame("23", [("AO", "MAIN"), ("AA", card), ("AD", PIN)], encoding="latin-1")
    reply = handlers.handle(connection, data)
    assert "Zoë".encode("latin-1") in reply.data and "Zoë".encode() not in reply.data
    assert f(protocol.parse(reply.data, encoding="latin-1"), "AE") == "Zoë Séverine Testperson"


def test_text_a_latin_1_terminal_cannot_show_is_replaced_not_refused(add_terminal, title, copy):
    add_terminal("sc-latin", encoding="latin-1")
    connection = new_conn()
    answer(connection, login_frame("sc-latin"))
    item = copy(title("Café 咖啡 Stories"))
    reply = handlers.handle(connection, frame("17", [("AO", "MAIN"), ("AB", item.barcode)]))
    assert "Café ?? Stories".encode("latin-1") in reply.data


def test_debug_logs_mask_pins_passwords_and_patrons(conn, patron, caplog):
    card = services_card(patron)
    caplog.set_level(logging.DEBUG, logger="shelfguard.sip2")
    answer(conn, frame("63", [("AO", "MAIN"), ("AA", card), ("AD", PIN)]))
    handlers.handle(new_conn(), login_frame())

    logged = caplog.text
    assert "63" in logged and "64" in logged
    for secret in (card, PIN, PASSWORD, "Testa"):
        assert secret not in logged


def test_a_program_error_closes_the_connection_and_logs_ids_only(conn, patron, monkeypatch, caplog):
    card = services_card(patron)

    def broken(*args, **kwargs):
        raise RuntimeError(f"broken while handling {card}")

    monkeypatch.setattr(services, "patron_standing", broken)
    reply = handlers.handle(conn, frame("23", [("AO", "MAIN"), ("AA", card), ("AD", PIN)]))
    assert reply.close and reply.data is None
    assert "RuntimeError" in caplog.text and card not in caplog.text
