"""`shelfguard sip2`: self-check terminals, and the SIP2 server.

Terminals are changed through `sip2.services` as the CLI operator with a
purpose, so each change is recorded in the access ledger. Passwords are
read from a file (its first line), never from the command line, where they
would be left in the shell history and the process list. `serve` hands over
to the listener (`sip2.server`).
"""

from __future__ import annotations

import json as jsonlib
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from shelfguard.core.actors import Actor
from shelfguard.sip2 import services
from shelfguard.sip2.models import NameDisplay

CLI_PURPOSE = "terminal administration"


def _json_flag(parser) -> None:
    parser.add_argument("--json", action="store_true", dest="as_json", help="print JSON")


def _password_file(parser) -> None:
    parser.add_argument(
        "--password-file",
        type=Path,
        required=True,
        metavar="F",
        help="read the terminal's password from this file (first line); never on the command line",
    )


def _read_password(path: Path) -> str:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise CommandError(f"Cannot read the password file: {exc}") from None
    if not lines or not lines[0]:
        raise CommandError("The password file is empty; put the password on its first line.")
    return lines[0]


class Command(BaseCommand):
    help = "Self-check terminals (SIP2 accounts) and the SIP2 server."

    def add_arguments(self, parser):
        parser.add_argument(
            "--purpose", default=CLI_PURPOSE, help="why (recorded in the access ledger)"
        )
        actions = parser.add_subparsers(
            dest="action",
            required=True,
            metavar="{add-terminal,list-terminals,disable-terminal,enable-terminal,"
            "set-password,serve}",
        )
        add = actions.add_parser(
            "add-terminal",
            help="add a self-check terminal",
            description="Add a terminal: the login and password the machine sends in its SIP2 "
            "login (93), and the branch it lends at.",
        )
        add.add_argument("login")
        add.add_argument("--branch", required=True, metavar="CODE", help="branch code")
        _password_file(add)
        add.add_argument(
            "--allow-plaintext",
            action="store_true",
            help="UNSAFE on an untrusted network: allow sign-in without TLS (passwords and "
            "PINs then travel in clear); reported by `shelfguard check --deploy`",
        )
        add.add_argument(
            "--encoding",
            default="utf-8",
            choices=services.ENCODINGS,
            help="the machine's character encoding (default utf-8)",
        )
        add.add_argument(
            "--allow-from",
            nargs="+",
            default=[],
            metavar="CIDR",
            help="addresses or networks the machine may connect from (default: any)",
        )
        add.add_argument(
            "--name-display",
            default=NameDisplay.FIRST,
            choices=NameDisplay.values,
            help="how much of a patron's name the machine shows (default: first)",
        )
        _json_flag(add)

        listing = actions.add_parser("list-terminals", help="list the terminals")
        _json_flag(listing)
        for name, text in (
            ("disable-terminal", "stop a terminal signing in (and close its connection)"),
            ("enable-terminal", "let a disabled terminal sign in again"),
        ):
            sub = actions.add_parser(name, help=text)
            sub.add_argument("login")
            _json_flag(sub)
        password = actions.add_parser("set-password", help="give a terminal a new password")
        password.add_argument("login")
        _password_file(password)
        _json_flag(password)

        serve = actions.add_parser("serve", help="run the SIP2 server")
        try:
            from shelfguard.sip2.server import add_serve_arguments
        except ImportError:
            serve.description = "The SIP2 server is not part of this installation."
        else:
            add_serve_arguments(serve)

    def handle(self, *args, action: str, purpose: str, **options) -> None:
        if action == "serve":
            self._serve(options)
            return
        self.actor = Actor.cli_operator()
        self.purpose = purpose
        self.as_json = options.get("as_json", False)
        try:
            data, text = getattr(self, "_" + action.replace("-", "_"))(**options)
        except services.TerminalError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(jsonlib.dumps(data, ensure_ascii=False) if self.as_json else text)

    def _serve(self, options: dict[str, Any]) -> None:
        try:
            from shelfguard.sip2.server import run_serve
        except ImportError:
            raise CommandError("The SIP2 server is not part of this installation.") from None
        code = run_serve(options, stdout=self.stdout, stderr=self.stderr)
        if code:
            raise SystemExit(code)

    def _describe(self, login: str) -> dict[str, Any]:
        return next(t for t in services.list_terminals() if t["login"] == login)

    def _add_terminal(self, *, login, branch, password_file, **options):
        terminal = services.add_terminal(
            login,
            branch=branch,
            password=_read_password(password_file),
            allow_plaintext=options["allow_plaintext"],
            encoding=options["encoding"],
            allow_from=options["allow_from"],
            name_display=options["name_display"],
            actor=self.actor,
            purpose=self.purpose,
        )
        text = f"Added terminal {terminal.login} at branch {terminal.branch.code}."
        if terminal.allow_plaintext:
            text += " It may sign in without TLS: use this only on a trusted network."
        return self._describe(terminal.login), text

    def _list_terminals(self, **_):
        rows = services.list_terminals()
        if not rows:
            return rows, "No terminals yet; add one with `shelfguard sip2 add-terminal`."
        lines = [
            f"{r['login']:<20} {r['branch']:<8} {'enabled' if r['enabled'] else 'disabled':<9}"
            f" {r['encoding']:<8} names:{r['name_display']:<6}"
            f"{' PLAINTEXT' if r['allow_plaintext'] else ''}"
            f"{' from ' + ','.join(r['allow_from']) if r['allow_from'] else ''}"
            for r in rows
        ]
        return rows, "\n".join(lines)

    def _disable_terminal(self, *, login, **_):
        terminal = services.disable_terminal(login, actor=self.actor, purpose=self.purpose)
        return self._describe(terminal.login), f"Terminal {terminal.login} is disabled."

    def _enable_terminal(self, *, login, **_):
        terminal = services.enable_terminal(login, actor=self.actor, purpose=self.purpose)
        return self._describe(terminal.login), f"Terminal {terminal.login} is enabled."

    def _set_password(self, *, login, password_file, **_):
        terminal = services.set_terminal_password(
            login, _read_password(password_file), actor=self.actor, purpose=self.purpose
        )
        return self._describe(terminal.login), f"Terminal {terminal.login} has a new password."
