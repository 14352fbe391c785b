"""`shelfguard jobs`: how the scheduled jobs are doing, and running one now."""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from shelfguard.jobs import services
from shelfguard.jobs.models import Outcome


def _when(text: str | None) -> str:
    return text[:16].replace("T", " ") + " UTC" if text else "-"


class Command(BaseCommand):
    help = (
        "Show the scheduled jobs (schedule, last run, outcome, duration, next run) or run "
        "one now in the foreground. The schedule itself runs in `shelfguard worker`, or "
        "inside `shelfguard serve` on the embedded default."
    )

    def add_arguments(self, parser):
        actions = parser.add_subparsers(dest="action", required=True, metavar="{status,run}")
        show = actions.add_parser(
            "status",
            help="each job: schedule, last run, outcome, duration, next run",
            description="List every registered job with its schedule (library time), its last "
            "run and the next time it is due. Times are printed in UTC.",
        )
        show.add_argument("--json", action="store_true", dest="as_json", help="print JSON")
        now = actions.add_parser(
            "run",
            help="run one job now, in the foreground",
            description="Run one job now with the same lock and records as the schedule: "
            "refused while the same job is already running. Exits 1 if the job fails.",
        )
        now.add_argument("name", help="the job's name (see `shelfguard jobs status`)")
        now.add_argument("--json", action="store_true", dest="as_json", help="print JSON")

    def handle(self, *args: Any, action: str, as_json: bool = False, **options: Any) -> None:
        if action == "status":
            self._status(as_json)
        else:
            self._run(options["name"], as_json)

    def _status(self, as_json: bool) -> None:
        jobs = services.status()
        if as_json:
            self.stdout.write(json.dumps({"jobs": jobs}, ensure_ascii=True))
            return
        header = (
            f"{'job':<26} {'schedule':<14} {'last run':<22} {'outcome':<9} {'secs':>7}  next run"
        )
        self.stdout.write(header)
        for job in jobs:
            last = job["last_run"] or {}
            outcome = last.get("outcome", "-")
            if not job["installed"]:
                outcome = "n/a"
            seconds = last.get("duration_seconds")
            self.stdout.write(
                f"{job['job']:<26} {job['schedule']:<14} {_when(last.get('started_at')):<22} "
                f"{outcome:<9} {(f'{seconds:.1f}' if seconds is not None else '-'):>7}  "
                f"{_when(job['next_run'])}"
            )
        missing = [job["job"] for job in jobs if not job["installed"]]
        if missing:
            self.stdout.write(f"Not installed yet (skipped by the schedule): {', '.join(missing)}.")

    def _run(self, name: str, as_json: bool) -> None:
        try:
            run = services.run_job(name, trigger="manual")
        except services.JobsError as exc:
            raise CommandError(str(exc)) from None
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from None
        data = {
            "job": run.job,
            "outcome": run.outcome,
            "duration_seconds": run.duration_seconds,
            "summary": run.summary,
            "error": run.error,
        }
        if as_json:
            self.stdout.write(json.dumps(data, ensure_ascii=True))
        else:
            counts = ", ".join(
                f"{k} {v}" for k, v in run.summary.items() if not isinstance(v, dict)
            )
            self.stdout.write(
                f"{run.job}: {run.outcome} in {run.duration_seconds or 0:.1f} s"
                + (f" ({counts})" if counts else "")
            )
        if run.outcome == Outcome.SKIPPED:
            raise CommandError(f"{name} did not run: {run.error}")
        if run.outcome == Outcome.FAILED:
            raise CommandError(f"{name} failed: {run.error}")
