from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "shelfguard.ledger"
    label = "ledger"
    verbose_name = "Shelfguard access ledger"
