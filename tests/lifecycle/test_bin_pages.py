"""The staff pages of the recycle bin and of four-eyes approvals (server-rendered, no JavaScript)."""

from __future__ import annotations

import pytest
from django.test import Client

from shelfguard.accounts import services as accounts
from shelfguard.catalog.models import Item
from shelfguard.lifecycle import services as lifecycle
from shelfguard.lifecycle.models import ApprovalRequest
from tests.accounts.helpers import make_staff
from tests.catalog.factories import make_item, make_record
from tests.patrons.conftest import BOTH_DATABASES
from tests.staff.signin import sign_in

pytestmark = BOTH_DATABASES

recycle = lifecycle.recycle
approvals = lifecycle.approvals


def client_for(staff) -> Client:
    client = Client()
    sign_in(client, staff)
    return client


def test_cataloguer_sees_and_restores_items_but_not_staff(library):
    cataloguer = make_staff("cat-p1", "cataloguer")
    admin = make_staff("admin-p1", "system-administrator")
    item = make_item(make_record("Synthetic canyons"), barcode="31000000888")
    item_entry = recycle.delete(
        "item", item.pk, actor=accounts.staff_actor(cataloguer), purpose="x"
    )
    leaver = make_staff("leaver-p1", "circulation-desk")
    staff_entry = recycle.delete("staff", leaver.pk, actor=accounts.staff_actor(admin), purpose="x")

    client = client_for(cataloguer)
    page = client.get("/staff/bin/").content.decode()
    assert "31000000888" in page and "leaver-p1" not in page
    assert f'action="/staff/bin/{item_entry.pk}/restore/"' in page

    refused = client.post(f"/staff/bin/{staff_entry.pk}/restore/")
    assert refused.status_code == 403
    done = client.post(f"/staff/bin/{item_entry.pk}/restore/")
    assert done.status_code == 302 and done["Location"] == "/staff/bin/?done=restored"
    assert Item.objects.filter(barcode="31000000888").exists()
    again = client.post(f"/staff/bin/{item_entry.pk}/restore/")
    assert again.status_code == 400 and "restored already" in again.content.decode()


def test_kind_filter(library):
    cataloguer = make_staff("cat-p2", "cataloguer")
    actor = accounts.staff_actor(cataloguer)
    record = make_record("Synthetic dunes")
    item = make_item(record, barcode="31000000901")
    recycle.delete("item", item.pk, actor=actor, purpose="x")
    recycle.delete("record", make_record("Synthetic reefs").pk, actor=actor, purpose="x")
    page = client_for(cataloguer).get("/staff/bin/?kind=record").content.decode()
    assert "Synthetic reefs" in page and "31000000901" not in page


@pytest.fixture
def bulk(library, settings):
    settings.CONFIG = {"lifecycle": {"bulk_threshold": 1}}


def test_second_cataloguer_approves_on_the_page(bulk):
    alice = make_staff("cat-p3", "cataloguer")
    bob = make_staff("cat-p4", "cataloguer")
    record = make_record("Synthetic fjords")
    ids = [make_item(record).pk, make_item(record).pk]
    request = approvals.request(
        approvals.BULK_DELETE,
        {"kind": "item", "ids": ids},
        actor=accounts.staff_actor(alice),
        purpose="weeding",
        reason="weeding the fjord shelf",
    )
    own = client_for(alice)
    page = own.get("/staff/bin/approvals/").content.decode()
    assert "weeding the fjord shelf" in page and "Your own request" in page
    refused = own.post(f"/staff/bin/approvals/{request.pk}/approve/")
    assert refused.status_code == 400 and "second staff member" in refused.content.decode()

    other = client_for(bob)
    page = other.get("/staff/bin/approvals/").content.decode()
    assert f'action="/staff/bin/approvals/{request.pk}/approve/"' in page
    done = other.post(f"/staff/bin/approvals/{request.pk}/approve/")
    assert done.status_code == 302
    assert ApprovalRequest.objects.get(pk=request.pk).decided_by == "staff:cat-p4"


def test_desk_staff_see_no_catalogue_requests(bulk):
    alice = make_staff("cat-p5", "cataloguer")
    desk = make_staff("desk-p5", "circulation-desk")
    record = make_record("Synthetic steppes")
    request = approvals.request(
        approvals.BULK_DELETE,
        {"kind": "item", "ids": [make_item(record).pk, make_item(record).pk]},
        actor=accounts.staff_actor(alice),
        purpose="weeding",
        reason="weeding",
    )
    client = client_for(desk)
    assert f"/approvals/{request.pk}/" not in client.get("/staff/bin/approvals/").content.decode()
    assert client.post(f"/staff/bin/approvals/{request.pk}/approve/").status_code == 403
