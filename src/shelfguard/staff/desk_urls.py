"""Staff desk pages (see staff/urls.py), under /staff/desk/ in the `staff` namespace.

One section per desk subject; each view declares its permission with
`staff.access.permission_required`, which the every-URL test reads.
"""

from django.urls import path

from shelfguard.staff import desk_patron_views as patrons

urlpatterns: list = [
    # --- Patrons: find, view (masked; reveal on purpose), register, edit, card, block ---
    path("patrons/", patrons.find, name="desk_patron_find"),
    path("patrons/register/", patrons.register, name="desk_patron_register"),
    path("patrons/<int:patron_id>/", patrons.patron_view, name="desk_patron"),
    path("patrons/<int:patron_id>/reveal/", patrons.reveal, name="desk_patron_reveal"),
    path("patrons/<int:patron_id>/edit/", patrons.edit, name="desk_patron_edit"),
    path("patrons/<int:patron_id>/renew/", patrons.renew, name="desk_patron_renew"),
    path(
        "patrons/<int:patron_id>/replace-card/",
        patrons.replace_card,
        name="desk_patron_replace_card",
    ),
    path("patrons/<int:patron_id>/block/", patrons.block, name="desk_patron_block"),
    path("patrons/<int:patron_id>/unblock/", patrons.unblock, name="desk_patron_unblock"),
    # --- Circulation (lend, return, renew): to come, in its own section below ---
]
