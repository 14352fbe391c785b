from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "shelfguard.catalog"
    label = "catalog"
