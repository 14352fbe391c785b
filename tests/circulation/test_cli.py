"""`shelfguard circ`: rules, calendars, desk actions and jobs from the command line."""

from __future__ import annotations

import pytest

from .conftest import BOTH_DATABASES

pytestmark = [BOTH_DATABASES, pytest.mark.usefixtures("library", "at_noon")]


def test_policy_list_and_set(run_cli):
    done = run_cli(
        "circ", "policy", "set", "--category", "child", "--loan-days", "14", "--no-holds", "--json"
    )
    assert done.code == 0, done.err
    assert done.json()["loan_days"] == 14 and done.json()["holds_allowed"] is False
    rows = run_cli("circ", "policy", "list", "--json").json()
    assert sorted(str(r["patron_category"]) for r in rows) == ["None", "child"]
    assert "CATEGORY" in run_cli("circ", "policy", "list").out


def test_bad_policy_values_exit_non_zero_with_one_line(run_cli):
    done = run_cli("circ", "policy", "set", "--category", "nobody", "--loan-days", "3")
    assert done.code != 0 and "Unknown patron category" in done.err


def test_closed_days(run_cli):
    assert (
        run_cli("circ", "calendar", "closed-day", "add", "2026-12-25", "--reason", "Holiday").code
        == 0
    )
    assert (
        run_cli("circ", "calendar", "closed-day", "add", "2026-12-26", "--branch", "MAIN").code == 0
    )
    rows = run_cli("circ", "calendar", "closed-day", "list", "--json").json()
    assert rows == [
        {"date": "2026-12-25", "branch": None, "reason": "Holiday"},
        {"date": "2026-12-26", "branch": "MAIN", "reason": ""},
    ]
    assert run_cli("circ", "calendar", "closed-day", "add", "someday").code != 0
    assert run_cli("circ", "calendar", "hours", "MAIN", "6", "closed").code == 0
    assert run_cli("circ", "calendar", "hours", "MAIN", "0", "09:00", "17:00").code == 0
    assert run_cli("circ", "calendar", "time-zone", "MAIN", "Europe/London").code == 0


def test_desk_actions(run_cli, make_patron, copy):
    patron = make_patron(card_number="29000000123")
    item = copy()
    out = run_cli(
        "circ", "checkout", "--card", "29000000123", item.barcode, "--branch", "MAIN", "--json"
    )
    assert out.code == 0, out.err
    assert out.json()["due_on"] == "2026-07-01"
    assert run_cli("circ", "renew", item.barcode, "--json").json()["renewals"] == 1
    again = run_cli(
        "circ", "checkout", "--patron", str(patron.pk), item.barcode, "--branch", "MAIN"
    )
    assert again.code != 0 and "renew it instead" in again.err
    back = run_cli("circ", "checkin", item.barcode, "--branch", "EAST", "--json")
    assert back.json()["status"] == "in_transit" and back.json()["transit_to"] == "MAIN"
    unknown = run_cli("circ", "checkout", "--card", "29999999999", item.barcode, "--branch", "MAIN")
    assert unknown.code != 0 and "No patron has this card number." in unknown.err


def test_holds_and_jobs(run_cli, make_patron, copy):
    patron = make_patron()
    item = copy()
    placed = run_cli(
        "circ",
        "hold",
        "place",
        "--patron",
        str(patron.pk),
        "--record",
        str(item.record_id),
        "--pickup",
        "MAIN",
        "--json",
    )
    assert placed.code == 0, placed.err
    queue = run_cli("circ", "hold", "queue", str(item.record_id), "--json").json()
    assert [r["hold"] for r in queue] == [placed.json()["hold"]]
    assert run_cli("circ", "holds", "expire", "--json").json() == {"expired": 0}
    assert run_cli("circ", "notices", "send", "--json").json() == {
        "queued": 0,
        "sent": 0,
        "skipped": 0,
        "failed": 0,
    }
    cancelled = run_cli("circ", "hold", "cancel", str(placed.json()["hold"]), "--json")
    assert cancelled.json()["status"] == "cancelled"
