"""Staff desk pages (see staff/urls.py), under /staff/desk/ in the `staff` namespace.

One section per desk subject; each view declares its permission with
`staff.access.permission_required`, which the every-URL test reads.
"""

from django.urls import path

from shelfguard.staff import desk_circ_views as circ
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
    path(
        "patrons/<int:patron_id>/verify-identity/",
        patrons.verify_identity,
        name="desk_patron_verify_identity",
    ),
    # --- Circulation: check out, check in, renew, holds, hold shelf, transit ---
    # Scanner first: each form answers JSON to desk.js, or redirects without JS.
    # Every page is for the staff member's own branch (desk_circ_views.desk_branch).
    path("circulation/checkout/", circ.checkout, name="desk_circ_checkout"),
    path("circulation/checkout/patron/", circ.checkout_patron, name="desk_circ_checkout_patron"),
    path("circulation/checkout/item/", circ.checkout_item, name="desk_circ_checkout_item"),
    path("circulation/checkout/done/", circ.checkout_done, name="desk_circ_checkout_done"),
    path("circulation/checkin/", circ.checkin, name="desk_circ_checkin"),
    path("circulation/renew/", circ.renew, name="desk_circ_renew"),
    path("circulation/holds/place/", circ.hold_place, name="desk_circ_hold_place"),
    path("circulation/holds/cancel/", circ.hold_cancel, name="desk_circ_hold_cancel"),
    path("circulation/holds/queue/", circ.hold_queue, name="desk_circ_hold_queue"),
    path("circulation/holds/shelf/", circ.hold_shelf, name="desk_circ_hold_shelf"),
    path("circulation/transit/", circ.transit, name="desk_circ_transit"),
]
