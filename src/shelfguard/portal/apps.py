"""The patron's own pages under /account/: sign-in, sessions, and (issue 6) their data."""

from django.apps import AppConfig


class PortalConfig(AppConfig):
    name = "shelfguard.portal"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from shelfguard.patrons.models import Patron

        post_save.connect(_forget_erased, sender=Patron, dispatch_uid="portal-forget-erased")

        from shelfguard.portal import export

        # Circulation's and the ledger's parts of "download my data".
        export.register_sections()


def _forget_erased(sender, instance, **kwargs) -> None:
    """An erased patron's password hash, authenticator and sessions go in the same transaction."""
    if instance.is_erased:
        from shelfguard.portal.closure import forget_closures
        from shelfguard.portal.credentials import forget
        from shelfguard.portal.export import forget_exports

        forget(instance)
        forget_exports(instance)
        forget_closures(instance)
