"""The modification history says who changed which fields when, and never holds a value."""

from __future__ import annotations

import json

import pytest

from shelfguard.ledger.models import Entry
from shelfguard.patrons import services
from shelfguard.patrons.models import PatronChange

from .conftest import BOTH_DATABASES, DESK

pytestmark = [BOTH_DATABASES, pytest.mark.usefixtures("library")]

OLD = {
    "name": "Histor Oldname",
    "email": "histor.old@example.org",
    "phone": "+1 555 010 9001",
    "address": "9 Former Street",
}
NEW = {
    "name": "Histor Newname",
    "email": "histor.new@example.org",
    "phone": "+1 555 010 9002",
    "address": "10 Present Street",
    "pin": "97531",
}


def test_history_and_ledger_hold_field_names_only(make_patron):
    patron = make_patron(**OLD)

    services.update(patron, NEW, actor=DESK, purpose="patron moved house")
    services.update(patron, {"phone": None}, actor=DESK, purpose="patron asked")

    changes = list(PatronChange.objects.filter(patron=patron))
    assert [c.fields for c in changes] == [
        ["address", "email", "name", "phone", "pin"],
        ["phone"],
    ]
    stored = json.dumps(list(PatronChange.objects.values()), default=str) + json.dumps(
        [e.__dict__ for e in Entry.objects.all()], default=str
    )
    for value in [*OLD.values(), *NEW.values(), "Oldname", "Newname", "9001", "9002"]:
        assert value not in stored, value
