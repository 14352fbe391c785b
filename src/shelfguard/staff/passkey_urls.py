"""Staff passkey pages (see staff/urls.py and staff/passkey_views.py)."""

from django.urls import path

from shelfguard.staff import passkey_views as views

urlpatterns = [
    path("verify/passkey/options/", views.signin_options, name="passkey_signin_options"),
    path("verify/passkey/", views.signin_view, name="passkey_signin"),
    path("enrol/passkey/options/", views.enrol_options, name="passkey_enrol_options"),
    path("enrol/passkey/", views.enrol_view, name="passkey_enrol"),
    path("account/passkeys/", views.list_view, name="passkeys"),
    path("account/passkeys/reauth/options/", views.reauth_options, name="passkey_reauth_options"),
    path("account/passkeys/add/options/", views.add_options, name="passkey_add_options"),
    path("account/passkeys/add/", views.add_view, name="passkey_add"),
    path("account/passkeys/<int:pk>/rename/", views.rename_view, name="passkey_rename"),
    path("account/passkeys/<int:pk>/remove/", views.remove_view, name="passkey_remove"),
]
