"""My account: loans (renew one, renew all), holds (cancel, change pickup, place) end to end.

Everything goes through the real pages with a signed-in test client, the
real circulation services and the real ledger. Values are synthetic.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client

from shelfguard.catalog.models import Item, ItemStatus
from shelfguard.circulation import services as circulation
from shelfguard.circulation.models import Hold, HoldStatus, Loan
from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.ledger.models import Entry
from tests.catalog.factories import make_item, make_record
from tests.portal.conftest import PASSWORD, T0, sign_in, signed_in

pytestmark = pytest.mark.django_db(databases=["default", "keystore"])

DESK = Actor(kind="system", ident="tests", channel="job")
BOBS = "bob keeps another long passphrase"


def lend(patron, title: str = "A Synthetic Title", *, at=T0, branch: str = "MAIN") -> Item:
    with clock.frozen(at):
        item = make_item(make_record(title, index=False), branch=branch)
        circulation.checkout(patron, item.barcode, branch=branch, actor=DESK, purpose="tests")
    return item


def hold_on(patron, title: str = "A Held Title", *, pickup: str = "MAIN") -> Hold:
    with clock.frozen(T0):
        record = make_record(title, index=False)
        make_item(record)
        return circulation.place_hold(
            patron, pickup_branch=pickup, record=record, actor=DESK, purpose="tests"
        )


def page(client: Client, path: str = "/account/") -> str:
    with clock.frozen(T0):
        response = client.get(path)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def post(client: Client, path: str, data: dict):
    with clock.frozen(T0):
        return client.post(path, data)


def test_home_lists_loans_with_due_dates_and_marks_the_overdue(reader):
    patron, card = reader()
    lend(patron, "A Title Still In Time")
    lend(patron, "A Title Long Overdue", at=T0 - dt.timedelta(days=60))
    html = page(signed_in(card))
    rows = re.findall(r"<tr( class=\"overdue\")?>\s*<th scope=\"row\">([^<]+)</th>", html)
    assert ("", "A Title Still In Time") in rows
    assert (' class="overdue"', "A Title Long Overdue") in rows
    assert html.count("(overdue)") == 1
    assert 'id="card-expiry"' in html
    # The reads were recorded as the patron's own, with a purpose.
    reads = Entry.objects.filter(action="circulation.loans_read", actor_kind="patron")
    assert reads.filter(actor_id=str(patron.pk), channel="web", purpose="self-service").exists()


def test_renew_one_loan_then_renew_all_with_the_service_reason_for_a_refusal(reader, make_patron):
    patron, card = reader()
    first = lend(patron, "First Loan")
    second = lend(patron, "Second Loan")
    # Another patron waits for the second title: that renewal is refused.
    other = make_patron()
    with clock.frozen(T0):
        circulation.place_hold(
            other, pickup_branch="MAIN", record=second.record_id, actor=DESK, purpose="tests"
        )
    later = T0 + dt.timedelta(days=10)
    client = signed_in(card, at=later)
    loan = Loan.objects.get(item=first, outcome="open")
    before = loan.due_on
    with clock.frozen(later):
        response = client.post("/account/loans/renew/", {"loan": loan.pk})
    assert response.status_code == 200
    loan.refresh_from_db()
    assert loan.renewals == 1 and loan.due_on > before
    assert "Renewed: 1 of 1." in response.content.decode()

    with clock.frozen(later):
        response = client.post("/account/loans/renew/", {"all": "1"})
    html = response.content.decode()
    assert "Renewed: 1 of 2." in html
    assert "Another patron is waiting for this title; it cannot be renewed." in html
    assert Loan.objects.get(item=second, outcome="open").renewals == 0
    renewals = Entry.objects.filter(action="circulation.renew", actor_kind="patron")
    assert renewals.count() == 2 and set(renewals.values_list("patron_id", flat=True)) == {
        patron.pk
    }


def test_cancel_a_hold_from_the_account_page(reader):
    patron, card = reader()
    hold = hold_on(patron, "Wanted Title")
    client = signed_in(card)
    html = page(client)
    assert "Wanted Title" in html and "Waiting" in html
    response = post(client, "/account/holds/cancel/", {"hold": hold.pk})
    assert response.status_code == 200 and "The hold is cancelled." in response.content.decode()
    hold.refresh_from_db()
    assert hold.status == HoldStatus.CANCELLED and hold.patron_id is None
    assert Entry.objects.filter(
        action="circulation.hold_cancel", actor_id=str(patron.pk), patron_id=patron.pk
    ).exists()


def test_change_pickup_while_waiting_and_not_once_ready(reader):
    patron, card = reader()
    hold = hold_on(patron, "Moving Title")
    client = signed_in(card)
    response = post(client, "/account/holds/pickup/", {"hold": hold.pk, "branch": "EAST"})
    assert "The pickup branch is changed." in response.content.decode()
    hold.refresh_from_db()
    assert hold.pickup_branch.code == "EAST" and hold.status == HoldStatus.WAITING
    entry = Entry.objects.get(action="circulation.hold_pickup_change")
    assert entry.patron_id == patron.pk and entry.actor_kind == "patron"
    assert entry.detail == {"branch": "EAST", "previous": "MAIN"}

    # A copy comes in at EAST: the hold is ready there and can no longer move.
    copy = Item.objects.filter(record_id=hold.record_id).first()
    with clock.frozen(T0):
        circulation.checkin(copy.barcode, branch="EAST", actor=DESK, purpose="tests")
    hold.refresh_from_db()
    assert hold.status == HoldStatus.READY
    response = post(client, "/account/holds/pickup/", {"hold": hold.pk, "branch": "MAIN"})
    assert response.status_code == 400
    assert "cancel the hold and place it again" in response.content.decode()
    hold.refresh_from_db()
    assert hold.pickup_branch.code == "EAST"
    # An unknown branch is refused before anything is asked of circulation.
    other = hold_on(patron, "Another Title")
    response = post(client, "/account/holds/pickup/", {"hold": other.pk, "branch": "NOPE"})
    assert response.status_code == 400 and "Choose a branch from the list." in (
        response.content.decode()
    )


def test_change_pickup_service_is_atomic_and_checks_the_owner(make_patron):
    from shelfguard.circulation import errors as e
    from shelfguard.portal.sessions import patron_actor

    with clock.frozen(T0):
        owner, stranger = make_patron(), make_patron()
    hold = hold_on(owner)
    with clock.frozen(T0), pytest.raises(e.CirculationError) as caught:
        circulation.change_pickup(hold.pk, "EAST", actor=DESK, purpose="tests", patron=stranger.pk)
    assert caught.value.code == e.NOT_YOURS
    from shelfguard.accounts.services import AccessDenied

    with clock.frozen(T0), pytest.raises(AccessDenied):
        circulation.change_pickup(
            hold.pk, "EAST", actor=patron_actor(stranger), purpose="self-service"
        )
    hold.refresh_from_db()
    assert hold.pickup_branch.code == "MAIN"
    assert not Entry.objects.filter(action="circulation.hold_pickup_change").exists()


def test_place_a_hold_from_the_catalogue_page_through_sign_in(reader):
    patron, card = reader()
    with clock.frozen(T0):
        record = make_record("A Catalogue Title", index=False)
        make_item(record, branch="EAST")
        opac = Client().get(f"/records/{record.control_number}/").content.decode()
    link = f"/account/holds/place/{record.pk}/"
    assert f'href="{link}"' in opac
    client = Client()
    with clock.frozen(T0):
        to_login = client.get(link)
    assert to_login.status_code == 302
    assert (
        to_login["Location"] == f"/account/login/?next=%2Faccount%2Fholds%2Fplace%2F{record.pk}%2F"
    )
    login_page = page(client, to_login["Location"])
    assert f'name="next" value="{link}"' in login_page
    with clock.frozen(T0):
        signed = client.post("/account/login/", {"card": card, "password": PASSWORD, "next": link})
    assert signed.status_code == 302 and signed["Location"] == link
    html = page(client, link)
    assert "A Catalogue Title" in html
    # The home branch is chosen unless the patron picks another.
    assert re.search(r'<option value="MAIN" selected>', html)
    response = post(client, link, {"branch": "EAST"})
    assert "Your hold is placed." in response.content.decode()
    hold = Hold.objects.get(patron=patron)
    assert hold.record_id == record.pk and hold.pickup_branch.code == "EAST"
    again = post(client, link, {"branch": "EAST"})
    assert again.status_code == 400
    assert "You already have a hold on this title." in again.content.decode()
    assert post(client, "/account/holds/place/999999/", {"branch": "EAST"}).status_code == 404


@pytest.mark.parametrize(
    "target",
    [
        "https://elsewhere.example/",
        "//elsewhere.example/account/",
        "/account/\\\\elsewhere.example",
        "/staff/",
        "javascript:alert(1)",
        "/account//elsewhere.example",
    ],
)
def test_sign_in_returns_only_to_portal_paths(reader, target):
    _patron, card = reader()
    client = Client()
    with clock.frozen(T0):
        response = client.post(
            "/account/login/", {"card": card, "password": PASSWORD, "next": target}
        )
        assert response["Location"] == "/account/"
        # Already signed in: the sign-in page with a bad `next` goes home too.
        assert client.get("/account/login/", {"next": target})["Location"] == "/account/"


def test_patron_b_cannot_renew_cancel_or_move_patron_a_s_loans_and_holds(reader):
    alice, card_a = reader()
    _bob, card_b = reader(password=BOBS)
    item = lend(alice, "Loan Of Alice")
    hold = hold_on(alice, "Hold Of Alice")
    loan = Loan.objects.get(item=item, outcome="open")
    bob = Client()
    assert sign_in(bob, card_b, BOBS).status_code == 302
    bobs_home = page(bob)
    assert "Loan Of Alice" not in bobs_home and "Hold Of Alice" not in bobs_home
    assert f'value="{loan.pk}"' not in bobs_home and f'value="{hold.pk}"' not in bobs_home
    refused = post(bob, "/account/loans/renew/", {"loan": loan.pk})
    assert refused.status_code == 400 and "That loan is not on your card." in (
        refused.content.decode()
    )
    for path, data in (
        ("/account/holds/cancel/", {"hold": hold.pk}),
        ("/account/holds/pickup/", {"hold": hold.pk, "branch": "EAST"}),
    ):
        response = post(bob, path, data)
        assert response.status_code == 400
        assert "There is no such hold on your card." in response.content.decode()
    loan.refresh_from_db()
    hold.refresh_from_db()
    assert loan.renewals == 0
    assert hold.status == HoldStatus.WAITING and hold.pickup_branch.code == "MAIN"
    assert hold.patron_id == alice.pk
    assert not Entry.objects.filter(
        action__in=(
            "circulation.renew",
            "circulation.hold_cancel",
            "circulation.hold_pickup_change",
        )
    ).exists()
    # Alice still sees and can use them.
    assert "Hold Of Alice" in page(signed_in(card_a))


def test_account_actions_need_csrf_and_post(reader):
    patron, card = reader()
    hold = hold_on(patron)
    client = signed_in(card)
    strict = Client(enforce_csrf_checks=True)
    strict.cookies = client.cookies
    assert post(strict, "/account/holds/cancel/", {"hold": hold.pk}).status_code == 403
    with clock.frozen(T0):
        assert client.get("/account/holds/cancel/").status_code == 405
    hold.refresh_from_db()
    assert hold.status == HoldStatus.WAITING


def test_blocks_are_shown_in_the_patron_s_words_not_the_staff_reason(reader):
    patron, card = reader()
    with clock.frozen(T0):
        circulation.block_patron(patron, "Staff-only note 4471", actor=DESK, purpose="tests")
    html = page(signed_in(card))
    assert "The library has stopped borrowing on this card. Ask at the desk why." in html
    assert "Staff-only note 4471" not in html


def test_items_status_unchanged_by_refused_renewal(reader):
    """A refused renewal (the limit) leaves the loan as it was and says why."""
    patron, card = reader()
    with clock.frozen(T0):
        circulation.set_policy(actor=DESK, renewals=0)
    item = lend(patron, "Unrenewable")
    client = signed_in(card)
    loan = Loan.objects.get(item=item, outcome="open")
    response = post(client, "/account/loans/renew/", {"loan": loan.pk})
    assert "the most allowed" in response.content.decode()
    loan.refresh_from_db()
    assert loan.renewals == 0
    assert Item.objects.get(pk=item.pk).status == ItemStatus.ON_LOAN


def test_the_return_path_survives_the_second_factor_step(reader):
    from tests.accounts.helpers import code_from_secret
    from tests.portal.test_totp import turn_on

    _patron, card = reader()
    with clock.frozen(T0):
        record = make_record("A Title Behind Two Steps", index=False)
        make_item(record)
    secret = turn_on(signed_in(card))
    link = f"/account/holds/place/{record.pk}/"
    client = Client()
    later = T0 + dt.timedelta(seconds=60)
    with clock.frozen(later):
        first = client.post("/account/login/", {"card": card, "password": PASSWORD, "next": link})
        assert first["Location"] == "/account/verify/?next=%2Faccount%2Fholds%2Fplace%2F" + (
            f"{record.pk}%2F"
        )
        step = client.get(first["Location"]).content.decode()
        assert f'name="next" value="{link}"' in step
        done = client.post(
            "/account/verify/", {"code": code_from_secret(secret, later), "next": link}
        )
    assert done["Location"] == link
