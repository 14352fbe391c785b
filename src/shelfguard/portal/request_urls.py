"""The patron's correction requests and the public card application (see request_views)."""

from django.urls import path

from shelfguard.feedback import views as feedback_views
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
    # The privacy-request form again under /account/, where the portal's
    # cookie (path=/account/) reaches it, so "I am signed in" can link the
    # request to the patron; at /feedback/ the browser never sends it.
    path("privacy-request/", feedback_views.privacy_request, name="privacy_request"),
]
