from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "shelfguard.api"
    label = "api"
