"""`shelfguard patron erase`: confirmation on a terminal, --yes otherwise, refusal explained."""

from __future__ import annotations

import io

import pytest

from shelfguard.patrons import services
from shelfguard.patrons.models import PatronStatus

from .conftest import BOTH_DATABASES

pytestmark = [BOTH_DATABASES, pytest.mark.usefixtures("library")]


class FakeTerminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_without_a_terminal_erase_needs_yes(make_patron, run_cli):
    patron = make_patron(card_number="29003000001")

    refused = run_cli("patron", "erase", "29003000001", "--reason", "patron request")

    assert refused.code != 0
    assert "not a terminal" in refused.err and "--yes" in refused.err
    patron.refresh_from_db()
    assert patron.status == PatronStatus.ACTIVE

    done = run_cli(
        "patron", "erase", "29003000001", "--reason", "patron request", "--yes", "--json"
    )

    assert done.code == 0, done.err
    assert done.json()["id"] == patron.pk and done.json()["status"] == "erased"
    patron.refresh_from_db()
    assert patron.is_erased


def test_on_a_terminal_the_patron_id_must_be_typed(make_patron, run_cli, monkeypatch):
    patron = make_patron(card_number="29003000002")

    monkeypatch.setattr("sys.stdin", FakeTerminal("no\n"))
    wrong = run_cli("patron", "erase", "29003000002", "--reason", "patron request")
    assert wrong.code != 0 and "Not confirmed" in wrong.err
    patron.refresh_from_db()
    assert patron.status == PatronStatus.ACTIVE

    monkeypatch.setattr("sys.stdin", FakeTerminal(f"{patron.pk}\n"))
    right = run_cli("patron", "erase", "29003000002", "--reason", "patron request")
    assert right.code == 0, right.err
    assert f"Erased patron {patron.pk}" in right.out
    patron.refresh_from_db()
    assert patron.is_erased


def test_refusal_lists_the_obligations(make_patron, run_cli):
    patron = make_patron(card_number="29003000003")

    def on_loan(p):
        return ["1 item on loan"] if p.pk == patron.pk else []

    services.register_obligation_check(on_loan)
    try:
        result = run_cli("patron", "erase", "29003000003", "--reason", "request", "--yes")
    finally:
        services.unregister_obligation_check(on_loan)

    assert result.code != 0
    assert f"Patron {patron.pk} cannot be erased yet: 1 item on loan." in result.err


def test_erasing_twice_says_so(make_patron, run_cli):
    patron = make_patron()
    assert run_cli("patron", "erase", f"id:{patron.pk}", "--reason", "r", "--yes").code == 0

    again = run_cli("patron", "erase", f"id:{patron.pk}", "--reason", "r", "--yes")

    assert again.code != 0 and "already erased" in again.err
