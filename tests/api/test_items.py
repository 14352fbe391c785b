"""GET /api/v1/items/{barcode}: staff token, scope, permission; never who borrowed it."""

from __future__ import annotations

import datetime as dt

import pytest

from shelfguard.accounts import services as accounts
from shelfguard.core import clock
from tests.accounts.helpers import ADMIN
from tests.api.helpers import add_items, bearer, staff_with_token

pytestmark = pytest.mark.django_db


def test_item_has_its_fields_and_nothing_about_a_borrower(client):
    add_items()
    _staff, _token, secret = staff_with_token()
    response = client.get("/api/v1/items/MOSS-0002", headers=bearer(secret))
    assert response.status_code == 200, response.content
    assert response.json() == {
        "barcode": "MOSS-0002",
        "control_number": "syn-001",
        "title": "A synthetic field guide to moss",
        "branch_code": "EAST",
        "status": "on_loan",
        "item_type": "dvd",
        "call_number": "DVD QK537",
        "location": "Media",
    }
    body = response.content.decode().lower()
    for word in ("patron", "borrow", "due", "loan_id", "card"):
        assert word not in body
    assert "Set-Cookie" not in response.headers
    assert "no-store" in response["Cache-Control"]


def test_unknown_item_is_a_json_404(client):
    _staff, _token, secret = staff_with_token()
    response = client.get("/api/v1/items/NOPE-1", headers=bearer(secret))
    assert response.status_code == 404
    assert response.json() == {"code": "not_found", "detail": "There is no item with this barcode."}


@pytest.mark.parametrize("barcode", ["-leading-dash", "a%00b", "x" * 65, "with space", "a/b"])
def test_malformed_barcode_is_a_400(client, barcode):
    _staff, _token, secret = staff_with_token()
    response = client.get(f"/api/v1/items/{barcode}", headers=bearer(secret))
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_request"


def test_no_token_is_a_401_before_anything_else(client):
    add_items()
    response = client.get("/api/v1/items/MOSS-0001")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == 'Bearer realm="shelfguard"'
    assert response.json()["code"] == "not_authenticated"
    assert "MOSS" not in response.content.decode()
    assert "Set-Cookie" not in response.headers


def test_a_cataloguer_may_look_items_up_without_a_certification(client):
    add_items()
    _staff, _token, secret = staff_with_token("cat1", "cataloguer", certified=False)
    assert client.get("/api/v1/items/MOSS-0001", headers=bearer(secret)).status_code == 200


def test_certification_expiry_bites_at_once(client):
    add_items()
    staff, _token, secret = staff_with_token("desk2", certified=False)
    accounts.certify(
        staff, course="Privacy basics", until=clock.today() + dt.timedelta(days=2), actor=ADMIN
    )
    assert client.get("/api/v1/items/MOSS-0001", headers=bearer(secret)).status_code == 200
    with clock.frozen(clock.now() + dt.timedelta(days=5)):
        response = client.get("/api/v1/items/MOSS-0001", headers=bearer(secret))
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
    assert "certification expired" in response.json()["detail"]


def test_a_role_removed_closes_the_token_at_once(client):
    add_items()
    staff, _token, secret = staff_with_token("desk3")
    staff.roles.clear()
    response = client.get("/api/v1/items/MOSS-0001", headers=bearer(secret))
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


def test_branch_scoped_role_sees_only_its_own_branch(client):
    add_items()
    _staff, _token, secret = staff_with_token("mgr1", "branch-manager", branch="MAIN")
    assert client.get("/api/v1/items/MOSS-0001", headers=bearer(secret)).status_code == 200
    refused = client.get("/api/v1/items/MOSS-0002", headers=bearer(secret))  # at EAST
    assert refused.status_code == 403
    assert "own branch" in refused.json()["detail"]
    assert client.get("/api/v1/items/NOPE-1", headers=bearer(secret)).status_code == 404


def test_public_endpoints_need_no_token_and_ignore_a_bad_one(client):
    add_items()
    response = client.get("/api/v1/records/syn-001", headers=bearer("sgt_nonsense"))
    assert response.status_code == 200
    assert client.get("/api/v1/search", {"q": "moss"}).status_code == 200
