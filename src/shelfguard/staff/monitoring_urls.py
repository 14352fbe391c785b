from django.urls import path  # noqa: F401

# Names are in the "staff" namespace (included from staff/urls.py).
urlpatterns: list = []
