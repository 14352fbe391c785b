from django.urls import path  # noqa: F401

# Names are in the "portal" namespace (included from portal/urls.py).
urlpatterns: list = []
