"""Frames, replies and terminals for the SIP2 handler tests (`test_handlers*.py`).

Plain helpers and constants; the fixtures that use them are in `conftest.py`.
Every value is synthetic.
"""

from __future__ import annotations

from typing import Any

from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.ledger.models import Entry
from shelfguard.sip2 import handlers, protocol
from shelfguard.sip2.session import Connection
from tests.circulation.conftest import BOTH_DATABASES

__all__ = [
    "BOTH_DATABASES",
    "LOGIN",
    "OPERATOR",
    "PASSWORD",
    "PIN",
    "answer",
    "f",
    "frame",
    "login_frame",
    "new_conn",
    "services_card",
    "terminal_entries",
]

OPERATOR = Actor(kind="cli", ident="tests", channel="cli")
PASSWORD = "synthetic-terminal-secret-1"
LOGIN = "sc-main-1"
PIN = "4821"

_DEFAULTS = {
    "uid_algorithm": "0",
    "pwd_algorithm": "0",
    "status_code": "0",
    "max_print_width": "040",
    "protocol_version": "2.00",
    "language": "001",
    "summary": " " * 10,
    "sc_renewal_policy": "N",
    "no_block": "N",
    "third_party_allowed": "N",
    "hold_mode": "+",
    "fee_type": "01",
    "payment_type": "00",
    "currency_type": "USD",
    "card_retained": "N",
}


def frame(
    code: str,
    fields: list[tuple[str, str]] | None = None,
    *,
    seq: int = 1,
    encoding: str = "utf-8",
    error_detection: bool = True,
    **fixed: str,
) -> bytes:
    """One request as a terminal sends it, without its terminator."""
    values: dict[str, str] = {}
    for name, length in protocol.MESSAGES[code].fixed:
        if name in fixed:
            values[name] = fixed[name]
        elif name == "transaction_date":
            values[name] = protocol.format_date(clock.now())
        elif length == 18:
            values[name] = " " * 18
        else:
            values[name] = _DEFAULTS[name]
    data = protocol.build(
        protocol.Message(code, values, list(fields or []), seq),
        encoding=encoding,
        error_detection=error_detection,
    )
    return data[:-1]


def answer(conn: Connection, data: bytes) -> protocol.Message:
    """Send one frame and parse the reply (which must exist and not close)."""
    reply = handlers.handle(conn, data)
    assert reply.data is not None, "no reply"
    assert not reply.close, f"connection closed after {protocol.parse(reply.data)!r}"
    return protocol.parse(reply.data, encoding=conn.encoding, require_checksum=True)


def f(msg: protocol.Message, field_id: str) -> str | None:
    return protocol.field(msg, field_id)


def login_frame(login: str = LOGIN, password: str = PASSWORD) -> bytes:
    return frame("93", [("CN", login), ("CO", password), ("CP", "MAIN")])


def new_conn(**kwargs: Any) -> Connection:
    values = {"peer_host": "192.0.2.10", "tls": True, "loopback": False, **kwargs}
    return Connection(**values)


def terminal_entries(action: str) -> list[Entry]:
    return list(Entry.objects.filter(action=action, actor_kind="terminal").order_by("seq"))


def services_card(patron) -> str:
    from shelfguard.patrons import services as patrons

    return patrons.reveal(patron, ["card_number"], actor=OPERATOR, purpose="tests")["card_number"]
