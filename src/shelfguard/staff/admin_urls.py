"""Staff admin pages (see staff/urls.py), at /staff/admin/ in the `staff` namespace.

Every view here is guarded in `admin_views` with `permission_required`; the
every-URL x every-role test (tests/staff/test_every_url.py) tries each one.
"""

from django.urls import include, path

from shelfguard.staff import admin_views as v

urlpatterns = [
    path("staff/", v.staff_list, name="admin_staff"),
    path("staff/new/", v.staff_create, name="admin_staff_create"),
    path("staff/<int:staff_id>/", v.staff_detail, name="admin_staff_detail"),
    path("staff/<int:staff_id>/roles/", v.staff_roles, name="admin_staff_roles"),
    path("staff/<int:staff_id>/disable/", v.staff_disable, name="admin_staff_disable"),
    path("staff/<int:staff_id>/enable/", v.staff_enable, name="admin_staff_enable"),
    path("staff/<int:staff_id>/move/", v.staff_move, name="admin_staff_move"),
    path(
        "staff/<int:staff_id>/enrolment-code/",
        v.staff_enrolment_code,
        name="admin_staff_enrolment_code",
    ),
    path(
        "staff/<int:staff_id>/reset-second-factor/",
        v.staff_reset_factor,
        name="admin_staff_reset_factor",
    ),
    path("roles/", v.role_list, name="admin_roles"),
    path("roles/new/", v.role_create, name="admin_role_create"),
    path("roles/<int:role_id>/", v.role_edit, name="admin_role_edit"),
    path("certifications/", v.certification_list, name="admin_certifications"),
    path("certifications/record/", v.certification_record, name="admin_certification_record"),
    path("breakglass/", v.breakglass_list, name="admin_breakglass"),
    path("breakglass/new/", v.breakglass_grant, name="admin_breakglass_grant"),
    path("breakglass/<int:grant_id>/", v.breakglass_detail, name="admin_breakglass_detail"),
    path("breakglass/<int:grant_id>/revoke/", v.breakglass_revoke, name="admin_breakglass_revoke"),
    path("breakglass/<int:grant_id>/review/", v.breakglass_review, name="admin_breakglass_review"),
    # Scheduled jobs and the retention register (the jobs app's own URL module).
    path("", include("shelfguard.jobs.urls")),
]

# --- loan rules and branch calendars (circulation.rules; views in rules_views) ---------------
from shelfguard.staff import rules_views as rv

urlpatterns += [
    path("circulation/rules/", rv.rules_list, name="rules_list"),
    path("circulation/rules/new/", rv.rule_create, name="rule_create"),
    path("circulation/rules/<int:policy_id>/", rv.rule_edit, name="rule_edit"),
    path("circulation/rules/<int:policy_id>/delete/", rv.rule_delete, name="rule_delete"),
    path("circulation/calendar/", rv.calendar_list, name="calendar_list"),
    path("circulation/calendar/<str:branch_code>/", rv.calendar_detail, name="calendar_detail"),
    path(
        "circulation/calendar/<str:branch_code>/time-zone/",
        rv.calendar_time_zone,
        name="calendar_time_zone",
    ),
    path("circulation/calendar/<str:branch_code>/hours/", rv.calendar_hours, name="calendar_hours"),
    path(
        "circulation/calendar/<str:branch_code>/closed/add/",
        rv.calendar_close_day,
        name="calendar_close_day",
    ),
    path(
        "circulation/calendar/<str:branch_code>/closed/remove/",
        rv.calendar_reopen_day,
        name="calendar_reopen_day",
    ),
]
