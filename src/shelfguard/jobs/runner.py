"""Running a job: the lock, the `JobRun` row, the ledger entry; and the huey consumer.

`run_job` is the one way a job runs, whether the schedule fires it, an
operator types `shelfguard jobs run NAME`, or a command such as `retention`
does its work under the job's name. It

* takes the job's lock row, or records the run as skipped ("already
  running") and returns: the same job never runs twice at once;
* records a `JobRun` with the counts the job returned, and one ledger entry
  (actor `system:<job>`, channel `job`, counts only), in one transaction;
* catches any exception the job raises and records the run as failed with
  the error class and, for Shelfguard's own errors (whose messages never
  carry personal values), the message; other messages are not kept, since a
  database error can quote a row. The worker goes on to the next job.

The schedule runs in a huey consumer: `shelfguard worker`, or, on the
embedded default, threads inside `shelfguard serve` (see `start_in_process`).
Its queue lives in `$SHELFGUARD_HOME/jobs.sqlite3`, or in Redis when
`[jobs] redis_url` is set.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fcntl
import inspect
import logging
import os
import re
import socket
import time
import traceback
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, Any

from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, close_old_connections, connection, transaction
from huey import Huey, SqliteHuey
from huey.consumer import Consumer

from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.core.home import home_dir
from shelfguard.jobs import schedule
from shelfguard.jobs.models import JobLock, JobRun, Outcome
from shelfguard.ledger import services as ledger

logger = logging.getLogger("shelfguard.jobs")

QUEUE_FILE = "jobs.sqlite3"
SCHEDULER_LOCK_FILE = "jobs-scheduler.lock"
JOB_PURPOSE = "scheduled job"
ALREADY_RUNNING = "AlreadyRunning"
_COUNT_KEY = re.compile(r"[a-z][a-z0-9_]{0,31}\Z")
_MAX_COUNTS = 40


class JobsError(Exception):
    """A refusal an operator can act on (unknown job, bad configuration)."""

    code = "jobs"


# --- locks ------------------------------------------------------------------------


def _holder() -> str:
    return f"{socket.gethostname()[:150]}:{os.getpid()}"


def _holder_is_gone(holder: str) -> bool:
    """True when the holder was a process on this machine that no longer exists."""
    host, _, pid_text = holder.rpartition(":")
    if host != socket.gethostname()[:150] or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _acquire(job: schedule.Job, run: JobRun) -> bool:
    """Take the job's lock row for `run`; False when another live run holds it."""
    now = clock.now()
    with transaction.atomic():
        lock = JobLock.objects.select_for_update().filter(job=job.name).first()
        if lock is not None:
            if lock.expires_at > now and not _holder_is_gone(lock.holder):
                return False
            # The holder was killed (or went silent past its time-to-live):
            # its run never finished, so say so, and take the lock over.
            if lock.run_id is not None:
                JobRun.objects.filter(pk=lock.run_id, outcome=Outcome.RUNNING).update(
                    outcome=Outcome.FAILED,
                    finished_at=now,
                    error="Interrupted: the process running this job stopped before it finished.",
                )
            lock.delete()
        try:
            with transaction.atomic():
                JobLock.objects.create(
                    job=job.name,
                    holder=_holder(),
                    run=run,
                    acquired_at=now,
                    expires_at=now + dt.timedelta(seconds=job.lock_ttl),
                )
        except IntegrityError:
            return False  # another process inserted it between our read and write
    return True


def _release(job: schedule.Job, run: JobRun) -> None:
    JobLock.objects.filter(job=job.name, run=run).delete()


# --- counts and errors -----------------------------------------------------------


def counts_of(result: Any) -> dict[str, Any]:
    """A job's return value as a summary of counts (numbers, and one level of nesting).

    Strings are dropped (a job's text could carry anything) and lists are
    replaced by their length.
    """
    if result is None:
        return {}
    if isinstance(result, bool):
        return {"done": result}
    if isinstance(result, int | float):
        return {"count": result}
    if hasattr(result, "as_dict"):
        result = result.as_dict()
    elif dataclasses.is_dataclass(result) and not isinstance(result, type):
        result = dataclasses.asdict(result)
    if not isinstance(result, Mapping):
        return {}
    summary: dict[str, Any] = {}
    for key, value in result.items():
        if not isinstance(key, str):
            continue
        if isinstance(value, bool | int | float) or value is None:
            summary[key] = value
        elif isinstance(value, list | tuple | set):
            # Lists name things (ids, references): keep how many, not which.
            summary[key] = len(value)
        elif isinstance(value, Mapping):
            summary[key] = {
                str(k): v for k, v in value.items() if isinstance(v, bool | int | float)
            }
    return summary


