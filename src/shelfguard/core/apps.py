from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "shelfguard.core"
    label = "core"
    verbose_name = "Shelfguard core"

    def ready(self) -> None:
        # Registers Shelfguard's deployment checks (`shelfguard check --deploy`).
        from shelfguard.core import checks  # noqa: F401
