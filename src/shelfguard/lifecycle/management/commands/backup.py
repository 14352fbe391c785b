"""`shelfguard backup`: encrypted, verified backups in the age format.

    shelfguard backup create [--to DIR] [--json]
    shelfguard backup keys [--to DIR] [--json]
    shelfguard backup verify FILE --identity IDFILE [--json]
    shelfguard backup restore FILE --identity IDFILE --home DIR [--keys FILE]
                              [--database-url URL] [--yes] [--json]
    shelfguard backup list [--to DIR] [--json]
    shelfguard backup prune [--to DIR] [--dry-run] [--json]
    shelfguard backup status [--json]

Every run is recorded (a `BackupRun` and a ledger entry) through
`lifecycle.services`; this command only translates.
"""

from __future__ import annotations

import json as jsonlib
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from shelfguard.core import progress as progress_bars
from shelfguard.core.actors import Actor
from shelfguard.lifecycle import services

PURPOSE = "backup and recovery"
_PUBLIC = "{create,keys,verify,restore,list,prune,status}"


def _dumps(obj: Any) -> str:
    return jsonlib.dumps(obj, indent=2, sort_keys=True, default=str)


class Command(BaseCommand):
    help = (
        "Create, verify, restore, list and prune encrypted backups (age format). Data backups "
        "are encrypted to [backup] recipients, key backups to [backup] recovery_recipients."
    )

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar=_PUBLIC)

        def sub(name: str, text: str, **kwargs: Any):
            command = actions.add_parser(name, help=text, description=text, **kwargs)
            command.add_argument("--json", action="store_true", dest="as_json", help="print JSON")
            return command

        create = sub("create", "take a consistent, encrypted backup of the data database")
        create.add_argument("--to", type=Path, help="directory (default: $SHELFGUARD_HOME/backups)")
        keys = sub(
            "keys",
            "back up the master key, index key and keystore to [backup] recovery_recipients; "
            "kept only [backup] keys_keep_days",
        )
        keys.add_argument("--to", type=Path, help="directory (default: $SHELFGUARD_HOME/backups)")
        verify = sub(
            "verify",
            "decrypt a backup, check its hash, restore it into a temporary database, compare "
            "row counts, verify its ledger chain and open a sample of sealed fields",
        )
        verify.add_argument("file", type=Path)
        verify.add_argument("--identity", type=Path, required=True, help="age identity file")
        restore = sub(
            "restore",
            "restore a data backup into a data home, re-applying every erasure made since",
        )
        restore.add_argument("file", type=Path)
        restore.add_argument("--identity", type=Path, required=True, help="age identity file")
        restore.add_argument("--home", type=Path, required=True, help="data home to restore into")
        restore.add_argument("--keys", type=Path, help="also restore this keys backup")
        restore.add_argument(
            "--keys-identity", type=Path, help="identity for --keys (default: --identity)"
        )
        restore.add_argument(
            "--database-url",
            help="PostgreSQL backups: the database to restore into (postgres://HOST/DATABASE); "
            "the restored home is configured to use it",
        )
        restore.add_argument(
            "--yes",
            action="store_true",
            help="replace an existing (or the live) data home, or a non-empty target database",
        )
        listing = sub("list", "list backups and what retention would do with each")
        listing.add_argument(
            "--to", type=Path, help="directory (default: $SHELFGUARD_HOME/backups)"
        )
        prune = sub("prune", "delete backups the retention rules no longer keep")
        prune.add_argument("--to", type=Path, help="directory (default: $SHELFGUARD_HOME/backups)")
        prune.add_argument("--dry-run", action="store_true", help="only say what would go")
        sub("status", "last backup and last successful verification, with their ages")
        # Run by `restore` in a child process set up on the staged home.
        sub("finish-restore", "(internal) re-apply the erasure journal to this data home")

    def handle(self, *args, action: str, as_json: bool = False, **options):
        show = progress_bars.wanted(as_json)
        actor = Actor.cli_operator()
        try:
            handler = getattr(self, "_" + action.replace("-", "_"))
            handler(actor=actor, as_json=as_json, show=show, **options)
        except services.BackupError as exc:
            if as_json:
                self.stdout.write(_dumps({"ok": False, "code": exc.code, "error": exc.message}))
            raise CommandError(exc.message) from None

    def _out(self, as_json: bool, data: Any, text: str) -> None:
        self.stdout.write(_dumps(data) if as_json else text)

    def _create(self, *, actor, as_json, show, to=None, **_options):
        created = services.create_backup(
            actor=actor, purpose=PURPOSE, directory=to, show_progress=show
        )
        self._out(
            as_json,
            created.as_dict(),
            _("Backup written: %(file)s (%(size)d bytes, %(seconds).1f s)")
            % {"file": created.path, "size": created.size_bytes, "seconds": created.seconds},
        )

    def _keys(self, *, actor, as_json, show, to=None, **_options):
        created = services.create_keys_backup(
            actor=actor, purpose=PURPOSE, directory=to, show_progress=show
        )
        self._out(
            as_json,
            created.as_dict(),
            _("Keys backup written: %(file)s. It expires after [backup] keys_keep_days.")
            % {"file": created.path},
        )

    def _verify(self, *, actor, as_json, show, file, identity, **_options):
        result = services.verify_backup(
            file, identity, actor=actor, purpose=PURPOSE, show_progress=show
        )
        if as_json:
            self.stdout.write(_dumps(result.as_dict()))
        elif result.ok:
            checks = result.checks
            self.stdout.write(
                _(
                    "Backup verified: %(tables)s tables, %(rows)s rows, %(entries)s ledger "
                    "entries; %(readable)s of %(sampled)s sampled patrons readable, %(erased)s "
                    "erased since."
                )
                % {
                    "tables": checks.get("tables", "-"),
                    "rows": checks.get("rows", "-"),
                    "entries": checks.get("ledger_entries", "-"),
                    "readable": checks.get("sealed_readable", "-"),
                    "sampled": checks.get("sealed_sampled", "-"),
                    "erased": checks.get("expected_erased", "-"),
                }
            )
        else:
            for problem in result.problems:
                self.stderr.write(f"{problem.code}: {problem.message}")
        if not result.ok:
            first = result.problems[0]
            raise CommandError(
                _("backup verification failed (%(count)d problems; first: %(code)s)")
                % {"count": len(result.problems), "code": first.code}
            )

    def _restore(self, *, actor, as_json, show, file, identity, home, **options):
        outcome = services.restore_backup(
            file,
            identity,
            home,
            actor=actor,
            purpose=PURPOSE,
            keys_backup=options.get("keys"),
            keys_identity=options.get("keys_identity"),
            database_url=options.get("database_url"),
            overwrite=options.get("yes", False),
            show_progress=show,
        )
        self._out(
            as_json,
            outcome,
            _(
                "Restored into %(home)s; %(destroyed)d erased keys destroyed again, "
                "%(tombstoned)d patrons erased again."
            )
            % {
                "home": outcome["home"],
                "destroyed": outcome.get("keys_destroyed", 0),
                "tombstoned": outcome.get("tombstoned", 0),
            },
        )

    def _finish_restore(self, *, actor, as_json, show, **_options):
        summary = services.finish_restore(actor=actor, purpose=PURPOSE)
        self._out(as_json, summary, _dumps(summary))

    def _list(self, *, actor, as_json, show, to=None, **_options):
        decisions = services.list_backups(to)
        if as_json:
            self.stdout.write(_dumps([d.as_dict() for d in decisions]))
            return
        if not decisions:
            self.stdout.write(_("No backups yet."))
        for d in decisions:
            mark = _("keep") if d.keep else _("prune")
            self.stdout.write(
                f"{d.backup.path.name}  {d.backup.size:>12}  {mark}  {', '.join(d.reasons)}"
            )

    def _prune(self, *, actor, as_json, show, to=None, dry_run=False, **_options):
        decisions = services.prune_backups(
            actor=actor, purpose=PURPOSE, directory=to, dry_run=dry_run
        )
        gone = [d.backup.path.name for d in decisions if not d.keep]
        data = {
            "dry_run": dry_run,
            "deleted": gone,
            "kept": [d.backup.path.name for d in decisions if d.keep],
        }
        verb = _("Would delete") if dry_run else _("Deleted")
        self._out(as_json, data, f"{verb}: {len(gone)}" + "".join(f"\n  {n}" for n in gone))

    def _status(self, *, actor, as_json, show, **_options):
        report = services.status()
        if as_json:
            self.stdout.write(_dumps(report))
            return
        last, verified = report["last_successful_backup"], report["last_successful_verification"]
        self.stdout.write(_("Last backup: %(at)s") % {"at": last["at"] if last else _("never")})
        self.stdout.write(
            _("Last successful verification: %(at)s")
            % {"at": verified["at"] if verified else _("never")}
        )
