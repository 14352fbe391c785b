from django.apps import AppConfig


class CirculationConfig(AppConfig):
    name = "shelfguard.circulation"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Take part in patrons' lives without `patrons` importing us (patrons.obligations).

        * erasure is refused while items are on loan or charges unpaid;
        * withdrawing `reading_history` unlinks the kept history in the same
          transaction (and withdrawing `email_notices` drops queued notices);
        * when a patron becomes an erased tombstone, every remaining
          circulation link to them is removed in the erasure's transaction.
        """
        from django.db.models.signals import post_save

        from shelfguard.circulation import privacy
        from shelfguard.patrons import obligations
        from shelfguard.patrons.models import Patron

        obligations.register_obligation_check(privacy.obligations)
        obligations.register_withdrawal_handler(privacy.on_consent_withdrawn)
        post_save.connect(privacy.patron_saved, sender=Patron, dispatch_uid="circulation-erasure")
