"""`shelfguard bin`: the recycle bin of staff deletions.

    shelfguard bin list [--kind KIND] [--json]
    shelfguard bin delete KIND ID [ID ...] [--reason TEXT] [--approval N] [--json]
    shelfguard bin restore ENTRY [--json]
    shelfguard bin purge [--dry-run] [--json]

The work is in `lifecycle.recycle` (through `lifecycle.services`); this
command only translates. Deleting more than `[lifecycle] bulk_threshold`
objects at once needs an approved request (`shelfguard approvals`).
"""

from __future__ import annotations

import json as jsonlib
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from shelfguard.core import progress
from shelfguard.core.actors import Actor
from shelfguard.lifecycle import services

PURPOSE = "recycle bin"
KINDS = list(services.recycle.SPECS)


def _dumps(obj: Any) -> str:
    return jsonlib.dumps(obj, indent=2, sort_keys=True, default=str)


class Command(BaseCommand):
    help = (
        "List, restore and purge the recycle bin; delete objects into it. Entries are kept "
        "[lifecycle] bin_days (default 30), then purged; binned patrons are crypto-erased."
    )

    def add_arguments(self, parser):
        actions = parser.add_subparsers(
            dest="action", required=True, metavar="{list,delete,restore,purge}"
        )

        def sub(name: str, text: str):
            command = actions.add_parser(name, help=text, description=text)
            command.add_argument("--json", action="store_true", dest="as_json", help="print JSON")
            return command

        listing = sub("list", "list what is in the bin, newest first")
        listing.add_argument("--kind", choices=KINDS)
        delete = sub(
            "delete", "move objects to the bin (more than the bulk threshold needs an approval)"
        )
        delete.add_argument("kind", choices=KINDS)
        delete.add_argument("ids", nargs="+", type=int, metavar="ID")
        delete.add_argument("--reason", default="", help="why (no personal details)")
        delete.add_argument("--approval", type=int, help="number of an approved request")
        restore = sub("restore", "put a binned object back exactly, links included")
        restore.add_argument("entry", type=int, metavar="ENTRY")
        purge = sub("purge", "destroy entries past their period (patrons by crypto-erasure)")
        purge.add_argument("--dry-run", action="store_true", help="only say what would go")

    def handle(self, *args, action: str, as_json: bool, **options):
        actor = Actor.cli_operator()
        try:
            if action == "list":
                rows = [
                    services.recycle.entry_dict(e)
                    for e in services.recycle.entries(kind=options["kind"])
                ]
                self._list(rows, as_json)
            elif action == "delete":
                made = services.recycle.delete_many(
                    options["kind"],
                    options["ids"],
                    actor=actor,
                    purpose=PURPOSE,
                    reason=options["reason"],
                    approval=options["approval"],
                )
                data = [services.recycle.entry_dict(e) for e in made]
                if as_json:
                    self.stdout.write(_dumps(data))
                else:
                    for row in data:
                        self.stdout.write(
                            _(
                                "Moved %(kind)s %(id)s to the bin as entry %(entry)s (purged after %(at)s)."
                            )
                            % {
                                "kind": row["kind"],
                                "id": row["object_id"],
                                "entry": row["id"],
                                "at": row["purge_after"],
                            }
                        )
            elif action == "restore":
                entry = services.recycle.restore(options["entry"], actor=actor, purpose=PURPOSE)
                if as_json:
                    self.stdout.write(_dumps(services.recycle.entry_dict(entry)))
                else:
                    self.stdout.write(
                        _("Restored %(kind)s %(id)s (%(rows)d rows).")
                        % {"kind": entry.kind, "id": entry.object_id, "rows": entry.rows}
                    )
            else:
                result = services.recycle.purge(
                    actor=actor,
                    dry_run=options["dry_run"],
                    show_progress=progress.wanted(as_json),
                )
                if as_json:
                    self.stdout.write(_dumps(result))
                else:
                    verb = _("Would purge") if result["dry_run"] else _("Purged")
                    counts = ", ".join(f"{k}: {v}" for k, v in sorted(result["purged"].items()))
                    self.stdout.write(f"{verb}: {counts or _('nothing')}.")
                    if result["refused"]:
                        self.stdout.write(
                            _("Kept (the patron still has obligations): entries %(ids)s.")
                            % {"ids": ", ".join(map(str, result["refused"]))}
                        )
        except (services.BinError, services.ApprovalError) as exc:
            raise CommandError(exc.message) from None
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        except PermissionError as exc:
            raise CommandError(str(exc)) from None

    def _list(self, rows: list[dict[str, Any]], as_json: bool) -> None:
        if as_json:
            self.stdout.write(_dumps(rows))
            return
        if not rows:
            self.stdout.write(_("The recycle bin is empty."))
            return
        for row in rows:
            self.stdout.write(
                f"{row['id']:>6}  {row['kind']:<7} {row['object_id']:>8}  {row['label'][:40]:<40}  "
                f"{row['age_days']:>3}d  {row['deleted_by']}  {row['purge_after'][:10]}"
            )
