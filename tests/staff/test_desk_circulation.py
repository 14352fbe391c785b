"""The circulation desk pages: permissions, scans answered as JSON, refusals, routing, no-JS path.

Every patron, title and barcode here is synthetic.
"""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from shelfguard.accounts import services as accounts
from shelfguard.catalog.models import Item, ItemStatus
from shelfguard.circulation import services as circulation
from shelfguard.circulation.models import Hold, HoldStatus, Loan, LoanOutcome
from shelfguard.core.actors import Actor
from shelfguard.ledger.models import Entry
from shelfguard.patrons import services as patrons
from shelfguard.staff import desk_circ_views, desk_urls
from tests.accounts.helpers import ADMIN, make_staff
from tests.catalog.factories import make_item, make_record
from tests.patrons.conftest import BOTH_DATABASES, DESK, adult_values, library  # noqa: F401
from tests.staff.signin import sign_in
from tests.staff.test_every_url import branch_of_for

pytestmark = [BOTH_DATABASES, pytest.mark.usefixtures("library")]

SYSTEM = Actor(kind="system", ident="tests", channel="job")
JSON = {"HTTP_ACCEPT": "application/json"}
CARD = "29000005555"
OTHER_CARD = "29000006666"


def client_for(username: str, *roles: str, branch: str = "MAIN", certified: bool = True) -> Client:
    client = Client()
    sign_in(client, make_staff(username, *roles, branch=branch, certified=certified))
    return client


@pytest.fixture
def desk() -> Client:
    return client_for("desk", "circulation-desk")


@pytest.fixture
def cataloguer() -> Client:
    return client_for("cataloguer", "cataloguer")


@pytest.fixture
def patron():
    return patrons.register(**adult_values(card_number=CARD, name="Wren Deskwell"), actor=DESK)


@pytest.fixture
def other():
    return patrons.register(**adult_values(card_number=OTHER_CARD, name="Moss Otherby"), actor=DESK)


@pytest.fixture
def title():
    return make_record("Synthetic Rivers of Nowhere", index=False)


@pytest.fixture
def items(title):
    """Three copies of one title at MAIN."""
    return [make_item(title, branch="MAIN") for _ in range(3)]


def url(name: str) -> str:
    return reverse(f"staff:{name}")


def post_json(client: Client, name: str, data: dict) -> tuple[int, dict]:
    response = client.post(url(name), data, **JSON)
    assert response["Content-Type"].startswith("application/json"), response.content[:300]
    assert "no-store" in response["Cache-Control"]
    return response.status_code, json.loads(response.content)


def at_desk(client: Client, card: str = CARD) -> dict:
    status, body = post_json(client, "desk_circ_checkout_patron", {"card": card})
    assert status == 200, body
    return body


def lend(client: Client, barcode: str) -> tuple[int, dict]:
    return post_json(client, "desk_circ_checkout_item", {"barcode": barcode})


def text(response) -> str:
    return response.content.decode()


# --- every page declares its permission, for the desk's branch ----------------------------

CIRC_NAMES = [p.name for p in desk_urls.urlpatterns if p.name.startswith("desk_circ_")]
PAGES = [
    "desk_circ_checkout",
    "desk_circ_checkin",
    "desk_circ_renew",
    "desk_circ_hold_place",
    "desk_circ_hold_queue",
    "desk_circ_hold_shelf",
    "desk_circ_transit",
]
POSTS = [
    "desk_circ_checkout_patron",
    "desk_circ_checkout_item",
    "desk_circ_checkout_done",
    "desk_circ_checkin",
    "desk_circ_renew",
    "desk_circ_hold_place",
    "desk_circ_hold_cancel",
]


def test_every_circulation_page_needs_circulation_loan_at_the_desks_branch():
    assert len(CIRC_NAMES) == 11
    for p in desk_urls.urlpatterns:
        if p.name in CIRC_NAMES:
            assert p.callback.staff_access == "circulation.loan", p.name
            assert branch_of_for(p.callback) is desk_circ_views.desk_branch, p.name


