from django.urls import include, path

from shelfguard.staff import views

app_name = "staff"

# Sign-in and one's own account here; each further area keeps its own URL
# module so that its pages are declared in one place.
urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.login_view, name="login"),
    path("verify/", views.verify_view, name="verify"),
    path("enrol/", views.enrol_view, name="enrol"),
    path("enrol/device/", views.enrol_device_view, name="enrol_device"),
    path("sessions/", views.sessions_view, name="sessions"),
    path("account/password/", views.password_view, name="password"),
    path("account/recovery-codes/", views.recovery_codes_view, name="recovery_codes"),
    path("logout/", views.logout_view, name="logout"),
    path("", include("shelfguard.staff.passkey_urls")),
    path("admin/", include("shelfguard.staff.admin_urls")),
    path("desk/", include("shelfguard.staff.desk_urls")),
    path("corrections/", include("shelfguard.staff.correction_urls")),
    path("feedback/", include("shelfguard.staff.feedback_urls")),
    path("monitoring/", include("shelfguard.staff.monitoring_urls")),
    path("bin/", include("shelfguard.staff.bin_urls")),
    path("privacy/", include("shelfguard.staff.dashboard_urls")),
]
