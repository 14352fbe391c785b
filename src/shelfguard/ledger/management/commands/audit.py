"""`shelfguard audit`: verify, checkpoint, read and prune the access ledger."""

from __future__ import annotations

import datetime as dt
import importlib
import importlib.util
import inspect
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils import timezone

from shelfguard.core import progress as progress_bars
from shelfguard.core.actors import Actor
from shelfguard.core.home import HomeError
from shelfguard.ledger import checkpoints, services
from shelfguard.ledger.errors import (
    ChainBroken,
    CheckpointError,
    CheckpointHookError,
    InvalidEntry,
)
from shelfguard.ledger.models import Entry
from shelfguard.ledger.verify import verify

#: Exit status when the ledger does not verify (1 means the command itself failed).
EXIT_TAMPERED = 3
_SHOWN_PROBLEMS = 20


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a date like 2026-01-31") from None


_date.__name__ = "date"  # argparse names the type in its error message


def _dumps(obj: Any) -> str:
    # ASCII-only: every control character, and C1 codes such as the one-byte
    # CSI that some terminals obey, arrives escaped.
    return json.dumps(obj, ensure_ascii=True)


def _safe(text: str) -> str:
    """Text for a terminal: shown as is when printable, JSON-escaped otherwise."""
    return text if text.isprintable() else json.dumps(text, ensure_ascii=True)[1:-1]


def _entry_data(entry: Entry) -> dict[str, Any]:
    return {
        "seq": entry.seq,
        "at": entry.at.astimezone(dt.UTC).isoformat(),
        "actor_kind": entry.actor_kind,
        "actor_id": entry.actor_id,
        "channel": entry.channel,
        "action": entry.action,
        "patron_id": entry.patron_id,
        "fields": entry.fields,
        "purpose": entry.purpose,
        "origin": entry.origin,
        "detail": entry.detail,
    }


