"""`shelfguard portal`: account closures and "download my data" files, for the operator.

`closures list` shows pending (and on-hold) closure requests by patron id,
for the privacy officer; `closures run` erases the patrons whose cooling-off
period is over (the job runner will schedule it); `exports purge` deletes
export files older than 24 hours. Every run is safe to repeat or to kill:
each closure and each purged file is its own transaction.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Q

from shelfguard.core import clock, progress
from shelfguard.core.actors import Actor
from shelfguard.patrons.validation import PatronError
from shelfguard.portal import services
from shelfguard.portal.models import ClosureRequest

LIST_PURPOSE = "privacy officer review of account closures"


class Command(BaseCommand):
    help = (
        "Patron account closures (list, run the due erasures) and the purge of "
        "'download my data' files."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="area", required=True, metavar="AREA")
        closures = sub.add_parser(
            "closures", help="account closures the patrons asked for in the portal"
        )
        actions = closures.add_subparsers(dest="action", required=True, metavar="ACTION")
        listing = actions.add_parser(
            "list",
            help="list pending and on-hold closures (patron ids, dates, reasons)",
            description=(
                "List the closure requests still open: the patron id, when it was asked, "
                "when the patron is erased, and why a closure is on hold. The listing is "
                "recorded in the access ledger."
            ),
        )
        listing.add_argument("--all", action="store_true", help="include cancelled and done ones")
        listing.add_argument("--json", action="store_true", dest="as_json", help="print JSON")
        run = actions.add_parser(
            "run",
            help="erase the patrons whose cooling-off period is over",
            description=(
                "Erase every patron whose closure is due, each in its own transaction. A "
                "patron who owes something again is put on hold (the reason is shown to "
                "them at sign-in) and tried again at the next run. Safe to rerun."
            ),
        )
        run.add_argument("--json", action="store_true", dest="as_json", help="print JSON")
        exports = sub.add_parser("exports", help="'download my data' files")
        export_actions = exports.add_subparsers(dest="action", required=True, metavar="ACTION")
        purge = export_actions.add_parser(
            "purge",
            help="delete export files (and their keys) older than 24 hours",
            description=(
                "Delete every export file older than 24 hours, downloaded or not, with its "
                "key (without the key, any copy left on the disk cannot be read)."
            ),
        )
        purge.add_argument("--json", action="store_true", dest="as_json", help="print JSON")

    def handle(self, *args: Any, area: str, action: str, **options: Any) -> None:
        as_json = options["as_json"]
        try:
            if area == "closures" and action == "list":
                self._list(include_ended=options["all"], as_json=as_json)
            elif area == "closures":
                self._run(as_json=as_json)
            else:
                self._purge(as_json=as_json)
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        except PatronError as exc:
            raise CommandError(str(exc)) from None

    def _list(self, *, include_ended: bool, as_json: bool) -> None:
        rows = services.list_closures(
            actor=Actor.cli_operator(), purpose=LIST_PURPOSE, include_ended=include_ended
        )
        if as_json:
            self.stdout.write(json.dumps(rows))
            return
        if not rows:
            self.stdout.write("No closure requests are open.")
            return
        for row in rows:
            line = (
                f"patron {row['patron']}: {row['status']}, asked {row['requested_at'][:16]}, "
                f"erased after {row['erase_after'][:16]}"
            )
            if row["hold_reason"]:
                line += f" (on hold: {row['hold_reason']})"
            self.stdout.write(line)

    def _run(self, *, as_json: bool) -> None:
        now = clock.now()
        open_statuses = [ClosureRequest.Status.PENDING, ClosureRequest.Status.ON_HOLD]
        total = ClosureRequest.objects.filter(
            Q(status__in=open_statuses) & Q(erase_after__lte=now)
        ).count()
        with progress.count_progress(total, "Closing accounts", progress.wanted(as_json)) as bar:
            step = (lambda: bar.advance(bar.task_ids[0])) if bar else None
            result = services.run_due_closures(now, progress=step)
        if as_json:
            self.stdout.write(json.dumps(result.as_dict()))
            return
        self.stdout.write(
            f"Erased {len(result.erased)} patron(s); {len(result.on_hold)} closure(s) on hold "
            "because something is owed again."
        )
        for patron_id in result.on_hold:
            self.stdout.write(f"  on hold: patron {patron_id}")

    def _purge(self, *, as_json: bool) -> None:
        count = services.purge_exports()
        if as_json:
            self.stdout.write(json.dumps({"purged": count}))
        else:
            self.stdout.write(f"Deleted {count} export file(s) older than 24 hours.")
