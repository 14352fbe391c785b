"""`shelfguard tls self-signed`: a certificate and key for trying TLS out.

A self-signed certificate encrypts, but browsers cannot tell it from an
attacker's until each one is told to trust it (compare the fingerprint
printed here). Use a certificate from a certificate authority in service.
"""

from __future__ import annotations

import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from shelfguard.core import clock, home, tls


class Command(BaseCommand):
    help = "TLS certificates. `self-signed` makes an EC P-256 key and certificate for trials."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
        made = sub.add_parser(
            "self-signed",
            help="make a key and self-signed certificate for trials",
            description=(
                "Make an EC P-256 key (mode 0600) and a self-signed certificate for the "
                "given host names and addresses, in $SHELFGUARD_HOME/tls/ unless --out "
                "says otherwise. For trials only: browsers warn until told to trust it."
            ),
        )
        made.add_argument(
            "--host",
            action="append",
            dest="hosts",
            metavar="NAME",
            help="host name or IP address the certificate is for (repeatable; "
            "default: localhost, 127.0.0.1 and ::1)",
        )
        made.add_argument(
            "--days", type=int, default=90, help="days the certificate is valid (default 90)"
        )
        made.add_argument(
            "--out", metavar="DIR", help="directory for the files (default $SHELFGUARD_HOME/tls)"
        )
        made.add_argument(
            "--force", action="store_true", help="replace an existing certificate and key"
        )
        made.add_argument("--json", action="store_true", dest="as_json", help="print JSON")

    def handle(self, *args, action, **options):
        if action == "self-signed":
            return self._self_signed(**options)
        raise CommandError(f"unknown action {action!r}")

    def _self_signed(self, *, hosts, days, out, force, as_json, **options):
        out_dir = Path(out).expanduser().resolve() if out else home.home_dir() / "tls"
        try:
            made = tls.make_self_signed(
                out_dir,
                hosts or ["localhost", "127.0.0.1", "::1"],
                days=days,
                now=clock.now(),
                replace=force,
            )
        except tls.TransportError as exc:
            raise CommandError(str(exc)) from None
        except OSError as exc:
            raise CommandError(f"Cannot write to {out_dir}: {exc.strerror or exc}.") from None
        summary = {
            "certificate": str(made.cert),
            "key": str(made.key),
            "sha256_fingerprint": made.fingerprint,
            "names": list(made.names),
            "not_after": made.not_after.isoformat(),
            "self_signed": True,
        }
        if as_json:
            self.stdout.write(json.dumps(summary))
            return
        self.stdout.write(f"Certificate: {made.cert}")
        self.stdout.write(f"Key:         {made.key} (mode 0600)")
        self.stdout.write(f"For:         {', '.join(made.names)}")
        self.stdout.write(f"Valid until: {made.not_after:%Y-%m-%d %H:%M} UTC")
        self.stdout.write(f"SHA-256:     {made.fingerprint}")
        self.stdout.write(
            "Self-signed, for trials only: check this fingerprint in the browser before "
            "trusting it. Serve with:\n"
            f"  shelfguard serve --tls-cert {made.cert} --tls-key {made.key}"
        )
