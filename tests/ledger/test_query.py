"""Reading the ledger: by patron or by actor, and every reading is itself recorded."""

from __future__ import annotations

import datetime as dt

import pytest

from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.ledger import services
from shelfguard.ledger.errors import InvalidEntry
from shelfguard.ledger.models import Entry
from shelfguard.ledger.verify import verify

from .conftest import DESK, append_one

AUDITOR = Actor(kind="staff", ident="privacy-officer", channel="web")
BOB = Actor(kind="staff", ident="bob", channel="web")


@pytest.fixture
def accesses(db):
    with clock.frozen(dt.datetime(2026, 1, 10, tzinfo=dt.UTC)):
        append_one(patron_id=7)
        append_one(patron_id=8, actor=BOB)
    with clock.frozen(dt.datetime(2026, 2, 10, tzinfo=dt.UTC)):
        append_one(patron_id=7, actor=BOB, action="patron.update")
        append_one(patron_id=9)


def test_query_by_patron_lists_who_looked_and_records_the_reading(accesses):
    found = services.query(actor=AUDITOR, purpose="subject access request", patron_id=7)

    assert [(e.seq, e.actor_id, e.action) for e in found] == [
        (1, "alice", "patron.reveal"),
        (3, "bob", "patron.update"),
    ]
    recorded = Entry.objects.order_by("-seq").first()
    assert recorded.action == "ledger.query"
    assert (recorded.actor_id, recorded.purpose) == ("privacy-officer", "subject access request")
    assert recorded.patron_id == 7
    assert recorded.detail == {"filters": ["patron"], "results": 2}
    assert verify().ok


def test_query_by_actor_does_not_record_who_was_searched_for(accesses):
    found = services.query(actor=AUDITOR, purpose="audit", actor_id="bob")

    assert [e.seq for e in found] == [2, 3]
    recorded = Entry.objects.order_by("-seq").first()
    assert recorded.patron_id is None
    assert recorded.detail == {"filters": ["actor"], "results": 2}
    assert "bob" not in recorded.hash + str(recorded.detail) + recorded.origin


def test_since_and_limit(accesses):
    since = services.query(
        actor=AUDITOR, purpose="audit", actor_id="alice", since=dt.date(2026, 2, 1)
    )
    newest = services.query(actor=AUDITOR, purpose="audit", actor_id="alice", limit=1)

    assert [e.seq for e in since] == [4]
    assert [e.seq for e in newest] == [4]
    assert Entry.objects.order_by("-seq").first().detail == {"filters": ["actor"], "results": 1}
    assert Entry.objects.get(seq=5).detail == {"filters": ["actor", "since"], "results": 1}


def test_the_records_of_earlier_readings_show_up_in_later_ones(accesses):
    services.query(actor=AUDITOR, purpose="audit", patron_id=9)
    found = services.query(actor=DESK, purpose="audit", actor_id="privacy-officer")

    assert [e.action for e in found] == ["ledger.query"]


def test_a_query_needs_a_filter_and_a_purpose(db):
    with pytest.raises(InvalidEntry, match="patron id or an actor"):
        services.query(actor=AUDITOR, purpose="audit")
    with pytest.raises(InvalidEntry, match="purpose"):
        services.query(actor=AUDITOR, purpose="", patron_id=1)
    assert not Entry.objects.exists()


def test_the_cli_query_is_recorded_as_the_operator(accesses, run_cli):
    result = run_cli("audit", "query", "--patron-id", "7", "--json")

    assert result.code == 0, result.err
    assert [e["seq"] for e in result.json()] == [1, 3]
    recorded = Entry.objects.order_by("-seq").first()
    assert (recorded.action, recorded.channel, recorded.purpose) == ("ledger.query", "cli", "audit")


def test_the_cli_query_prints_text(accesses, run_cli):
    result = run_cli("audit", "query", "--actor", "bob", "--since", "2026-01-01")

    assert result.code == 0, result.err
    assert "#2" in result.out and "#3" in result.out and "patron 8" in result.out


@pytest.fixture
def patrons_app(monkeypatch):
    """A stand-in `shelfguard.patrons.services` whose `find_by_card` knows one card."""
    import importlib.machinery
    import sys
    import types

    module = types.ModuleType("shelfguard.patrons.services")
    module.__spec__ = importlib.machinery.ModuleSpec("shelfguard.patrons.services", None)

    class Patron:
        pk = 7

    module.find_by_card = lambda card: Patron() if card == "29999000012345" else None
    monkeypatch.setitem(sys.modules, "shelfguard.patrons.services", module)
    return module


def test_the_cli_query_by_card_resolves_it_through_the_patrons_app(accesses, patrons_app, run_cli):
    result = run_cli("audit", "query", "--patron", "29999000012345", "--json")

    assert result.code == 0, result.err
    assert [e["seq"] for e in result.json()] == [1, 3]
    assert Entry.objects.order_by("-seq").first().patron_id == 7


def test_an_unknown_card_is_refused_without_echoing_it(db, patrons_app, run_cli):
    result = run_cli("audit", "query", "--patron", "29999000099999")

    assert result.code == 1
    assert "No patron has that card" in result.err
    # The card number identifies a person: it is never echoed.
    assert "29999000099999" not in result.err + result.out


def test_query_by_card_without_the_patrons_app_says_what_to_use(db, run_cli, monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name.startswith("shelfguard.patrons") else real(name, *a),
    )

    result = run_cli("audit", "query", "--patron", "29999000012345")

    assert result.code == 1
    assert "--patron-id" in result.err


def test_the_cli_query_needs_one_filter(db, run_cli):
    result = run_cli("audit", "query", "--json")

    assert result.code != 0
    assert "--patron-id" in result.err
