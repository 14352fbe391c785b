from django.urls import include, path

from shelfguard.portal import views

app_name = "portal"

urlpatterns = [
    path("", views.home, name="home"),
    path("login/", views.login_view, name="login"),
    path("verify/", views.verify_view, name="verify"),
    path("verify/passkey/", views.verify_passkey_options, name="verify_passkey_options"),
    path("logout/", views.logout_view, name="logout"),
    path("sessions/", views.sessions_view, name="sessions"),
    path("password/", views.password_view, name="password"),
    path("security/", views.security_view, name="security"),
    path("security/passkey/", views.passkey_add_options, name="passkey_add_options"),
    path("set-password/<str:token>/", views.set_password_view, name="set_password"),
    # Issue 6: the patron's own data, each area in its own URL module.
    path("", include("shelfguard.portal.account_urls")),
    path("", include("shelfguard.portal.data_urls")),
    path("", include("shelfguard.portal.request_urls")),
]
