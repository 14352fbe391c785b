"""Anonymous feedback, and privacy requests and complaints (issue 6)."""

from django.apps import AppConfig


class FeedbackConfig(AppConfig):
    name = "shelfguard.feedback"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from shelfguard.feedback.privacy_requests import EXPORT_COLUMNS, export_rows
        from shelfguard.patrons.export_sections import ExportSection, register_export_section

        register_export_section(
            ExportSection(
                name="privacy_requests",
                description=(
                    "Privacy requests and complaints filed while signed in: what was asked, "
                    "the deadline, the outcome and the library's answers."
                ),
                columns=EXPORT_COLUMNS,
                rows=export_rows,
            )
        )
        _register_retention()


def _register_retention() -> None:
    """Anonymous feedback lives a year (`[retention] feedback_days`), then it is deleted."""
    from shelfguard.feedback.models import Feedback
    from shelfguard.lifecycle.retention import delete_in_batches, register_rule

    register_rule(
        "anonymous-feedback",
        applies_to="anonymous feedback, a year after it was sent",
        sweep=lambda ctx: delete_in_batches(
            ctx, Feedback.objects.filter(created_on__lte=ctx.cutoff_date)
        ),
        setting="feedback_days",
        default_days=365,
        minimum=30,
        maximum=3650,
    )
