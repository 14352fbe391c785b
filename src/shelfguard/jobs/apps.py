"""Scheduled jobs: the runner, the schedule and each job's last run (issue 7)."""

from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "shelfguard.jobs"
    default_auto_field = "django.db.models.BigAutoField"
