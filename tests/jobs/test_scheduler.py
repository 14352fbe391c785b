"""The schedule: huey periodic tasks, and the in-process consumer that `serve` starts once."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from shelfguard.jobs import runner, schedule
from shelfguard.jobs.models import JobRun

pytestmark = pytest.mark.usefixtures("home")


@pytest.fixture
def all_jobs_off(settings):
    """No job fires by itself while a consumer runs in the test."""
    settings.CONFIG = {"jobs": {"schedule": {job.name: "off" for job in schedule.jobs()}}}


def test_cron_lines_read_the_library_time_zone(settings):
    settings.TIME_ZONE = "Asia/Shanghai"  # UTC+8, no daylight saving
    cron = schedule.Cron("30 3 * * *")
    assert cron.matches(dt.datetime(2026, 6, 9, 19, 30, tzinfo=dt.UTC))
    assert not cron.matches(dt.datetime(2026, 6, 10, 3, 30, tzinfo=dt.UTC))
    assert cron.next_after(dt.datetime(2026, 6, 10, 0, 0, tzinfo=dt.UTC)) == dt.datetime(
        2026, 6, 10, 19, 30, tzinfo=dt.UTC
    )
    with pytest.raises(ValueError, match="five fields"):
        schedule.Cron("daily")
    with pytest.raises(ValueError, match="not a cron line"):
        schedule.Cron("61 * * * *")


def test_every_switched_on_job_becomes_a_periodic_task(settings, home):
    settings.CONFIG = {"jobs": {"schedule": {"anomaly-scan": "off"}}}
    huey = runner.make_huey()
    installed = runner.install_schedule(huey)
    assert "anomaly-scan" not in installed
    assert {"retention", "backup", "notices", "hold-expiry", "ledger-checkpoint"} <= set(installed)
    periodic = {task.name for task in huey._registry.periodic_tasks}
    assert periodic == {f"shelfguard.{name}" for name in installed}
    assert (home / runner.QUEUE_FILE).exists()


@pytest.mark.django_db
def test_a_periodic_task_runs_the_job_through_the_queue(settings):
    settings.CONFIG = {
        "jobs": {
            "schedule": {job.name: "off" for job in schedule.jobs()} | {"test-queued": "0 4 * * *"}
        }
    }
    schedule.register_job("test-queued", lambda: {"ran": 1}, "0 4 * * *")
    try:
        huey = runner.make_huey()
        runner.install_schedule(huey)
        # What the consumer's scheduler does each minute: read the periodic tasks
        # due at that minute and enqueue them; then a worker dequeues and runs one.
        due = huey.read_periodic(dt.datetime(2026, 6, 10, 4, 0))  # naive UTC, as huey passes
        assert [task.name for task in due] == ["shelfguard.test-queued"]
        assert huey.read_periodic(dt.datetime(2026, 6, 10, 4, 1)) == []
        huey.enqueue(due[0])
        huey.execute(huey.dequeue())
    finally:
        schedule.unregister_job("test-queued")
    run = JobRun.objects.get(job="test-queued")
    assert (run.trigger, run.outcome, run.summary) == ("schedule", "ok", {"ran": 1})


def test_the_in_process_scheduler_starts_once_per_home(all_jobs_off):
    first = runner.start_in_process()
    assert first is not None
    try:
        threads = [t.name for t in __import__("threading").enumerate()]
        assert any("Scheduler" in name or "Worker" in name for name in threads)
        assert runner.start_in_process() is None  # a second serve on the same home
        with pytest.raises(runner.JobsError, match="already runs the schedule"):
            runner.run_worker()
    finally:
        first.stop()
    again = runner.start_in_process()
    assert again is not None
    again.stop()


def test_in_process_can_be_switched_off(settings):
    settings.CONFIG = {"jobs": {"in_process": False}}
    assert runner.start_in_process() is None
    settings.CONFIG = {"jobs": {"in_process": "yes"}}
    with pytest.raises(Exception, match="true or false"):
        runner.start_in_process()


def test_redis_turns_the_in_process_default_off(settings):
    settings.CONFIG = {"jobs": {"redis_url": "redis://127.0.0.1:1/0"}}
    assert runner.in_process_enabled() is False


def test_another_process_holding_the_schedule_keeps_this_one_from_starting(home, all_jobs_off):
    """As with gunicorn's master and a second `serve`: only one process runs the schedule."""
    (home / "shelfguard.toml").write_text(
        (home / "shelfguard.toml").read_text()
        + "\n[jobs.schedule]\n"
        + "".join(f'{job.name} = "off"\n' for job in schedule.jobs())
    )
    ready = home / "started"
    code = textwrap.dedent(
        f"""
        import os, time, django
        os.environ["DJANGO_SETTINGS_MODULE"] = "shelfguard.settings"
        django.setup()
        from shelfguard.jobs.runner import start_in_process
        scheduler = start_in_process()
        open({str(ready)!r}, "w").write("yes" if scheduler else "no")
        time.sleep(30)
        """
    )
    env = {**os.environ, "SHELFGUARD_HOME": str(home)}
    child = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=Path(__file__).parent)
    try:
        for _ in range(200):
            if ready.exists() and ready.read_text():
                break
            time.sleep(0.1)
        assert ready.read_text() == "yes"
        assert runner.start_in_process() is None
    finally:
        child.kill()
        child.wait()
    # The lock dies with its process (kill -9 included).
    after = runner.start_in_process()
    assert after is not None
    after.stop()
