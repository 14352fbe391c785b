"""The recycle bin: delete -> restore gives back every column and link; purge at the boundary.

All data is synthetic (made-up titles, barcodes, example.org addresses).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import models

from shelfguard.accounts import services as accounts
from shelfguard.accounts.models import Certification, SealedTOTPDevice, StaffUser
from shelfguard.catalog.models import Item, Record
from shelfguard.circulation import services as circulation
from shelfguard.circulation.models import ClosedDay, LoanPolicy, OpeningHours
from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.core.models import Branch
from shelfguard.core.services import ensure_branch
from shelfguard.ledger.models import Entry
from shelfguard.lifecycle import services as lifecycle
from shelfguard.lifecycle.models import BinEntry
from shelfguard.patrons import services as patrons
from shelfguard.patrons.models import Patron, PatronNameToken, PatronStatus
from shelfguard.vault import keystore
from tests.accounts.helpers import make_staff
from tests.catalog.factories import make_item, make_record
from tests.patrons.conftest import BOTH_DATABASES

pytestmark = BOTH_DATABASES

recycle = lifecycle.recycle
OPERATOR = Actor(kind="cli", ident="operator-1", channel="cli")
T0 = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.UTC)


def columns(obj: models.Model) -> dict[str, Any]:
    """Every concrete column of a row as stored (foreign keys as ids), read afresh."""
    fresh = type(obj)._default_manager.get(pk=obj.pk)
    values = {}
    for field in type(obj)._meta.concrete_fields:
        value = getattr(fresh, field.attname)
        values[field.attname] = bytes(value) if isinstance(value, memoryview) else value
    return values


def entries_for(action: str) -> list[Entry]:
    return list(Entry.objects.filter(action=action).order_by("seq"))


def test_record_and_its_items_come_back_exactly(library):
    record = make_record(
        "A synthetic atlas of rivers", subjects=["Rivers"], isbns=["9780000000002"]
    )
    items = [make_item(record, barcode="31000000001"), make_item(record, branch="EAST")]
    before = [columns(record)] + [columns(i) for i in items]

    entry = recycle.delete(
        "record", record.pk, actor=OPERATOR, purpose="weeding", reason="duplicate"
    )

    assert not Record.objects.filter(pk=record.pk).exists()
    assert not Item.objects.filter(record_id=record.pk).exists()
    assert entry.rows == 3 and entry.state == "binned"
    assert entry.snapshot[0]["model"] == "catalog.record"
    recycle.restore(entry.pk, actor=OPERATOR, purpose="deleted by mistake")
    assert [columns(record)] + [columns(i) for i in items] == before
    entry.refresh_from_db()
    assert entry.state == "restored" and entry.restored_by == "cli:operator-1"


def test_item_comes_back_exactly(library):
    item = make_item(make_record("Synthetic tides"), barcode="31000000002")
    before = columns(item)
    entry = recycle.delete("item", item.pk, actor=OPERATOR, purpose="weeding")
    assert not Item.objects.filter(pk=item.pk).exists()
    recycle.restore(entry.pk, actor=OPERATOR, purpose="mistake")
    assert columns(item) == before


def test_loan_policy_delete_goes_to_the_bin_and_comes_back(library):
    policy = circulation.set_policy(branch="MAIN", loan_days=9, renewals=1, actor=OPERATOR)
    before = columns(policy)
    circulation.delete_policy(policy.pk, actor=OPERATOR)
    assert not LoanPolicy.objects.filter(pk=policy.pk).exists()
    entry = BinEntry.objects.get(kind="policy", object_id=policy.pk)
    recycle.restore(entry.pk, actor=OPERATOR, purpose="mistake")
    assert columns(policy) == before


def test_branch_comes_back_with_its_calendar(library):
    branch, _ = ensure_branch("WEST", "West Branch", actor=OPERATOR)
    circulation.add_closed_day(
        dt.date(2026, 12, 25), branch="WEST", reason="Holiday", actor=OPERATOR
    )
    circulation.set_hours("WEST", 0, dt.time(9), dt.time(17), actor=OPERATOR)
    rows = [
        branch,
        *ClosedDay.objects.filter(branch=branch),
        *OpeningHours.objects.filter(branch=branch),
    ]
    assert len(rows) >= 3
    before = [columns(r) for r in rows]

    entry = recycle.delete("branch", branch.pk, actor=OPERATOR, purpose="branch closed")
    assert not Branch.objects.filter(code="WEST").exists()
    assert not ClosedDay.objects.filter(branch_id=branch.pk).exists()
    recycle.restore(entry.pk, actor=OPERATOR, purpose="mistake")
    assert [columns(r) for r in rows] == before


def test_branch_in_use_is_refused_with_a_reason(library):
    make_item(make_record("Synthetic maps"), branch="EAST")
    with pytest.raises(lifecycle.BinError) as refused:
        recycle.delete("branch", Branch.objects.get(code="EAST").pk, actor=OPERATOR, purpose="x")
    assert refused.value.code == "in_use"
    assert Branch.objects.filter(code="EAST").exists()


def test_staff_account_comes_back_with_roles_certification_and_second_factor(library):
    staff = make_staff("cataloguer-b1", "cataloguer")
    rows = [
        staff,
        *Certification.objects.filter(staff=staff),
        *SealedTOTPDevice.objects.filter(user=staff),
    ]
    before = [columns(r) for r in rows]
    roles = sorted(staff.roles.values_list("code", flat=True))

    entry = recycle.delete("staff", staff.pk, actor=OPERATOR, purpose="left the library")
    assert not StaffUser.objects.filter(pk=staff.pk).exists()
    recycle.restore(entry.pk, actor=OPERATOR, purpose="mistake")
    assert [columns(r) for r in rows] == before
    assert sorted(StaffUser.objects.get(pk=staff.pk).roles.values_list("code", flat=True)) == roles


def test_staff_cannot_bin_their_own_account(library):
    staff = make_staff("admin-b1", "system-administrator")
    with pytest.raises(lifecycle.BinError) as refused:
        recycle.delete("staff", staff.pk, actor=accounts.staff_actor(staff), purpose="x")
    assert refused.value.code == "self"


def test_binned_patron_is_invisible_and_comes_back_exactly(make_patron):
    patron = make_patron(card_number="29000000901", name="Testa Binned")
    before = columns(patron)
    tokens = sorted(PatronNameToken.objects.filter(patron=patron).values_list("token", flat=True))
    assert patrons.find_by_card("29000000901").pk == patron.pk

    entry = recycle.delete("patron", patron.pk, actor=OPERATOR, purpose="duplicate card")

    assert patrons.find_by_card("29000000901") is None
    assert not PatronNameToken.objects.filter(patron=patron).exists()
    row = Patron.objects.get(pk=patron.pk)
    assert row.status == PatronStatus.CLOSED and row.card_index is None
    # The sealed columns and the key stay; the snapshot holds no plaintext.
    assert bytes(row.name_sealed) == before["name_sealed"]
    assert "Testa" not in str(entry.snapshot) and "29000000901" not in str(entry.snapshot)

    recycle.restore(entry.pk, actor=OPERATOR, purpose="mistake")
    after = columns(patron)
    assert {k: v for k, v in after.items() if k != "updated_at"} == {
        k: v for k, v in before.items() if k != "updated_at"
    }
    assert (
        sorted(PatronNameToken.objects.filter(patron=patron).values_list("token", flat=True))
        == tokens
    )
    assert patrons.find_by_card("29000000901").pk == patron.pk


def test_restore_refused_when_a_barcode_was_reused(library):
    record = make_record("Synthetic herbarium")
    item = make_item(record, barcode="31000000077")
    entry = recycle.delete("item", item.pk, actor=OPERATOR, purpose="weeding")
    make_item(record, barcode="31000000077")
    with pytest.raises(lifecycle.BinError) as refused:
        recycle.restore(entry.pk, actor=OPERATOR, purpose="mistake")
    assert refused.value.code == "cannot_restore"
    assert "barcode" in refused.value.message and "change that one first" in refused.value.message
    entry.refresh_from_db()
    assert entry.state == "binned"
    assert Item.objects.filter(barcode="31000000077").count() == 1


def test_restore_refused_when_what_it_points_to_is_gone(library):
    record = make_record("Synthetic glaciers")
    first = make_item(record)
    make_item(record)
    item_entry = recycle.delete("item", first.pk, actor=OPERATOR, purpose="weeding")
    record_entry = recycle.delete("record", record.pk, actor=OPERATOR, purpose="weeding")
    with pytest.raises(lifecycle.BinError) as refused:
        recycle.restore(item_entry.pk, actor=OPERATOR, purpose="mistake")
    assert f"restore bin entry {record_entry.pk} first" in refused.value.message
    recycle.restore(record_entry.pk, actor=OPERATOR, purpose="mistake")
    recycle.restore(item_entry.pk, actor=OPERATOR, purpose="mistake")
    assert Item.objects.filter(record=record).count() == 2


def test_restore_needs_the_permission_of_the_kind(library):
    item = make_item(make_record("Synthetic deserts"))
    entry = recycle.delete("item", item.pk, actor=OPERATOR, purpose="weeding")
    desk = make_staff("desk-b1", "circulation-desk")
    with pytest.raises(accounts.AccessDenied):
        recycle.restore(entry.pk, actor=accounts.staff_actor(desk), purpose="mistake")
    cataloguer = make_staff("cat-b2", "cataloguer")
    recycle.restore(entry.pk, actor=accounts.staff_actor(cataloguer), purpose="mistake")
    assert Item.objects.filter(pk=item.pk).exists()


def test_purge_waits_for_the_period_then_erases_patrons(make_patron, settings):
    settings.CONFIG = {"lifecycle": {"bin_days": 30}}
    patron = make_patron(card_number="29000000902")
    key_id = patron.key_id
    with clock.frozen(T0):
        item = make_item(make_record("Synthetic lakes"))
        item_entry = recycle.delete("item", item.pk, actor=OPERATOR, purpose="weeding")
        patron_entry = recycle.delete("patron", patron.pk, actor=OPERATOR, purpose="duplicate")
    boundary = T0 + dt.timedelta(days=30)

    with clock.frozen(boundary - dt.timedelta(seconds=1)):
        assert recycle.purge(actor=OPERATOR, dry_run=True)["purged"] == {}
        assert recycle.purge(actor=OPERATOR)["purged"] == {}
    assert BinEntry.objects.get(pk=patron_entry.pk).state == "binned"
    assert keystore.load_data_key(keystore.parse_key_id(key_id))  # the key stays while binned

    with clock.frozen(boundary):
        assert recycle.purge(actor=OPERATOR, dry_run=True)["purged"] == {"item": 1, "patron": 1}
        result = recycle.purge(actor=OPERATOR)
    assert result["purged"] == {"item": 1, "patron": 1}
    assert BinEntry.objects.get(pk=item_entry.pk).snapshot == []
    assert Patron.objects.get(pk=patron.pk).status == PatronStatus.ERASED
    assert key_id in keystore.erased_key_ids()
    with pytest.raises(lifecycle.BinError):
        recycle.restore(patron_entry.pk, actor=OPERATOR, purpose="too late")
    purge_entry = entries_for("bin.purge")[-1]
    assert purge_entry.detail["purged_patron"] == 1 and purge_entry.detail["purged_item"] == 1
    assert entries_for("patron.erase")[-1].patron_id == patron.pk


def test_delete_restore_and_purge_are_in_the_ledger(make_patron):
    patron = make_patron()
    item = make_item(make_record("Synthetic coasts"))
    desk = Actor(kind="cli", ident="operator-2", channel="cli")
    item_entry = recycle.delete("item", item.pk, actor=desk, purpose="weeding")
    patron_entry = recycle.delete("patron", patron.pk, actor=desk, purpose="duplicate")
    recycle.restore(item_entry.pk, actor=OPERATOR, purpose="mistake")
    recycle.restore(patron_entry.pk, actor=OPERATOR, purpose="mistake")

    deletes = entries_for("bin.delete")
    restores = entries_for("bin.restore")
    assert [e.detail["entry"] for e in deletes] == [item_entry.pk, patron_entry.pk]
    assert deletes[0].patron_id is None and deletes[0].actor_id == "operator-2"
    assert deletes[1].patron_id == patron.pk
    assert [e.detail["entry"] for e in restores] == [item_entry.pk, patron_entry.pk]
    assert restores[1].patron_id == patron.pk and restores[1].actor_id == "operator-1"


def test_cli_lists_restores_and_purges(library, run_cli):
    item = make_item(make_record("Synthetic valleys"), barcode="31000000555")
    moved = run_cli("bin", "delete", "item", str(item.pk), "--reason", "weeding", "--json")
    assert moved.code == 0, moved.err
    listed = run_cli("bin", "list", "--json")
    assert listed.code == 0 and [r["label"] for r in listed.json()] == ["31000000555"]
    entry_id = listed.json()[0]["id"]
    assert run_cli("bin", "purge", "--dry-run", "--json").json()["purged"] == {}
    restored = run_cli("bin", "restore", str(entry_id))
    assert restored.code == 0 and Item.objects.filter(barcode="31000000555").exists()
    again = run_cli("bin", "restore", str(entry_id))
    assert again.code != 0 and "restored already" in again.err


def test_staff_restore_refused_when_a_role_is_gone(library):
    from shelfguard.accounts.models import Role

    staff = make_staff("temp-b1", "cataloguer")
    temporary = Role.objects.create(code="stocktake", name="Stocktake", permissions=[])
    staff.roles.add(temporary)
    entry = recycle.delete("staff", staff.pk, actor=OPERATOR, purpose="left")
    temporary.delete()
    with pytest.raises(lifecycle.BinError) as refused:
        recycle.restore(entry.pk, actor=OPERATOR, purpose="mistake")
    assert "role" in refused.value.message
    assert not StaffUser.objects.filter(pk=staff.pk).exists()


def test_binned_patron_cannot_borrow(make_patron):
    from shelfguard.circulation.errors import CirculationError

    patron, control = make_patron(), make_patron()
    record = make_record("Synthetic marshes")
    make_item(record, barcode="31000000444")
    make_item(record, barcode="31000000445")
    recycle.delete("patron", patron.pk, actor=OPERATOR, purpose="duplicate")
    with pytest.raises(CirculationError):
        circulation.checkout(
            patron.pk, "31000000444", branch="MAIN", actor=OPERATOR, purpose="loan"
        )
    assert Item.objects.get(barcode="31000000444").status == "available"
    # The same desk, item kind and rules lend to a patron who is not binned.
    circulation.checkout(control.pk, "31000000445", branch="MAIN", actor=OPERATOR, purpose="loan")
    assert Item.objects.get(barcode="31000000445").status == "on_loan"
