"""`shelfguard patron show --json`: a recorded reveal for live patrons, nothing for erased ones."""

from __future__ import annotations

import pytest

from shelfguard.ledger.models import Entry
from shelfguard.patrons import register as reg
from shelfguard.patrons import services

from .conftest import BOTH_DATABASES, DESK

pytestmark = [BOTH_DATABASES, pytest.mark.usefixtures("library")]


def test_show_reveals_a_live_patron_and_records_it(make_patron, run_cli):
    patron = make_patron(
        card_number="29002000001",
        name="Shown Sample",
        email="shown@example.org",
        phone="+1 555 010 2001",
        address="2 Display Road",
    )

    result = run_cli("patron", "show", "29002000001", "--purpose", "patron asked at desk", "--json")

    assert result.code == 0, result.err
    data = result.json()
    assert data["id"] == patron.pk
    assert data["status"] == "active"
    assert data["card_number"] == "29002000001"
    assert (data["name"], data["email"], data["phone"], data["address"]) == (
        "Shown Sample",
        "shown@example.org",
        "+1 555 010 2001",
        "2 Display Road",
    )
    assert data["birth_year"] == 1980
    assert data["category"] == "adult" and data["home_branch"] == "MAIN"
    assert [c["purpose"] for c in data["consents"] if c["given"]] == ["service"]
    reveal = Entry.objects.get(patron_id=patron.pk, action="patron.reveal")
    assert (reveal.actor_kind, reveal.channel) == ("cli", "cli")
    assert reveal.purpose == "patron asked at desk"
    assert {"card_number", "name", "email", "phone", "address"} <= set(reveal.fields)


def test_show_by_id(make_patron, run_cli):
    patron = make_patron()

    result = run_cli("patron", "show", f"id:{patron.pk}", "--purpose", "audit", "--json")

    assert result.code == 0, result.err
    assert result.json()["id"] == patron.pk


def test_show_of_an_erased_patron_has_no_personal_field(make_patron, run_cli):
    patron = make_patron(card_number="29002000002")
    services.erase(patron, actor=DESK, reason="patron request")
    reveals = Entry.objects.filter(action="patron.reveal").count()

    result = run_cli("patron", "show", f"id:{patron.pk}", "--purpose", "audit", "--json")

    assert result.code == 0, result.err
    data = result.json()
    assert data["id"] == patron.pk and data["status"] == "erased"
    assert set(data) == {"id", "status", "erased_at"}
    assert not set(data) & {f.key for f in reg.FIELDS}
    assert Entry.objects.filter(action="patron.reveal").count() == reveals


def test_an_erased_patrons_card_number_finds_nobody(make_patron, run_cli):
    patron = make_patron(card_number="29002000003")
    services.erase(patron, actor=DESK, reason="patron request")

    result = run_cli("patron", "show", "29002000003", "--purpose", "audit", "--json")

    assert result.code != 0
    assert "No patron has that card number" in result.err
    assert "id:N" in result.err
    assert "29002000003" not in result.err


def test_show_needs_a_purpose(make_patron, run_cli):
    make_patron(card_number="29002000004")

    assert run_cli("patron", "show", "29002000004").code != 0
    blank = run_cli("patron", "show", "29002000004", "--purpose", "  ")
    assert blank.code != 0 and "--purpose is empty" in blank.err
    assert not Entry.objects.filter(action="patron.reveal").exists()


def test_show_as_text(make_patron, run_cli):
    patron = make_patron(
        card_number="29002000005", name="Text Sample", address="5 Line One\nLine Two"
    )

    result = run_cli("patron", "show", "29002000005", "--purpose", "desk")

    assert result.code == 0, result.err
    assert f"Patron {patron.pk} (active)" in result.out
    assert "Name: Text Sample" in result.out
    assert "Consents in force: service" in result.out


def test_damaged_record_is_a_one_line_error(make_patron, run_cli):
    from django.db import connection

    patron = make_patron(card_number="29002000006")
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE patrons_patron SET name_sealed = %s WHERE id = %s",
            [b"\x01" + b"\x00" * 40, patron.pk],
        )

    result = run_cli("patron", "show", "29002000006", "--purpose", "desk", "--json")

    assert result.code != 0
    assert f"The sealed name of patron {patron.pk} cannot be decrypted" in result.err
    assert len(result.err.strip().splitlines()) == 1


def test_audit_query_by_card_lists_the_reveal(make_patron, run_cli):
    patron = make_patron(card_number="29002000007")
    assert run_cli("patron", "show", "29002000007", "--purpose", "desk", "--json").code == 0

    result = run_cli("audit", "query", "--patron", "29002000007", "--json")

    assert result.code == 0, result.err
    listed = result.json()
    entries = listed["entries"] if isinstance(listed, dict) else listed
    actions = [e["action"] for e in entries if e["patron_id"] == patron.pk]
    assert "patron.register" in actions and "patron.reveal" in actions
