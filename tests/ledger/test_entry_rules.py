"""What an entry may hold: codes without control characters, ids not values, small details."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from shelfguard.core.actors import Actor
from shelfguard.ledger import chain
from shelfguard.ledger.errors import InvalidEntry
from shelfguard.ledger.models import Entry

from .conftest import append_one


def test_canonical_encoding_is_sorted_key_json_with_explicit_separators():
    fields = chain.fields_json(["name", "email", "name"])
    detail = chain.detail_json({"z": 1, "a": "x\ny\x1b[2J", "flags": [True, None]})
    at = chain.timestamp(dt.datetime(2026, 3, 1, 12, 0, 5, 7, tzinfo=dt.UTC))
    values = {
        "seq": 9,
        "at": at,
        "actor_kind": "staff",
        "actor_id": "zoë",
        "channel": "sip2",
        "action": "patron.reveal",
        "patron_id": None,
        "fields": fields,
        "purpose": "desk",
        "origin": "term\r\n1",
        "detail": detail,
    }

    encoded = chain.encode(**values)

    as_dict = {**values, "fields": json.loads(fields), "detail": json.loads(detail), "v": 1}
    assert encoded == json.dumps(as_dict, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    assert encoded.isascii() and "\n" not in encoded and "\x1b" not in encoded
    assert at == "2026-03-01T12:00:05.000007+00:00"


def test_times_in_other_zones_are_stored_and_hashed_in_utc():
    east = dt.timezone(dt.timedelta(hours=8))
    assert (
        chain.timestamp(dt.datetime(2026, 3, 1, 8, tzinfo=east))
        == "2026-03-01T00:00:00.000000+00:00"
    )
    with pytest.raises(InvalidEntry):
        chain.timestamp(dt.datetime(2026, 3, 1))


@pytest.mark.parametrize(
    "action",
    [
        "patron.reveal\n",
        "patron.reveal\x1b[31m",
        "Patron.Reveal",
        "reveal",
        "patron..reveal",
        "",
        7,
    ],
)
def test_actions_must_be_dotted_codes(db, action):
    with pytest.raises(InvalidEntry):
        append_one(action=action)
    assert not Entry.objects.exists()


@pytest.mark.parametrize(
    "purpose",
    ["", "   ", "desk\nFAKE ENTRY", "desk\x1b[2K", "desk\u202eksed", "desk\u2028x", "x" * 201],
)
def test_purposes_refuse_control_format_and_separator_characters(db, purpose):
    with pytest.raises(InvalidEntry):
        append_one(purpose=purpose)


@pytest.mark.parametrize(
    ("kind", "ident", "channel"),
    [
        ("Staff", "a", "web"),
        ("staff", "a\nb", "web"),
        ("staff", "a", "email"),
        ("staff", "x" * 151, "web"),
    ],
)
def test_actors_are_checked(db, kind, ident, channel):
    with pytest.raises(InvalidEntry):
        append_one(actor=Actor(kind=kind, ident=ident, channel=channel))


@pytest.mark.parametrize("patron_id", [0, -3, True, "12", 1.0])
def test_patrons_are_named_by_positive_integer_id_only(db, patron_id):
    with pytest.raises(InvalidEntry):
        append_one(patron_id=patron_id)


@pytest.mark.parametrize("fields", ["email", ["Email"], ["e-mail"], [""], [3]])
def test_fields_are_a_list_of_identifiers(db, fields):
    with pytest.raises(InvalidEntry):
        append_one(fields=fields)


@pytest.mark.parametrize(
    "detail",
    [
        {"ratio": 0.5},
        {"Bad-Key": 1},
        {"nested": {"a": 1}},
        {"n": 2**64},
        {"long": "x" * 201},
        {f"k{i}": "x" * 199 for i in range(12)},
        ["not", "a", "mapping"],
    ],
)
def test_details_are_small_flat_and_free_of_floats(db, detail):
    with pytest.raises(InvalidEntry):
        append_one(detail=detail)


def test_outside_text_is_kept_but_made_storable(db):
    entry = append_one(origin="term\x00inal\ud800" + "x" * 300, detail={"terminal": "a\x00b"})

    stored = Entry.objects.get(seq=entry.seq)
    assert stored.origin.startswith("term\ufffdinal\ufffd")
    assert len(stored.origin) == chain.ORIGIN_MAX
    assert stored.detail == {"terminal": "a\ufffdb"}
