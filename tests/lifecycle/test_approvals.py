"""Four eyes: bulk actions need a second person's approval, exact, unexpired and used once.

All data is synthetic.
"""

from __future__ import annotations

import datetime as dt

import pytest

from shelfguard.accounts import services as accounts
from shelfguard.catalog.models import Item
from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.ledger.models import Entry
from shelfguard.lifecycle import services as lifecycle
from shelfguard.lifecycle.models import ApprovalRequest
from shelfguard.patrons.models import Patron, PatronStatus
from tests.accounts.helpers import make_staff
from tests.catalog.factories import make_item, make_record
from tests.patrons.conftest import BOTH_DATABASES

pytestmark = BOTH_DATABASES

approvals = lifecycle.approvals
recycle = lifecycle.recycle
T0 = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)


@pytest.fixture
def small_threshold(library, settings):
    settings.CONFIG = {"lifecycle": {"bulk_threshold": 2, "approval_hours": 24}}


@pytest.fixture
def cataloguers(small_threshold):
    first = make_staff("cat-a1", "cataloguer")
    second = make_staff("cat-a2", "cataloguer")
    return accounts.staff_actor(first), accounts.staff_actor(second)


def three_items() -> list[int]:
    record = make_record("Synthetic orchards")
    return [make_item(record).pk for _ in range(3)]


def ask(actor: Actor, ids: list[int], kind: str = "item") -> ApprovalRequest:
    return approvals.request(
        approvals.BULK_DELETE,
        {"kind": kind, "ids": ids},
        actor=actor,
        purpose="weeding",
        reason="weeding the orchard shelf",
    )


def test_up_to_the_threshold_needs_no_approval(cataloguers):
    alice, _bob = cataloguers
    ids = three_items()[:2]
    made = recycle.delete_many("item", ids, actor=alice, purpose="weeding")
    assert len(made) == 2 and not Item.objects.filter(pk__in=ids).exists()


def test_bulk_delete_refused_without_approval_and_nothing_is_deleted(cataloguers):
    alice, _bob = cataloguers
    ids = three_items()
    with pytest.raises(lifecycle.ApprovalError) as refused:
        recycle.delete_many("item", ids, actor=alice, purpose="weeding")
    assert refused.value.code == "needs_approval"
    assert Item.objects.filter(pk__in=ids).count() == 3


def test_approved_request_runs_once(cataloguers):
    alice, bob = cataloguers
    ids = three_items()
    request = ask(alice, ids)
    approvals.approve(request.pk, actor=bob, purpose="four eyes")
    made = recycle.delete_many("item", ids, actor=alice, purpose="weeding", approval=request.pk)
    assert len(made) == 3 and not Item.objects.filter(pk__in=ids).exists()
    for entry in made:
        recycle.restore(entry.pk, actor=alice, purpose="mistake")
    with pytest.raises(lifecycle.ApprovalError) as refused:
        recycle.delete_many("item", ids, actor=alice, purpose="weeding", approval=request.pk)
    assert refused.value.code == "used"
    assert Item.objects.filter(pk__in=ids).count() == 3


def test_requester_cannot_approve_their_own_request(cataloguers):
    alice, _bob = cataloguers
    request = ask(alice, three_items())
    with pytest.raises(lifecycle.ApprovalError) as refused:
        approvals.approve(request.pk, actor=alice, purpose="four eyes")
    assert refused.value.code == "own_request"
    request.refresh_from_db()
    assert request.status == "pending"


def test_approver_needs_the_permission_of_the_action(cataloguers):
    alice, _bob = cataloguers
    request = ask(alice, three_items())
    desk = accounts.staff_actor(make_staff("desk-a1", "circulation-desk"))
    with pytest.raises(accounts.AccessDenied):
        approvals.approve(request.pk, actor=desk, purpose="four eyes")


def test_request_expires(cataloguers):
    alice, bob = cataloguers
    ids = three_items()
    with clock.frozen(T0):
        request = ask(alice, ids)
    with (
        clock.frozen(T0 + dt.timedelta(hours=24)),
        pytest.raises(lifecycle.ApprovalError) as refused,
    ):
        approvals.approve(request.pk, actor=bob, purpose="four eyes")
    assert refused.value.code == "expired"
    with clock.frozen(T0 + dt.timedelta(hours=23, minutes=59)):
        approvals.approve(request.pk, actor=bob, purpose="four eyes")
    with clock.frozen(T0 + dt.timedelta(hours=24)), pytest.raises(lifecycle.ApprovalError) as late:
        recycle.delete_many("item", ids, actor=alice, purpose="x", approval=request.pk)
    assert late.value.code == "expired"
    assert Item.objects.filter(pk__in=ids).count() == 3


def test_parameters_must_match_exactly(cataloguers):
    alice, bob = cataloguers
    ids = three_items()
    other = make_item(make_record("Synthetic meadows")).pk
    request = ask(alice, ids)
    approvals.approve(request.pk, actor=bob, purpose="four eyes")
    for kind, wanted in (("item", [*ids[:2], other]), ("item", [*ids, other]), ("record", ids)):
        with pytest.raises(lifecycle.ApprovalError) as refused:
            recycle.delete_many(kind, wanted, actor=alice, purpose="x", approval=request.pk)
        assert refused.value.code == "mismatch"
    request.refresh_from_db()
    assert request.status == "approved"
    # Order and repeats do not matter: the same set of objects is the same action.
    recycle.delete_many(
        "item", [ids[2], ids[0], ids[1], ids[0]], actor=alice, purpose="x", approval=request.pk
    )


