"""Public feedback pages at /feedback/ (namespace `feedback`); see views.py."""

from django.urls import path

from shelfguard.feedback import views

app_name = "feedback"

urlpatterns = [
    path("", views.feedback_form, name="form"),
    path("answered/", views.answered, name="answered"),
    path("privacy-request/", views.privacy_request, name="privacy_request"),
    path("privacy-request/status/<str:token>/", views.privacy_status, name="privacy_status"),
]