@pytest.mark.parametrize("name", PAGES)
def test_every_page_opens_for_the_desk_with_the_scan_box_focused(desk, name):
    response = desk.get(url(name))
    assert response.status_code == 200, text(response)[:500]
    assert "no-store" in response["Cache-Control"]
    body = text(response)
    if name not in ("desk_circ_transit", "desk_circ_hold_shelf"):
        assert "autofocus" in body and 'autocomplete="off"' in body
        assert "shelfguard/desk.js" in body
    # No inline script or handler (CSP allows this site's files only).
    assert "<script>" not in body and " onclick=" not in body and " onsubmit=" not in body


@pytest.mark.parametrize("name", PAGES)
def test_every_page_is_refused_to_a_cataloguer(cataloguer, name):
    response = cataloguer.get(url(name))
    assert response.status_code == 403
    assert "circulation.loan" in text(response)


@pytest.mark.parametrize("name", POSTS)
def test_every_action_is_refused_to_a_cataloguer(cataloguer, patron, items, name):
    response = cataloguer.post(url(name), {"card": CARD, "barcode": items[0].barcode}, **JSON)
    assert response.status_code == 403
    assert Loan.objects.count() == 0


@pytest.mark.parametrize("name", PAGES + ["desk_circ_checkout_patron"])
def test_an_uncertified_desk_member_is_refused(patron, name):
    client = client_for("fresh", "circulation-desk", certified=False)
    response = client.get(url(name)) if name in PAGES else client.post(url(name), {"card": CARD})
    assert response.status_code == 403
    assert "certification" in text(response)
    assert not Entry.objects.filter(patron_id=patron.pk, action="patron.reveal").exists()


def test_pages_need_a_sign_in(client):
    response = client.get(url("desk_circ_checkout"))
    assert response.status_code == 302 and response["Location"].startswith("/staff/login/")


# --- check out -------------------------------------------------------------------------------


def test_a_card_scan_shows_the_patron_panel_with_the_name_recorded(desk, patron):
    body = at_desk(desk, " 2900 0005 555 ")
    assert body["ok"] and body["code"] == "patron_found"
    assert "Wren Deskwell" in body["html"]
    assert "Active" in body["html"]
    assert CARD not in body["html"] and CARD not in json.dumps(body)
    (entry,) = Entry.objects.filter(patron_id=patron.pk, action="patron.reveal")
    assert entry.purpose == "circulation" and entry.fields == ["name"]
    # Never the history: a past loan does not appear.
    assert reverse("staff:desk_patron", args=[patron.pk]) in body["html"]


def test_without_view_name_the_panel_masks_the_name(patron):
    accounts.create_role(
        "lender-only",
        name="Lender only",
        permissions=["circulation.loan", "patron.view_status"],
        actor=ADMIN,
    )
    client = client_for("lender", "lender-only")
    body = at_desk(client)
    assert "Wren" not in body["html"] and "•••" in body["html"]
    assert not Entry.objects.filter(patron_id=patron.pk, action="patron.reveal").exists()


def test_scanning_items_lends_them_one_after_another(desk, patron, items, title):
    at_desk(desk)
    for item in items[:2]:
        status, body = lend(desk, item.barcode)
        assert status == 200 and body["ok"] and body["code"] == "checked_out"
        assert body["title"] == title.title
        assert body["due_on"] and body["due_on"] in body["message"]
        assert item.barcode in body["html"]
    assert Loan.objects.filter(patron=patron, outcome=LoanOutcome.OPEN).count() == 2


def test_an_item_scan_before_a_card_asks_for_the_card(desk, items):
    status, body = lend(desk, items[0].barcode)
    assert status == 400 and body["code"] == "no_patron"
    assert body["message"] == "Scan the patron's card first."


def test_done_clears_the_patron(desk, patron, items):
    at_desk(desk)
    status, body = post_json(desk, "desk_circ_checkout_done", {})
    assert status == 200 and body["code"] == "patron_cleared"
    status, body = lend(desk, items[0].barcode)
    assert body["code"] == "no_patron"
    assert "Wren" not in text(desk.get(url("desk_circ_checkout")))


# --- every refusal has its code and reason --------------------------------------------------


