"""`shelfguard branch`: list the library's branches or add one."""

from __future__ import annotations

import json as jsonlib
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from shelfguard.core.actors import Actor
from shelfguard.core.models import Branch
from shelfguard.core.services import BranchError, add_branch


class Command(BaseCommand):
    help = "List the library's branches (service points) or add one."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="{add,list}")

        add = actions.add_parser(
            "add",
            help="add a branch",
            description="Add a branch. The code is 1–16 capital letters, digits, '-' or '_'.",
        )
        add.add_argument("code", help="short code printed on labels and receipts, e.g. EAST")
        add.add_argument("--name", required=True, help="the branch's name, e.g. 'East Branch'")
        add.add_argument(
            "--json", action="store_true", dest="as_json", help="print the new branch as JSON"
        )

        listing = actions.add_parser(
            "list", help="list the branches", description="List the branches."
        )
        listing.add_argument(
            "--json", action="store_true", dest="as_json", help="print a JSON array of branches"
        )

    def handle(self, *args, action: str, as_json: bool = False, **options):
        if action == "add":
            self._add(options["code"], options["name"], as_json=as_json)
        else:
            self._list(as_json=as_json)

    def _add(self, code: str, name: str, *, as_json: bool) -> None:
        try:
            branch = add_branch(code, name, actor=Actor.cli_operator())
        except BranchError as exc:
            raise CommandError(str(exc)) from exc
        if as_json:
            self.stdout.write(_dumps(_branch_data(branch)))
        else:
            self.stdout.write(f"Added branch {branch.code} ({branch.name}).")

    def _list(self, *, as_json: bool) -> None:
        branches = list(Branch.objects.order_by("code"))
        if as_json:
            self.stdout.write(_dumps([_branch_data(b) for b in branches]))
            return
        if not branches:
            self.stdout.write(
                "No branches yet; add one with `shelfguard branch add CODE --name NAME`."
            )
            return
        width = max(len("CODE"), *(len(b.code) for b in branches))
        self.stdout.write(f"{'CODE'.ljust(width)}  NAME")
        for branch in branches:
            self.stdout.write(f"{branch.code.ljust(width)}  {branch.name}")


def _branch_data(branch: Branch) -> dict[str, Any]:
    return {"code": branch.code, "name": branch.name, "created_at": branch.created_at.isoformat()}


def _dumps(obj: Any) -> str:
    return jsonlib.dumps(obj, ensure_ascii=False)
