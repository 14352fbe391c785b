"""`shelfguard monitoring ...` and `shelfguard staff set-household`."""

from __future__ import annotations

from shelfguard.accounts.models import StaffUser
from shelfguard.core import clock
from shelfguard.ledger.models import Entry
from shelfguard.monitoring.models import Alert, Decoy
from tests.monitoring.conftest import BOTH_DATABASES, MONDAY, at

pytestmark = BOTH_DATABASES


def test_scan_alerts_review_from_the_command_line(desk, record, run_cli):
    record(at(MONDAY, 22), "patron.reveal", patron_id=880_001)
    with clock.frozen(at(MONDAY, 23)):
        scanned = run_cli("monitoring", "scan", "--all", "--json")
    assert scanned.code == 0, scanned.err
    assert scanned.json()["raised"] == 1 and scanned.json()["behind"] == 0
    listed = run_cli("monitoring", "alerts", "--open", "--json")
    assert [(a["rule"], a["staff"], a["status"]) for a in listed.json()] == [
        ("after_hours", "desk-one", "open")
    ]
    alert_id = listed.json()[0]["id"]
    text = run_cli("monitoring", "alerts")
    assert "after_hours" in text.out and "desk-one" in text.out
    reviewed = run_cli("monitoring", "review", str(alert_id), "--note", "Stocktake night")
    assert reviewed.code == 0 and "reviewed" in reviewed.out
    assert run_cli("monitoring", "alerts", "--open", "--json").json() == []
    again = run_cli("monitoring", "review", str(alert_id), "--note", "again")
    assert again.code != 0 and "already reviewed" in again.err
    # Reading alerts from the command line is recorded, like any look at who looked at whom.
    assert Entry.objects.filter(action="monitoring.alerts_read").count() == 3


def test_decoys_from_the_command_line(desk, make_patron, run_cli):
    decoy = make_patron(card="29557770001")
    unknown = run_cli("monitoring", "decoy", "add", "29557770999")
    assert unknown.code != 0 and "Register the decoy first" in unknown.err
    added = run_cli("monitoring", "decoy", "add", "29557770001", "--json")
    assert added.code == 0 and added.json()["patron_id"] == decoy.pk
    twice = run_cli("monitoring", "decoy", "add", "29557770001")
    assert twice.code != 0 and "already a decoy" in twice.err
    assert run_cli("monitoring", "decoy", "list", "--json").json()[0]["patron_id"] == decoy.pk
    removed = run_cli("monitoring", "decoy", "remove", str(decoy.pk))
    assert removed.code == 0 and not Decoy.objects.exists()
    missing = run_cli("monitoring", "decoy", "add")
    assert missing.code != 0 and "card number" in missing.err


def test_thresholds_and_a_wrong_setting(desk, run_cli, settings):
    shown = run_cli("monitoring", "thresholds", "--json")
    values = {row["name"]: row["value"] for row in shown.json()["settings"]}
    assert values["volume_floor"] == 8 and values["export_max"] == 5
    settings.CONFIG["monitoring"] = {"export_max": 0}
    wrong = run_cli("monitoring", "scan")
    assert wrong.code != 0 and "export_max" in wrong.err
    assert not Alert.objects.exists()


def test_set_household_from_a_file_stores_no_clear_text(desk, run_cli, tmp_path):
    surname = tmp_path / "surname.txt"
    surname.write_text("Quillfeather\n", encoding="utf-8")
    done = run_cli("staff", "set-household", "desk-one", "--file", str(surname), "--json")
    assert done.code == 0, done.err
    assert done.json() == {"username": "desk-one", "surname_tokens": 1}
    stored = bytes(StaffUser.objects.get(username="desk-one").household_surname_index)
    assert stored and b"uillfeather" not in stored.lower()
    entry = Entry.objects.get(action="monitoring.household_set")
    assert "uillfeather" not in str(entry.detail).lower()
    surname.write_text("\n", encoding="utf-8")
    cleared = run_cli("staff", "set-household", "desk-one", "--file", str(surname))
    assert cleared.code == 0 and "Cleared" in cleared.out
    assert StaffUser.objects.get(username="desk-one").household_surname_index is None
    nobody = run_cli("staff", "set-household", "nobody-here", "--file", str(surname))
    assert nobody.code != 0


def test_set_household_address_from_a_file_keeps_the_surname(desk, run_cli, tmp_path):
    surname = tmp_path / "surname.txt"
    surname.write_text("Quillfeather\n", encoding="utf-8")
    address = tmp_path / "address.txt"
    address.write_text("1 Demo Street,\nSampletown\n", encoding="utf-8")
    both = run_cli(
        "staff", "set-household", "desk-one", "--file", str(surname),
        "--address-file", str(address), "--json",
    )  # fmt: skip
    assert both.code == 0, both.err
    assert both.json() == {"username": "desk-one", "surname_tokens": 1, "address": True}
    staff = StaffUser.objects.get(username="desk-one")
    stored = bytes(staff.household_address_index)
    assert stored and b"demo" not in stored.lower() and b"sampletown" not in stored.lower()
    entry = Entry.objects.get(action="monitoring.household_address_set")
    assert entry.detail == {"staff": "desk-one", "address": True}
    # The address alone leaves the surname as it was; an empty file clears the address.
    address.write_text("\n", encoding="utf-8")
    cleared = run_cli("staff", "set-household", "desk-one", "--address-file", str(address))
    assert cleared.code == 0 and "Cleared the address" in cleared.out
    staff.refresh_from_db()
    assert staff.household_address_index is None and staff.household_surname_index is not None
    address.write_text(" , ; \n", encoding="utf-8")
    unusable = run_cli("staff", "set-household", "desk-one", "--address-file", str(address))
    assert unusable.code != 0
