"""`shelfguard retention`: run the retention sweep now, or see what it would destroy."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from shelfguard.core import progress
from shelfguard.jobs import services
from shelfguard.jobs.models import Outcome
from shelfguard.lifecycle import retention


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date like 2026-01-31") from None


class Command(BaseCommand):
    help = (
        "Apply the retention register: destroy what is kept past its period (see `retention "
        "rules`). --dry-run counts what each rule would destroy and changes nothing."
    )

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="{run,rules,changes}")
        run = actions.add_parser(
            "run",
            help="run the sweep (or a dry run)",
            description="Run every retention rule for today (or --as-of DATE). Each batch is "
            "its own transaction: an interrupted sweep leaves nothing half-done and the next "
            "one continues. One ledger entry per rule records the counts. Exit 1 if a rule "
            "failed (the others still ran).",
        )
        run.add_argument("--dry-run", action="store_true", help="count only; destroy nothing")
        run.add_argument(
            "--as-of",
            type=_date,
            metavar="DATE",
            help="sweep as if today were DATE (a future DATE only with --dry-run)",
        )
        run.add_argument("--rule", action="append", metavar="NAME", help="only this rule")
        run.add_argument("--json", action="store_true", dest="as_json", help="print JSON")
        rules = actions.add_parser("rules", help="list the rules and their periods")
        rules.add_argument("--json", action="store_true", dest="as_json", help="print JSON")
        changes = actions.add_parser(
            "changes",
            help="periods changed in shelfguard.toml that wait for a second person's approval",
            description="A period changed in shelfguard.toml applies only after a second staff "
            "member with config.change approves it. This lists the waiting changes; --request "
            "files the approval request (then `shelfguard approvals approve N` by someone else).",
        )
        changes.add_argument("--request", action="store_true", help="ask for the approval")
        changes.add_argument("--reason", help="why the periods change (with --request)")
        changes.add_argument("--json", action="store_true", dest="as_json", help="print JSON")

    def handle(self, *args: Any, action: str, as_json: bool = False, **options: Any) -> None:
        if action == "rules":
            self._rules(as_json)
            return
        if action == "changes":
            self._changes(options["request"], options["reason"], as_json)
            return
        dry_run, as_of = options["dry_run"], options["as_of"]
        try:
            as_of = retention.check_as_of(as_of, dry_run=dry_run)
        except retention.RetentionError as exc:
            raise CommandError(str(exc)) from None
        show = progress.wanted(as_json) and sys.stderr.isatty()

        def work() -> retention.SweepReport:
            return retention.sweep(
                as_of=as_of, dry_run=dry_run, only=options["rule"], show_progress=show
            )

        try:
            if dry_run:
                report = work()
            else:
                holder: dict[str, retention.SweepReport] = {}

                def job() -> dict[str, Any]:
                    holder["report"] = work()
                    summary = holder["report"].summary()
                    if holder["report"].failed:
                        raise retention.RetentionIncomplete(holder["report"].failed, summary)
                    return summary

                run = services.run_job("retention", trigger="cli", fn=job)
                if run.outcome == Outcome.SKIPPED:
                    raise CommandError(f"The retention sweep did not run: {run.error}")
                if "report" not in holder:
                    raise CommandError(f"The retention sweep failed: {run.error}")
                report = holder["report"]
        except (retention.RetentionError, ImproperlyConfigured) as exc:
            raise CommandError(str(exc)) from None
        self._print(report, as_json)
        if report.failed:
            raise CommandError(
                f"Retention rules failed: {', '.join(report.failed)}; the others ran."
            )

    def _print(self, report: retention.SweepReport, as_json: bool) -> None:
        if as_json:
            self.stdout.write(json.dumps(report.as_dict(), ensure_ascii=True))
            return
        key = "due" if report.dry_run else "destroyed"
        title = "Dry run" if report.dry_run else "Retention sweep"
        self.stdout.write(f"{title} as of {report.as_of.isoformat()}:")
        for rule in report.rules:
            counts = dict(rule.counts)
            main = counts.pop(key, 0)
            extra = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in counts.items() if v)
            state = "" if rule.status in {"done", "counted"} else f" [{rule.status}]"
            self.stdout.write(
                f"  {rule.name:<26} {key} {main:>8}{state}" + (f"  ({extra})" if extra else "")
            )
            if rule.error:
                self.stdout.write(f"      {rule.error}")
            if rule.waiting_days is not None:
                self.stdout.write(
                    f"      kept by the accepted {rule.days} days; {rule.waiting_days} days "
                    "waits for approval (`shelfguard retention changes`)"
                )

    def _changes(self, request: bool, reason: str | None, as_json: bool) -> None:
        from shelfguard.core.actors import Actor
        from shelfguard.lifecycle import approvals, retention_changes

        try:
            configured = {rule.name: rule.period.days() for rule in retention.rules()}
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        known = retention_changes.accepted()
        waiting = retention_changes.pending(configured)
        filed = None
        if request:
            if not reason:
                raise CommandError("Say why with --reason (no personal details).")
            try:
                filed = retention_changes.request_change(
                    configured=configured, actor=Actor.cli_operator(), reason=reason
                )
            except approvals.ApprovalError as exc:
                raise CommandError(str(exc)) from None
        rows = [
            {"rule": rule, "accepted_days": known[rule], "configured_days": days}
            for rule, days in sorted(waiting.items())
        ]
        if as_json:
            out = {"waiting": rows, "request": filed.pk if filed else None}
            self.stdout.write(json.dumps(out, ensure_ascii=True))
            return
        if not rows:
            self.stdout.write("No retention period waits for approval.")
            return
        for row in rows:
            self.stdout.write(
                f"  {row['rule']:<26} accepted {row['accepted_days']:>5} days, "
                f"shelfguard.toml says {row['configured_days']:>5}"
            )
        if filed:
            self.stdout.write(
                f"Approval request {filed.pk} filed; another staff member with config.change "
                f"approves it with `shelfguard approvals approve {filed.pk}` or on the staff "
                "approvals page; the next sweep then applies the new periods."
            )
        else:
            self.stdout.write("Ask for approval with --request --reason '...'.")

    def _rules(self, as_json: bool) -> None:
        rows = []
        for rule in retention.rules():
            try:
                days: int | str = rule.period.days()
            except ImproperlyConfigured as exc:
                days = f"invalid: {exc}"
            rows.append(
                {
                    "rule": rule.name,
                    "applies_to": rule.applies_to,
                    "setting": rule.period.setting,
                    "days": days,
                    "bounds": [rule.period.minimum, rule.period.maximum],
                    "installed": rule.function() is not None,
                }
            )
        if as_json:
            self.stdout.write(json.dumps({"rules": rows}, ensure_ascii=True))
            return
        for row in rows:
            self.stdout.write(
                f"{row['rule']:<26} {row['days']!s:>6} days  {row['setting']:<32} "
                f"{row['applies_to']}"
            )
