"""`shelfguard privacy register`: print the data-classification register.

The output is the library's record of processing for patron data: every
personal field with its class, purpose, legal basis, retention and how it is
protected, together with this library's choice of optional fields.

`shelfguard privacy report` writes the privacy officer's audit report (the
figures of the /staff/privacy/ dashboard, from `lifecycle.report`).
"""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser

from shelfguard.patrons import register as reg


class Command(BaseCommand):
    help = "Privacy documents generated from Shelfguard's data-classification register."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        show = sub.add_parser(
            "register",
            help="print the register of personal fields (the record of processing)",
            description=(
                "Print every personal field a patron record can hold: class, purpose, legal "
                "basis, retention, whether it is sealed, blind-indexed, masked and exported, "
                "and whether this library collects it ([patrons] collect in shelfguard.toml)."
            ),
        )
        show.add_argument(
            "--format", choices=("md", "json"), default="md", help="Markdown (default) or JSON"
        )
        report = sub.add_parser(
            "report",
            help="the privacy officer's report for an internal audit (HTML, PDF or JSON)",
            description=(
                "The figures of the privacy dashboard: backups and their test restores, the "
                "last retention run, open privacy requests, monitoring alerts, certifications, "
                "break-glass grants, the ledger's verification and reveals per day. Counts, ids "
                "and staff usernames only; making the report is recorded in the ledger."
            ),
        )
        report.add_argument(
            "--format",
            choices=("html", "pdf", "json"),
            default="html",
            help="HTML (default, self-contained), PDF, or JSON (keys in the privacy docs)",
        )
        report.add_argument(
            "--out", metavar="FILE", help="write to FILE (needed for PDF); default: print"
        )
        report.add_argument(
            "--as-of",
            metavar="DATE",
            help="figures as at the end of DATE (YYYY-MM-DD, today or earlier)",
        )

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "report":
            self._report(fmt=options["format"], out=options["out"], as_of=options["as_of"])
            return
        try:
            if options["format"] == "json":
                self.stdout.write(json.dumps(reg.as_document(), ensure_ascii=False, indent=2))
            else:
                self.stdout.write(reg.as_markdown(), ending="")
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None

    def _report(self, *, fmt: str, out: str | None, as_of: str | None) -> None:
        """`privacy report`: gather (recorded in the ledger), render, write."""
        import datetime as dt
        from pathlib import Path

        from shelfguard.core import clock
        from shelfguard.core.actors import Actor
        from shelfguard.lifecycle import report

        moment = None
        if as_of:
            try:
                day = dt.date.fromisoformat(as_of)
            except ValueError:
                raise CommandError(f"--as-of {as_of!r} is not a date like 2026-01-31.") from None
            if day > clock.today():
                raise CommandError(f"--as-of {as_of} is in the future; give today or earlier.")
            moment = report.end_of_day(day)
        if fmt == "pdf" and not out:
            raise CommandError("A PDF is not printed to the terminal: add --out FILE.")
        target = Path(out) if out else None
        if target is not None and not target.parent.is_dir():
            raise CommandError(f"The folder for --out {out} does not exist; create it first.")
        figures = report.gather(
            actor=Actor.cli_operator(), purpose="privacy audit report", output=fmt, now=moment
        )
        if fmt == "pdf":
            data = report.render_pdf(figures)
        else:
            text = report.render_json(figures) if fmt == "json" else report.render_html(figures)
            data = text.encode("utf-8")
        if target is None:
            self.stdout.write(data.decode("utf-8"))
            return
        try:
            target.write_bytes(data)
        except OSError as exc:
            raise CommandError(f"Could not write {out}: {exc.strerror}.") from None
        self.stderr.write(f"Wrote the {fmt.upper()} privacy report to {out}.")
