"""The SIP2 listener: sockets, TLS, framing, time-outs and limits.

One asyncio event loop accepts and reads every connection; the message
handler (`sip2.handlers.handle`, which calls the Django services) runs in a
bounded thread pool, because the ORM blocks. Each connection awaits its own
handler call before it reads the next frame, so a terminal's messages are
answered in order, while a terminal whose call is slow (a locked row, a slow
disk) holds one worker and never the loop: the others go on.

What the listener refuses, and why:

* a frame longer than `protocol.MAX_MESSAGE`: closed, so a peer that never
  sends CR cannot make the server buffer without end;
* a frame that does not complete within `read_timeout` of its first byte
  (slow-loris), a connection silent for `idle_timeout` (self-check machines
  poll with 99 every minute or so, hence minutes), a TLS handshake longer
  than `handshake_timeout`, a peer that stops reading our replies;
* beyond `max_connections` connections, new ones are closed at once, before
  any TLS work, and counted; the count is logged at most every few seconds
  so a flood cannot flood the log too.

Nothing a peer sends is logged by the listener; with `--debug` the handlers
log each message through `protocol.mask()`, which hides PINs, passwords and
patron identity.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import os
import socket
import ssl
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

from shelfguard.sip2 import protocol
from shelfguard.sip2.framing import Framer, FrameTooLong
from shelfguard.sip2.session import Connection, Reply

__all__ = ["Handler", "Limits", "ServerThread", "Sip2Server", "Stats"]

log = logging.getLogger("shelfguard.sip2.server")

Handler = Callable[[Connection, bytes], Reply]

READ_SIZE = 4096
# A refused-connection count is logged at most this often (seconds).
REFUSAL_LOG_INTERVAL = 5.0


@dataclass(frozen=True)
class Limits:
    """Time-outs in seconds and sizes; the defaults suit a branch of self-check machines."""

    max_connections: int = 200
    read_timeout: float = 30.0
    idle_timeout: float = 600.0
    handshake_timeout: float = 10.0
    workers: int = 8
    #: How long a stop waits for handler calls in flight.
    shutdown_grace: float = 10.0

    def __post_init__(self) -> None:
        for name in ("read_timeout", "idle_timeout", "handshake_timeout", "shutdown_grace"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be more than 0 seconds")
        if self.max_connections < 1 or self.workers < 1:
            raise ValueError("max_connections and workers must be at least 1")


@dataclass
class Stats:
    """Counters since start; read them from the loop thread or after stop."""

    accepted: int = 0
    refused_over_limit: int = 0
    closed_too_long: int = 0
    closed_read_timeout: int = 0
    closed_idle: int = 0
    failed_handshake: int = 0
    handler_errors: int = 0
    frames: int = 0
    active: int = 0


def _default_handler() -> Handler:
    from shelfguard.sip2.handlers import handle

    return handle


def is_loopback(host: str) -> bool:
    try:
        address = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_loopback


def _peer_host(writer: asyncio.StreamWriter) -> str:
    peer = writer.get_extra_info("peername")
    host = str(peer[0]) if isinstance(peer, tuple) and peer else ""
    with contextlib.suppress(ValueError):
        address = ipaddress.ip_address(host.split("%", 1)[0])
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
    return host


@dataclass
class _Session:
    ident: int
    task: asyncio.Task | None = None
    busy: bool = False
    writer: asyncio.StreamWriter | None = field(default=None, repr=False)


class Sip2Server:
    """One listening socket and its connections, run on an asyncio loop."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 6001,
        ssl_context: ssl.SSLContext | None = None,
        limits: Limits | None = None,
        handler: Handler | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.ssl_context = ssl_context
        self.limits = limits or Limits()
        self.handler = handler or _default_handler()
        self.stats = Stats()
        self._server: asyncio.Server | None = None
        self._sessions: dict[int, _Session] = {}
        self._next_id = 0
        self._stopping = False
        self._last_refusal_log = 0.0
        self._refusals_logged = 0
        self._worker_threads: set[threading.Thread] = set()
        self._executor = ThreadPoolExecutor(
            max_workers=self.limits.workers,
            thread_name_prefix="sip2-handler",
            initializer=lambda: self._worker_threads.add(threading.current_thread()),
        )

    # --- start and stop -------------------------------------------------------

    async def start(self) -> None:
        """Bind and listen; `self.port` is the real port afterwards (for port 0)."""
        self._server = await asyncio.start_server(
            self._accept, self.host, self.port, reuse_address=True, backlog=512
        )
        sock = self._server.sockets[0]
        self.port = sock.getsockname()[1]

    async def stop(self) -> None:
        """Stop accepting; let handler calls in flight finish (bounded); close the rest."""
        self._stopping = True
        if self._server is not None:
            self._server.close()
        for session in list(self._sessions.values()):
            if not session.busy and session.task is not None:
                session.task.cancel()
        tasks = [s.task for s in self._sessions.values() if s.task is not None]
        if tasks:
            _, pending = await asyncio.wait(tasks, timeout=self.limits.shutdown_grace)
            for task in pending:
                task.cancel()
            if pending:
                log.warning(
                    "SIP2 stop: %d handler call(s) still running after %.0f s; closed",
                    len(pending),
                    self.limits.shutdown_grace,
                )
                await asyncio.wait(pending, timeout=1)
        if self._server is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), timeout=1)
        await asyncio.get_running_loop().run_in_executor(None, self._close_worker_connections)

    def _close_worker_connections(self) -> None:
        """Close the database connection of every worker thread, then the pool.

        Each close must run on the thread that opened the connection; a barrier
        holds every task until all have started, so each lands on its own thread.
        """
        threads = len(self._worker_threads)
        if threads:
            barrier = threading.Barrier(threads)

            def close() -> None:
                from django.db import connections

                with contextlib.suppress(threading.BrokenBarrierError):
                    barrier.wait(timeout=5)
                connections.close_all()

            futures = [self._executor.submit(close) for _ in range(threads)]
            for future in futures:
                with contextlib.suppress(Exception):
                    future.result(timeout=10)
        self._executor.shutdown(wait=False, cancel_futures=True)

    # --- one connection -------------------------------------------------------

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._stopping:
            writer.transport.abort()
            return
        if len(self._sessions) >= self.limits.max_connections:
            self._refuse(writer)
            return
        self._next_id += 1
        session = _Session(self._next_id, asyncio.current_task(), writer=writer)
        self._sessions[session.ident] = session
        self.stats.accepted += 1
        self.stats.active = len(self._sessions)
        try:
            await self._serve(session, reader, writer)
        except asyncio.CancelledError:
            pass
        except (ConnectionError, OSError, ssl.SSLError) as exc:
            log.debug("SIP2 connection %d: %s", session.ident, type(exc).__name__)
        finally:
            # Still listed while closing, so that a stop waits for the close too.
            await self._close(writer)
            del self._sessions[session.ident]
            self.stats.active = len(self._sessions)

    def _refuse(self, writer: asyncio.StreamWriter) -> None:
        self.stats.refused_over_limit += 1
        transport = writer.transport
        with contextlib.suppress(OSError):
            sock = transport.get_extra_info("socket")
            if sock is not None:
                # Reset rather than a graceful close: no TIME_WAIT kept for a flood.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
        transport.abort()
        now = time.monotonic()
        if now - self._last_refusal_log >= REFUSAL_LOG_INTERVAL:
            log.warning(
                "SIP2: %d connection(s) refused since the last note: %d are open, the limit "
                "(max_connections) is %d",
                self.stats.refused_over_limit - self._refusals_logged,
                len(self._sessions),
                self.limits.max_connections,
            )
            self._last_refusal_log = now
            self._refusals_logged = self.stats.refused_over_limit

    async def _close(self, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(Exception):
            writer.close()
            await asyncio.wait_for(writer.wait_closed(), timeout=1)
        if not writer.transport.is_closing():
            writer.transport.abort()

    async def _serve(
        self, session: _Session, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        limits = self.limits
        peer = _peer_host(writer)
        if self.ssl_context is not None:
            try:
                await writer.start_tls(
                    self.ssl_context, ssl_handshake_timeout=limits.handshake_timeout
                )
            except (TimeoutError, ssl.SSLError, ConnectionError, OSError) as exc:
                self.stats.failed_handshake += 1
                log.info(
                    "SIP2 connection %d from %s: TLS handshake failed (%s)",
                    session.ident,
                    peer,
                    type(exc).__name__,
                )
                return
        conn = Connection(
            peer_host=peer, tls=self.ssl_context is not None, loopback=is_loopback(peer)
        )
        log.info(
            "SIP2 connection %d from %s (%s)", session.ident, peer, "TLS" if conn.tls else "plain"
        )
        framer = Framer()
        frame_deadline: float | None = None
        loop = asyncio.get_running_loop()
        while not self._stopping:
            if framer.pending:
                timeout = (frame_deadline or 0) - loop.time()
                reason = "read"
            else:
                timeout = limits.idle_timeout
                reason = "idle"
            try:
                data = await asyncio.wait_for(reader.read(READ_SIZE), timeout=max(timeout, 0))
            except TimeoutError:
                if reason == "read":
                    self.stats.closed_read_timeout += 1
                else:
                    self.stats.closed_idle += 1
                log.info("SIP2 connection %d closed: %s time-out", session.ident, reason)
                return
            if not data:
                log.info("SIP2 connection %d closed by the terminal", session.ident)
                return
            try:
                frames = framer.feed(data)
            except FrameTooLong:
                self.stats.closed_too_long += 1
                log.warning(
                    "SIP2 connection %d closed: a message longer than %d bytes",
                    session.ident,
                    protocol.MAX_MESSAGE,
                )
                return
            if framer.pending and frame_deadline is None:
                frame_deadline = loop.time() + limits.read_timeout
            elif not framer.pending:
                frame_deadline = None
            for frame in frames:
                if not await self._answer(session, conn, frame, writer):
                    return

    async def _answer(
        self,
        session: _Session,
        conn: Connection,
        frame: bytes,
        writer: asyncio.StreamWriter,
    ) -> bool:
        """Hand one frame to the handler and send its reply; False means close."""
        self.stats.frames += 1
        session.busy = True
        try:
            reply = await asyncio.get_running_loop().run_in_executor(
                self._executor, self._call, conn, frame
            )
        except Exception:
            self.stats.handler_errors += 1
            log.exception(
                "SIP2 connection %d: the handler failed; connection closed", session.ident
            )
            return False
        finally:
            session.busy = False
        if reply.data:
            writer.write(reply.data)
            try:
                await asyncio.wait_for(writer.drain(), timeout=self.limits.read_timeout)
            except TimeoutError:
                log.info("SIP2 connection %d closed: the terminal does not read", session.ident)
                return False
        return not reply.close and not self._stopping

    def _call(self, conn: Connection, frame: bytes) -> Reply:
        from django.db import close_old_connections

        close_old_connections()
        try:
            return self.handler(conn, frame)
        finally:
            close_old_connections()


class ServerThread:
    """A `Sip2Server` on its own event loop in a background thread.

    For `shelfguard serve` (which runs the web server in the foreground), the
    benchmarks and the tests. `start()` returns once the socket listens, or
    raises what binding raised; `stop()` is the graceful stop of the server.
    """

    def __init__(self, server: Sip2Server) -> None:
        self.server = server
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="sip2-listener", daemon=True)
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._stop: asyncio.Event | None = None

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        try:
            self._loop.run_until_complete(self._main())
        finally:
            self._loop.close()

    async def _main(self) -> None:
        self._stop = asyncio.Event()
        try:
            await self.server.start()
        except Exception as exc:  # noqa: BLE001  (raised again by start(), in the caller)
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        await self._stop.wait()
        await self.server.stop()

    def start(self) -> Self:
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            raise self._error
        return self

    def stop(self, timeout: float | None = None) -> None:
        if self._thread.is_alive() and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(
            timeout if timeout is not None else self.server.limits.shutdown_grace + 15
        )

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- `shelfguard sip2 serve` and the [sip2] section of shelfguard.toml ----------

DEFAULT_PORT = 6001


class ServeError(ValueError):
    """A setting that cannot be used; the message says what to do."""


@dataclass(frozen=True)
class ServeConfig:
    host: str
    port: int
    ssl_context: ssl.SSLContext | None
    cert: str | None
    limits: Limits
    debug: bool = False


def add_serve_arguments(parser) -> None:
    """The options of `shelfguard sip2 serve` (also read from `[sip2]` in shelfguard.toml)."""
    parser.add_argument("--host", help="address to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help=f"port (default {DEFAULT_PORT}; 0 picks one)")
    parser.add_argument("--tls-cert", metavar="FILE", help="TLS certificate chain (PEM)")
    parser.add_argument("--tls-key", metavar="FILE", help="TLS private key (PEM, mode 0600)")
    parser.add_argument(
        "--plaintext",
        action="store_true",
        help="UNSAFE: listen without TLS on a non-loopback address; terminals then "
        "sign in only if allowed plaintext",
    )
    parser.add_argument(
        "--debug", action="store_true", help="log every message, PINs and patron data masked"
    )
    parser.add_argument("--max-connections", type=int, help="open connections at most (200)")
    parser.add_argument(
        "--idle-timeout", type=float, help="seconds a silent connection stays open (600)"
    )
    parser.add_argument(
        "--read-timeout", type=float, help="seconds one message may take to arrive (30)"
    )
    parser.add_argument(
        "--handshake-timeout", type=float, help="seconds a TLS handshake may take (10)"
    )
    parser.add_argument("--workers", type=int, help="handler threads (8)")
    parser.add_argument(
        "--json", action="store_true", dest="json", help="print the start-up line as JSON"
    )


def _sip2_config() -> dict:
    from django.conf import settings

    section = getattr(settings, "CONFIG", {}).get("sip2", {})
    if not isinstance(section, dict):
        raise ServeError("[sip2] in shelfguard.toml must be a table.")
    return section


def resolve_config(options: dict) -> ServeConfig:
    """The options over `[sip2]` of shelfguard.toml over the defaults.

    Without a certificate of its own, SIP2 uses the web's (`[web] tls_cert`,
    `SHELFGUARD_TLS_CERT`): one certificate for the machine's name.
    """

    from shelfguard.core import home, tls

    section = _sip2_config()

    def pick(name: str, default):
        value = options.get(name)
        return section.get(name, default) if value is None else value

    host = str(pick("host", "127.0.0.1")).strip("[]")
    port = pick("port", DEFAULT_PORT)
    if not isinstance(port, int) or isinstance(port, bool) or not 0 <= port < 65536:
        raise ServeError("--port / [sip2] port must be a number between 0 and 65535.")
    try:
        limits = Limits(
            **{
                name: pick(name, getattr(Limits, name))
                for name in (
                    "max_connections",
                    "idle_timeout",
                    "read_timeout",
                    "handshake_timeout",
                    "workers",
                )
            }
        )
    except (TypeError, ValueError) as exc:
        raise ServeError(
            f"SIP2 limits: {exc}; fix the option or [sip2] in shelfguard.toml."
        ) from None

    cert_text, key_text = options.get("tls_cert"), options.get("tls_key")
    if bool(cert_text) != bool(key_text):
        raise ServeError("--tls-cert and --tls-key go together: give both, or neither.")
    cert: Path | None
    key: Path | None
    if cert_text:
        cert, key = Path(cert_text).expanduser(), Path(key_text).expanduser()
    elif section.get("tls_cert") or section.get("tls_key"):
        if not (section.get("tls_cert") and section.get("tls_key")):
            raise ServeError("[sip2] tls_cert and tls_key in shelfguard.toml go together.")
        # Relative paths in the toml are relative to the data home, as for [web].
        cert = home.home_dir() / Path(str(section["tls_cert"])).expanduser()
        key = home.home_dir() / Path(str(section["tls_key"])).expanduser()
    else:
        from django.conf import settings

        web = tls.transport_from(
            os.environ, getattr(settings, "CONFIG", {}).get("web", {}), home=home.home_dir()
        )
        cert, key = web.cert, web.key
    plaintext = bool(options.get("plaintext")) or section.get("plaintext") is True
    context = None
    if cert is not None and key is not None:
        context = tls.server_context(cert, key)
    elif not is_loopback(host) and host != "localhost" and not plaintext:
        raise ServeError(
            f"Refusing to serve SIP2 on {host} without TLS: PINs would cross the network in "
            "clear. Give --tls-cert FILE --tls-key FILE (`shelfguard tls self-signed` makes a "
            "trial pair), or listen on 127.0.0.1 behind a TLS tunnel, or pass --plaintext "
            "(unsafe) for terminals that cannot do TLS."
        )
    debug = bool(options.get("debug")) or section.get("debug") is True
    return ServeConfig(host, port, context, str(cert) if context else None, limits, debug)


def describe(config: ServeConfig, port: int) -> dict:
    return {
        "protocol": "sip2",
        "host": config.host,
        "port": port,
        "tls": config.ssl_context is not None,
        "certificate": config.cert,
        "max_connections": config.limits.max_connections,
        "idle_timeout": config.limits.idle_timeout,
        "read_timeout": config.limits.read_timeout,
    }


def start_line(config: ServeConfig, port: int) -> str:
    shown = f"[{config.host}]" if ":" in config.host else config.host
    how = f"TLS with {config.cert}" if config.ssl_context else "plaintext, no TLS"
    return f"SIP2 server listening on {shown}:{port} ({how})"


async def _stop_when_orphaned(parent: int, stop: asyncio.Event) -> None:
    """Beside `shelfguard serve`: stop when that process is gone (killed, not stopped)."""
    while os.getppid() == parent:
        await asyncio.sleep(1)
    log.warning("SIP2: the process that started this server is gone; stopping")
    stop.set()


def run_serve(options: dict, *, stdout, stderr, handler: Handler | None = None) -> int:
    """Serve until SIGTERM or SIGINT; the exit code of `shelfguard sip2 serve`."""
    import json
    import signal

    from shelfguard.core.home import HomeError

    try:
        config = resolve_config(options)
    except (ServeError, HomeError) as exc:
        stderr.write(f"shelfguard sip2 serve: {exc}\n")
        return 2
    # Connections and refusals at INFO; with --debug every message, through
    # `protocol.mask` (the handlers log them; PINs and patron data hidden).
    logging.getLogger("shelfguard.sip2").setLevel(logging.DEBUG if config.debug else logging.INFO)
    if not logging.getLogger().handlers:
        logging.basicConfig()
    server = Sip2Server(
        host=config.host,
        port=config.port,
        ssl_context=config.ssl_context,
        limits=config.limits,
        handler=handler,
    )

    async def main() -> int:
        try:
            await server.start()
        except OSError as exc:
            stderr.write(
                f"shelfguard sip2 serve: cannot listen on {config.host}:{config.port}: "
                f"{exc.strerror or exc}\n"
            )
            return 1
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signum, stop.set)
        parent = os.environ.get("SHELFGUARD_SIP2_PARENT")
        if parent:
            watcher = asyncio.create_task(_stop_when_orphaned(int(parent), stop))
        if options.get("json"):
            stdout.write(json.dumps(describe(config, server.port)) + "\n")
        else:
            stdout.write(start_line(config, server.port) + "\n")
        stdout.flush()
        await stop.wait()
        if parent:
            watcher.cancel()
        await server.stop()
        if not options.get("json"):
            stdout.write("SIP2 server stopped\n")
            stdout.flush()
        return 0

    return asyncio.run(main())
