from django.urls import path

from shelfguard.opac import views

app_name = "opac"

urlpatterns = [
    path("", views.home, name="home"),
    path("search/", views.search, name="search"),
    # `path`, not `str`: a few agencies put "/" in their control numbers.
    path("records/<path:control_number>/", views.record, name="record"),
]
