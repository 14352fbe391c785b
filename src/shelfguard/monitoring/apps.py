"""Watching the access ledger: anomaly rules, alerts, decoy records and their review (issue 7)."""

from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "shelfguard.monitoring"
    default_auto_field = "django.db.models.BigAutoField"