def test_rejected_request_cannot_be_used(cataloguers):
    alice, bob = cataloguers
    ids = three_items()
    request = ask(alice, ids)
    approvals.reject(request.pk, actor=bob, purpose="four eyes")
    with pytest.raises(lifecycle.ApprovalError) as refused:
        recycle.delete_many("item", ids, actor=alice, purpose="x", approval=request.pk)
    assert refused.value.code == "not_approved"


def test_parameters_never_hold_values(cataloguers):
    alice, _bob = cataloguers
    with pytest.raises(lifecycle.ApprovalError):
        approvals.request(
            approvals.ERASE_PATRONS,
            {"patron_ids": [1], "note": "Testa Person, 1 Synthetic St"},
            actor=alice,
            purpose="x",
            reason="test",
        )


def test_erasing_several_patrons_needs_an_approval(make_patron, settings):
    settings.CONFIG = {}
    officer_a = accounts.staff_actor(make_staff("po-a1", "privacy-officer"))
    officer_b = accounts.staff_actor(make_staff("po-a2", "privacy-officer"))
    ids = [make_patron().pk, make_patron().pk]
    with pytest.raises(lifecycle.ApprovalError):
        approvals.erase_patrons(ids, actor=officer_a, reason="patron request")
    assert not Patron.objects.filter(pk__in=ids, status=PatronStatus.ERASED).exists()
    request = approvals.request(
        approvals.ERASE_PATRONS,
        {"patron_ids": ids},
        actor=officer_a,
        purpose="erasure",
        reason="two patron requests",
    )
    approvals.approve(request.pk, actor=officer_b, purpose="four eyes")
    approvals.erase_patrons(ids, actor=officer_a, reason="patron request", approval=request.pk)
    assert Patron.objects.filter(pk__in=ids, status=PatronStatus.ERASED).count() == 2
    # One patron needs no second person.
    single = make_patron().pk
    approvals.erase_patrons([single], actor=officer_a, reason="patron request")
    assert Patron.objects.get(pk=single).status == PatronStatus.ERASED


def test_every_step_is_in_the_ledger(cataloguers):
    alice, bob = cataloguers
    ids = three_items()
    request = ask(alice, ids)
    approvals.approve(request.pk, actor=bob, purpose="four eyes")
    recycle.delete_many("item", ids, actor=alice, purpose="weeding", approval=request.pk)
    steps = {
        e.action: e for e in Entry.objects.filter(action__startswith="approval.").order_by("seq")
    }
    assert set(steps) == {"approval.request", "approval.approve", "approval.use"}
    assert steps["approval.request"].actor_id == "cat-a1"
    assert steps["approval.approve"].actor_id == "cat-a2"
    assert all(e.detail["request"] == request.pk for e in steps.values())
    assert steps["approval.use"].detail["count"] == 3


def test_cli_refuses_the_same_operator_approving(small_threshold, run_cli):
    ids = three_items()
    made = run_cli(
        "approvals",
        "request",
        "bulk_delete",
        "--kind",
        "item",
        "--ids",
        *map(str, ids),
        "--reason",
        "weeding",
        "--json",
    )
    assert made.code == 0, made.err
    number = made.json()["id"]
    own = run_cli("approvals", "approve", str(number))
    assert own.code != 0 and "own request" in own.err
    listed = run_cli("approvals", "list", "--json")
    assert [r["status"] for r in listed.json()] == ["pending"]
    refused = run_cli("bin", "delete", "item", *map(str, ids))
    assert refused.code != 0 and "approval" in refused.err


def test_patron_erase_command_with_several_cards_needs_an_approval(make_patron, run_cli):
    officer_a = accounts.staff_actor(make_staff("po-c1", "privacy-officer"))
    officer_b = accounts.staff_actor(make_staff("po-c2", "privacy-officer"))
    first = make_patron(card_number="29000000931")
    second = make_patron(card_number="29000000932")
    args = ["patron", "erase", "29000000931", "29000000932", "--reason", "requests", "--yes"]
    refused = run_cli(*args)
    assert refused.code != 0 and "approval" in refused.err
    assert f"{first.pk} {second.pk}" in refused.err and "2900000093" not in refused.err
    request = approvals.request(
        approvals.ERASE_PATRONS,
        {"patron_ids": [first.pk, second.pk]},
        actor=officer_a,
        purpose="erasure",
        reason="two patron requests",
    )
    approvals.approve(request.pk, actor=officer_b, purpose="four eyes")
    done = run_cli(*args, "--approval", str(request.pk), "--json")
    assert done.code == 0, done.err
    assert done.json() == {"erased": sorted([first.pk, second.pk])}
    assert Patron.objects.filter(status=PatronStatus.ERASED).count() == 2
