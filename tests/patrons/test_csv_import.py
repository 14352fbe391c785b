"""`shelfguard patron import`: rows become sealed patrons; bad rows are reported by line."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from shelfguard.ledger.models import Entry
from shelfguard.patrons import services
from shelfguard.patrons.models import Patron

from .conftest import BOTH_DATABASES, DESK

pytestmark = [BOTH_DATABASES, pytest.mark.usefixtures("library")]

HEADER = "card_number,name,email,phone,address,birth_year,category,branch,pin"


def write_csv(tmp_path: Path, *lines: str, name: str = "patrons.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_import_registers_each_row(tmp_path, run_cli):
    path = write_csv(
        tmp_path,
        HEADER,
        '29001000001,Ima Sample,ima@example.org,+1 555 010 1001,"1 Mock Road\nTesttown",1975,adult,MAIN,',
        "29001000002,Olu Sample,,+1 555 010 1002,,1990,adult,EAST,",
    )

    result = run_cli("patron", "import", str(path), "--json")

    assert result.code == 0, result.err
    report = result.json()
    assert (report["imported"], report["rejected"], report["problems"]) == (2, 0, [])
    first = services.find_by_card("29001000001")
    assert services.reveal(first, ["name", "address"], actor=DESK, purpose="check") == {
        "name": "Ima Sample",
        "address": "1 Mock Road\nTesttown",
    }
    assert services.find_by_card("29001000002").home_branch.code == "EAST"
    registered = Entry.objects.filter(action="patron.register")
    assert registered.count() == 2
    assert {(e.actor_kind, e.channel) for e in registered} == {("cli", "cli")}


def test_bad_rows_are_reported_with_line_numbers_and_the_rest_imported(tmp_path, run_cli):
    path = write_csv(
        tmp_path,
        HEADER,
        "29001000011,Good Row,good@example.org,,,1980,adult,MAIN,",
        ",No Card,nocard@example.org,,,1980,adult,MAIN,",  # line 3
        '29001000013,"Spans\nTwo Lines",,,,1980,adult,MAIN,',  # lines 4-5: no contact
        "29001000014,Bad Email,not-an-email,,,1980,adult,MAIN,",  # line 6
        "29001000015,Short Row,short@example.org",  # line 7
        "29001000011,Same Card,dup@example.org,,,1980,adult,MAIN,",  # line 8
        "29001000017,Bad Branch,b@example.org,,,1980,adult,ATLANTIS,",  # line 9
        "29001000018,Young Reader,y@example.org,,,2020,child,MAIN,",  # line 10: needs guardian
        "29001000019,Bad Pin,p@example.org,,,1980,adult,MAIN,12",  # line 11
    )

    result = run_cli("patron", "import", str(path), "--json")

    assert result.code == 0, result.err
    report = result.json()
    assert report["imported"] == 1 and report["rejected"] == 8
    lines = {p["line"]: p["reason"] for p in report["problems"]}
    assert sorted(lines) == [3, 4, 6, 7, 8, 9, 10, 11]
    assert "card number" in lines[3]
    assert "way to be reached" in lines[4]
    assert "email address is not valid" in lines[6]
    assert "has 3 columns, the header has 9" in lines[7]
    assert "already registered" in lines[8]
    assert "Unknown branch" in lines[9]
    assert "guardian" in lines[10]
    assert "PIN must be" in lines[11]
    # No value from the file appears in the report.
    for value in ("not-an-email", "Bad Email", "Young Reader", "dup@example.org"):
        assert value not in result.out
    assert Patron.objects.count() == 1


def test_plain_text_report(tmp_path, run_cli):
    path = write_csv(tmp_path, HEADER, ",No Card,x@example.org,,,1980,adult,MAIN,")

    result = run_cli("patron", "import", str(path))

    assert result.code == 0, result.err
    assert result.out.splitlines() == [
        "Imported 0 patrons, rejected 1.",
        "  line 2: A patron needs a library card number.",
    ]


def test_pins_are_hashed_with_argon2_and_never_stored_plain(tmp_path, run_cli):
    path = write_csv(
        tmp_path, HEADER, "29001000021,Pin Holder,pin@example.org,,,1980,adult,MAIN,73519"
    )

    assert run_cli("patron", "import", str(path)).code == 0

    patron = services.find_by_card("29001000021")
    assert patron.pin_hash.startswith("sgpin1$")
    assert "73519" not in patron.pin_hash
    assert services.check_pin(patron, "73519")


def test_a_guardian_column_imports_children(tmp_path, run_cli):
    path = write_csv(
        tmp_path,
        HEADER + ",guardian_name",
        "29001000031,Kid Sample,kid@example.org,,,2019,child,MAIN,,Parent Sample",
    )

    result = run_cli("patron", "import", str(path), "--json")

    assert result.json()["imported"] == 1, result.out
    child = services.find_by_card("29001000031")
    assert child.guardian_required and services.has_consent(child, "service")


def test_columns_not_collected_are_ignored_and_said_so(tmp_path, run_cli, settings):
    settings.CONFIG = {"patrons": {"collect": ["email"]}}
    path = write_csv(
        tmp_path,
        HEADER + ",shoe_size",
        "29001000041,Min Data,min@example.org,+1 555 010 4141,4 Quiet Road,1980,adult,MAIN,,44",
    )

    result = run_cli("patron", "import", str(path), "--json")

    report = result.json()
    assert report["imported"] == 1
    assert set(report["ignored_columns"]) == {"phone", "address", "birth_year", "shoe_size"}
    patron = services.find_by_card("29001000041")
    assert patron.phone_sealed is None and patron.address_sealed is None
    assert patron.birth_year_sealed is None


def test_a_header_without_required_columns_is_refused(tmp_path, run_cli):
    path = write_csv(tmp_path, "card,name,email", "29001000051,Some One,one@example.org")

    result = run_cli("patron", "import", str(path))

    assert result.code != 0
    assert "missing: card_number, category, branch" in result.err
    assert not Patron.objects.exists()


def test_missing_file_is_one_line(tmp_path, run_cli):
    result = run_cli("patron", "import", str(tmp_path / "nowhere.csv"))

    assert result.code != 0
    assert "Cannot read" in result.err and len(result.err.strip().splitlines()) == 1


def test_the_file_is_read_in_place_and_left_unchanged(tmp_path, run_cli, library):
    rows = io.StringIO()
    writer = csv.writer(rows, lineterminator="\n")
    writer.writerow(HEADER.split(","))
    writer.writerow(
        ["29001000061", "Left Alone", "alone@example.org", "", "", "1980", "adult", "MAIN", ""]
    )
    source = tmp_path / "legacy" / "export.csv"
    source.parent.mkdir()
    source.write_text(rows.getvalue(), encoding="utf-8")
    before = {p: p.stat().st_size for p in library.rglob("*") if p.is_file()}

    assert run_cli("patron", "import", str(source)).code == 0

    assert source.read_text(encoding="utf-8") == rows.getvalue()
    assert sorted(p.name for p in source.parent.iterdir()) == ["export.csv"]
    # No copy of the file landed in the data home (only files that were already there).
    new_files = [p for p in library.rglob("*") if p.is_file() and p not in before]
    assert all(p.suffix != ".csv" for p in new_files)
