""" "Close my account": refused while something is owed, cooling-off, cancel, then erasure.

Every value is synthetic.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from shelfguard.catalog.models import Item
from shelfguard.circulation import services as circulation
from shelfguard.circulation.models import Charge, PatronBlock
from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.ledger.models import Entry
from shelfguard.patrons import services as patrons
from shelfguard.patrons.models import Patron, PatronStatus
from shelfguard.portal import closure
from shelfguard.portal.models import ClosureRequest, PatronCredential
from shelfguard.vault.sealing import forget_cached_keys
from tests.catalog.factories import make_item, make_record
from tests.patrons.conftest import DESK
from tests.portal.conftest import PASSWORD, T0, sign_in, signed_in

pytestmark = pytest.mark.django_db(databases=["default", "keystore"])

CIRC = Actor(kind="system", ident="tests", channel="job")
DAY = dt.timedelta(days=1)


def _close(client: Client, at: dt.datetime = T0, password: str = PASSWORD):
    with clock.frozen(at):
        return client.post("/account/close/", {"current_password": password})


def _copy(title: str = "A Synthetic Novel") -> Item:
    return make_item(make_record(title, index=False))


def _lend(patron: Patron, item: Item, at: dt.datetime = T0) -> None:
    with clock.frozen(at):
        circulation.checkout(patron, item.barcode, branch="MAIN", actor=CIRC, purpose="tests")


def _requested(reader, **overrides):
    patron, card = reader(**overrides)
    client = signed_in(card)
    response = _close(client)
    assert response.status_code == 302, response.content.decode()[:3000]
    return patron, card, client


# --- refused while something is outstanding -------------------------------------------------


def test_refused_with_items_on_loan_and_charges_listing_them(reader):
    patron, card = reader()
    first, second = _copy(), _copy("Another Synthetic Novel")
    _lend(patron, first)
    _lend(patron, second, T0 + 2 * DAY)
    Charge.objects.create(patron=patron, amount_cents=350, created_on=dt.date(2026, 8, 20))
    client = signed_in(card, at=T0 + 3 * DAY)
    response = _close(client, at=T0 + 3 * DAY)
    assert response.status_code == 400
    body = response.content.decode()
    assert 'id="outstanding"' in body
    assert "2 item(s) on loan" in body
    assert "charges of 3.50 are unpaid" in body
    due = sorted(
        loan["due_on"]
        for loan in circulation.loans_of(patron, actor=CIRC, purpose="test expectation")
    )
    assert f"Return the 2 items on loan (due {due[0]}, {due[1]})." in body
    assert not ClosureRequest.objects.exists()
    assert not PatronBlock.objects.filter(patron=patron).exists()


def test_refused_with_a_hold_waiting_on_the_shelf(reader):
    patron, card = reader()
    record = make_record("A Synthetic Held Title", index=False)
    item = make_item(record)
    with clock.frozen(T0):
        circulation.place_hold(patron, pickup_branch="MAIN", record=record, actor=CIRC, purpose="t")
        circulation.checkin(item.barcode, branch="MAIN", actor=CIRC, purpose="tests")
    response = _close(signed_in(card))
    assert response.status_code == 400
    assert "Collect or cancel the hold waiting for you." in response.content.decode()
    assert not ClosureRequest.objects.exists()


def test_refused_with_a_wrong_password(reader):
    _patron, card = reader()
    response = _close(signed_in(card), password="not my password at all")
    assert response.status_code == 400
    assert not ClosureRequest.objects.exists()


# --- cooling-off, cancel ----------------------------------------------------------------------


def test_a_request_starts_the_cooling_off_and_blocks_new_loans(reader):
    patron, card, _client = _requested(reader)
    row = ClosureRequest.objects.get(patron=patron)
    assert row.status == "pending" and row.requested_at == T0
    assert row.erase_after == T0 + 14 * DAY
    assert {"portal.closure.request", "circulation.block"} <= set(
        Entry.objects.filter(patron_id=patron.pk).values_list("action", flat=True)
    )
    # Signing in still works, and the account page shows the date prominently.
    later = signed_in(card, at=T0 + 5 * DAY)
    with clock.frozen(T0 + 5 * DAY):
        home = later.get("/account/")
    body = home.content.decode()
    assert 'id="closure-notice"' in body and (T0 + 14 * DAY).strftime("%Y-%m-%d") in body
    notice = body[
        body.index('id="closure-notice"') : body.index(
            "</section>", body.index('id="closure-notice"')
        )
    ]
    assert 'name="csrfmiddlewaretoken"' in notice and 'action="/account/close/cancel/"' in notice
    # No new loans meanwhile.
    with clock.frozen(T0 + 5 * DAY), pytest.raises(circulation.CirculationError) as refused:
        circulation.checkout(patron, _copy().barcode, branch="MAIN", actor=CIRC, purpose="t")
    assert refused.value.code == "patron_blocked"
    # Not yet due: nothing happens.
    assert closure.run_due_closures(T0 + 14 * DAY - dt.timedelta(seconds=1)).erased == []
    assert Patron.objects.get(pk=patron.pk).status == PatronStatus.ACTIVE
    # A second request is refused while one is open.
    again = _close(later, at=T0 + 5 * DAY)
    assert again.status_code == 200 and ClosureRequest.objects.count() == 1


def test_the_patron_can_cancel_until_the_date(reader):
    patron, card, _client = _requested(reader)
    later = signed_in(card, at=T0 + 13 * DAY)
    with clock.frozen(T0 + 13 * DAY):
        ignored = later.post("/account/close/cancel/", {})
        assert ClosureRequest.objects.get().status == "pending"  # no confirmation, no change
        response = later.post("/account/close/cancel/", {"confirm": "yes"})
    assert response.status_code == 302 and ignored.status_code == 302
    row = ClosureRequest.objects.get()
    assert row.status == "cancelled" and row.ended_at == T0 + 13 * DAY
    assert not PatronBlock.objects.filter(patron=patron, lifted_at__isnull=True).exists()
    # Borrowing works again, and the run erases nobody.
    _lend(patron, _copy(), T0 + 13 * DAY)
    assert closure.run_due_closures(T0 + 30 * DAY).erased == []
    assert Patron.objects.get(pk=patron.pk).status == PatronStatus.ACTIVE


# --- the erasure ------------------------------------------------------------------------------


def test_after_the_cooling_off_the_patron_is_erased(reader):
    patron, card, client = _requested(reader)
    due = T0 + 14 * DAY
    with clock.frozen(due):
        result = closure.run_due_closures(due)
    assert result.erased == [patron.pk] and result.on_hold == []
    row = ClosureRequest.objects.get()
    assert row.status == "done" and row.ended_at == due
    # The sealed data is unreadable: the key is destroyed.
    forget_cached_keys()
    with pytest.raises(patrons.PatronErased):
        patrons.reveal(patron, ["name"], actor=DESK, purpose="test")
    stored = Patron.objects.get(pk=patron.pk)
    assert stored.status == PatronStatus.ERASED and stored.name_sealed is None
    # The sign-in is gone: the password, the sessions, the card.
    assert not PatronCredential.objects.filter(patron=patron).exists()
    with clock.frozen(due):
        assert client.get("/account/").status_code == 302
    refused = sign_in(Client(), card, at=due)
    assert refused.status_code != 302 or refused["Location"] != "/account/"
    assert Entry.objects.filter(action="patron.erase", patron_id=patron.pk).count() == 1
    # Running again does nothing more.
    assert closure.run_due_closures(due + DAY).erased == []
    assert Entry.objects.filter(action="patron.erase", patron_id=patron.pk).count() == 1


def test_cooling_off_can_be_configured_and_is_checked(reader, settings):
    settings.CONFIG = {"portal": {"closure_cooling_off_days": 0}}
    patron, _card, _client = _requested(reader)
    assert ClosureRequest.objects.get(patron=patron).erase_after == T0
    assert closure.run_due_closures(T0).erased == [patron.pk]
    for bad in (91, -1, "14", True):
        settings.CONFIG = {"portal": {"closure_cooling_off_days": bad}}
        with pytest.raises(ImproperlyConfigured, match="closure_cooling_off_days"):
            closure.cooling_off_days()


def test_an_obligation_that_appears_puts_the_closure_on_hold(reader):
    patron, card, _client = _requested(reader)
    # The library charges for an item found damaged after the request.
    charge = Charge.objects.create(
        patron=patron, amount_cents=700, kind="damage", created_on=dt.date(2026, 9, 5)
    )
    due = T0 + 15 * DAY
    with clock.frozen(due):
        result = closure.run_due_closures(due)
    assert result.on_hold == [patron.pk] and result.erased == []
    row = ClosureRequest.objects.get()
    assert row.status == "on_hold" and "charges of 7.00 are unpaid" in row.hold_reason
    assert Patron.objects.get(pk=patron.pk).status == PatronStatus.ACTIVE
    assert patrons.reveal(patron, ["name"], actor=DESK, purpose="test")["name"]
    # The patron is told at the next sign-in.
    client = signed_in(card, at=due)
    with clock.frozen(due):
        body = client.get("/account/").content.decode()
    assert 'id="closure-notice"' in body and "charges of 7.00 are unpaid" in body
    # Once settled, the next run erases.
    with clock.frozen(due + DAY):
        circulation.settle_charge(charge.pk, actor=CIRC, purpose="tests")
        assert closure.run_due_closures(due + DAY).erased == [patron.pk]
    assert ClosureRequest.objects.get().status == "done"


def test_a_patron_erased_by_staff_meanwhile_ends_the_request(reader):
    patron, _card, _client = _requested(reader)
    with clock.frozen(T0 + DAY):
        patrons.erase(patron, actor=DESK, reason="patron request at the desk")
    assert ClosureRequest.objects.get().status == "done"
    assert closure.run_due_closures(T0 + 20 * DAY).erased == []


def test_a_run_killed_after_the_key_was_destroyed_completes_on_rerun(reader, monkeypatch):
    """The key is destroyed (keystore), then the main transaction dies: the rerun finishes."""
    patron, _card, _client = _requested(reader)
    due = T0 + 14 * DAY

    def killed(*args, **kwargs):
        raise RuntimeError("killed")

    # The process dies right after the erasure, before its transaction commits.
    with monkeypatch.context() as patch:
        patch.setattr(ClosureRequest, "refresh_from_db", killed)
        with clock.frozen(due), pytest.raises(RuntimeError):
            closure.run_due_closures(due)
    assert ClosureRequest.objects.get().status == "pending"
    assert Patron.objects.get(pk=patron.pk).status == PatronStatus.ACTIVE
    with clock.frozen(due):
        assert closure.run_due_closures(due).erased == [patron.pk]
    assert Patron.objects.get(pk=patron.pk).status == PatronStatus.ERASED
    assert ClosureRequest.objects.get().status == "done"


# --- the privacy officer's view ---------------------------------------------------------------


def test_the_cli_lists_and_runs_closures(reader, run_cli):
    patron, _card, _client = _requested(reader)
    with clock.frozen(T0 + DAY):
        listed = run_cli("portal", "closures", "list", "--json")
    assert listed.code == 0, listed.err
    [row] = listed.json()
    assert row["patron"] == patron.pk and row["status"] == "pending"
    assert row["erase_after"] == (T0 + 14 * DAY).isoformat()
    assert Entry.objects.filter(action="portal.closure.list").exists()
    with clock.frozen(T0 + DAY):
        text = run_cli("portal", "closures", "list")
    assert f"patron {patron.pk}: pending" in text.out
    with clock.frozen(T0 + 15 * DAY):
        ran = run_cli("portal", "closures", "run", "--json")
    assert ran.code == 0, ran.err
    assert ran.json() == {"erased": [patron.pk], "on_hold": []}
    with clock.frozen(T0 + 15 * DAY):
        assert run_cli("portal", "closures", "list", "--json").json() == []
    helped = run_cli("portal", "closures", "--help")
    assert helped.code == 0 and "run" in helped.out
