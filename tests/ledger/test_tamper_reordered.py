"""Moving entries to other places in the chain is caught as `reordered`."""

from __future__ import annotations

import pytest

from shelfguard.ledger import chain
from shelfguard.ledger.models import Entry
from shelfguard.ledger.verify import verify

from .conftest import sql


def swap(a: int, b: int) -> None:
    sql("UPDATE ledger_entry SET seq = -1 WHERE seq = %s", (a,))
    sql("UPDATE ledger_entry SET seq = %s WHERE seq = %s", (a, b))
    sql("UPDATE ledger_entry SET seq = %s WHERE seq = -1", (b,))


@pytest.mark.parametrize(("a", "b"), [(3, 7), (4, 5), (9, 10), (1, 10)])
def test_swapping_two_entries_seq_names_the_first(db, chain_of, a, b):
    chain_of(10)
    swap(a, b)

    report = verify()

    assert not report.ok
    assert (report.first.kind, report.first.seq) == ("reordered", a)
    assert f"written as #{b}" in report.first.message


def test_swapping_and_rehashing_is_still_caught_by_the_links(db, chain_of):
    chain_of(8)
    swap(3, 6)
    for seq in (3, 6):
        e = Entry.objects.get(seq=seq)
        rehashed = chain.link(
            e.prev_hash,
            chain.encode(
                seq,
                chain.timestamp(e.at),
                e.actor_kind,
                e.actor_id,
                e.channel,
                e.action,
                e.patron_id,
                chain.fields_json(e.fields),
                e.purpose,
                e.origin,
                chain.detail_json(e.detail),
            ),
        )
        sql("UPDATE ledger_entry SET hash = %s WHERE seq = %s", (rehashed, seq))

    report = verify()

    assert (report.first.kind, report.first.seq) == ("reordered", 3)
