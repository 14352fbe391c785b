"""`shelfguard serve`: the production web server (gunicorn) with static files from WhiteNoise.

Patron data never crosses a network in clear: any address but loopback is
served only over TLS (`--tls-cert`/`--tls-key`, or `[web] tls_cert`/`tls_key`)
or behind a named proxy that terminates TLS (`--behind-proxy ADDR`).
With `[sip2] enabled = true` in shelfguard.toml the SIP2 server for
self-check machines (`shelfguard sip2 serve`) runs beside it.
"""

from __future__ import annotations

import ipaddress
import multiprocessing
import os
import signal
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from shelfguard.core import home, tls
from shelfguard.core.webserver import (
    SideServerError,
    run_gunicorn,
    start_sip2_beside,
    stop_side_server,
)

_LOOPBACK_NAMES = {"127.0.0.1", "localhost", "[::1]", "::1"}


def _exit_on_sigterm(signum, frame):
    raise SystemExit(128 + signum)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _configured_transport() -> tls.Transport:
    """What the environment and shelfguard.toml configure, before the flags."""
    return tls.transport_from(os.environ, settings.CONFIG.get("web", {}), home=home.home_dir())


def resolve_transport(
    *, tls_cert: str | None, tls_key: str | None, behind_proxy: str | None
) -> tls.Transport:
    """The flags over the configuration: a flag replaces the configured value."""
    configured = _configured_transport()
    if bool(tls_cert) != bool(tls_key):
        raise CommandError("--tls-cert and --tls-key go together: give both, or neither.")
    cert = Path(tls_cert).expanduser().resolve() if tls_cert else configured.cert
    key = Path(tls_key).expanduser().resolve() if tls_key else configured.key
    proxy = tls.parse_proxy_address(behind_proxy) if behind_proxy else configured.proxy
    return tls.Transport(
        cert=cert,
        key=key,
        proxy=proxy,
        hsts_include_subdomains=configured.hsts_include_subdomains,
        hsts_preload=configured.hsts_preload,
    )


def apply_transport(transport: tls.Transport) -> None:
    """Make this process and every process it starts serve `transport`.

    Settings were read when the command started, before the flags were known;
    gunicorn loads the application (and Django's middleware reads these
    settings) only after this, so the live settings object is updated. The
    environment carries the same choice to anything that reads settings anew.
    """
    os.environ.update(tls.environment_for_workers(transport))
    for name, value in tls.django_settings(transport).items():
        setattr(settings, name, value)


class Command(BaseCommand):
    help = (
        "Serve Shelfguard with gunicorn. Without TLS only the loopback interface is "
        "served (plain HTTP, for trials and a TLS proxy on the same machine). Other "
        "addresses need --tls-cert and --tls-key (or [web] tls_cert and tls_key in "
        "shelfguard.toml), or --behind-proxy naming the proxy that terminates TLS."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
        parser.add_argument("--port", type=int, default=8000, help="port (default 8000)")
        parser.add_argument(
            "--workers",
            type=int,
            default=min(4, multiprocessing.cpu_count() + 1),
            help="worker processes (default: cores + 1, at most 4)",
        )
        parser.add_argument("--tls-cert", metavar="FILE", help="TLS certificate chain (PEM)")
        parser.add_argument("--tls-key", metavar="FILE", help="TLS private key (PEM, mode 0600)")
        parser.add_argument(
            "--behind-proxy",
            metavar="ADDR",
            help=(
                "IP address of the one proxy that terminates TLS and forwards to this "
                "server; only it may mark a request as HTTPS (X-Forwarded-Proto)"
            ),
        )

    def handle(
        self, *args, host, port, workers, tls_cert=None, tls_key=None, behind_proxy=None, **options
    ):
        if not 0 < port < 65536:
            raise CommandError("--port must be between 1 and 65535.")
        if workers < 1:
            raise CommandError("--workers must be at least 1.")
        try:
            transport = resolve_transport(
                tls_cert=tls_cert, tls_key=tls_key, behind_proxy=behind_proxy
            )
            context = (
                tls.server_context(transport.cert, transport.key) if transport.direct_tls else None
            )
        except tls.TransportError as exc:
            raise CommandError(str(exc)) from None

        if not transport.https and not is_loopback(host):
            raise CommandError(
                f"Refusing to serve {host} without TLS: patron data must never cross a "
                "network in clear. Give --tls-cert FILE --tls-key FILE (`shelfguard tls "
                "self-signed` makes a trial pair), or name the proxy that terminates TLS "
                "with --behind-proxy ADDR, or serve on 127.0.0.1."
            )
        if transport.proxy is not None and transport.proxy.is_unspecified:
            raise CommandError(
                f"--behind-proxy {transport.proxy} names no machine; give the proxy's own address."
            )

        apply_transport(transport)
        scheme = "https" if transport.direct_tls else "http"
        shown = f"[{host.strip('[]')}]" if ":" in host else host
        self.stdout.write(f"Serving {scheme}://{shown}:{port}/ ({transport.describe()})")
        if not is_loopback(host) and not set(settings.ALLOWED_HOSTS) - _LOOPBACK_NAMES:
            self.stderr.write(
                "Note: only localhost names are allowed; requests for any other host name "
                "are refused. Add the site's name to [web] allowed_hosts in shelfguard.toml."
            )
        # Until gunicorn installs its own handler, SIGTERM must unwind through the
        # `finally` below, or the SIP2 child would outlive this process.
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
        try:
            sip2 = start_sip2_beside(settings.CONFIG, stdout=self.stdout)
        except SideServerError as exc:
            raise CommandError(str(exc)) from None
        # The job schedule runs in this (the gunicorn master) process, once per
        # data home; the forked workers never run it. Off with [jobs] in_process.
        from django.core.exceptions import ImproperlyConfigured

        from shelfguard.jobs.runner import start_in_process

        try:
            scheduler = start_in_process()
        except ImproperlyConfigured as exc:
            stop_side_server(sip2)
            raise CommandError(str(exc)) from None
        if scheduler is not None:
            self.stdout.write(f"Running the job schedule in-process ({len(scheduler.jobs)} jobs).")
        try:
            run_gunicorn(
                host=host, port=port, workers=workers, context=context, transport=transport
            )
        finally:
            if scheduler is not None:
                scheduler.stop()
            stop_side_server(sip2)
