"""Access-monitoring pages (see staff/urls.py), at /staff/monitoring/ in the `staff` namespace.

Every view here is guarded in `monitoring_views` with `permission_required("ledger.read")`;
the every-URL x every-role test (tests/staff/test_every_url.py) tries each one.
"""

from django.urls import path

from shelfguard.staff import monitoring_views as v

urlpatterns = [
    path("", v.alert_list, name="monitoring_alerts"),
    path("<int:alert_id>/", v.alert_detail, name="monitoring_alert"),
    path("<int:alert_id>/review/", v.alert_review, name="monitoring_alert_review"),
    path("thresholds/", v.thresholds, name="monitoring_thresholds"),
    path("decoys/", v.decoys, name="monitoring_decoys"),
    path("decoys/remove/", v.decoy_remove, name="monitoring_decoy_remove"),
]
