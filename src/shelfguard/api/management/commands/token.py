"""`shelfguard token`: create, list or revoke staff API tokens."""

from __future__ import annotations

import datetime as dt
import json as jsonlib
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from shelfguard.accounts import services as accounts
from shelfguard.api import services
from shelfguard.api.models import ApiToken
from shelfguard.core.actors import Actor

MAX_DAYS = services.MAX_LIFETIME.days
DEFAULT_DAYS = services.DEFAULT_LIFETIME.days


def _days(text: str) -> int:
    try:
        days = int(text)
    except ValueError:
        raise CommandError(f"--expires takes a number of days, not {text!r}.") from None
    if not 1 <= days <= MAX_DAYS:
        raise CommandError(f"--expires must be from 1 to {MAX_DAYS} days.")
    return days


def _scope_help() -> str:
    return " ".join(f"{s.code}: {s.description}" for s in services.SCOPES.values())


class Command(BaseCommand):
    help = "Create, list or revoke staff API tokens."

    def add_arguments(self, parser):
        actions = parser.add_subparsers(
            dest="action", required=True, metavar="{create,list,revoke}"
        )
        create = actions.add_parser(
            "create",
            help="create a token for a staff member and print it once",
            description=(
                "Create an API token for a staff member and print it once: only a keyed hash "
                "is stored, so a lost token cannot be shown again (revoke it and create a new "
                "one). The token never allows more than the staff member's own roles allow, "
                "and its scopes narrow that further. Scopes: " + _scope_help()
            ),
        )
        create.add_argument("--staff", required=True, metavar="USER", help="the staff member")
        create.add_argument(
            "--scope",
            action="append",
            required=True,
            dest="scopes",
            metavar="S",
            choices=list(services.SCOPES),
            help=f"a scope ({', '.join(services.SCOPES)}); repeat for several",
        )
        create.add_argument(
            "--expires",
            metavar="DAYS",
            default=str(DEFAULT_DAYS),
            help=f"lifetime in days (default {DEFAULT_DAYS}, at most {MAX_DAYS})",
        )
        create.add_argument(
            "--name",
            default="",
            metavar="N",
            help="what the token is for, e.g. 'self-check kiosk 2'",
        )
        create.add_argument(
            "--json", action="store_true", dest="as_json", help="print JSON (with the token)"
        )

        listing = actions.add_parser(
            "list",
            help="list tokens (never their secrets)",
            description="List API tokens with their scopes, expiry, last day used and state.",
        )
        listing.add_argument("--staff", metavar="USER", help="only this staff member's tokens")
        listing.add_argument("--json", action="store_true", dest="as_json", help="print JSON")

        revoke = actions.add_parser(
            "revoke",
            help="stop a token working at once",
            description="Revoke a token by its number or its id (sgt_...); it stops working at once.",
        )
        revoke.add_argument(
            "token", metavar="ID", help="the token's number or id, from `token list`"
        )
        revoke.add_argument("--json", action="store_true", dest="as_json")

    def handle(self, *args, action: str, as_json: bool = False, **options):
        actor = Actor.cli_operator()
        try:
            data, text = getattr(self, f"_{action}")(actor=actor, **options)
        except (services.TokenError, accounts.AccountError) as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(jsonlib.dumps(data, ensure_ascii=False) if as_json else text)

    def _create(self, *, actor, staff, scopes, expires, name, **_):
        member = accounts.get_staff(staff)
        days = _days(expires)
        token, secret = services.create_token(
            member, scopes, expires=dt.timedelta(days=days), name=name, actor=actor
        )
        data = {**_token_data(token), "token": secret}
        text = (
            f"Created API token {data['id']} for {member.username} "
            f"(scopes {', '.join(token.scopes)}; expires {data['expires_at']}).\n"
            f"Token: {secret}\n"
            "It is shown only this once. Give it to the program that needs it, which sends it "
            "as `Authorization: Bearer <token>`."
        )
        return data, text

    def _list(self, *, staff=None, **_):
        member = accounts.get_staff(staff) if staff else None
        rows = [_token_data(t) for t in services.list_tokens(member)]
        if not rows:
            return rows, "No API tokens; create one with `shelfguard token create`."
        lines = ["NUMBER  ID  STAFF  SCOPES  STATE  EXPIRES  LAST-USED  NAME"]
        for row in rows:
            lines.append(
                f"{row['number']}  {row['id']}  {row['staff']}  {','.join(row['scopes'])}  "
                f"{row['state']}  {row['expires_at'][:10]}  {row['last_used_on'] or '-'}  "
                f"{row['name'] or '-'}"
            )
        return rows, "\n".join(lines)

    def _revoke(self, *, actor, token, **_):
        found = services.get_token(token)
        revoked = services.revoke_token(found, actor=actor)
        data = _token_data(revoked)
        return data, f"Revoked API token {data['id']} of {revoked.staff.username}."


def _token_data(token: ApiToken) -> dict[str, Any]:
    return {
        "number": token.pk,
        "id": f"sgt_{token.prefix}",
        "staff": token.staff.username,
        "name": token.name,
        "scopes": list(token.scopes),
        "state": services.state_of(token),
        "created_at": token.created_at.isoformat(),
        "expires_at": token.expires_at.isoformat(),
        "last_used_on": token.last_used_on.isoformat() if token.last_used_on else None,
        "revoked_at": token.revoked_at.isoformat() if token.revoked_at else None,
    }
