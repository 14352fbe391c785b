"""A chain nobody tampered with verifies, whatever it holds."""

from __future__ import annotations

import datetime as dt

from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.ledger.verify import verify

from .conftest import append_one


def test_an_empty_ledger_verifies(db):
    report = verify()

    assert report.ok
    assert report.entries == 0
    assert report.first is None


def test_a_clean_chain_verifies(db, chain_of):
    chain_of(50)

    report = verify()

    assert report.ok, report.problems
    assert (report.entries, report.first_seq, report.last_seq, report.head_seq) == (50, 1, 50, 50)
    assert report.as_dict()["first_problem"] is None


def test_entries_with_every_kind_of_value_verify(db):
    append_one(patron_id=None, fields=[], origin="", detail=None)
    append_one(actor=Actor.system("retention sweep"), action="patron.erase", patron_id=2**62)
    append_one(
        actor=Actor(kind="terminal", ident="SC-01 «lobby»", channel="sip2"), origin="终端\n\x1b[1m"
    )
    append_one(detail={"n": -5, "ok": False, "none": None, "codes": ["a", "b"], "text": "línea\t2"})
    with clock.frozen(dt.datetime(2030, 1, 1, tzinfo=dt.UTC)):
        append_one(purpose="exact second, no fraction")
    with clock.frozen(
        dt.datetime(2030, 1, 1, 8, 0, 0, 1, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    ):
        append_one(purpose="another time zone")

    report = verify()

    assert report.ok, report.problems
    assert report.entries == 6


def test_progress_is_reported(db, chain_of):
    chain_of(3)
    seen = []

    verify(progress=lambda done, total: seen.append((done, total)))

    assert seen[-1] == (3, 3)


def test_every_shape_of_stored_time_verifies(db):
    # Databases print times differently: no fraction at all, or trailing zeros
    # trimmed ('.816'), which verification must read back as the same instant.
    for micro in (0, 1, 10, 816000, 120000, 999999, 500, 3):
        with clock.frozen(dt.datetime(2031, 5, 6, 7, 8, 9, micro, tzinfo=dt.UTC)):
            append_one(micro)

    report = verify()

    assert report.ok, report.problems
    assert report.entries == 8


def test_stored_time_text_is_read_in_every_shape():
    from shelfguard.ledger.verify import _time_text

    expected = "2031-05-06T07:08:09.816000+00:00"
    for shape in (
        "2031-05-06 07:08:09.816000",  # SQLite
        "2031-05-06 07:08:09.816000+00",  # PostgreSQL in a UTC session
        "2031-05-06 07:08:09.816+00",  # PostgreSQL, trailing zeros trimmed
        "2031-05-06 09:08:09.816+02",  # PostgreSQL in another session time zone
        dt.datetime(2031, 5, 6, 7, 8, 9, 816000, tzinfo=dt.UTC),
    ):
        assert _time_text(shape) == expected, shape
    assert _time_text("2031-05-06 07:08:09") == "2031-05-06T07:08:09.000000+00:00"
