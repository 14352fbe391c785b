"""Scheduled jobs: the runner, the schedule and each job's last run (issue 7)."""

from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "shelfguard.jobs"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from shelfguard.jobs import checks, services, tasks  # noqa: F401  (checks register)

        tasks.register_shipped_jobs()
        services.register_job_run_retention()
