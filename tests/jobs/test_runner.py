"""Running jobs: records, ledger entries, failures that do not stop the next job, one at a time."""

from __future__ import annotations

import datetime as dt
import os
import socket

import pytest

from shelfguard.core import clock
from shelfguard.jobs import runner, schedule, services
from shelfguard.jobs.models import JobLock, JobRun
from shelfguard.ledger.models import Entry
from shelfguard.lifecycle.retention import RetentionError

from .conftest import TODAY, frozen_on, library  # noqa: F401  (fixture)

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("home")]

#: A value that must never reach a record: it stands for a patron's data in an error.
SECRET = "Testa Person 4711"


@pytest.fixture
def test_jobs():
    """Register a few jobs for the test; remove them afterwards."""
    names = []

    def add(name, fn, line="0 4 * * *"):
        schedule.register_job(name, fn, line)
        names.append(name)

    yield add
    for name in names:
        schedule.unregister_job(name)


def test_a_run_is_recorded_with_counts_and_one_ledger_entry(test_jobs):
    test_jobs("test-counting", lambda: {"checked": 12, "deleted": 3, "note": SECRET, "ids": [1, 2]})
    with frozen_on(TODAY):
        run = services.run_job("test-counting")
    run.refresh_from_db()
    assert run.outcome == "ok"
    assert run.summary == {"checked": 12, "deleted": 3, "ids": 2}
    assert run.started_at == run.finished_at == clock_at_noon()
    assert run.duration_seconds is not None
    entry = Entry.objects.get(action="job.run")
    assert (entry.actor_kind, entry.actor_id, entry.channel) == ("system", "test-counting", "job")
    assert entry.patron_id is None and entry.fields == []
    assert entry.detail["job"] == "test-counting" and entry.detail["outcome"] == "ok"
    assert entry.detail["checked"] == 12 and entry.detail["deleted"] == 3
    assert SECRET not in str(entry.detail)
    assert not JobLock.objects.exists()


def clock_at_noon() -> dt.datetime:
    return dt.datetime(TODAY.year, TODAY.month, TODAY.day, 12, tzinfo=dt.UTC)


def test_a_job_that_raises_is_recorded_as_failed_and_the_next_job_still_runs(test_jobs):
    def broken():
        raise ValueError(f"could not handle {SECRET}")

    test_jobs("test-broken", broken)
    test_jobs("test-fine", lambda: 5)

    # Exactly what the schedule calls, one after the other.
    runner._scheduled_runner("test-broken")()
    runner._scheduled_runner("test-fine")()

    failed = JobRun.objects.get(job="test-broken")
    assert failed.outcome == "failed"
    assert failed.error.startswith("ValueError at test_runner.py:")
    assert SECRET not in failed.error
    assert JobRun.objects.get(job="test-fine").outcome == "ok"
    assert JobRun.objects.get(job="test-fine").summary == {"count": 5}
    failed_entry = Entry.objects.get(action="job.run", actor_id="test-broken")
    assert failed_entry.detail["outcome"] == "failed"
    assert failed_entry.detail["error"] == "ValueError"
    assert SECRET not in str(failed_entry.detail)
    assert not JobLock.objects.exists()


def test_our_own_errors_keep_their_message(test_jobs):
    def refuses():
        raise RetentionError("The period is out of bounds; fix shelfguard.toml.")

    test_jobs("test-refuses", refuses)
    run = services.run_job("test-refuses")
    assert run.outcome == "failed"
    assert "RetentionError" in run.error and "fix shelfguard.toml" in run.error


def test_an_overlapping_run_is_refused(test_jobs):
    inner = {}

    def long_job():
        # While this run holds the lock, another run of the same job starts.
        inner["run"] = services.run_job("test-long")
        return {"done": 1}

    test_jobs("test-long", long_job)
    outer = services.run_job("test-long")
    assert outer.outcome == "ok"
    assert inner["run"].outcome == "skipped"
    assert inner["run"].error.startswith(runner.ALREADY_RUNNING)
    assert not JobLock.objects.exists()
    # After the first run ends, the job runs again.
    test_jobs("test-long", lambda: 1)
    assert services.run_job("test-long").outcome == "ok"


def test_a_lock_held_on_another_machine_is_respected_until_it_expires(test_jobs):
    test_jobs("test-locked", lambda: 1)
    now = clock.now()
    JobLock.objects.create(
        job="test-locked",
        holder="another-host:4242",
        acquired_at=now,
        expires_at=now + dt.timedelta(hours=1),
    )
    assert services.run_job("test-locked").outcome == "skipped"
    JobLock.objects.filter(job="test-locked").update(expires_at=now - dt.timedelta(seconds=1))
    assert services.run_job("test-locked").outcome == "ok"


