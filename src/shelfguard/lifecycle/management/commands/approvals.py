"""`shelfguard approvals`: four-eyes approval of bulk actions.

    shelfguard approvals request ACTION [--kind KIND] --ids ID [ID ...] --reason TEXT [--json]
    shelfguard approvals list [--status STATUS] [--json]
    shelfguard approvals approve N [--json]
    shelfguard approvals reject N [--json]

Actions: `bulk_delete` (with --kind: binning more than [lifecycle]
bulk_threshold objects) and `erase_patrons` (patron ids, more than one).
The requester cannot approve their own request; see docs/privacy/four-eyes.md.
"""

from __future__ import annotations

import json as jsonlib
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from shelfguard.core.actors import Actor
from shelfguard.lifecycle import services

PURPOSE = "four-eyes approval"


def _dumps(obj: Any) -> str:
    return jsonlib.dumps(obj, indent=2, sort_keys=True, default=str)


class Command(BaseCommand):
    help = (
        "Request, list, approve and reject four-eyes approvals of bulk actions; requests "
        "expire after [lifecycle] approval_hours (default 24)."
    )

    def add_arguments(self, parser):
        actions = parser.add_subparsers(
            dest="action", required=True, metavar="{request,list,approve,reject}"
        )

        def sub(name: str, text: str):
            command = actions.add_parser(name, help=text, description=text)
            command.add_argument("--json", action="store_true", dest="as_json", help="print JSON")
            return command

        ask = sub("request", "ask a second person to approve one bulk action")
        ask.add_argument("kind_of_action", choices=services.approvals.ACTIONS, metavar="ACTION")
        ask.add_argument("--kind", choices=list(services.recycle.SPECS), help="for bulk_delete")
        ask.add_argument("--ids", nargs="+", type=int, required=True, help="object or patron ids")
        ask.add_argument("--reason", required=True, help="why (no personal details)")
        listing = sub("list", "list requests, newest first")
        listing.add_argument("--status", choices=[s.value for s in services.approvals.Status])
        for name, text in (
            ("approve", "approve a request (not your own)"),
            ("reject", "reject a request"),
        ):
            decide = sub(name, text)
            decide.add_argument("request", type=int, metavar="N")

    def handle(self, *args, action: str, as_json: bool, **options):
        actor = Actor.cli_operator()
        approvals = services.approvals
        try:
            if action == "request":
                params: dict[str, Any] = (
                    {"kind": options["kind"] or "", "ids": options["ids"]}
                    if options["kind_of_action"] == approvals.BULK_DELETE
                    else {"patron_ids": options["ids"]}
                )
                row = approvals.request(
                    options["kind_of_action"],
                    params,
                    actor=actor,
                    purpose=PURPOSE,
                    reason=options["reason"],
                )
                self._one(row, as_json, _("Request %(id)d made; it expires at %(at)s."))
            elif action == "list":
                rows = [
                    approvals.request_dict(r) for r in approvals.listing(status=options["status"])
                ]
                if as_json:
                    self.stdout.write(_dumps(rows))
                elif not rows:
                    self.stdout.write(_("No approval requests."))
                else:
                    for r in rows:
                        self.stdout.write(
                            f"{r['id']:>5}  {r['status']:<9} {r['action']:<14} {r['count']:>6}  "
                            f"{r['requested_by']}  {r['expires_at'][:16]}  {r['reason'][:40]}"
                        )
            else:
                decide = approvals.approve if action == "approve" else approvals.reject
                row = decide(options["request"], actor=actor, purpose=PURPOSE)
                self._one(row, as_json, _("Request %(id)d is now %(status)s."))
        except (services.ApprovalError, services.BinError) as exc:
            raise CommandError(exc.message) from None
        except (ImproperlyConfigured, PermissionError) as exc:
            raise CommandError(str(exc)) from None

    def _one(self, row, as_json: bool, text: str) -> None:
        data = services.approvals.request_dict(row)
        if as_json:
            self.stdout.write(_dumps(data))
        else:
            self.stdout.write(text % {"id": row.pk, "at": data["expires_at"], "status": row.status})
