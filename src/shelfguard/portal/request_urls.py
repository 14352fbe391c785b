"""The patron's correction requests and the public card application (see request_views)."""

from django.urls import path

from shelfguard.portal import request_views as views

# Names are in the "portal" namespace (included from portal/urls.py).
urlpatterns: list = [
    path("requests/", views.requests_view, name="requests"),
    path("register/", views.register_view, name="register"),
    path(
        "register/confirm/<str:token>/",
        views.register_confirm_view,
        name="register_confirm",
    ),
]
