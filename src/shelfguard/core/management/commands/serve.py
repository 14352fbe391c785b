"""`shelfguard serve`: the production web server (gunicorn) with static files from WhiteNoise."""

from __future__ import annotations

import ipaddress
import multiprocessing

from django.core.management.base import BaseCommand, CommandError

from shelfguard.core.webserver import run_gunicorn


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Command(BaseCommand):
    help = (
        "Serve Shelfguard over HTTP on the loopback interface. Serving other addresses "
        "needs TLS, which arrives with the access-control work; until then put a TLS "
        "proxy on the same machine in front of the loopback port."
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

    def handle(self, *args, host, port, workers, **options):
        if not is_loopback(host):
            raise CommandError(
                f"Refusing to serve {host} without TLS: patron data must never cross a "
                "network in clear. Serve on 127.0.0.1 and put a TLS-terminating proxy in front."
            )
        if not 0 < port < 65536:
            raise CommandError("--port must be between 1 and 65535.")
        if workers < 1:
            raise CommandError("--workers must be at least 1.")
        run_gunicorn(host=host, port=port, workers=workers)
