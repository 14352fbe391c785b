"""Deleting the newest entries is caught as `truncated`: by the chain head and by checkpoints."""

from __future__ import annotations

from shelfguard.ledger import checkpoints
from shelfguard.ledger.models import Entry
from shelfguard.ledger.verify import verify

from .conftest import append_one, sql


def test_deleting_the_newest_entries_is_caught_by_the_head(db, chain_of):
    chain_of(10)
    sql("DELETE FROM ledger_entry WHERE seq > 7")

    report = verify()

    assert not report.ok
    assert (report.first.kind, report.first.seq) == ("truncated", 8)


def test_deleting_the_newest_entries_and_rewinding_the_head_is_caught_by_a_checkpoint(
    db, chain_of, signing_home
):
    chain_of(10)
    checkpoints.write_checkpoint()
    chain_of(2)
    seventh = Entry.objects.get(seq=7)
    sql("DELETE FROM ledger_entry WHERE seq > 7")
    sql("UPDATE ledger_chainhead SET seq = 7, hash = %s", (seventh.hash,))

    report = verify()

    assert (report.first.kind, report.first.seq) == ("truncated", 8)
    assert "10.json" in report.first.message


def test_cutting_back_and_regrowing_past_a_checkpoint_is_caught(db, chain_of, signing_home):
    chain_of(6)
    checkpoints.write_checkpoint()
    fourth = Entry.objects.get(seq=4)
    sql("DELETE FROM ledger_entry WHERE seq > 4")
    sql("UPDATE ledger_chainhead SET seq = 4, hash = %s", (fourth.hash,))
    for i in range(4):  # new entries 5..8 hide the cut from the head
        append_one(i)

    report = verify()

    assert (report.first.kind, report.first.seq) == ("truncated", 6)


def test_deleting_every_entry_is_caught(db, chain_of):
    chain_of(3)
    sql("DELETE FROM ledger_entry")

    report = verify()

    assert (report.first.kind, report.first.seq) == ("truncated", 1)
