"""The listener with an injected handler: framing on the wire, TLS, limits, faults, stop.

The handler here is the listener's parameter (the real one is
`sip2.handlers.handle`, driven end to end in test_client_e2e.py): it answers
each frame with ``OK:<frame>`` and records what the listener told it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import socket
import ssl
import struct
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from shelfguard.core import tls
from shelfguard.sip2.server import Limits, ServerThread, Sip2Server
from shelfguard.sip2.session import Connection, Reply


class Recorder:
    """The injected handler: echoes, can be told to block, fail or close."""

    def __init__(self) -> None:
        self.connections: list[Connection] = []
        self.frames: list[bytes] = []
        self.release = threading.Event()
        self.entered = threading.Event()
        self.lock = threading.Lock()

    def __call__(self, conn: Connection, frame: bytes) -> Reply:
        with self.lock:
            self.connections.append(conn)
            self.frames.append(frame)
        if frame == b"BLOCK":
            self.entered.set()
            self.release.wait(10)
        if frame == b"SLOW":
            self.entered.set()
            time.sleep(0.5)
        if frame == b"FAIL":
            raise RuntimeError("the handler broke")
        if frame == b"BYE":
            return Reply(b"BYE\r", close=True)
        if frame == b"SILENT":
            return Reply(None)
        return Reply(b"OK:" + frame + b"\r")


@contextlib.contextmanager
def serving(handler, *, context=None, host="127.0.0.1", **limits) -> Iterator[Sip2Server]:
    limits.setdefault("shutdown_grace", 3)
    server = Sip2Server(
        host=host, port=0, ssl_context=context, handler=handler, limits=Limits(**limits)
    )
    thread = ServerThread(server).start()
    try:
        yield server
    finally:
        thread.stop()


def connect(server: Sip2Server, timeout: float = 5) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=timeout)


def read_reply(sock: socket.socket) -> bytes:
    data = b""
    while not data.endswith(b"\r"):
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


def closed_by_server(sock: socket.socket, within: float) -> bool:
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def abort(sock: socket.socket) -> None:
    """Close with a reset, as a machine that loses power or network does."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


@pytest.fixture
def handler() -> Recorder:
    return Recorder()


@pytest.fixture(scope="module")
def cert(tmp_path_factory) -> tuple[Path, Path]:
    made = tls.make_self_signed(
        tmp_path_factory.mktemp("tls"),
        ["127.0.0.1", "localhost"],
        days=2,
        now=dt.datetime.now(dt.UTC),
    )
    return made.cert, made.key


def client_context(cert: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(cert))
    return context


# --- frames on the wire ----------------------------------------------------------


def test_cr_and_cr_lf_terminated_messages_are_answered_in_order(handler):
    with serving(handler) as server, connect(server) as sock:
        sock.sendall(b"9900802.00\r")
        assert read_reply(sock) == b"OK:9900802.00\r"
        # Two messages in one packet, the second ended by CR LF: two replies, in order.
        sock.sendall(b"first\rsecond\r\n")
        replies = b""
        while replies.count(b"\r") < 2:
            replies += sock.recv(4096)
        assert replies == b"OK:first\rOK:second\r"
    assert handler.frames == [b"9900802.00", b"first", b"second"]


def test_a_message_split_over_many_packets_is_one_frame(handler):
    with serving(handler) as server, connect(server) as sock:
        for byte in b"2300120261125    120000AOMAIN|":
            sock.sendall(bytes([byte]))
        sock.sendall(b"\r")
        assert read_reply(sock) == b"OK:2300120261125    120000AOMAIN|\r"


def test_the_handler_learns_the_peer_and_that_it_is_loopback_plaintext(handler):
    with serving(handler) as server, connect(server) as sock:
        sock.sendall(b"99\r")
        read_reply(sock)
    conn = handler.connections[0]
    assert (conn.peer_host, conn.tls, conn.loopback) == ("127.0.0.1", False, True)


def test_one_connection_keeps_its_state_between_messages(handler):
    with serving(handler) as server, connect(server) as sock:
        for frame in (b"a\r", b"b\r"):
            sock.sendall(frame)
            read_reply(sock)
    assert handler.connections[0] is handler.connections[1]


def test_a_reply_asking_to_close_is_sent_then_the_connection_closes(handler):
    with serving(handler) as server, connect(server) as sock:
        sock.sendall(b"BYE\r")
        assert read_reply(sock) == b"BYE\r"
        assert closed_by_server(sock, 2)


def test_no_reply_data_sends_nothing_and_keeps_the_connection(handler):
    with serving(handler) as server, connect(server) as sock:
        sock.sendall(b"SILENT\rnext\r")
        assert read_reply(sock) == b"OK:next\r"


# --- TLS ---------------------------------------------------------------------------


def test_tls_connection_with_the_projects_context(handler, cert):
    context = tls.server_context(*cert)
    with (
        serving(handler, context=context) as server,
        connect(server) as raw,
        client_context(cert[0]).wrap_socket(raw, server_hostname="127.0.0.1") as sock,
    ):
        assert sock.version() in ("TLSv1.2", "TLSv1.3")
        sock.sendall(b"99\r")
        assert read_reply(sock) == b"OK:99\r"
    assert handler.connections[0].tls is True


def test_tls_1_1_is_refused(handler, cert):
    with serving(handler, context=tls.server_context(*cert)) as server:
        old = client_context(cert[0])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            old.minimum_version = ssl.TLSVersion.TLSv1
            old.maximum_version = ssl.TLSVersion.TLSv1_1
        with contextlib.suppress(ssl.SSLError):  # this OpenSSL may not even offer 1.1
            old.set_ciphers("ALL:@SECLEVEL=0")
        with connect(server) as raw, pytest.raises((ssl.SSLError, ConnectionError)):
            old.wrap_socket(raw, server_hostname="127.0.0.1")
        assert server.stats.frames == 0


