"""Retention sweeps, recycle bin and encrypted, verified backups (issue 7)."""

from django.apps import AppConfig


class LifecycleConfig(AppConfig):
    name = "shelfguard.lifecycle"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from shelfguard.jobs.schedule import register_job

        register_job(
            "bin-purge",
            "shelfguard.lifecycle.recycle:run_scheduled_purge",
            "15 3 * * *",
            description="purge the recycle bin past [lifecycle] bin_days (patrons crypto-erased)",
        )