def test_unknown_card(desk):
    status, body = post_json(desk, "desk_circ_checkout_patron", {"card": "29999999999"})
    assert status == 400 and body["code"] == "unknown_patron"
    assert body["message"] == "No patron has this card number."


def test_unknown_barcode(desk, patron):
    at_desk(desk)
    status, body = lend(desk, "NO-SUCH-ITEM")
    assert status == 400 and body["code"] == "unknown_item"
    assert body["message"] == "No item has this barcode."


def test_already_on_loan_to_the_same_patron(desk, patron, items):
    at_desk(desk)
    lend(desk, items[0].barcode)
    _status, body = lend(desk, items[0].barcode)
    assert body["code"] == "already_on_loan_to_patron"
    assert "renew it instead" in body["message"]


def test_already_on_loan_to_another_patron(desk, patron, other, items):
    circulation.checkout(other, items[0].barcode, branch="MAIN", actor=SYSTEM, purpose="t")
    at_desk(desk)
    _status, body = lend(desk, items[0].barcode)
    assert body["code"] == "on_loan_to_other"
    assert "check it in first" in body["message"]
    # Nothing about the other patron is said.
    assert "Moss" not in json.dumps(body)


def test_a_blocked_patron(desk, patron, items):
    circulation.block_patron(patron, "Lost items not settled", actor=SYSTEM, purpose="t")
    body = at_desk(desk)
    assert body["blocked"] and "Lost items not settled" in body["html"]
    _status, body = lend(desk, items[0].barcode)
    assert body["code"] == "patron_blocked"
    assert "blocked" in body["message"]


def test_an_item_on_hold_for_someone_else(desk, patron, other, items):
    circulation.place_hold(
        other, pickup_branch="MAIN", barcode=items[0].barcode, actor=SYSTEM, purpose="t"
    )
    at_desk(desk)
    _status, body = lend(desk, items[0].barcode)
    assert body["code"] == "on_hold_for_other"
    assert "Another patron has a hold on this copy." == body["message"]


def test_the_renewal_limit(desk, patron, items):
    at_desk(desk)
    lend(desk, items[0].barcode)
    for _ in range(2):
        status, body = post_json(
            desk, "desk_circ_renew", {"barcode": items[0].barcode, "from": "checkout"}
        )
        assert status == 200 and body["code"] == "renewed" and body["due_on"]
    status, body = post_json(desk, "desk_circ_renew", {"barcode": items[0].barcode})
    assert status == 400 and body["code"] == "renewal_limit"
    assert "the most allowed" in body["message"]


def test_renewing_from_the_panel_is_for_the_patron_at_the_desk(desk, patron, other, items):
    circulation.checkout(other, items[0].barcode, branch="MAIN", actor=SYSTEM, purpose="t")
    at_desk(desk)
    _status, body = post_json(
        desk, "desk_circ_renew", {"barcode": items[0].barcode, "from": "checkout"}
    )
    assert body["code"] == "not_yours"


def test_a_refusal_is_shown_without_javascript(desk, patron, items):
    """The no-JS path: POST, redirect, the page shows the outcome once."""
    response = desk.post(url("desk_circ_checkout_patron"), {"card": "29999999999"})
    assert response.status_code == 302 and response["Location"] == url("desk_circ_checkout")
    page = text(desk.get(url("desk_circ_checkout")))
    assert "No patron has this card number." in page
    assert "No patron has this card number." not in text(desk.get(url("desk_circ_checkout")))


# --- the no-JS path end to end --------------------------------------------------------------------


