"""`shelfguard monitoring`: scan the access ledger, list and review alerts, mark decoys."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from shelfguard.core import progress
from shelfguard.core.actors import Actor
from shelfguard.monitoring import services

PURPOSE = "security: access monitoring"


def _when(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else "-"


def _alert_data(alert) -> dict[str, Any]:
    return {
        "id": alert.pk,
        "rule": alert.rule,
        "rule_label": services.rule_label(alert.rule),
        "actor_kind": alert.actor_kind,
        "staff": alert.actor_id,
        "patron_id": alert.patron_id,
        "window_start": alert.window_start.isoformat(),
        "window_end": alert.window_end.isoformat(),
        "count": alert.count,
        "threshold": alert.threshold,
        "first_seq": alert.first_seq,
        "last_seq": alert.last_seq,
        "raised_at": alert.raised_at.isoformat(),
        "status": alert.status,
        "reviewer": alert.reviewer,
        "review_note": alert.review_note,
        "reviewed_at": alert.reviewed_at.isoformat() if alert.reviewed_at else None,
    }


class Command(BaseCommand):
    help = (
        "Watch the access ledger: run the anomaly scan, list and review alerts, mark decoy "
        "patron records, show the thresholds in force. The scan also runs every five minutes "
        "as the scheduled job anomaly-scan."
    )

    def add_arguments(self, parser):
        actions = parser.add_subparsers(
            dest="action", required=True, metavar="{scan,alerts,review,decoy,thresholds}"
        )
        scan = actions.add_parser(
            "scan",
            help="scan the ledger entries since the last scan",
            description="Examine the ledger entries after the last scanned one with every rule "
            "and store (and e-mail) new alerts. Each run examines at most [monitoring] "
            "scan_batch entries; --all repeats until the scan has caught up. Running it again "
            "never raises the same alert twice.",
        )
        scan.add_argument("--all", action="store_true", help="repeat until caught up")
        scan.add_argument("--json", action="store_true", dest="as_json", help="print JSON")

        listing = actions.add_parser(
            "alerts",
            help="list alerts, newest first",
            description="List alerts, newest first (reading them is recorded in the ledger).",
        )
        listing.add_argument("--open", action="store_true", dest="open_only", help="open only")
        listing.add_argument("--json", action="store_true", dest="as_json", help="print JSON")

        review = actions.add_parser(
            "review",
            help="mark an alert reviewed with a note",
            description="Mark an open alert reviewed. The note (at most 200 characters) and "
            "the review are written to the access ledger; a review is final.",
        )
        review.add_argument("alert_id", type=int, metavar="ALERT")
        review.add_argument("--note", required=True, help="what you found")
        review.add_argument("--json", action="store_true", dest="as_json", help="print JSON")

        decoy = actions.add_parser(
            "decoy",
            help="mark, unmark or list decoy patron records",
            description="A decoy is a patron registered with synthetic data that no genuine "
            "task needs to open; any access to it raises an alert.",
        )
        decoy.add_argument("decoy_action", choices=["add", "remove", "list"])
        decoy.add_argument(
            "target",
            nargs="?",
            default="",
            help="add: the decoy's card number; remove: its patron id",
        )
        decoy.add_argument("--json", action="store_true", dest="as_json", help="print JSON")

        limits = actions.add_parser(
            "thresholds",
            help="show the thresholds in force",
            description="Show the [monitoring] settings in force and each role's baseline.",
        )
        limits.add_argument("--json", action="store_true", dest="as_json", help="print JSON")

    def handle(self, *args: Any, action: str, as_json: bool = False, **options: Any) -> None:
        actor = Actor.cli_operator()
        try:
            data, text = getattr(self, f"_{action}")(actor=actor, as_json=as_json, **options)
        except services.MonitoringError as exc:
            raise CommandError(exc.message) from None
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(json.dumps(data, ensure_ascii=True, default=str) if as_json else text)

    def _scan(self, *, all: bool, as_json: bool, **_: Any):
        reports = [services.scan()]
        with progress.count_progress(None, "scanning the ledger", progress.wanted(as_json)) as bar:
            while all and reports[-1].behind and reports[-1].through_seq > reports[-1].after_seq:
                reports.append(services.scan())
                if bar is not None:
                    bar.update(bar.task_ids[0], advance=reports[-1].scanned)
        last = reports[-1]
        data = {
            **last.as_dict(),
            "after_seq": reports[0].after_seq,
            "scanned": sum(r.scanned for r in reports),
            "raised": sum(len(r.raised) for r in reports),
            "alert_ids": [pk for r in reports for pk in r.raised],
            "runs": len(reports),
        }
        if data["scanned"]:
            text = (
                f"Scanned {data['scanned']} entries (#{data['after_seq'] + 1}–"
                f"#{last.through_seq}); {data['raised']} new alert(s)."
            )
        else:
            text = f"Nothing new in the ledger to scan; {data['raised']} new alert(s)."
        if last.behind:
            text += f" {last.behind} entries still to scan: run again or use --all."
        return data, text

    def _alerts(self, *, actor, open_only: bool, **_: Any):
        found = services.alerts(actor=actor, purpose=PURPOSE, open_only=open_only)
        rows = [_alert_data(a) for a in found]
        if not rows:
            return rows, "No open alerts." if open_only else "No alerts."
        lines = ["ID  RAISED            STATUS    RULE  STAFF  PATRON  COUNT/THRESHOLD"]
        for a in found:
            lines.append(
                f"{a.pk}  {_when(a.raised_at)}  {a.status:<8}  {a.rule}  {a.actor_id or '-'}  "
                f"{a.patron_id or '-'}  {a.count}/{a.threshold}"
            )
        return rows, "\n".join(lines)

    def _review(self, *, actor, alert_id: int, note: str, **_: Any):
        alert = services.review_alert(alert_id, note=note, actor=actor, purpose=PURPOSE)
        return _alert_data(alert), f"Alert {alert.pk} marked reviewed."

    def _decoy(self, *, actor, decoy_action: str, target: str, **_: Any):
        if decoy_action == "list":
            rows = [
                {"patron_id": d.patron_id, "added_at": d.added_at.isoformat(), "by": d.added_by}
                for d in services.decoys()
            ]
            text = "\n".join(f"patron {r['patron_id']}  since {r['added_at']}" for r in rows)
            return rows, text or "No decoys."
        if not target:
            raise CommandError("Give the decoy's card number (add) or its patron id (remove).")
        if decoy_action == "add":
            decoy = services.add_decoy(target, actor=actor, purpose=PURPOSE)
            return (
                {"patron_id": decoy.patron_id, "added_at": decoy.added_at.isoformat()},
                f"Patron {decoy.patron_id} is now a decoy: any access to it raises an alert.",
            )
        if not target.isdigit():
            raise CommandError("Give the decoy's patron id (a number) to remove it.")
        services.remove_decoy(int(target), actor=actor, purpose=PURPOSE)
        return {"patron_id": int(target), "removed": True}, f"Patron {target} is no longer a decoy."

    def _thresholds(self, **_: Any):
        state = services.thresholds_in_force()
        lines = [f"{row['name']} = {row['value']}    # {row['label']}" for row in state["settings"]]
        lines.append("")
        if state["roles"]:
            lines.append("ROLE  PERCENTILE  HOURS  PATRONS/HOUR THAT ALERT")
            for r in state["roles"]:
                lines.append(
                    f"{r['role']}  {r['percentile_value']:g}  {r['hours_sampled']}  "
                    f"{r['threshold']}"
                )
        else:
            lines.append(
                f"No baselines yet: every staff member alerts at {state['floor']} patrons an hour."
            )
        return state, "\n".join(lines)
