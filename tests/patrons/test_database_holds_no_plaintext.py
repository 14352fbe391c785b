"""Every row of every table, on either database, holds no personal value in clear."""

from __future__ import annotations

import pytest
from django.db import connections

from shelfguard.core.services import ensure_branch
from shelfguard.patrons import services

from .conftest import BOTH_DATABASES, DESK
from .markers import encodings, marked_patrons

pytestmark = [BOTH_DATABASES, pytest.mark.usefixtures("library")]


def _cells(alias: str):
    connection = connections[alias]
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            for row in cursor.fetchall():
                for value in row:
                    yield table, value


def _as_bytes(value) -> bytes:
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    return str(value).encode("utf-8")


def test_no_marker_in_any_row_of_either_database():
    patrons = marked_patrons(4)
    for p in patrons:
        patron = services.register(
            card_number=p.card_number, name=p.name, email=p.email, phone=p.phone,
            address=p.address, pin=p.pin, actor=DESK,
        )  # fmt: skip
        services.reveal(patron, ["name", "email"], actor=DESK, purpose="scan test")
        services.update(patron, {"address": p.address + " Annex"}, actor=DESK, purpose="move")

    needles = [enc for p in patrons for form in p.needles() for enc in encodings(form)]
    # A control: the same marker put in clear where clear text belongs (a branch name)
    # must be found, or the scan proves nothing.
    ensure_branch("CONTROL", f"Branch {patrons[0].name.split()[0]}", actor=DESK)
    hits = set()
    scanned = 0
    for alias in ("default", "keystore"):
        for table, value in _cells(alias):
            scanned += 1
            data = _as_bytes(value)
            if any(needle in data for needle in needles):
                hits.add((alias, table))
    assert scanned > 0
    assert hits == {("default", "core_branch")}
