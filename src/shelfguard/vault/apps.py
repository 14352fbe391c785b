from django.apps import AppConfig


class VaultConfig(AppConfig):
    name = "shelfguard.vault"
    label = "vault"
    verbose_name = "Shelfguard vault (keys and sealing)"