def test_checkout_and_checkin_work_without_javascript(desk, patron, items, title):
    response = desk.post(url("desk_circ_checkout_patron"), {"card": CARD})
    assert response.status_code == 302
    page = text(desk.get(response["Location"]))
    assert "Wren Deskwell" in page and 'id="item-scan"' in page

    for item in items[:2]:
        response = desk.post(url("desk_circ_checkout_item"), {"barcode": item.barcode})
        assert response.status_code == 302 and response["Location"] == url("desk_circ_checkout")
    page = text(desk.get(url("desk_circ_checkout")))
    assert "Lent, due" in page
    assert items[0].barcode in page and items[1].barcode in page and title.title in page

    response = desk.post(url("desk_circ_checkout_done"), {})
    assert response.status_code == 302
    page = text(desk.get(url("desk_circ_checkout")))
    assert "Wren" not in page and 'id="card-scan"' in page

    response = desk.post(url("desk_circ_checkin"), {"barcode": items[0].barcode})
    assert response.status_code == 302 and response["Location"] == url("desk_circ_checkin")
    page = text(desk.get(url("desk_circ_checkin")))
    assert "Reshelve it." in page
    # The outcome is shown once; the session keeps no title or barcode.
    assert "Reshelve it." not in text(desk.get(url("desk_circ_checkin")))


# --- check in: routing and slips ------------------------------------------------------------------


def test_checkin_at_home_says_reshelve(desk, patron, items):
    circulation.checkout(patron, items[0].barcode, branch="MAIN", actor=SYSTEM, purpose="t")
    status, body = post_json(desk, "desk_circ_checkin", {"barcode": items[0].barcode})
    assert status == 200 and body["code"] == "checked_in"
    assert body["routing"]["status"] == ItemStatus.AVAILABLE
    assert body["message"] == "Reshelve it."
    assert "data-slip" not in body["html"]


def test_checkin_of_another_branchs_item_gives_a_transit_slip(desk, patron, title):
    item = make_item(title, branch="EAST")
    circulation.checkout(patron, item.barcode, branch="EAST", actor=SYSTEM, purpose="t")
    _status, body = post_json(desk, "desk_circ_checkin", {"barcode": item.barcode})
    assert body["routing"] == {"status": "in_transit", "transit_to": "EAST", "hold": None}
    assert body["message"] == "Send it in transit to EAST."
    assert 'data-slip="transit"' in body["html"] and "Transit slip" in body["html"]


def test_checkin_for_a_hold_gives_a_hold_slip_without_the_name(desk, patron, other, items):
    circulation.checkout(patron, items[0].barcode, branch="MAIN", actor=SYSTEM, purpose="t")
    # Every other copy is out, so the returned one fills the other patron's hold.
    for item in items[1:]:
        circulation.checkout(patron, item.barcode, branch="MAIN", actor=SYSTEM, purpose="t")
    hold = circulation.place_hold(
        other, pickup_branch="MAIN", record=items[0].record_id, actor=SYSTEM, purpose="t"
    )
    _status, body = post_json(desk, "desk_circ_checkin", {"barcode": items[0].barcode})
    assert body["routing"]["status"] == ItemStatus.ON_HOLD_SHELF
    assert body["routing"]["hold"] == hold.pk
    html = body["html"]
    assert 'data-slip="hold"' in html and f">{hold.pk}<" in html
    assert f"Card ending in {OTHER_CARD[-4:]}" in html
    assert OTHER_CARD not in html and "Moss" not in html and "Otherby" not in html
    (entry,) = Entry.objects.filter(patron_id=other.pk, action="patron.reveal")
    assert entry.purpose == "hold slip" and entry.fields == ["card_number"]

    # It is on this branch's hold shelf now.
    shelf = text(desk.get(url("desk_circ_hold_shelf")))
    assert str(hold.pk) in shelf and items[0].barcode in shelf
    assert "Moss" not in shelf


def test_checkin_of_an_unknown_barcode(desk):
    status, body = post_json(desk, "desk_circ_checkin", {"barcode": "NOPE"})
    assert status == 400 and body["code"] == "unknown_item"


