"""The jobs app's door: register a job, run one now, say how every job is doing.

`register_job(name, fn, schedule)` is how an app adds a job (from its
`AppConfig.ready()`); `run_job(name)` runs one in the foreground with the
lock and the records (`runner`); `status()` is what `shelfguard jobs status`
prints. Nothing here reads personal data: job records hold counts only.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from shelfguard.core import clock
from shelfguard.jobs import schedule
from shelfguard.jobs.models import JobLock, JobRun
from shelfguard.jobs.runner import JobsError, run_job
from shelfguard.jobs.schedule import register_job, unregister_job

#: `JobRun` rows are kept this long (`[retention] job_run_days`); they hold counts only.
DEFAULT_JOB_RUN_DAYS = 180


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.astimezone(dt.UTC).isoformat() if moment else None


def _run_data(run: JobRun | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {
        "id": run.pk,
        "trigger": run.trigger,
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "outcome": run.outcome,
        "duration_seconds": run.duration_seconds,
        "summary": run.summary,
        "error": run.error,
    }


def status() -> list[dict[str, Any]]:
    """Every registered job: schedule, whether it is installed, last run, next run, running."""
    now = clock.now()
    locks = {lock.job: lock for lock in JobLock.objects.all()}
    result = []
    for job in schedule.jobs():
        try:
            cron = job.schedule()
            line, problem = (cron.line if cron else schedule.OFF), ""
        except ImproperlyConfigured as exc:
            cron, line, problem = None, "invalid", str(exc)
        last = JobRun.objects.filter(job=job.name).order_by("-started_at", "-id").first()
        last_done = (
            JobRun.objects.filter(job=job.name)
            .exclude(outcome__in=["running", "skipped"])
            .order_by("-started_at", "-id")
            .first()
        )
        lock = locks.get(job.name)
        result.append(
            {
                "job": job.name,
                "description": job.description,
                "schedule": line,
                "schedule_error": problem,
                "installed": job.available(),
                "running": lock is not None and lock.expires_at > now,
                "last_run": _run_data(last),
                "last_completed": _run_data(last_done),
                "next_run": _iso(cron.next_after(now)) if cron else None,
            }
        )
    return result


def register_job_run_retention() -> None:
    """Add the rule that deletes old `JobRun` rows to the retention register."""
    from shelfguard.lifecycle.retention import delete_in_batches, register_rule

    register_rule(
        "job-runs",
        applies_to="records of scheduled job runs (counts only)",
        sweep=lambda ctx: delete_in_batches(
            ctx, JobRun.objects.filter(started_at__lt=ctx.cutoff).exclude(outcome="running")
        ),
        setting="job_run_days",
        default_days=DEFAULT_JOB_RUN_DAYS,
        minimum=7,
        maximum=10 * 365,
    )


__all__ = [
    "JobsError",
    "register_job",
    "register_job_run_retention",
    "run_job",
    "status",
    "unregister_job",
]
