"""The SIP2 self-check server: terminals, handlers calling circulation services, the listener."""

from django.apps import AppConfig


class Sip2Config(AppConfig):
    name = "shelfguard.sip2"
    default_auto_field = "django.db.models.BigAutoField"
