"""Retention sweeps, recycle bin and encrypted, verified backups (issue 7)."""

from django.apps import AppConfig


class LifecycleConfig(AppConfig):
    name = "shelfguard.lifecycle"
    default_auto_field = "django.db.models.BigAutoField"
