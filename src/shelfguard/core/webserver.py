"""Running the WSGI application under gunicorn from inside the `shelfguard` command."""

from __future__ import annotations

import ipaddress
import os
import ssl
import subprocess
import sys
from typing import Any

from gunicorn.app.base import BaseApplication

from shelfguard.core import tls


class _ShelfguardApplication(BaseApplication):
    def __init__(self, options: dict[str, Any], trusted_proxy: tls.ProxyAddress | None) -> None:
        self.options = options
        self.trusted_proxy = trusted_proxy
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        from shelfguard.wsgi import application

        return only_proxy_sets_scheme(application, self.trusted_proxy)


def only_proxy_sets_scheme(application, trusted_proxy: tls.ProxyAddress | None):
    """Remove the forwarded-scheme header from every peer but the trusted proxy.

    gunicorn already ignores the header from other peers when it decides the
    request's scheme, but it still passes the header on, and Django's
    `SECURE_PROXY_SSL_HEADER` believes whatever it finds there. A client that
    reaches the application port directly (past the proxy) must not be able
    to claim that its plain-HTTP request was HTTPS.
    """

    def app(environ, start_response):
        if tls.PROXY_SCHEME_META in environ and not _is_peer(environ, trusted_proxy):
            del environ[tls.PROXY_SCHEME_META]
        return application(environ, start_response)

    return app


def _is_peer(environ, trusted_proxy: tls.ProxyAddress | None) -> bool:
    if trusted_proxy is None:
        return False
    try:
        peer = ipaddress.ip_address(environ.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    # An IPv4 proxy may arrive as an IPv4-mapped IPv6 address on a dual-stack socket.
    if isinstance(peer, ipaddress.IPv6Address) and peer.ipv4_mapped is not None:
        peer = peer.ipv4_mapped
    return peer == trusted_proxy


def run_gunicorn(
    *,
    host: str,
    port: int,
    workers: int,
    context: ssl.SSLContext | None = None,
    transport: tls.Transport | None = None,
) -> None:
    """Serve until stopped. With `context`, every connection is TLS with that context."""
    transport = transport or tls.Transport()
    bind = f"[{host.strip('[]')}]:{port}" if ":" in host else f"{host}:{port}"
    proxy = transport.proxy
    options: dict[str, Any] = {
        "bind": bind,
        "workers": workers,
        "worker_class": "gthread",
        "threads": 4,
        "accesslog": None,  # request lines carry search terms: not logged by default
        "errorlog": "-",
        "loglevel": "warning",
        "timeout": 60,
        "graceful_timeout": 10,
        "preload_app": True,
        # Only the named proxy may say a request came over HTTPS, and only with
        # the one header Django is told to read. gunicorn's default trusts every
        # loopback peer and three headers; an empty list trusts nobody.
        "forwarded_allow_ips": _allow_list(proxy),
        "secure_scheme_headers": (
            {tls.PROXY_SCHEME_HEADER.upper(): "https"} if proxy is not None else {}
        ),
    }
    if context is not None:
        # gunicorn decides "this is TLS" from certfile/keyfile and builds its own
        # context from them on every connection; the hook hands it ours instead
        # (TLS 1.2+, AEAD suites only), built and checked once before start.
        assert transport.cert is not None and transport.key is not None
        options["certfile"] = str(transport.cert)
        options["keyfile"] = str(transport.key)
        options["ssl_context"] = _context_hook(context)
        # The handshake happens in the worker thread, not the accepting loop, so
        # one slow or hostile client cannot stall the others.
        options["do_handshake_on_connect"] = False
    _ShelfguardApplication(options, proxy).run()


def _allow_list(proxy: tls.ProxyAddress | None) -> str:
    """gunicorn's trusted-peer list: the proxy, also as seen on a dual-stack socket."""
    if proxy is None:
        return ""
    if isinstance(proxy, ipaddress.IPv4Address):
        return f"{proxy},::ffff:{proxy}"
    return str(proxy)


def _context_hook(context: ssl.SSLContext):
    def ssl_context(config, default_ssl_context_factory):
        return context

    return ssl_context


class SideServerError(RuntimeError):
    """The SIP2 server beside the web server could not start; the message says why."""


def start_sip2_beside(config: dict[str, Any], *, stdout) -> subprocess.Popen | None:
    """Start `shelfguard sip2 serve` as a child when `[sip2] enabled = true`.

    A child process rather than a thread: gunicorn forks its workers from this
    process, and a fork would copy the SIP2 listener's sockets and threads into
    every worker. The child reads the same `[sip2]` settings and environment
    (the web's TLS certificate included) and is stopped when `serve` ends.
    Returns None when SIP2 is not enabled; raises `SideServerError` when it is
    enabled but exits at once (a setting it refuses, the port in use).
    """
    section = config.get("sip2", {})
    if not isinstance(section, dict) or section.get("enabled") is not True:
        return None
    # Its log goes to our stderr as it comes (a pipe nobody reads would fill up
    # and stall it); only the start-up line is read here.
    child = subprocess.Popen(
        [sys.executable, "-m", "shelfguard", "sip2", "serve"],
        stdout=subprocess.PIPE,
        text=True,
        # The child stops by itself if this process dies without stopping it.
        env={**os.environ, "SHELFGUARD_SIP2_PARENT": str(os.getpid())},
    )
    assert child.stdout is not None
    first = child.stdout.readline()  # the start-up line, or nothing when it exits
    if not first:
        child.wait(timeout=30)
        raise SideServerError(
            f"the SIP2 server ([sip2] enabled = true) did not start (exit code "
            f"{child.returncode}); its reason is printed above."
        )
    stdout.write(first)
    stdout.flush()
    return child


def stop_side_server(child: subprocess.Popen | None) -> None:
    """Stop the child gracefully (SIGTERM: calls in flight finish), then for good."""
    if child is None or child.poll() is not None:
        return
    child.terminate()
    try:
        child.wait(timeout=30)
    except subprocess.TimeoutExpired:
        child.kill()
        child.wait()
