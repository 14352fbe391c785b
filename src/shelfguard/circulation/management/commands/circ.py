"""`shelfguard circ`: loan rules, calendars and desk actions for operators; notice and hold jobs.

Every action goes through `circulation.services` as the CLI operator, with
a purpose, so it is checked and recorded as the desk's would be. `--json`
prints the listing or the outcome for scripts.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json as jsonlib
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from shelfguard.accounts.services import AccessDenied
from shelfguard.circulation import services
from shelfguard.core.actors import Actor

CLI_PURPOSE = "operator at the command line"


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise CommandError(f"{text!r} is not a date; write it as YYYY-MM-DD.") from None


def _time(text: str) -> dt.time:
    try:
        return dt.time.fromisoformat(text)
    except ValueError:
        raise CommandError(f"{text!r} is not a time; write it as HH:MM.") from None


def _json_flag(parser) -> None:
    parser.add_argument("--json", action="store_true", dest="as_json", help="print JSON")


def _patron_args(parser) -> None:
    who = parser.add_mutually_exclusive_group(required=True)
    who.add_argument("--card", help="the patron's card number")
    who.add_argument("--patron", type=int, help="the patron's id")


class Command(BaseCommand):
    help = "Loan rules, branch calendars, lending and holds; the notice and hold-expiry jobs."

    def add_arguments(self, parser):
        parser.add_argument(
            "--purpose", default=CLI_PURPOSE, help="why (recorded in the access ledger)"
        )
        top = parser.add_subparsers(
            dest="area",
            required=True,
            metavar="{policy,calendar,checkout,checkin,renew,apply,hold,notices,holds}",
        )

        policy = top.add_parser("policy", help="list or set loan rules").add_subparsers(
            dest="action", required=True, metavar="{list,set}"
        )
        _json_flag(policy.add_parser("list", help="list the loan-rule matrix"))
        pset = policy.add_parser(
            "set",
            help="create or change one cell of the matrix",
            description="Create or change the rule for a patron category × item type (× branch). "
            "Leave a dimension out for 'any'. Unnamed values are kept.",
        )
        pset.add_argument("--category", help="patron category code, e.g. child")
        pset.add_argument("--item-type", help="item type code, e.g. dvd")
        pset.add_argument("--branch", help="branch code, only where this branch differs")
        for name in (
            "loan-days",
            "renewals",
            "max-items",
            "grace-days",
            "daily-charge-cents",
            "max-charge-cents",
        ):
            pset.add_argument(f"--{name}", type=int)
        pset.add_argument(
            "--holds",
            action=argparse.BooleanOptionalAction,
            dest="holds_allowed",
            help="whether holds are allowed",
        )
        pset.add_argument(
            "--charges",
            action=argparse.BooleanOptionalAction,
            dest="charges_apply",
            help="whether overdue charges apply (fine-free is the default)",
        )
        _json_flag(pset)

        calendar = top.add_parser("calendar", help="closed days, opening hours, time zones")
        cal = calendar.add_subparsers(
            dest="action", required=True, metavar="{closed-day,hours,time-zone}"
        )
        closed = cal.add_parser(
            "closed-day", help="add, remove or list closed days"
        ).add_subparsers(dest="closed_action", required=True, metavar="{add,remove,list}")
        add = closed.add_parser("add", help="close a branch (or every branch) on a date")
        add.add_argument("date", help="YYYY-MM-DD")
        add.add_argument("--branch", help="branch code (default: every branch)")
        add.add_argument("--reason", default="")
        _json_flag(add)
        remove = closed.add_parser("remove", help="open a closed day again")
        remove.add_argument("date")
        remove.add_argument("--branch")
        listing = closed.add_parser("list", help="list closed days")
        listing.add_argument("--branch")
        listing.add_argument("--since", help="YYYY-MM-DD")
        _json_flag(listing)
        hours = cal.add_parser("hours", help="set a weekday's opening hours")
        hours.add_argument("branch")
        hours.add_argument("weekday", type=int, help="0 = Monday ... 6 = Sunday")
        hours.add_argument("opens", help="HH:MM, or 'closed'")
        hours.add_argument("closes", nargs="?", help="HH:MM")
        tz = cal.add_parser("time-zone", help="set a branch's time zone (empty: the library's)")
        tz.add_argument("branch")
        tz.add_argument("zone", nargs="?", default="")

        out = top.add_parser("checkout", help="lend an item")
        _patron_args(out)
        out.add_argument("barcode")
        out.add_argument("--branch", required=True)
        _json_flag(out)
        back = top.add_parser("checkin", help="take an item back (at any branch)")
        back.add_argument("barcode")
        back.add_argument("--branch", required=True)
        _json_flag(back)
        again = top.add_parser("renew", help="renew a loan")
        again.add_argument("barcode")
        again.add_argument("--branch")
        _json_flag(again)

        upload = top.add_parser(
            "apply",
            help="apply an offline file of checkouts, checkins and renewals",
            description="Apply transactions recorded while the network was down, in time "
            "order, back-dated. CSV lines: timestamp,action,patron_card,item_barcode,branch "
            "(action: checkout, checkin or renew). Every line is checked first: if any is "
            "invalid nothing is applied. Lines already applied (or refused) by an earlier "
            "upload are skipped.",
        )
        upload.add_argument("file", help="the CSV file (UTF-8, a header line is optional)")
        upload.add_argument(
            "--dry-run", action="store_true", help="check the file and report; change nothing"
        )
        upload.add_argument(
            "--skip-invalid",
            action="store_true",
            help="apply the valid lines even when some are invalid",
        )
        _json_flag(upload)

        hold = top.add_parser("hold", help="place or cancel a hold, show a title's queue")
        hactions = hold.add_subparsers(dest="action", required=True, metavar="{place,cancel,queue}")
        place = hactions.add_parser("place", help="place a hold on a title or one item")
        _patron_args(place)
        what = place.add_mutually_exclusive_group(required=True)
        what.add_argument("--record", type=int, help="the title's record id (any copy)")
        what.add_argument("--barcode", help="one item")
        place.add_argument("--pickup", required=True, help="pickup branch code")
        _json_flag(place)
        cancel = hactions.add_parser("cancel", help="cancel a hold")
        cancel.add_argument("hold", type=int)
        _json_flag(cancel)
        queue = hactions.add_parser("queue", help="a title's holds in order (no patron ids)")
        queue.add_argument("record", type=int)
        _json_flag(queue)

        notices = top.add_parser("notices", help="queue and send e-mail notices (a job)")
        send = notices.add_subparsers(dest="action", required=True, metavar="{send}").add_parser(
            "send", help="queue due-soon and overdue notices, then send every queued notice"
        )
        _json_flag(send)
        holds = top.add_parser("holds", help="expire uncollected holds (a job)")
        expire = holds.add_subparsers(dest="action", required=True, metavar="{expire}").add_parser(
            "expire", help="expire holds left on the shelf past their date"
        )
        _json_flag(expire)

    def handle(self, *args, area: str, purpose: str, **options):
        self.actor = Actor.cli_operator()
        self.purpose = purpose
        self.as_json = options.get("as_json", False)
        try:
            getattr(self, f"_{area}")(**options)
        except services.CirculationError as exc:
            raise CommandError(exc.message) from None
        except AccessDenied as exc:
            raise CommandError(str(exc)) from None

    def _emit(self, data: Any, text: str) -> None:
        self.stdout.write(
            jsonlib.dumps(data, ensure_ascii=False, default=str) if self.as_json else text
        )

    def _patron(self, options) -> int:
        if options.get("patron") is not None:
            return options["patron"]
        return services.find_patron(options["card"]).pk

    # --- rules and calendars ---

    def _policy(self, action: str, **options):
        if action == "list":
            rows = services.list_policies()
            lines = ["CATEGORY  ITEM TYPE  BRANCH  DAYS  RENEW  MAX  HOLDS  GRACE  CHARGES"]
            for r in rows:
                lines.append(
                    f"{r['patron_category'] or '*':<9} {r['item_type'] or '*':<10} "
                    f"{r['branch'] or '*':<7} "
                    f"{r['loan_days']:>4}  {r['renewals']:>5}  {r['max_items']:>3}  "
                    f"{'yes' if r['holds_allowed'] else 'no':<5}  {r['grace_days']:>5}  "
                    f"{'yes' if r['charges_apply'] else 'no'}"
                )
            self._emit(rows, "\n".join(lines))
            return
        values = {
            key: options[key]
            for key in (
                "loan_days",
                "renewals",
                "max_items",
                "grace_days",
                "daily_charge_cents",
                "max_charge_cents",
                "holds_allowed",
                "charges_apply",
            )
            if options.get(key) is not None
        }
        row = services.set_policy(
            category=options["category"],
            item_type=options["item_type"],
            branch=options["branch"],
            actor=self.actor,
            purpose=self.purpose,
            **values,
        )
        from shelfguard.circulation.policy import policy_data

        self._emit(policy_data(row), f"Saved loan rule {row.pk}.")

    def _calendar(self, action: str, **options):
        if action == "closed-day":
            sub = options["closed_action"]
            if sub == "list":
                since = _date(options["since"]) if options.get("since") else None
                rows = services.list_closed_days(branch=options["branch"], since=since)
                text = "\n".join(
                    f"{r['date']}  {r['branch'] or 'all'}  {r['reason']}" for r in rows
                )
                self._emit(rows, text or "No closed days.")
            elif sub == "add":
                row = services.add_closed_day(
                    _date(options["date"]),
                    branch=options["branch"],
                    reason=options["reason"],
                    actor=self.actor,
                    purpose=self.purpose,
                )
                self._emit(
                    {"date": row.date.isoformat(), "branch": options["branch"]},
                    f"Closed on {row.date.isoformat()}.",
                )
            else:
                services.remove_closed_day(
                    _date(options["date"]),
                    branch=options["branch"],
                    actor=self.actor,
                    purpose=self.purpose,
                )
                self.stdout.write(f"Open again on {options['date']}.")
        elif action == "hours":
            if options["opens"] == "closed":
                opens = closes = None
            else:
                if not options.get("closes"):
                    raise CommandError("Give the closing time too, e.g. 09:00 17:00.")
                opens, closes = _time(options["opens"]), _time(options["closes"])
            services.set_hours(
                options["branch"],
                options["weekday"],
                opens,
                closes,
                actor=self.actor,
                purpose=self.purpose,
            )
            self.stdout.write("Saved.")
        else:
            services.set_time_zone(
                options["branch"], options["zone"], actor=self.actor, purpose=self.purpose
            )
            self.stdout.write("Saved.")

    # --- desk actions ---

    def _checkout(self, **options):
        result = services.checkout(
            self._patron(options),
            options["barcode"],
            branch=options["branch"],
            actor=self.actor,
            purpose=self.purpose,
        )
        self._emit(
            {
                "loan": result.loan.pk,
                "due_on": result.due_on.isoformat(),
                "due_at": result.due_at.isoformat(),
                "hold_filled": result.hold_filled,
            },
            f"Lent; due on {result.due_on.isoformat()}.",
        )

    def _checkin(self, **options):
        r = services.checkin(
            options["barcode"], branch=options["branch"], actor=self.actor, purpose=self.purpose
        )
        where = {
            "available": "Shelve it.",
            "on_hold_shelf": f"Put it on the hold shelf (hold {r.routing.hold_id}).",
            "in_transit": f"Send it to {r.routing.transit_to}.",
        }.get(r.routing.status, f"Status: {r.routing.status}.")
        self._emit(
            {
                "was_on_loan": r.was_on_loan,
                "status": r.routing.status,
                "transit_to": r.routing.transit_to,
                "hold": r.routing.hold_id,
                "days_late": r.days_late,
                "charge_cents": r.charge_cents,
            },
            f"Returned. {where}" if r.was_on_loan else f"Checked in. {where}",
        )

    def _renew(self, **options):
        loan = services.renew(
            options["barcode"], branch=options.get("branch"), actor=self.actor, purpose=self.purpose
        )
        self._emit(
            {"loan": loan.pk, "due_on": loan.due_on.isoformat(), "renewals": loan.renewals},
            f"Renewed; due on {loan.due_on.isoformat()}.",
        )

    def _apply(self, **options):
        from shelfguard.circulation import offline
        from shelfguard.core import progress

        purpose = offline.PURPOSE if self.purpose == CLI_PURPOSE else self.purpose
        try:
            handle = open(options["file"], encoding="utf-8-sig", newline="")  # noqa: SIM115
        except OSError as exc:
            raise CommandError(f"Cannot read {options['file']}: {exc.strerror}.") from None
        with (
            handle,
            progress.count_progress(None, "Applying", progress.wanted(self.as_json)) as bar,
        ):

            def on_start(total: int) -> None:
                if bar is not None:
                    bar.update(bar.task_ids[0], total=total)

            def on_line() -> None:
                if bar is not None:
                    bar.advance(bar.task_ids[0])

            try:
                report = offline.apply(
                    handle,
                    actor=self.actor,
                    purpose=purpose,
                    dry_run=options["dry_run"],
                    skip_invalid=options["skip_invalid"],
                    on_start=on_start,
                    on_line=on_line,
                )
            except UnicodeDecodeError:
                raise CommandError("The file is not UTF-8 text.") from None
            except offline.InvalidUpload as exc:
                self._emit_upload(exc.report)
                raise CommandError(str(exc)) from None
        self._emit_upload(report)

    def _emit_upload(self, report) -> None:
        data = report.as_dict()
        verb = "Would apply" if report.dry_run else "Applied"
        summary = (
            f"{verb} {report.applied} of {report.lines} line(s); refused {report.refused}, "
            f"skipped {report.skipped}, invalid {report.invalid}."
        )
        lines = [summary]
        for p in data["problems"]:
            lines.append(f"line {p['line']}: {p['outcome']} ({p['code']}): {p['reason']}")
        self._emit(data, "\n".join(lines))

    def _hold(self, action: str, **options):
        if action == "place":
            hold = services.place_hold(
                self._patron(options),
                record=options["record"],
                barcode=options["barcode"],
                pickup_branch=options["pickup"],
                actor=self.actor,
                purpose=self.purpose,
            )
            self._emit({"hold": hold.pk, "status": hold.status}, f"Placed hold {hold.pk}.")
        elif action == "cancel":
            hold = services.cancel_hold(options["hold"], actor=self.actor, purpose=self.purpose)
            self._emit({"hold": hold.pk, "status": hold.status}, f"Cancelled hold {hold.pk}.")
        else:
            rows = services.hold_queue(options["record"])
            text = "\n".join(
                f"{r['position']:>3}. hold {r['hold']}  {r['status']}  {r['pickup']}  "
                f"{r['placed_on']}"
                for r in rows
            )
            self._emit(rows, text or "No holds on this title.")

    # --- jobs ---

    def _notices(self, action: str, **options):
        queued = services.queue_due_notices()
        report = services.send_notices()
        self._emit(
            {"queued": queued, **report.as_dict()},
            f"Queued {queued}; sent {report.sent}, skipped {report.skipped}, "
            f"failed {report.failed}.",
        )

    def _holds(self, action: str, **options):
        expired = services.expire_holds()
        self._emit({"expired": expired}, f"Expired {expired} hold(s).")
