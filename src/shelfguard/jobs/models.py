"""What the scheduled jobs did, and which job is running now.

A `JobRun` row is written for every run, so `shelfguard jobs status` can say
when each job last ran and how it went. It holds counts only: a job's summary
never names a patron, and a failure is recorded by its error class and a
message the program wrote (never a value from the data).

A `JobLock` row is held while a job runs, so a second run of the same job
(two consumers, or the schedule and `shelfguard jobs run` at once) is refused
rather than run twice. The row names the process holding it, so a lock left
by a killed process on this machine is taken over at once, and one left by
another machine after its time-to-live.
"""

from __future__ import annotations

from django.db import models


class Outcome(models.TextChoices):
    RUNNING = "running"
    OK = "ok"
    FAILED = "failed"
    SKIPPED = "skipped"


class JobRun(models.Model):
    job = models.CharField(max_length=64)
    #: "schedule" (the consumer), "manual" (`jobs run`), "cli" (a command such as `retention`).
    trigger = models.CharField(max_length=16, default="schedule")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=8, choices=Outcome.choices, default=Outcome.RUNNING)
    duration_seconds = models.FloatField(null=True, blank=True)
    #: Counts (and codes), never personal values.
    summary = models.JSONField(default=dict, blank=True)
    #: The error class and a message without personal values.
    error = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["job", "started_at"], name="jobs_run_job_started")]

    def __str__(self) -> str:
        return f"{self.job} run {self.pk} ({self.outcome})"


class JobLock(models.Model):
    job = models.CharField(max_length=64, primary_key=True)
    #: "host:pid" of the process holding the lock.
    holder = models.CharField(max_length=200)
    run = models.ForeignKey(JobRun, on_delete=models.SET_NULL, null=True, related_name="+")
    acquired_at = models.DateTimeField()
    expires_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"lock on {self.job}"