def test_a_lock_left_by_a_killed_process_is_taken_over(test_jobs):
    """kill -9 leaves the lock row and a 'running' record; the next run cleans both up."""
    test_jobs("test-killed", lambda: 1)
    now = clock.now()
    dead_pid = _a_dead_pid()
    interrupted = JobRun.objects.create(job="test-killed", started_at=now)
    JobLock.objects.create(
        job="test-killed",
        holder=f"{socket.gethostname()}:{dead_pid}",
        run=interrupted,
        acquired_at=now,
        expires_at=now + dt.timedelta(hours=6),
    )
    assert services.run_job("test-killed").outcome == "ok"
    interrupted.refresh_from_db()
    assert interrupted.outcome == "failed" and interrupted.error.startswith("Interrupted")


def _a_dead_pid() -> int:
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return pid


def test_a_job_of_an_app_not_installed_is_reported_not_crashed_on(test_jobs):
    test_jobs("test-missing", "shelfguard.not_an_app.jobs:run")
    run = services.run_job("test-missing")
    assert run.outcome == "skipped" and run.error.startswith("NotInstalled")
    runner._scheduled_runner("test-missing")()  # the schedule passes over it quietly
    assert JobRun.objects.filter(job="test-missing").count() == 1


def test_unknown_job_is_refused():
    with pytest.raises(runner.JobsError, match="There is no job 'nope'"):
        services.run_job("nope")


def test_jobs_status_json(run_cli, test_jobs, settings):
    settings.CONFIG = {"jobs": {"schedule": {"test-status": "15 4 * * *", "anomaly-scan": "off"}}}
    test_jobs("test-status", lambda: {"seen": 2})
    test_jobs("test-missing", "shelfguard.not_an_app.jobs:run")
    with frozen_on(TODAY):
        ran = run_cli("jobs", "run", "test-status", "--json")
        assert ran.code == 0, ran.err
        assert ran.json()["summary"] == {"seen": 2}
        result = run_cli("jobs", "status", "--json")
    assert result.code == 0, result.err
    jobs = {job["job"]: job for job in result.json()["jobs"]}
    status = jobs["test-status"]
    assert status["schedule"] == "15 4 * * *"
    assert status["installed"] is True and status["running"] is False
    assert status["last_run"]["outcome"] == "ok"
    assert status["last_run"]["trigger"] == "manual"
    assert status["last_run"]["summary"] == {"seen": 2}
    assert status["last_run"]["duration_seconds"] >= 0
    assert status["next_run"] == "2026-06-11T04:15:00+00:00"  # library time zone is UTC here
    assert jobs["test-missing"]["installed"] is False
    assert jobs["anomaly-scan"]["schedule"] == "off" and jobs["anomaly-scan"]["next_run"] is None
    assert {"retention", "backup", "notices", "hold-expiry", "ledger-checkpoint"} <= set(jobs)


def test_jobs_run_exits_non_zero_when_the_job_fails(run_cli, test_jobs):
    def broken():
        raise KeyError("x")

    test_jobs("test-broken-cli", broken)
    result = run_cli("jobs", "run", "test-broken-cli")
    assert result.code == 1
    assert "test-broken-cli failed: KeyError" in result.err
    unknown = run_cli("jobs", "run", "no-such-job")
    assert unknown.code == 1 and "There is no job" in unknown.err


def test_a_bad_schedule_line_is_reported(settings, test_jobs):
    test_jobs("test-sched", lambda: 1)
    settings.CONFIG = {"jobs": {"schedule": {"test-sched": "every day", "no-such-job": "off"}}}
    problems = schedule.check_configuration()
    assert any("no-such-job" in p for p in problems)
    assert any("[jobs.schedule] test-sched" in p and "five fields" in p for p in problems)


def test_shelfguard_check_warns_about_bad_schedules_and_periods(settings):
    from django.core import checks

    settings.CONFIG = {
        "jobs": {"schedule": {"retention": "at dawn"}},
        "retention": {"expired_patron_days": 1},
    }
    messages = [m for m in checks.run_checks() if m.id in {"shelfguard.W301", "shelfguard.W302"}]
    assert {m.id for m in messages} == {"shelfguard.W301", "shelfguard.W302"}
    assert any("[retention] expired_patron_days" in m.msg for m in messages)
    settings.CONFIG = {}
    assert not [m for m in checks.run_checks() if m.id.startswith("shelfguard.W30")]


@pytest.mark.django_db(databases=["default", "keystore"])
def test_the_shipped_jobs_run_their_real_functions(library):  # noqa: F811  (fixture)
    from shelfguard.ledger import checkpoints

    checkpoints.ensure_signing_key(library)
    for name in ("hold-expiry", "notices", "ledger-checkpoint", "offline-purge", "retention"):
        run = services.run_job(name)
        assert (name, run.outcome, run.error) == (name, "ok", "")
    assert JobRun.objects.get(job="notices").summary == {
        "queued": 0,
        "sent": 0,
        "skipped": 0,
        "failed": 0,
    }
    assert JobRun.objects.get(job="ledger-checkpoint").summary["seq"] >= 1
    assert "loan-patron-link" in JobRun.objects.get(job="retention").summary
