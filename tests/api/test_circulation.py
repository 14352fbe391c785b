"""The circulation endpoints: translations to the circulation services, refusals as code + detail."""

from __future__ import annotations

import datetime as dt

import pytest

from shelfguard.catalog.models import Item, ItemStatus
from shelfguard.circulation.models import Hold, Loan
from shelfguard.core import clock
from shelfguard.ledger.models import Entry
from shelfguard.patrons import services as patrons
from tests.accounts.helpers import ADMIN
from tests.api.helpers import bearer, staff_with_token
from tests.catalog.factories import make_item, make_record
from tests.patrons.conftest import adult_values, library  # noqa: F401  (fixture)

pytestmark = [
    pytest.mark.django_db(databases=["default", "keystore"]),
    pytest.mark.usefixtures("library"),
]

NOON = dt.datetime(2026, 6, 10, 12, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def at_noon():
    with clock.frozen(NOON):
        yield


@pytest.fixture
def desk():
    _staff, _token, secret = staff_with_token("apidesk", scopes=("circulation",))
    return bearer(secret)


@pytest.fixture
def card():
    values = adult_values()
    patrons.register(**values, actor=ADMIN)
    return values["card_number"]


def copy(barcode: str, title: str = "A synthetic atlas of clouds") -> Item:
    return make_item(make_record(title, index=False), barcode=barcode)


def post(client, path, body, headers):
    return client.post(f"/api/v1{path}", body, content_type="application/json", headers=headers)


def test_checkout_renew_checkin(client, desk, card):
    copy("CLOUD-1")
    lent = post(client, "/circulation/checkout", {"patron_card": card, "barcode": "CLOUD-1"}, desk)
    assert lent.status_code == 200, lent.content
    body = lent.json()
    assert body["barcode"] == "CLOUD-1" and body["hold_filled"] is False
    assert body["due_on"] == "2026-07-01"
    assert card not in lent.content.decode()
    assert "no-store" in lent["Cache-Control"] and "Set-Cookie" not in lent.headers
    loan = Loan.objects.get()
    entry = Entry.objects.get(action="circulation.checkout")
    assert (entry.actor_kind, entry.actor_id, entry.channel) == ("staff", "apidesk", "api")
    assert entry.patron_id == loan.patron_id

    renewed = post(client, "/circulation/renew", {"barcode": "CLOUD-1", "patron_card": card}, desk)
    assert renewed.status_code == 200, renewed.content
    assert renewed.json()["renewals"] == 1

    back = post(client, "/circulation/checkin", {"barcode": "CLOUD-1"}, desk)
    assert back.status_code == 200, back.content
    assert back.json() == {
        "barcode": "CLOUD-1",
        "was_on_loan": True,
        "status": "available",
        "transit_to": None,
        "for_hold": False,
        "days_late": 0,
        "charge_cents": 0,
    }
    assert Item.objects.get(barcode="CLOUD-1").status == ItemStatus.AVAILABLE


def test_refusals_are_code_and_detail(client, desk, card):
    copy("CLOUD-2")
    unknown_item = post(
        client, "/circulation/checkout", {"patron_card": card, "barcode": "NOPE"}, desk
    )
    assert unknown_item.status_code == 404
    assert unknown_item.json()["code"] == "unknown_item"
    unknown_card = post(
        client, "/circulation/checkout", {"patron_card": "29999999999", "barcode": "CLOUD-2"}, desk
    )
    assert unknown_card.status_code == 404
    assert unknown_card.json()["code"] == "unknown_patron"
    not_lent = post(client, "/circulation/renew", {"barcode": "CLOUD-2"}, desk)
    assert not_lent.status_code == 409
    assert not_lent.json()["code"] == "not_on_loan"
    assert (
        post(
            client, "/circulation/checkout", {"patron_card": card, "barcode": "CLOUD-2"}, desk
        ).status_code
        == 200
    )
    again = post(client, "/circulation/checkout", {"patron_card": card, "barcode": "CLOUD-2"}, desk)
    assert again.status_code == 409
    assert set(again.json()) == {"code", "detail"}
    bad_branch = post(
        client, "/circulation/checkin", {"barcode": "CLOUD-2", "branch": "NOWHERE"}, desk
    )
    assert bad_branch.status_code == 404 and bad_branch.json()["code"] == "unknown_branch"
    missing = post(client, "/circulation/checkout", {"barcode": "CLOUD-2"}, desk)
    assert missing.status_code == 400 and missing.json()["code"] == "invalid_request"


def test_place_a_hold_on_a_title(client, desk, card):
    item = copy("CLOUD-3", "A synthetic history of rain")
    item.status = ItemStatus.ON_LOAN
    item.save()
    placed = post(
        client,
        "/holds",
        {
            "patron_card": card,
            "control_number": item.record.control_number,
            "pickup_branch": "MAIN",
        },
        desk,
    )
    assert placed.status_code == 201, placed.content
    body = placed.json()
    assert body["control_number"] == item.record.control_number
    assert body["pickup_branch"] == "MAIN" and body["barcode"] is None
    assert Hold.objects.get().pk == body["hold_id"]
    twice = post(
        client, "/holds", {"patron_card": card, "control_number": item.record.control_number}, desk
    )
    assert twice.status_code == 409 and twice.json()["code"] == "already_held"
    both = post(
        client,
        "/holds",
        {"patron_card": card, "control_number": item.record.control_number, "barcode": "CLOUD-3"},
        desk,
    )
    assert both.status_code == 400
    unknown = post(client, "/holds", {"patron_card": card, "control_number": "no-such"}, desk)
    assert unknown.status_code == 404 and unknown.json()["code"] == "unknown_record"


def test_posts_need_no_csrf_token_and_set_no_cookie(card):
    from django.test import Client

    copy("CLOUD-7")
    strict = Client(enforce_csrf_checks=True)
    _staff, _token, secret = staff_with_token("apidesk4", scopes=("circulation",))
    response = post(
        strict, "/circulation/checkout", {"patron_card": card, "barcode": "CLOUD-7"}, bearer(secret)
    )
    assert response.status_code == 200, response.content
    assert "Set-Cookie" not in response.headers


def test_no_token_no_lending(client, card):
    copy("CLOUD-8")
    response = post(
        client, "/circulation/checkout", {"patron_card": card, "barcode": "CLOUD-8"}, {}
    )
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
    assert not Loan.objects.exists()


def test_an_items_token_cannot_lend(client, card):
    copy("CLOUD-4")
    _staff, _token, secret = staff_with_token("apidesk2", scopes=("items",))
    response = post(
        client, "/circulation/checkout", {"patron_card": card, "barcode": "CLOUD-4"}, bearer(secret)
    )
    assert response.status_code == 403
    assert response.json()["code"] == "scope_missing"
    assert not Loan.objects.exists()


def test_no_card_probing_without_the_permission(client, card):
    """An uncertified staff member's token is refused before the card is looked up."""
    copy("CLOUD-5")
    staff, _token, secret = staff_with_token("apidesk3", scopes=("circulation",))
    staff.certifications.all().delete()
    for patron_card in (card, "29999999999"):
        response = post(
            client,
            "/circulation/checkout",
            {"patron_card": patron_card, "barcode": "CLOUD-5"},
            bearer(secret),
        )
        assert response.status_code == 403
        assert response.json()["code"] == "permission_denied"
        assert "certification" in response.json()["detail"]


def test_branch_scoped_role_lends_only_at_its_branch(client, card):
    copy("CLOUD-6")
    _staff, _token, secret = staff_with_token(
        "eastmgr", "branch-manager", scopes=("circulation",), branch="EAST"
    )
    elsewhere = post(
        client,
        "/circulation/checkout",
        {"patron_card": card, "barcode": "CLOUD-6", "branch": "MAIN"},
        bearer(secret),
    )
    assert elsewhere.status_code == 403
    own = post(
        client, "/circulation/checkout", {"patron_card": card, "barcode": "CLOUD-6"}, bearer(secret)
    )
    assert own.status_code == 200, own.content