def _ledger_counts(summary: Mapping[str, Any]) -> dict[str, Any]:
    """The flat integer counts of a summary, under keys the ledger accepts."""
    flat: dict[str, Any] = {}
    for key, value in summary.items():
        key = key.replace("-", "_")
        if len(flat) >= _MAX_COUNTS or not _COUNT_KEY.match(key) or key in {"job", "outcome"}:
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            continue
        flat[key] = value
    return flat


def describe_error(exc: BaseException) -> str:
    """The error class, the place it was raised, and our own errors' messages only."""
    name = type(exc).__name__
    module = type(exc).__module__ or ""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    if module.startswith("shelfguard."):
        message = " ".join(str(exc).split())
        return f"{name}{where}: {message}"[:300]
    return f"{name}{where} (message not kept: it may quote stored data)"[:300]


# --- running ---------------------------------------------------------------------


def _call(fn: Callable[..., Any]) -> Any:
    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        parameters = {}
    kwargs: dict[str, Any] = {}
    if "now" in parameters:
        kwargs["now"] = clock.now()
    return fn(**kwargs)


def run_job(
    name: str,
    *,
    trigger: str = "manual",
    fn: Callable[[], Any] | None = None,
) -> JobRun:
    """Run one job now, in this thread, and return its `JobRun` (never raises for the job).

    `fn` replaces the registered function for this run (a command doing the
    job's work with its own options, e.g. `retention run --as-of`); the lock
    and the records are the job's. Raises `JobsError` only for an unknown name.
    """
    try:
        job = schedule.get(name)
    except KeyError as exc:
        raise JobsError(str(exc.args[0])) from None
    started = clock.now()
    clock_start = time.monotonic()
    run = JobRun.objects.create(job=job.name, trigger=trigger, started_at=started)
    if not _acquire(job, run):
        _finish(
            job,
            run,
            Outcome.SKIPPED,
            {},
            f"{ALREADY_RUNNING}: another run of this job has not finished yet.",
            clock_start,
        )
        return run
    try:
        try:
            function = fn or job.function()
        except schedule.NotInstalled as exc:
            _finish(job, run, Outcome.SKIPPED, {}, f"NotInstalled: {exc}.", clock_start)
            return run
        try:
            summary = counts_of(_call(function))
        except Exception as exc:  # noqa: BLE001  (recorded, never crashes the worker)
            error = describe_error(exc)
            logger.error("Job %s failed: %s", job.name, error)
            # A job that did part of its work may say how much (e.g. the sweep's rules).
            partial = counts_of(getattr(exc, "summary", None))
            _finish(job, run, Outcome.FAILED, partial, error, clock_start)
            return run
        _finish(job, run, Outcome.OK, summary, "", clock_start)
        return run
    finally:
        _release(job, run)


def _finish(
    job: schedule.Job,
    run: JobRun,
    outcome: str,
    summary: dict[str, Any],
    error: str,
    clock_start: float,
) -> None:
    run.finished_at = clock.now()
    run.duration_seconds = round(time.monotonic() - clock_start, 3)
    run.outcome = outcome
    run.summary = summary
    run.error = error
    with transaction.atomic():
        run.save(update_fields=["finished_at", "duration_seconds", "outcome", "summary", "error"])
        detail: dict[str, Any] = {
            "job": job.name,
            "outcome": outcome,
            "ms": int(run.duration_seconds * 1000),
        }
        if error:
            detail["error"] = error.split(":", 1)[0].split(" ", 1)[0][:64]
        detail.update(_ledger_counts(summary))
        ledger.append(
            actor=Actor.system(job.name),
            action="job.run",
            purpose=JOB_PURPOSE,
            detail=detail,
        )


# --- the huey queue and consumer ----------------------------------------------------


def in_process_enabled() -> bool:
    """`[jobs] in_process`: default true on the embedded queue, false with Redis."""
    config = schedule.jobs_config()
    value = config.get("in_process", not config.get("redis_url"))
    if not isinstance(value, bool):
        raise ImproperlyConfigured("[jobs] in_process in shelfguard.toml must be true or false.")
    return value


