"""Values are escaped, never concatenated: newlines and terminal escapes cannot forge output."""

from __future__ import annotations

import json

from shelfguard.core.actors import Actor
from shelfguard.ledger.verify import verify

from .conftest import append_one

HOSTILE_ORIGIN = 'SC-01\n#2 2026-01-01 staff:admin patron.erase\x1b[2K\r\x9b31m"},{"seq":99'
HOSTILE_DETAIL = {"terminal": "lobby\r\n\x1b]0;owned\x07", "note": "\u2028fake line"}


def test_hostile_origin_and_detail_stay_escaped_in_json_output(db, run_cli):
    append_one(
        patron_id=7,
        actor=Actor(kind="terminal", ident="SC-01", channel="sip2"),
        origin=HOSTILE_ORIGIN,
        detail=HOSTILE_DETAIL,
    )

    result = run_cli("audit", "query", "--patron-id", "7", "--json")

    assert result.code == 0, result.err
    raw = result.out.strip()
    assert raw.isascii() and raw.isprintable()  # no newline, ESC, CR, C1 CSI or BEL
    assert "\\n" in raw and "\\u001b" in raw and "\\u009b" in raw
    (entry,) = json.loads(raw)
    assert entry["origin"] == HOSTILE_ORIGIN
    assert entry["detail"] == HOSTILE_DETAIL


def test_hostile_values_stay_escaped_in_text_output(db, run_cli):
    append_one(patron_id=7, origin=HOSTILE_ORIGIN, detail=HOSTILE_DETAIL)

    result = run_cli("audit", "query", "--patron-id", "7")

    assert result.code == 0, result.err
    lines = result.out.strip().split("\n")
    assert len(lines) == 1  # one entry, one line: the origin's newline did not make a second
    assert "\x1b" not in result.out and "\r" not in result.out and "\x9b" not in result.out
    assert "\\n#2" in lines[0]


def test_hostile_values_hash_and_verify_like_any_other(db):
    append_one(origin=HOSTILE_ORIGIN, detail=HOSTILE_DETAIL)
    append_one(origin="\x00\ud800")

    assert verify().ok
