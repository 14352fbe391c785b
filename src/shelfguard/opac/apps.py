from django.apps import AppConfig


class OpacConfig(AppConfig):
    name = "shelfguard.opac"
    label = "opac"
