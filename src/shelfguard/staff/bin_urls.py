"""Recycle bin and four-eyes approval pages (see staff/urls.py), at /staff/bin/.

Names are in the "staff" namespace. Every view in `bin_views` declares its
rule (`shelfguard.staff.access`); the services decide per kind and action.
"""

from django.urls import path

from shelfguard.staff import bin_views as v

urlpatterns = [
    path("", v.bin_list, name="bin"),
    path("<int:entry_id>/restore/", v.bin_restore, name="bin_restore"),
    path("approvals/", v.approval_list, name="approvals"),
    path("approvals/<int:request_id>/approve/", v.approval_approve, name="approval_approve"),
    path("approvals/<int:request_id>/reject/", v.approval_reject, name="approval_reject"),
]
