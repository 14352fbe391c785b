"""`shelfguard feedback`: privacy-request reminders and retention (for the job runner)."""

from __future__ import annotations

import json as jsonlib

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.feedback import services
from shelfguard.vault import VaultError


class Command(BaseCommand):
    help = "Privacy-request reminders to the privacy officer, and the end of retention."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="{remind,expire}")
        remind = actions.add_parser(
            "remind",
            help="e-mail the privacy officer the requests due soon or overdue",
            description=(
                "E-mail [privacy] officer_email one list of the open privacy requests due "
                "within [privacy] reminder_days (default 3) or overdue, by reference only. "
                "Nothing is sent when nothing is due. Meant to run once a day."
            ),
        )
        remind.add_argument("--json", action="store_true", dest="as_json", help="print JSON")
        expire = actions.add_parser(
            "expire",
            help="crypto-erase requests past their retention period",
            description=(
                "Destroy the data key of every privacy request closed more than [privacy] "
                "request_retention_days ago (default 1095): its texts and contact address "
                "become unreadable everywhere, backups included. Also deletes rate-limit "
                "counters of past hours."
            ),
        )
        expire.add_argument("--json", action="store_true", dest="as_json", help="print JSON")

    def handle(self, *args, action: str, as_json: bool = False, **options):
        try:
            if action == "remind":
                self._remind(as_json)
            else:
                self._expire(as_json)
        except (ImproperlyConfigured, VaultError) as exc:
            raise CommandError(str(exc)) from None

    def _remind(self, as_json: bool) -> None:
        report = services.send_reminders(clock.now(), actor=Actor.cli_operator())
        if as_json:
            self.stdout.write(jsonlib.dumps(report.as_dict()))
        elif not report.due:
            self.stdout.write("No privacy request is due soon or overdue.")
        elif report.sent:
            self.stdout.write(
                f"Reminded the privacy officer of {report.due} requests "
                f"({report.overdue} overdue): {', '.join(report.references)}."
            )
        if report.due and not report.to_configured:
            raise CommandError(
                f"{report.due} requests are due but [privacy] officer_email is not set in "
                "shelfguard.toml; set it so that reminders can be sent."
            )

    def _expire(self, as_json: bool) -> None:
        erased = services.expire(clock.now(), actor=Actor.cli_operator())
        windows = services.forget_past()
        if as_json:
            self.stdout.write(jsonlib.dumps({"erased": erased, "rate_windows_deleted": windows}))
        else:
            self.stdout.write(
                f"Crypto-erased {erased} privacy requests past their retention period; "
                f"deleted {windows} old rate-limit counters."
            )
