"""Staff pages of the jobs app, included under /staff/admin/ (see staff/admin_urls.py)."""

from django.urls import path

from shelfguard.jobs import views

urlpatterns = [
    path("jobs/", views.jobs_status, name="admin_jobs"),
]
