"""The review queue of patrons' correction requests (see correction_views)."""

from django.urls import path

from shelfguard.staff import correction_views as views

# Names are in the "staff" namespace (included from staff/urls.py).
urlpatterns: list = [
    path("", views.queue, name="corrections_queue"),
    path("<int:correction_id>/", views.detail, name="corrections_detail"),
]
