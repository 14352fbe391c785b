"""Pruning removes whole old months, leaves an anchor, and the rest still verifies."""

from __future__ import annotations

import datetime as dt

import pytest

from shelfguard.core import clock
from shelfguard.ledger import checkpoints, services
from shelfguard.ledger.errors import ChainBroken, InvalidEntry
from shelfguard.ledger.models import Entry, PruneAnchor
from shelfguard.ledger.verify import verify

from .conftest import append_one, sql

UTC = dt.UTC


def at(year: int, month: int, day: int = 1, hour: int = 12) -> dt.datetime:
    return dt.datetime(year, month, day, hour, tzinfo=UTC)


@pytest.fixture
def history(db):
    """Four entries in Jan 2023, three in Feb 2023, two in Mar 2023, two in 2026."""
    for moment, n in [
        (at(2023, 1, 5), 4),
        (at(2023, 2, 9), 3),
        (at(2023, 3, 2), 2),
        (at(2026, 6, 1), 2),
    ]:
        with clock.frozen(moment):
            for i in range(n):
                append_one(i)


def test_prune_removes_whole_months_and_the_rest_verifies(history):
    with clock.frozen(at(2026, 6, 2)):
        removed = services.prune(dt.date(2023, 3, 15))

    # Jan and Feb went; March is kept whole although half of it is before the 15th.
    assert removed == 7
    kept = list(Entry.objects.values_list("seq", flat=True))
    assert kept[:4] == [8, 9, 10, 11]
    anchors = list(PruneAnchor.objects.values_list("first_seq", "last_seq", "count"))
    assert anchors == [(1, 4, 4), (5, 7, 3)]
    prunes = Entry.objects.filter(action="ledger.prune").order_by("seq")
    assert [e.detail["through_seq"] for e in prunes] == [4, 7]
    assert prunes[0].actor_kind == "system"
    report = verify()
    assert report.ok, report.problems
    assert report.pruned_through == 7 and report.first_seq == 8


def test_pruning_twice_continues_from_the_anchor(history):
    with clock.frozen(at(2026, 6, 2)):
        services.prune(dt.date(2023, 2, 1))
        services.prune(dt.date(2023, 4, 1))

    assert list(PruneAnchor.objects.values_list("first_seq", "last_seq")) == [
        (1, 4),
        (5, 7),
        (8, 9),
    ]
    assert verify().ok


def test_nothing_to_prune_records_nothing(history):
    with clock.frozen(at(2026, 6, 2)):
        assert services.prune(dt.date(2022, 12, 31)) == 0

    assert not Entry.objects.filter(action="ledger.prune").exists()


def test_checkpoints_of_pruned_entries_do_not_break_verification(history, signing_home):
    with clock.frozen(at(2026, 6, 2)):
        checkpoints.write_checkpoint()
        services.prune(dt.date(2026, 6, 1))
        append_one(1)
        checkpoints.write_checkpoint()

    report = verify()
    assert report.ok, report.problems
    assert report.checkpoints == 2


def test_a_forged_anchor_hiding_deleted_entries_is_caught(history):
    fourth = Entry.objects.get(seq=4)
    sql("DELETE FROM ledger_entry WHERE seq <= 4")
    PruneAnchor.objects.create(
        first_seq=1,
        last_seq=4,
        last_hash=fourth.hash,
        count=4,
        cutoff=at(2023, 2, 1),
        pruned_at=at(2023, 2, 1),
        entry_seq=12,
    )

    report = verify()

    assert (report.first.kind, report.first.seq) == ("missing", 1)


def test_a_tampered_month_is_not_pruned(history):
    sql("UPDATE ledger_entry SET patron_id = 1 WHERE seq = 2")

    with clock.frozen(at(2026, 6, 2)), pytest.raises(ChainBroken, match="altered at #2"):
        services.prune(dt.date(2023, 3, 1))

    assert Entry.objects.filter(seq=2).exists()
    assert not PruneAnchor.objects.exists()


def test_retention_defaults_to_three_years_and_is_configurable(db, settings):
    settings.CONFIG = {}
    with clock.frozen(at(2026, 6, 2)):
        assert services.default_prune_before() == dt.date(2023, 6, 3)
    settings.CONFIG = {"ledger": {"retention_days": 30}}
    with clock.frozen(at(2026, 6, 2)):
        assert services.default_prune_before() == dt.date(2026, 5, 3)
    settings.CONFIG = {"ledger": {"retention_days": "forever"}}
    with pytest.raises(InvalidEntry, match="retention_days"):
        services.retention_days()


def test_the_future_cannot_be_pruned(db):
    with clock.frozen(at(2026, 6, 2)), pytest.raises(InvalidEntry):
        services.prune(dt.date(2026, 7, 1))