class Command(BaseCommand):
    help = (
        "Verify, checkpoint, read and prune the access ledger: the hash-chained record of "
        "every look at patron data. `audit verify` exits 0 when the chain and its signed "
        f"checkpoints agree and {EXIT_TAMPERED} when they do not (1: the command failed)."
    )

    def add_arguments(self, parser):
        actions = parser.add_subparsers(
            dest="action", required=True, metavar="{verify,checkpoint,query,prune}"
        )

        check = actions.add_parser(
            "verify",
            help="recompute the chain and compare it with the signed checkpoints",
            description=(
                "Recompute every entry's hash and the links between them, and compare the "
                "chain with its head, prune anchors and signed checkpoints. Names the first "
                "bad sequence number and what is wrong: altered, missing, reordered, "
                f"truncated or checkpoint. Exit 0: verified; {EXIT_TAMPERED}: it does not "
                "verify; 1: the check could not run."
            ),
        )
        check.add_argument(
            "--json", action="store_true", dest="as_json", help="print a JSON report"
        )

        sign = actions.add_parser(
            "checkpoint",
            help="sign the chain head into a checkpoint file and ship it",
            description=(
                "Verify the chain since the last checkpoint, sign its head with the ledger key "
                "into $SHELFGUARD_HOME/ledger-checkpoints/<seq>.json and run "
                "`[ledger] checkpoint_hook` with the file's path to ship it off this machine. "
                "Run it regularly (e.g. hourly from cron)."
            ),
        )
        sign.add_argument("--json", action="store_true", dest="as_json", help="print JSON")

        read = actions.add_parser(
            "query",
            help="list accesses to one patron's record, or by one staff member",
            description=(
                "List the ledger entries about one patron or by one actor, oldest first. "
                "Reading the ledger is itself recorded in the ledger."
            ),
        )
        who = read.add_mutually_exclusive_group(required=True)
        who.add_argument("--patron-id", type=int, metavar="ID", help="the patron's record id")
        who.add_argument("--patron", metavar="CARD", help="the patron's library card number")
        who.add_argument("--actor", metavar="USER", help="a staff user, terminal or job name")
        read.add_argument("--since", type=_date, metavar="DATE", help="only from DATE (YYYY-MM-DD)")
        read.add_argument("--limit", type=int, metavar="N", help="only the newest N entries")
        read.add_argument(
            "--purpose", default="audit", help="why you are reading (recorded; default: audit)"
        )
        read.add_argument("--json", action="store_true", dest="as_json", help="print a JSON array")

        prune = actions.add_parser(
            "prune",
            help="delete ledger entries older than the retention period",
            description=(
                "Delete the ledger entries of whole months before DATE (default: today minus "
                "[ledger] retention_days, three years unless configured), verifying each "
                "month first and leaving an anchor so the rest of the chain still verifies."
            ),
        )
        prune.add_argument("--before", type=_date, metavar="DATE", help="prune months before DATE")
        prune.add_argument("--json", action="store_true", dest="as_json", help="print JSON")

    def handle(self, *args, action: str, as_json: bool = False, **options):
        try:
            if action == "verify":
                self._verify(as_json=as_json)
            elif action == "checkpoint":
                self._checkpoint(as_json=as_json)
            elif action == "query":
                self._query(as_json=as_json, **options)
            else:
                self._prune(options["before"], as_json=as_json)
        except ChainBroken as exc:
            raise CommandError(str(exc), returncode=EXIT_TAMPERED) from exc
        except (CheckpointError, InvalidEntry, HomeError) as exc:
            raise CommandError(str(exc)) from exc

    # -- verify ----------------------------------------------------------------------

    def _verify(self, *, as_json: bool) -> None:
        with progress_bars.count_progress(
            None, "Verifying the ledger", progress_bars.wanted(as_json)
        ) as bar:

            def advance(done: int, total: int | None) -> None:
                if bar is not None:
                    bar.update(bar.tasks[0].id, completed=done, total=total)

            report = verify(progress=advance if bar is not None else None)
        # Recorded (counts only) so dashboards show the last verification without
        # re-running it; written even when it failed, since that is what they must show.
        with transaction.atomic():
            services.append(
                actor=Actor.cli_operator(),
                action="ledger.verify",
                purpose="ledger verification",
                detail={
                    "ok": report.ok,
                    "entries": report.entries,
                    "problems": report.problem_count,
                    "head_seq": report.head_seq,
                    "last_seq": report.last_seq,
                },
            )
        first = report.first
        if as_json:
            self.stdout.write(_dumps(report.as_dict()))
        elif report.ok:
            span = f"#{report.first_seq}–#{report.last_seq}" if report.entries else "no entries"
            self.stdout.write(
                f"Ledger verified: {report.entries} entries ({span}), "
                f"{report.checkpoints} checkpoints, in {report.seconds:.1f} s."
            )
        else:
            self.stdout.write(
                f"Ledger does NOT verify: {report.problem_count} problem(s) in "
                f"{report.entries} entries."
            )
            for problem in report.as_dict()["problems"][:_SHOWN_PROBLEMS]:
                where = f"#{problem['seq']}" if problem["seq"] is not None else "-"
                self.stdout.write(f"  {problem['kind']:<10} {where:>10}  {problem['message']}")
            if report.problem_count > _SHOWN_PROBLEMS:
                self.stdout.write("  … (use --json for the listed problems)")
        if first is not None:
            where = f"#{first.seq}" if first.seq is not None else "a checkpoint"
            raise CommandError(
                f"the ledger does not verify: first problem {first.kind} at {where}",
                returncode=EXIT_TAMPERED,
            )

    # -- checkpoint --------------------------------------------------------------------

    def _checkpoint(self, *, as_json: bool) -> None:
        failure = None
        try:
            path = checkpoints.write_checkpoint()
            shipped = "shipped" if checkpoints.hook_configured() else "no hook configured"
        except CheckpointHookError as exc:
            path, shipped, failure = exc.path, "failed", str(exc)
        document = json.loads(path.read_text(encoding="ascii"))
        summary = {
            "path": str(path),
            "seq": document["seq"],
            "hash": document["hash"],
            "at": document["at"],
            "key_id": document["key_id"],
            "public_key": document["public_key"],
            "hook": shipped,
            "hook_error": failure,
        }
        if as_json:
            self.stdout.write(_dumps(summary))
        else:
            self.stdout.write(f"Checkpoint #{summary['seq']} written to {path} ({shipped}).")
        if failure:
            raise CommandError(failure)

    # -- query --------------------------------------------------------------------------

    def _query(self, *, as_json: bool, **options: Any) -> None:
        actor = Actor.cli_operator()
        purpose = options["purpose"]
        patron_id = options["patron_id"]
        if options["patron"] is not None:
            patron_id = _patron_id_for_card(options["patron"], actor=actor, purpose=purpose)
        found = services.query(
            actor=actor,
            purpose=purpose,
            patron_id=patron_id,
            actor_id=options["actor"],
            since=options["since"],
            limit=options["limit"],
        )
        if as_json:
            self.stdout.write(_dumps([_entry_data(entry) for entry in found]))
            return
        if not found:
            self.stdout.write("No ledger entries match.")
            return
        for entry in found:
            when = timezone.localtime(entry.at).strftime("%Y-%m-%d %H:%M:%S %Z")
            parts = [
                f"#{entry.seq}",
                when,
                f"{_safe(entry.actor_kind)}:{_safe(entry.actor_id)} ({entry.channel})",
                entry.action,
            ]
            if entry.patron_id is not None:
                parts.append(f"patron {entry.patron_id}")
            if entry.fields:
                parts.append("fields " + ",".join(entry.fields))
            parts.append(f"purpose {_safe(entry.purpose)}")
            if entry.origin:
                parts.append(f"from {_safe(entry.origin)}")
            if entry.detail:
                parts.append(_dumps(entry.detail))
            self.stdout.write("  ".join(parts))

    # -- prune --------------------------------------------------------------------------

    def _prune(self, before: dt.date | None, *, as_json: bool) -> None:
        days = services.retention_days()
        before = before or services.default_prune_before()
        count = services.prune(before, actor=Actor.cli_operator())
        if as_json:
            self.stdout.write(
                _dumps({"before": before.isoformat(), "retention_days": days, "pruned": count})
            )
        elif count:
            self.stdout.write(f"Pruned {count} ledger entries from months before {before}.")
        else:
            self.stdout.write(f"Nothing to prune: no whole month of entries before {before}.")