def test_items_in_transit_are_listed(desk, patron, title):
    # Returned here, going home to EAST: "from this branch".
    leaving = make_item(title, branch="EAST")
    circulation.checkout(patron, leaving.barcode, branch="EAST", actor=SYSTEM, purpose="t")
    circulation.checkin(leaving.barcode, branch="MAIN", actor=SYSTEM, purpose="t")
    # Ours, returned at EAST: coming to this branch.
    coming = make_item(title, branch="MAIN")
    circulation.checkout(patron, coming.barcode, branch="MAIN", actor=SYSTEM, purpose="t")
    circulation.checkin(coming.barcode, branch="EAST", actor=SYSTEM, purpose="t")
    page = text(desk.get(url("desk_circ_transit")))
    incoming = page.split('id="transit-in"')[1].split("</table>")[0]
    outgoing = page.split('id="transit-out"')[1].split("</table>")[0]
    assert coming.barcode in incoming and leaving.barcode not in incoming
    assert leaving.barcode in outgoing and coming.barcode not in outgoing
    assert "Wren" not in page


# --- holds ------------------------------------------------------------------------------------------


def test_place_see_and_cancel_a_hold(desk, patron, title, items):
    status, body = post_json(
        desk,
        "desk_circ_hold_place",
        {"card": CARD, "title": title.control_number, "level": "title", "pickup": "EAST"},
    )
    assert status == 200 and body["code"] == "hold_placed"
    hold = Hold.objects.get(pk=body["hold"])
    assert hold.pickup_branch.code == "EAST" and hold.status == HoldStatus.WAITING

    queue = desk.get(url("desk_circ_hold_queue"), {"q": items[0].barcode})
    assert queue.status_code == 200
    assert str(hold.pk) in text(queue) and "Wren" not in text(queue)

    again = post_json(desk, "desk_circ_hold_place", {"card": CARD, "title": title.control_number})[
        1
    ]
    assert again["code"] == "already_held"

    status, body = post_json(desk, "desk_circ_hold_cancel", {"hold": hold.pk, "from": "queue"})
    assert status == 200 and body["code"] == "hold_cancelled"
    hold.refresh_from_db()
    assert hold.status == HoldStatus.CANCELLED


def test_a_hold_for_the_patron_at_the_desk_needs_no_second_card_scan(desk, patron, title, items):
    at_desk(desk)
    _status, body = post_json(
        desk, "desk_circ_hold_place", {"title": items[0].barcode, "level": "item"}
    )
    assert body["code"] == "hold_placed"
    assert Hold.objects.get().item_id == items[0].pk


def test_a_hold_on_an_unknown_title(desk, patron):
    status, body = post_json(desk, "desk_circ_hold_place", {"card": CARD, "title": "nope"})
    assert status == 400 and body["code"] == "unknown_record"


def test_an_unknown_title_in_the_queue_page(desk):
    response = desk.get(url("desk_circ_hold_queue"), {"q": "nope"})
    assert response.status_code == 404 and "queue-not-found" in text(response)


def test_empty_posts_change_nothing(desk, patron, items):
    for name in POSTS:
        response = desk.post(url(name), {})
        assert response.status_code in (302, 400), name
    assert Loan.objects.count() == 0 and Hold.objects.count() == 0


# --- the ledger never learns what was lent --------------------------------------------------------


def test_no_item_or_title_in_the_ledger(desk, patron, other, items, title):
    at_desk(desk)
    lend(desk, items[0].barcode)
    post_json(desk, "desk_circ_renew", {"barcode": items[0].barcode, "from": "checkout"})
    post_json(desk, "desk_circ_hold_place", {"card": OTHER_CARD, "title": title.control_number})
    post_json(desk, "desk_circ_checkin", {"barcode": items[0].barcode})
    desk.get(url("desk_circ_checkout"))
    entries = list(Entry.objects.all())
    actions = {e.action for e in entries}
    assert {"circulation.checkout", "circulation.renew", "circulation.checkin"} <= actions
    for entry in entries:
        recorded = json.dumps(
            [entry.action, entry.purpose, entry.origin, entry.fields, entry.detail]
        )
        for secret in (items[0].barcode, title.title, title.control_number, CARD, OTHER_CARD):
            assert secret not in recorded, (entry.action, recorded)
    desk_entries = [e for e in entries if e.action.startswith("circulation.")]
    assert all(e.actor_id == "desk" for e in desk_entries if e.actor_kind == "staff")
    assert Item.objects.get(pk=items[0].pk).status in (
        ItemStatus.AVAILABLE,
        ItemStatus.ON_HOLD_SHELF,
    )
