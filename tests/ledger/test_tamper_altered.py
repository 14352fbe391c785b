"""Changing an entry in place, with or without recomputing its hash, is caught as `altered`."""

from __future__ import annotations

import hashlib

import pytest

from shelfguard.ledger import chain
from shelfguard.ledger.models import Entry
from shelfguard.ledger.verify import verify

from .conftest import sql


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("purpose", "marketing"),
        ("patron_id", 999),
        ("actor_id", "mallory"),
        ("origin", "10.0.0.1"),
        ("fields", '["email"]'),
        ("detail", '{"count":99}'),
        ("action", "patron.register"),
    ],
)
def test_altering_a_field_is_caught_at_that_entry(db, chain_of, column, value):
    chain_of(10)
    sql(f"UPDATE ledger_entry SET {column} = %s WHERE seq = 6", (value,))

    report = verify()

    assert not report.ok
    assert (report.first.kind, report.first.seq) == ("altered", 6)
    assert report.problem_count == 1


def test_altering_the_time_is_caught(db, chain_of):
    entries = chain_of(5)
    with_other_time = entries[2].at.replace(year=2020)
    from django.db import connection

    sql(
        "UPDATE ledger_entry SET at = %s WHERE seq = 3",
        (connection.ops.adapt_datetimefield_value(with_other_time),),
    )

    report = verify()

    assert (report.first.kind, report.first.seq) == ("altered", 3)


def test_rewriting_an_entry_with_a_fresh_hash_is_caught_at_that_entry(db, chain_of):
    chain_of(8)
    e = Entry.objects.get(seq=4)
    forged = chain.link(
        e.prev_hash,
        chain.encode(
            4,
            chain.timestamp(e.at),
            e.actor_kind,
            "nobody",
            e.channel,
            e.action,
            e.patron_id,
            chain.fields_json(e.fields),
            e.purpose,
            e.origin,
            chain.detail_json(e.detail),
        ),
    )
    sql("UPDATE ledger_entry SET actor_id = 'nobody', hash = %s WHERE seq = 4", (forged,))

    report = verify()

    # Entry 4 is self-consistent now, but entry 5 still remembers its real hash.
    assert (report.first.kind, report.first.seq) == ("altered", 4)


def test_garbage_in_a_column_is_reported_not_a_crash(db, chain_of):
    chain_of(4)
    sql("UPDATE ledger_entry SET hash = %s WHERE seq = 2", (hashlib.sha256(b"x").hexdigest(),))

    report = verify()

    assert (report.first.kind, report.first.seq) == ("altered", 2)
