"""An entry commits or rolls back with the action it records; outside a transaction it is refused."""

from __future__ import annotations

import pytest
from django.db import transaction

from shelfguard.core import clock
from shelfguard.core.models import Branch
from shelfguard.ledger import chain, services
from shelfguard.ledger.errors import NotInTransaction
from shelfguard.ledger.models import ChainHead, Entry

from .conftest import DESK, append_one


class ActionFailed(Exception):
    pass


def test_append_returns_the_stored_entry_and_moves_the_head(db):
    first = append_one(1)
    second = append_one(2)

    assert (first.seq, second.seq) == (1, 2)
    assert first.prev_hash == chain.GENESIS
    assert second.prev_hash == first.hash
    stored = Entry.objects.get(seq=2)
    assert stored.hash == second.hash
    assert stored.patron_id == 102
    assert stored.fields == ["email", "name"]
    assert stored.detail == {"count": 2}
    assert stored.at == second.at
    head = ChainHead.objects.get()
    assert (head.seq, head.hash) == (2, second.hash)


def test_the_hash_is_sha256_of_the_previous_hash_and_the_canonical_entry(db):
    entry = append_one(3)

    encoded = chain.encode(
        entry.seq,
        chain.timestamp(entry.at),
        "staff",
        "alice",
        "web",
        "patron.reveal",
        103,
        '["email","name"]',
        "circulation desk",
        "192.0.2.7",
        '{"count":3}',
    )
    import hashlib

    assert entry.hash == hashlib.sha256((chain.GENESIS + encoded).encode()).hexdigest()


def test_rolled_back_action_leaves_no_entry(db):
    append_one(1)
    branch = Branch.objects.create(code="EAST", name="East", created_at=clock.now())

    with pytest.raises(ActionFailed), transaction.atomic():
        Branch.objects.filter(pk=branch.pk).update(name="Renamed")
        services.append(actor=DESK, action="branch.rename", purpose="configuration")
        raise ActionFailed

    assert list(Entry.objects.values_list("seq", flat=True)) == [1]
    assert ChainHead.objects.get().seq == 1
    assert Branch.objects.get(pk=branch.pk).name == "East"
    # The next entry takes the seq the rolled-back one would have had: no gap.
    assert append_one(2).seq == 2


def test_append_outside_a_transaction_is_refused(db):
    # The atomic block the test framework wraps around this test does not count.
    with pytest.raises(NotInTransaction, match="transaction.atomic"):
        services.append(actor=DESK, action="patron.reveal", purpose="desk", patron_id=1)

    assert not Entry.objects.exists()


@pytest.mark.django_db(transaction=True, available_apps=["shelfguard.ledger"])
def test_append_outside_a_transaction_is_refused_in_autocommit_mode():
    with pytest.raises(NotInTransaction):
        services.append(actor=DESK, action="patron.reveal", purpose="desk", patron_id=1)

    assert not Entry.objects.exists()


def test_append_inside_a_savepoint_rolls_back_with_it(db):
    with transaction.atomic():
        append_one(1)
        with pytest.raises(ActionFailed), transaction.atomic():
            services.append(actor=DESK, action="patron.update", purpose="desk", patron_id=5)
            raise ActionFailed
        append_one(3)

    assert list(Entry.objects.values_list("seq", "action")) == [
        (1, "patron.reveal"),
        (2, "patron.reveal"),
    ]


def test_entries_cannot_be_changed_or_deleted_through_the_orm(db):
    from shelfguard.ledger.models import ImmutableEntry

    entry = append_one(1)

    with pytest.raises(ImmutableEntry):
        entry.save()
    with pytest.raises(ImmutableEntry):
        entry.delete()
    with pytest.raises(ImmutableEntry):
        Entry.objects.filter(seq=1).update(purpose="other")
    with pytest.raises(ImmutableEntry):
        Entry.objects.all().delete()
    assert Entry.objects.get(seq=1).purpose == "circulation desk"
