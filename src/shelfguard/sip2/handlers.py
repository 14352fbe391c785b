"""The SIP2 message handlers: one frame in, one `Reply` out, never an exception.

The listener (`sip2.server`) calls `handle(conn, frame)` in a worker thread
for every frame it cut from a terminal's byte stream. This module decides
what the frame means; `handlers_patron` and `handlers_items` answer the
patron and item messages by calling the circulation and patron services as
the terminal (`Actor(kind="terminal", ident=<login>, channel="sip2")`) at
the terminal's branch, so every action is checked and recorded there.

How a frame is answered:

* **Garbage closes.** A frame that does not start with the code of a SIP2
  message is not a confused terminal but something else on the port: the
  connection is closed.
* **Damage is 96.** A frame with a known code that does not parse (a bad
  checksum, a short fixed part, a broken field, bytes the terminal's
  encoding cannot decode) is answered with 96, "please resend". After
  `MAX_DAMAGED` damaged frames in a row the connection is closed.
* **Sequence and checksum.** A reply carries the request's AY sequence
  number and a checksum when the request had one; a request without a
  checksum gets a reply without one.
* **97** resends the last reply, byte for byte.
* **Before login** (a good 93) only 93 and 99 are answered. 99 gets a
  minimal "offline" status (online N, every capability N, no institution):
  a machine may ask before it logs in, and is told nothing. Anything else
  closes the connection.
* **93** signs the terminal in through `sip2.services.authenticate_terminal`
  (throttled; refused for a disabled terminal, an address outside its
  allowlist, or a link neither TLS nor loopback when the terminal is not
  allowed plaintext). A refusal is answered 94 with ok=0 and the connection
  is closed.
* **After login** each message is checked against the terminal's allowed
  codes (a refused one gets the negative answer of its kind with a screen
  message), and the terminal is read again: one disabled since it signed in
  is closed at its next message.
* **Program errors fail closed.** Anything unexpected is logged with the
  message code and the terminal login only, and the connection is closed.

Logging goes to the `shelfguard.sip2` logger. At DEBUG level each message in
and out is logged with `protocol.mask` (PINs, passwords, patron identifiers,
names and item lists hidden); the raw frame is never logged.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from django.utils import translation

from shelfguard.sip2 import handlers_items, handlers_patron, protocol, services
from shelfguard.sip2.handlers_common import (
    LANGUAGES,
    Request,
    logger,
    not_allowed_message,
    now,
    reply,
    yn,
)
from shelfguard.sip2.models import ALL_REQUEST_CODES, Terminal
from shelfguard.sip2.session import Connection, Reply

__all__ = ["handle"]

#: Damaged frames in a row after which the connection is closed.
MAX_DAMAGED = 5
_CHECKSUMMED = re.compile(rb"AZ[0-9A-Fa-f]{4}(\r\n|\r)?\Z")
_DAMAGED_KEY = "damaged"
_LANGUAGE_KEY = "language"

#: The 16 positions of the "supported messages" field (BX) of 98, in the spec's order.
SUPPORTED_ORDER = (
    "23", "11", "09", "01", "99", "97", "93", "63", "35", "37", "17", "19", "25", "15", "29", "65",
)  # fmt: skip
#: Request codes answered "not supported" whatever the terminal is allowed (see 19).
UNSUPPORTED = frozenset({"19"})

Handler = Callable[[Request], "protocol.Message | None"]

HANDLERS: dict[str, Handler] = {
    "23": handlers_patron.patron_status,
    "63": handlers_patron.patron_information,
    "35": handlers_patron.end_session,
    "37": handlers_patron.fee_paid,
    "25": handlers_patron.patron_enable,
    "01": handlers_patron.block_patron,
    "11": handlers_items.checkout,
    "09": handlers_items.checkin,
    "29": handlers_items.renew,
    "65": handlers_items.renew_all,
    "17": handlers_items.item_information,
    "19": handlers_items.item_status_update,
    "15": handlers_items.hold,
}


def handle(conn: Connection, frame: bytes) -> Reply:
    """Answer one frame from a terminal (see the module docstring). Never raises."""
    code = _code_of(frame)
    try:
        return _handle(conn, frame, code)
    except Exception as exc:  # noqa: BLE001 - fail closed on anything unexpected
        logger.error(
            "SIP2 message %s from terminal %s failed (%s); connection closed.",
            code or "??",
            _login(conn),
            type(exc).__name__,
        )
        return Reply(None, close=True)


def _code_of(frame: object) -> str:
    if isinstance(frame, (bytes, bytearray, memoryview)):
        head = bytes(frame[:2])
        if len(head) == 2 and head.isdigit():
            code = head.decode("ascii")
            return code if code in protocol.MESSAGES else ""
    return ""


def _login(conn: Connection) -> str:
    return conn.terminal.login if conn.terminal is not None else "(not signed in)"


def _handle(conn: Connection, frame: bytes, code: str) -> Reply:
    if not code:
        logger.info("Closing a connection from terminal %s: not SIP2.", _login(conn))
        return Reply(None, close=True)
    try:
        msg = protocol.parse(bytes(frame), encoding=conn.encoding)
    except protocol.ProtocolError as exc:
        conn.state[_DAMAGED_KEY] = conn.state.get(_DAMAGED_KEY, 0) + 1
        logger.info(
            "Damaged SIP2 message %s from terminal %s (%s).",
            code,
            _login(conn),
            "checksum" if isinstance(exc, protocol.ChecksumError) else "format",
        )
        if conn.state[_DAMAGED_KEY] > MAX_DAMAGED:
            return Reply(None, close=True)
        return Reply(protocol.resend())
    conn.state[_DAMAGED_KEY] = 0
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("SIP2 in  [%s] %s", _login(conn), protocol.mask(msg))
    checksummed = bool(_CHECKSUMMED.search(bytes(frame)))

    if msg.code == "97":
        if conn.terminal is None:
            return Reply(None, close=True)
        return Reply(conn.last_reply)
    if msg.code == "93":
        return _send(conn, *_login_reply(conn, msg), checksummed=checksummed)
    if conn.terminal is None:
        if msg.code == "99":
            return _send(conn, _offline_status(msg), checksummed=checksummed)
        logger.info("Closing a connection: message %s before login.", msg.code)
        return Reply(None, close=True)

    terminal = services.still_allowed(conn.terminal)
    if terminal is None:
        logger.info("Closing terminal %s: disabled since it signed in.", conn.terminal.login)
        conn.terminal = None
        return Reply(None, close=True)
    conn.terminal = terminal
    if msg.code != "99" and msg.code not in HANDLERS:
        # A response code (94, 98 ...): only the ACS says these; the peer is confused.
        logger.info("Closing terminal %s: it sent answer %s.", terminal.login, msg.code)
        return Reply(None, close=True)
    req = Request(conn, msg, terminal, services.terminal_actor(terminal.login))
    language = LANGUAGES.get(msg.fixed.get("language", ""))
    if language:
        conn.state[_LANGUAGE_KEY] = language
    with translation.override(conn.state.get(_LANGUAGE_KEY) or translation.get_language()):
        answer = _answer(req)
    if answer is None:
        return Reply(None)
    return _send(conn, answer, checksummed=checksummed)


def _answer(req: Request) -> protocol.Message | None:
    code = req.msg.code
    if code == "99":
        return _status(req)
    if code not in req.terminal.allowed_codes:
        return handlers_patron.refusal(req, not_allowed_message())
    return HANDLERS[code](req)


def _send(
    conn: Connection, msg: protocol.Message, close: bool = False, *, checksummed: bool
) -> Reply:
    data = protocol.build(msg, encoding=conn.encoding, error_detection=checksummed)
    if logger.isEnabledFor(logging.DEBUG):
        logger.debug("SIP2 out [%s] %s", _login(conn), protocol.mask(msg))
    conn.last_reply = data
    return Reply(data, close=close)


# --- 93 login -----------------------------------------------------------------------


def _login_reply(conn: Connection, msg: protocol.Message) -> tuple[protocol.Message, bool]:
    """(the 94 answer, whether to close): ok=1 and the terminal set, or ok=0 and close."""
    login = (protocol.field(msg, "CN") or "").strip()
    password = protocol.field(msg, "CO") or ""
    answer = protocol.Message("94", {"ok": "0"}, [], msg.sequence)
    if msg.fixed["uid_algorithm"] != "0" or msg.fixed["pwd_algorithm"] != "0":
        logger.info("Terminal sign-in refused: encrypted login algorithms are not supported.")
        return answer, True
    transport = services.Transport(peer_host=conn.peer_host, tls=conn.tls, loopback=conn.loopback)
    try:
        terminal = services.authenticate_terminal(login, password, transport=transport)
    except services.TerminalRefused as exc:
        logger.info("Terminal sign-in refused (%s).", exc.code)
        conn.terminal = None
        conn.state.clear()
        return answer, True
    conn.terminal = terminal
    conn.encoding = terminal.encoding
    conn.state.clear()
    logger.info("Terminal %s signed in.", terminal.login)
    return protocol.Message("94", {"ok": "1"}, [], msg.sequence), False


# --- 99 SC status -------------------------------------------------------------------


def _status_fixed(online: bool, terminal: Terminal | None) -> dict[str, str]:
    allowed = set(terminal.allowed_codes) if terminal is not None else set()
    return {
        "online_status": yn(online),
        "checkin_ok": yn("09" in allowed),
        "checkout_ok": yn("11" in allowed),
        "acs_renewal_policy": yn("29" in allowed),
        "status_update_ok": "N",
        "offline_ok": yn(online and bool({"09", "11", "29"} & allowed)),
        "timeout_period": "030",
        "retries_allowed": "003",
        "date_time_sync": now(),
        "protocol_version": "2.00",
    }


def supported_messages(terminal: Terminal | None) -> str:
    """The BX field: 'Y' for each message this terminal may send and Shelfguard answers."""
    allowed = set(terminal.allowed_codes) if terminal is not None else set()
    return "".join(
        yn(code in allowed and code in ALL_REQUEST_CODES and code not in UNSUPPORTED)
        for code in SUPPORTED_ORDER
    )


def _offline_status(msg: protocol.Message) -> protocol.Message:
    return protocol.Message(
        "98", _status_fixed(False, None), [("AO", ""), ("BX", "N" * 16)], msg.sequence
    )


def _status(req: Request) -> protocol.Message:
    terminal = req.terminal
    return reply(
        req,
        "98",
        _status_fixed(True, terminal),
        [
            ("AO", terminal.branch.code),
            ("AM", terminal.branch.name),
            ("BX", supported_messages(terminal)),
            ("AN", terminal.login),
        ],
    )
