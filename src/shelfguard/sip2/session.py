"""What the SIP2 listener and the message handlers share: one connection's state.

The listener (`sip2/server.py`) owns sockets, TLS, framing, time-outs and
limits; it cuts the byte stream into frames (one message, terminator
removed) and hands each to `sip2.handlers.handle(conn, frame)` in a worker
thread, then sends `Reply.data` if any and closes when `Reply.close` says so.
The handlers own everything about meaning: parsing and checksums (a bad
checksum is answered with 96), login (93) and the terminal's rules, the
patron's PIN, the calls to the circulation services and the ledger, 97
(resend the last reply). Neither imports the other's internals.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Connection:
    """One terminal's connection, from accept to close."""

    #: The peer's address as the listener saw it (host only; no port).
    peer_host: str
    #: True when the connection is protected by TLS.
    tls: bool
    #: True when the peer is on a loopback address (127.0.0.0/8 or ::1).
    loopback: bool
    #: The signed-in terminal (a `sip2.models.Terminal`), after a good 93.
    terminal: Any = None
    #: The encoding used for this connection's messages (the terminal's, after login).
    encoding: str = "utf-8"
    #: The last reply sent, for 97 (ACS resend).
    last_reply: bytes | None = None
    #: Free room for the handlers (e.g. the patron of the current session).
    state: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reply:
    """What to do after one frame: bytes to send (or none), and whether to close."""

    data: bytes | None
    close: bool = False
