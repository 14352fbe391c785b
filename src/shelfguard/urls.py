from django.urls import include, path

urlpatterns = [
    path("api/v1/", include("shelfguard.api.urls")),
    path("staff/", include("shelfguard.staff.urls")),
    path("account/", include("shelfguard.portal.urls")),
    path("feedback/", include("shelfguard.feedback.urls")),
    path("", include("shelfguard.opac.urls")),
]
