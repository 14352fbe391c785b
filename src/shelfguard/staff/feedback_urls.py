"""Staff feedback pages (see staff/urls.py), at /staff/feedback/ in the `staff` namespace.

Every view here is guarded in `feedback_views` with `permission_required`;
the every-URL x every-role test (tests/staff/test_every_url.py) tries each one.
"""

from django.urls import path

from shelfguard.staff import feedback_views as v

urlpatterns = [
    path("", v.feedback_list, name="feedback_list"),
    path("<int:feedback_id>/", v.feedback_detail, name="feedback_detail"),
    path("<int:feedback_id>/answer/", v.feedback_answer, name="feedback_answer"),
    path("<int:feedback_id>/withdraw/", v.feedback_withdraw, name="feedback_withdraw"),
    path("<int:feedback_id>/close/", v.feedback_close, name="feedback_close"),
    path("requests/", v.request_dashboard, name="feedback_requests"),
    path("requests/<int:request_id>/", v.request_detail, name="feedback_request"),
    path("requests/<int:request_id>/step/", v.request_step, name="feedback_request_step"),
    path("requests/<int:request_id>/close/", v.request_close, name="feedback_request_close"),
]
