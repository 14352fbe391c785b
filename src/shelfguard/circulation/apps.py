from django.apps import AppConfig


class CirculationConfig(AppConfig):
    name = "shelfguard.circulation"
    default_auto_field = "django.db.models.BigAutoField"
