"""The staff page showing the scheduled jobs and the retention register (read-only).

The same facts as `shelfguard jobs status` and `shelfguard retention rules`:
schedules, last runs with their counts, next runs, retention periods. Job
records hold counts only, so the page shows no personal data; it is for the
staff who change the library's configuration (`config.change`).
"""

from __future__ import annotations

import datetime as dt

from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from shelfguard.jobs import services
from shelfguard.lifecycle import retention
from shelfguard.staff.access import permission_required


def _moment(text: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(text) if text else None


@permission_required("config.change")
@require_http_methods(["GET"])
def jobs_status(request: HttpRequest) -> HttpResponse:
    jobs = []
    for job in services.status():
        last = job["last_run"] or {}
        jobs.append(
            {
                **job,
                "last_started": _moment(last.get("started_at")),
                "last_outcome": last.get("outcome", ""),
                "last_duration": last.get("duration_seconds"),
                "last_error": last.get("error", ""),
                "last_counts": {
                    k: v for k, v in (last.get("summary") or {}).items() if not isinstance(v, dict)
                },
                "next": _moment(job["next_run"]),
            }
        )
    rules = []
    for rule in retention.rules():
        try:
            days: int | None = rule.period.days()
            problem = ""
        except ImproperlyConfigured as exc:
            days, problem = None, str(exc)
        rules.append(
            {
                "name": rule.name,
                "applies_to": rule.applies_to,
                "days": days,
                "setting": rule.period.setting,
                "problem": problem,
                "installed": rule.function() is not None,
            }
        )
    return render(request, "jobs/status.html", {"jobs": jobs, "rules": rules})