def _patron_id_for_card(card: str, *, actor: Actor, purpose: str) -> int:
    """Resolve a library card to a patron id through the patrons app, if it is installed.

    Imported here, lazily, because the ledger itself must not depend on any
    service app; this command is a face that may ask one. The card number is
    never echoed: it identifies a person.
    """
    if importlib.util.find_spec("shelfguard.patrons") is None or (
        importlib.util.find_spec("shelfguard.patrons.services") is None
    ):
        raise CommandError(
            "--patron CARD needs the patrons app, which this installation does not have; "
            "use --patron-id ID."
        )
    module = importlib.import_module("shelfguard.patrons.services")
    find_by_card = getattr(module, "find_by_card", None)
    if find_by_card is None:
        raise CommandError("This version of the patrons app cannot look up cards; use --patron-id.")
    accepted = inspect.signature(find_by_card).parameters
    kwargs = {
        name: value for name, value in (("actor", actor), ("purpose", purpose)) if name in accepted
    }
    patron = find_by_card(card, **kwargs)
    if patron is None:
        raise CommandError("No patron has that card number.")
    patron_id = patron if isinstance(patron, int) else getattr(patron, "pk", None)
    if not isinstance(patron_id, int):
        raise CommandError("The patrons app returned no id for that card.")
    return patron_id
