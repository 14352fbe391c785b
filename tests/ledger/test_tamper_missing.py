"""Deleting entries from the middle or the start of the chain is caught as `missing`."""

from __future__ import annotations

from shelfguard.ledger.verify import verify

from .conftest import sql


def test_deleting_one_entry_in_the_middle_names_it(db, chain_of):
    chain_of(10)
    sql("DELETE FROM ledger_entry WHERE seq = 5")

    report = verify()

    assert not report.ok
    assert (report.first.kind, report.first.seq) == ("missing", 5)
    assert report.problem_count == 1


def test_deleting_a_run_of_entries_names_the_first(db, chain_of):
    chain_of(10)
    sql("DELETE FROM ledger_entry WHERE seq BETWEEN 3 AND 7")

    report = verify()

    assert (report.first.kind, report.first.seq) == ("missing", 3)
    assert "#3–#7" in report.first.message


def test_deleting_the_oldest_entries_is_caught(db, chain_of):
    chain_of(6)
    sql("DELETE FROM ledger_entry WHERE seq <= 2")

    report = verify()

    assert (report.first.kind, report.first.seq) == ("missing", 1)
