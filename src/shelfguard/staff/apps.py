from django.apps import AppConfig


class StaffConfig(AppConfig):
    name = "shelfguard.staff"
    label = "staff"
    verbose_name = "Shelfguard staff desk"
