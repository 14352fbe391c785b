"""The privacy officer's dashboard, at /staff/privacy/ in the `staff` namespace.

Guarded in `dashboard_views` with `permission_required("ledger.read")`; the
every-URL x every-role test (tests/staff/test_every_url.py) tries it.
"""

from django.urls import path

from shelfguard.staff import dashboard_views as v

urlpatterns = [
    path("", v.dashboard, name="privacy_dashboard"),
]
