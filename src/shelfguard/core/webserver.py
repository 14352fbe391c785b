"""Running the WSGI application under gunicorn from inside the `shelfguard` command."""

from __future__ import annotations

import ipaddress
import ssl
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
