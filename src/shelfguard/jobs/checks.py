"""System checks for the schedule and the retention periods (`shelfguard check`).

A mistyped cron line or a retention period out of bounds would otherwise be
found only when the worker starts or the nightly sweep refuses to run (both
do refuse: nothing is swept with a period the program cannot trust). These
warnings show in `shelfguard check` and when commands start, naming the
setting to fix, without stopping commands that have nothing to do with it.
"""

from __future__ import annotations

from django.core import checks
from django.core.exceptions import ImproperlyConfigured


@checks.register()
def check_job_schedule(app_configs=None, **kwargs):
    from shelfguard.jobs import runner, schedule

    problems = schedule.check_configuration()
    try:
        runner.in_process_enabled()
    except ImproperlyConfigured as exc:
        problems.append(str(exc))
    return [checks.Warning(p, id="shelfguard.W301") for p in problems]


@checks.register()
def check_retention_periods(app_configs=None, **kwargs):
    from shelfguard.lifecycle import retention

    problems = retention.check_configuration()
    try:
        retention.NOTICE_PERIOD.days()
    except ImproperlyConfigured as exc:
        problems.append(str(exc))
    return [checks.Warning(p, id="shelfguard.W302") for p in problems]
