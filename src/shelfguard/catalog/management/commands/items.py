"""`shelfguard items import CSV`: add copies to the catalogue."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from shelfguard.catalog.services import ITEM_COLUMNS, CatalogError, import_items_csv
from shelfguard.core.actors import Actor

_SHOWN_PROBLEMS = 20


class Command(BaseCommand):
    help = "Work with items (physical copies). `items import FILE.csv` adds them in bulk."

    def add_arguments(self, parser):
        sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        imp = sub.add_parser(
            "import",
            help="import items from CSV",
            description=(
                f"Import items from a CSV file whose first line names the columns "
                f"{','.join(ITEM_COLUMNS)}[,location]. Bad rows are rejected with their "
                "line numbers; the rest are imported."
            ),
        )
        imp.add_argument("file", help="the CSV file (UTF-8)")
        imp.add_argument("--json", action="store_true", dest="as_json", help="print JSON")

    def handle(self, *args, action, file, as_json, **options):
        try:
            with open(file, encoding="utf-8-sig", newline="") as text:
                report = import_items_csv(text, actor=Actor.cli_operator())
        except OSError as exc:
            raise CommandError(f"Cannot read {file}: {exc.strerror}.") from exc
        except UnicodeDecodeError as exc:
            raise CommandError(f"{file} is not UTF-8 text; save it as UTF-8 CSV.") from exc
        except CatalogError as exc:
            raise CommandError(str(exc)) from exc
        if as_json:
            self.stdout.write(json.dumps(report.as_dict(), ensure_ascii=False))
            return
        self.stdout.write(f"Imported {report.imported} items, rejected {report.rejected}.")
        for problem in report.problems[:_SHOWN_PROBLEMS]:
            self.stdout.write(f"  {problem.where}: {problem.reason}")
        if len(report.problems) > _SHOWN_PROBLEMS:
            self.stdout.write(f"  … and {len(report.problems) - _SHOWN_PROBLEMS} more (--json)")