def test_a_plaintext_client_on_a_tls_port_gets_no_service(handler, cert):
    context = tls.server_context(*cert)
    with serving(handler, context=context, handshake_timeout=1) as server, connect(server) as sock:
        sock.sendall(b"9300CNsc1|COsecret|\r")
        assert closed_by_server(sock, 3)
    assert handler.frames == []


def test_a_stalled_tls_handshake_is_closed(handler, cert):
    with serving(handler, context=tls.server_context(*cert), handshake_timeout=0.3) as server:
        with connect(server) as sock:
            started = time.monotonic()
            assert closed_by_server(sock, 3)
            assert time.monotonic() - started < 2
        deadline = time.monotonic() + 2
        while server.stats.failed_handshake < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.stats.failed_handshake == 1


# --- limits ------------------------------------------------------------------------


def test_a_message_longer_than_the_maximum_closes_the_connection(handler):
    with serving(handler) as server, connect(server) as sock:
        with contextlib.suppress(ConnectionError):
            sock.sendall(b"9" * 5000)
        assert closed_by_server(sock, 2)
    assert server.stats.closed_too_long == 1
    assert handler.frames == []


def test_slow_loris_is_closed_at_the_read_time_out(handler):
    with serving(handler, read_timeout=0.4, idle_timeout=30) as server, connect(server) as sock:
        started = time.monotonic()
        closed = False
        with contextlib.suppress(ConnectionError):
            for _ in range(30):  # one byte every 0.1 s: each read is prompt, the frame never ends
                sock.sendall(b"9")
                if closed_by_server(sock, 0.1):
                    closed = True
                    break
        assert closed
        assert time.monotonic() - started < 1.5
    assert server.stats.closed_read_timeout == 1


def test_an_idle_connection_is_closed_at_the_idle_time_out(handler):
    with serving(handler, read_timeout=5, idle_timeout=0.3) as server, connect(server) as sock:
        sock.sendall(b"99\r")
        read_reply(sock)
        assert closed_by_server(sock, 3)
    assert server.stats.closed_idle == 1


def test_beyond_max_connections_new_ones_are_closed_at_once_and_counted(handler, caplog):
    with serving(handler, max_connections=2) as server:
        first, second = connect(server), connect(server)
        for sock in (first, second):  # both accepted and served
            sock.sendall(b"99\r")
            assert read_reply(sock) == b"OK:99\r"
        try:
            third = connect(server)
        except ConnectionResetError:
            pass  # reset so fast that the connect itself saw it
        else:
            assert closed_by_server(third, 2)
            third.close()
        first.close()
        deadline = time.monotonic() + 3
        while server.stats.active > 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        with connect(server) as fourth:  # room again once one has gone
            fourth.sendall(b"99\r")
            assert read_reply(fourth) == b"OK:99\r"
        second.close()
    assert server.stats.refused_over_limit == 1
    assert "refused" in caplog.text and "max_connections" in caplog.text


# --- faults ------------------------------------------------------------------------


def test_one_blocked_terminal_does_not_stall_the_others(handler):
    with (
        serving(handler, workers=4) as server,
        connect(server) as blocked,
        connect(server) as other,
    ):
        blocked.sendall(b"BLOCK\r")
        assert handler.entered.wait(3)
        started = time.monotonic()
        other.sendall(b"99\r")
        assert read_reply(other) == b"OK:99\r"
        assert time.monotonic() - started < 1
        handler.release.set()
        assert read_reply(blocked) == b"OK:BLOCK\r"


def test_a_failing_handler_closes_that_connection_only(handler, caplog):
    with serving(handler) as server:
        with connect(server) as sock:
            sock.sendall(b"FAIL\r")
            assert closed_by_server(sock, 2)
        with connect(server) as sock:
            sock.sendall(b"99\r")
            assert read_reply(sock) == b"OK:99\r"
    assert server.stats.handler_errors == 1
    assert "handler failed" in caplog.text


def test_garbage_and_abrupt_disconnects_leak_no_connection_or_thread(handler):
    rng_bytes = os.urandom(64 * 1024)
    with serving(handler, workers=3) as server:
        threads_before = threading.active_count()
        for n in range(40):
            sock = connect(server)
            chunk = rng_bytes[n * 1000 : n * 1000 + 1000]
            with contextlib.suppress(ConnectionError):
                sock.sendall(chunk)
            if n % 2:
                abort(sock)
            else:
                sock.close()
        deadline = time.monotonic() + 5
        while server.stats.active and time.monotonic() < deadline:
            time.sleep(0.05)
        assert server.stats.active == 0
        # At most the pool's workers were added, never one thread per connection.
        assert threading.active_count() <= threads_before + 3
        with connect(server) as sock:
            sock.sendall(b"99\r")
            assert read_reply(sock) == b"OK:99\r"


# --- stop ----------------------------------------------------------------------------


def test_stop_lets_a_call_in_flight_answer_then_refuses_new_connections(handler):
    server = Sip2Server(port=0, handler=handler, limits=Limits(shutdown_grace=3))
    thread = ServerThread(server).start()
    with connect(server) as busy, connect(server) as idle:
        busy.sendall(b"SLOW\r")
        assert handler.entered.wait(3)
        stopper = threading.Thread(target=thread.stop)
        stopper.start()
        assert read_reply(busy) == b"OK:SLOW\r"  # the in-flight call finished and answered
        assert closed_by_server(busy, 3)
        assert closed_by_server(idle, 3)
        stopper.join(10)
        assert not stopper.is_alive()
    with pytest.raises(OSError):
        connect(server, timeout=1).sendall(b"99\r")
