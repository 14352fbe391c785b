from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "shelfguard.core"
    label = "core"
    verbose_name = "Shelfguard core"
