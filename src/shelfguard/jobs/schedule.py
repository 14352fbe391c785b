"""The registry of scheduled jobs and when each runs.

A job is a name, a function and a default schedule (a five-field cron line:
minute, hour, day of month, month, day of week, 0 = Sunday), read in the
library's time zone. Apps add their jobs with `register_job`; a job whose
function lives in an app that may not be installed yet is registered by
dotted path ("package.module:function") and imported only when it runs, so
a missing function is reported (`jobs status` says "not installed") rather
than crashing the worker.

The library changes a schedule, or switches a job off, in `shelfguard.toml`:

    [jobs.schedule]
    retention = "30 3 * * *"
    anomaly-scan = "off"
"""

from __future__ import annotations

import datetime as dt
import importlib
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from huey import crontab

JobFunction = Callable[[], Any]

_NAME = re.compile(r"[a-z][a-z0-9-]{0,63}\Z")
OFF = "off"
#: How far ahead `next_run` looks for a matching minute (a yearly schedule says "none").
_LOOK_AHEAD = dt.timedelta(days=62)


class NotInstalled(Exception):
    """The job's function is registered by dotted path and cannot be imported (yet)."""


@dataclass(frozen=True)
class Cron:
    """A five-field cron line, matched against the library's local time."""

    line: str

    def __post_init__(self) -> None:
        fields = self.line.split()
        if len(fields) != 5:
            raise ValueError("a schedule has five fields: minute hour day month day-of-week")
        try:
            object.__setattr__(self, "_match", crontab(*fields, strict=True))
        except ValueError:
            raise ValueError(f"{self.line!r} is not a cron line like '30 3 * * *'") from None

    def matches(self, moment: dt.datetime) -> bool:
        """True when this schedule fires in the minute of `moment` (aware)."""
        local = moment.astimezone(_zone()).replace(tzinfo=None)
        return bool(self._match(local))  # type: ignore[attr-defined]

    def next_after(self, moment: dt.datetime) -> dt.datetime | None:
        """The first minute strictly after `moment` at which this fires (UTC), or None."""
        minute = moment.astimezone(dt.UTC).replace(second=0, microsecond=0)
        end = minute + _LOOK_AHEAD
        minute += dt.timedelta(minutes=1)
        while minute <= end:
            if self.matches(minute):
                return minute
            minute += dt.timedelta(minutes=1)
        return None


def _zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


@dataclass(frozen=True)
class Job:
    name: str
    #: A callable, or "package.module:function" imported at run time.
    target: JobFunction | str
    default_schedule: str
    description: str = ""
    #: Seconds after which a lock held by a silent process on another machine is taken over.
    lock_ttl: int = 6 * 3600

    def function(self) -> JobFunction:
        """The callable to run; raises `NotInstalled` when a dotted path does not import."""
        if callable(self.target):
            return self.target
        module_name, _, attribute = self.target.partition(":")
        try:
            module = importlib.import_module(module_name)
        except ImportError:
            raise NotInstalled(f"{module_name} is not installed") from None
        found = getattr(module, attribute, None)
        if not callable(found):
            raise NotInstalled(f"{module_name} has no function {attribute}")
        return found

    def available(self) -> bool:
        try:
            self.function()
        except NotInstalled:
            return False
        return True

    def schedule(self) -> Cron | None:
        """The configured schedule (`[jobs.schedule] <name>`), the default, or None when off."""
        line = _schedule_config().get(self.name, self.default_schedule)
        if not isinstance(line, str):
            raise ImproperlyConfigured(
                f"[jobs.schedule] {self.name} in shelfguard.toml must be a cron line such as "
                f"'{self.default_schedule}', or 'off'."
            )
        if line.strip().lower() == OFF:
            return None
        try:
            return Cron(line.strip())
        except ValueError as exc:
            raise ImproperlyConfigured(
                f"[jobs.schedule] {self.name} in shelfguard.toml: {exc}; write five fields "
                f"such as '{self.default_schedule}', or 'off'."
            ) from None


_jobs: dict[str, Job] = {}


def register_job(
    name: str,
    fn: JobFunction | str,
    schedule: str,
    *,
    description: str = "",
    lock_ttl: int = 6 * 3600,
) -> Job:
    """Add a job to the registry (registering the same name again replaces it).

    `fn` takes no arguments (or a `now` keyword, given the clock's time) and
    returns counts: a mapping of short names to numbers, a number, or None.
    """
    if not _NAME.match(name):
        raise ValueError(f"job name {name!r} must be lower-case letters, digits and hyphens")
    if not callable(fn) and (not isinstance(fn, str) or ":" not in fn):
        raise ValueError("fn must be a callable or a 'package.module:function' path")
    Cron(schedule)  # a bad default is a programming error: refuse it now
    job = Job(name, fn, schedule, description, lock_ttl)
    _jobs[name] = job
    return job


def unregister_job(name: str) -> None:
    _jobs.pop(name, None)


def jobs() -> list[Job]:
    return sorted(_jobs.values(), key=lambda job: job.name)


def get(name: str) -> Job:
    try:
        return _jobs[name]
    except KeyError:
        raise KeyError(
            f"There is no job {name!r}; known jobs: {', '.join(sorted(_jobs)) or 'none'}."
        ) from None


def jobs_config() -> Mapping[str, Any]:
    section = getattr(settings, "CONFIG", {}).get("jobs", {})
    if not isinstance(section, Mapping):
        raise ImproperlyConfigured("[jobs] in shelfguard.toml must be a table.")
    return section


def _schedule_config() -> Mapping[str, Any]:
    section = jobs_config().get("schedule", {})
    if not isinstance(section, Mapping):
        raise ImproperlyConfigured(
            "[jobs.schedule] in shelfguard.toml must be a table of job = 'cron line'."
        )
    return section


def check_configuration() -> list[str]:
    """Problems in `[jobs.schedule]`: unknown job names and lines that do not parse."""
    problems = []
    for name in _schedule_config():
        if name not in _jobs:
            problems.append(
                f"[jobs.schedule] names {name!r}, which is not a job "
                f"(known: {', '.join(sorted(_jobs))})."
            )
    for job in jobs():
        try:
            job.schedule()
        except ImproperlyConfigured as exc:
            problems.append(str(exc))
    return problems
