"""`shelfguard privacy register`: print the data-classification register.

The output is the library's record of processing for patron data: every
personal field with its class, purpose, legal basis, retention and how it is
protected, together with this library's choice of optional fields.
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

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        try:
            if options["format"] == "json":
                self.stdout.write(json.dumps(reg.as_document(), ensure_ascii=False, indent=2))
            else:
                self.stdout.write(reg.as_markdown(), ending="")
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
