"""Anonymous feedback, and privacy requests and complaints (issue 6)."""

from django.apps import AppConfig


class FeedbackConfig(AppConfig):
    name = "shelfguard.feedback"
    default_auto_field = "django.db.models.BigAutoField"
