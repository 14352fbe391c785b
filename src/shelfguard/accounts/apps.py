from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "shelfguard.accounts"
    label = "accounts"
    verbose_name = "Shelfguard staff accounts"