def make_huey() -> Huey:
    """The queue: SQLite in the data home, or Redis when `[jobs] redis_url` is set."""
    url = schedule.jobs_config().get("redis_url") or os.environ.get("SHELFGUARD_JOBS_REDIS_URL")
    if url:
        if not isinstance(url, str):
            raise ImproperlyConfigured("[jobs] redis_url in shelfguard.toml must be a URL.")
        try:
            from huey import RedisHuey
        except ImportError:  # pragma: no cover  (the redis client is an optional extra)
            raise ImproperlyConfigured(
                "[jobs] redis_url is set but the redis client is not installed; install it "
                "or remove redis_url to use the queue in the data home."
            ) from None
        return RedisHuey("shelfguard", url=url, results=False, utc=True)
    return SqliteHuey("shelfguard", filename=str(home_dir() / QUEUE_FILE), results=False, utc=True)


def _tidy_connections() -> None:
    """Drop broken or expired database connections, as Django does around each request.

    Skipped inside a transaction (a test running a task in its own thread),
    where closing would abandon the caller's work.
    """
    if not connection.in_atomic_block:
        close_old_connections()


def _scheduled_runner(name: str) -> Callable[[], None]:
    def run_scheduled() -> None:
        _tidy_connections()
        try:
            job = schedule.get(name)
            if not job.available():
                # Registered for an app not installed yet: `jobs status` says so.
                return
            run_job(name, trigger="schedule")
        finally:
            _tidy_connections()

    run_scheduled.__name__ = f"run_{name.replace('-', '_')}"
    return run_scheduled


def install_schedule(huey: Huey) -> list[str]:
    """Add every registered, switched-on job to `huey` as a periodic task; return their names."""
    installed = []
    for job in schedule.jobs():
        cron = job.schedule()
        if cron is None:
            continue

        def fires(moment: dt.datetime, cron: schedule.Cron = cron) -> bool:
            # huey passes naive UTC (utc=True); the schedule reads local time.
            return cron.matches(moment.replace(tzinfo=dt.UTC))

        huey.periodic_task(fires, name=f"shelfguard.{job.name}")(_scheduled_runner(job.name))
        installed.append(job.name)
    return installed


def make_consumer(huey: Huey, *, workers: int = 1) -> Consumer:
    # An idle worker looks at the queue at least every 2 s, so a stop (Ctrl-C,
    # `serve` shutting down) waits for a running job, never for a long sleep.
    return Consumer(
        huey,
        workers=workers,
        worker_type="thread",
        periodic=True,
        check_worker_health=False,
        max_delay=2.0,
    )


class InProcessScheduler:
    """The consumer running in threads of this process, and the file lock that makes it the one."""

    def __init__(self, consumer: Consumer, lock_file: IO[bytes], jobs: list[str]) -> None:
        self.consumer = consumer
        self.jobs = jobs
        self._lock_file = lock_file

    def stop(self) -> None:
        try:
            self.consumer.stop(graceful=True)
        finally:
            self._lock_file.close()  # releases the lock


def _take_scheduler_lock(home: Path) -> IO[bytes] | None:
    """An exclusive, non-blocking lock on a file in the home; None when held elsewhere."""
    handle = open(home / SCHEDULER_LOCK_FILE, "ab")  # noqa: SIM115  (held while we run)
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        return None
    return handle


def start_in_process(*, workers: int = 1) -> InProcessScheduler | None:
    """Start the schedule in background threads of this process, once per data home.

    Called by `shelfguard serve` in the gunicorn master before it forks its
    workers (threads do not survive a fork, so the workers never run jobs).
    A second `serve` on the same home, or a `shelfguard worker`, holds the
    lock file and this returns None. Also None when `[jobs] in_process` is off.
    """
    if not in_process_enabled():
        return None
    lock_file = _take_scheduler_lock(home_dir())
    if lock_file is None:
        return None
    try:
        huey = make_huey()
        installed = install_schedule(huey)
        consumer = make_consumer(huey, workers=workers)
        consumer.start()
    except BaseException:
        lock_file.close()
        raise
    return InProcessScheduler(consumer, lock_file, installed)


def run_worker(*, workers: int = 1, announce: Callable[[list[str]], None] | None = None) -> None:
    """Run the consumer in the foreground until interrupted (`shelfguard worker`).

    `announce(job_names)` is called once the schedule is this process's to run.
    """
    lock_file = _take_scheduler_lock(home_dir())
    if lock_file is None:
        raise JobsError(
            "Another process on this data home already runs the schedule (a `shelfguard "
            "worker`, or `shelfguard serve` with [jobs] in_process = true); stop it first, "
            "or set [jobs] in_process = false for serve."
        )
    try:
        huey = make_huey()
        installed = install_schedule(huey)
        if announce is not None:
            announce(installed)
        make_consumer(huey, workers=workers).run()
    finally:
        lock_file.close()
