"""The `shelfguard` command: a thin front over Django management commands.

`shelfguard import-marc FILE` runs the `import_marc` management command;
`shelfguard` alone (or `--help`) lists Shelfguard's own commands.
"""

from __future__ import annotations

import os
import sys

# Commands that may run before `shelfguard init` has created the data home.
_BEFORE_INIT = {"init", "demo", "help", "version", "makemigrations"}

_COMMANDS = {
    "init": "create or update the data home and database",
    "demo": "set up a demo library with real LC records and serve it",
    "serve": "run the web server (OPAC, API, staff pages), over TLS when configured",
    "tls": "make a self-signed certificate for trials",
    "check": "check the installation (`check --deploy` before going live)",
    "branch": "list or add branches",
    "import-marc": "import MARC21 records (ISO 2709, MARCXML, MARC-in-JSON)",
    "export-marc": "export the stored MARC records",
    "items": "import items (copies) from CSV",
    "search": "search the catalogue",
    "reindex": "rebuild the catalogue search index",
    "patron": "import, register, show or erase patrons; portal passwords",
    "portal": "patron account closures (list, run) and purge of data-export files",
    "circ": "loan rules, calendars, lending and holds; notice and hold-expiry jobs",
    "token": "create, list or revoke staff API tokens",
    "privacy": "the data-classification register; the privacy officer's audit report",
    "audit": "verify, checkpoint, query or prune the access ledger",
    "monitoring": "access anomaly scan, alerts and their review, decoy patron records",
    "jobs": "scheduled jobs: status (last and next run), run one now",
    "worker": "run the job schedule (retention, backups, notices, checkpoints)",
    "retention": "run the retention sweep (--dry-run: count what is due)",
    "keys": "show key status, rotate the master key or the blind-index key",
    "backup": "create, verify, restore, list and prune encrypted backups (age format)",
    "bin": "recycle bin of staff deletions: list, delete, restore, purge",
    "approvals": "four-eyes approval of bulk actions: request, list, approve, reject",
    "staff": "create, enrol, certify, list or disable staff accounts",
    "sip2": "self-check terminals and the SIP2 server",
    "feedback": "privacy-request reminders to the privacy officer; end of retention",
}


def _usage() -> str:
    width = max(len(name) for name in _COMMANDS)
    lines = [
        "usage: shelfguard COMMAND [options]",
        "",
        "Shelfguard, a privacy-first library system. Commands:",
        *(f"  {name.ljust(width)}  {text}" for name, text in _COMMANDS.items()),
        "",
        "`shelfguard COMMAND --help` explains one command.",
        "Data lives in $SHELFGUARD_HOME (default: ~/.local/share/shelfguard).",
        "Django's own management commands are also available (e.g. `shelfguard migrate`).",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in {"-h", "--help", "help"}:
        print(_usage())
        return 0
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shelfguard.settings")
    command = argv[0].replace("-", "_")

    from shelfguard.core.home import HomeError, home_dir, is_initialised

    try:
        asks_help = "--help" in argv or "-h" in argv
        if argv[0] not in _BEFORE_INIT and not asks_help and not is_initialised():
            print(
                f"shelfguard: {home_dir()} is not set up yet; run `shelfguard init` first.",
                file=sys.stderr,
            )
            return 2
        import django

        django.setup()
    except HomeError as exc:
        print(f"shelfguard: {exc}", file=sys.stderr)
        return 2

    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(["shelfguard", command, *argv[1:]])
    except KeyboardInterrupt:
        print("shelfguard: interrupted", file=sys.stderr)
        return 130
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else 1
    return 0
