""" "Download my data": complete, equal to the database, offered once, to its owner only.

The expected content is built from the services (reveal, consents, loans,
holds, reading history, the ledger query) independently of the export's
own section code, and compared field by field. Every value is synthetic.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import stat
import zipfile
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import Client

from shelfguard.catalog.models import Item
from shelfguard.circulation import services as circulation
from shelfguard.circulation.models import Charge
from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.ledger import services as ledger
from shelfguard.ledger.models import Entry
from shelfguard.patrons import register as reg
from shelfguard.patrons import services as patrons
from shelfguard.patrons.export_sections import export_sections
from shelfguard.patrons.models import Consent, Patron
from shelfguard.portal import export
from shelfguard.portal.models import ExportFile, ExportKey
from shelfguard.portal.sessions import patron_actor
from tests.catalog.factories import make_item, make_record
from tests.patrons.conftest import DESK
from tests.portal.conftest import PASSWORD, T0, signed_in

pytestmark = pytest.mark.django_db(databases=["default", "keystore"])

CIRC = Actor(kind="system", ident="tests", channel="job")
#: A synthetic name no other value contains, searched for on the disk.
MARKER = "Zyxqvotl Exportmarker"
CJK_NAME = "测试读者 Zyxqvotl"
T_RETURN = T0 + dt.timedelta(days=30)
T_EXPORT = T0 + dt.timedelta(days=31)

_TOKEN = re.compile(r'name="token" value="([^"]+)"')


def _lend(patron: Patron, item: Item, at: dt.datetime) -> None:
    with clock.frozen(at):
        circulation.checkout(patron, item.barcode, branch="MAIN", actor=CIRC, purpose="tests")


def _return(item: Item, at: dt.datetime) -> None:
    with clock.frozen(at):
        circulation.checkin(item.barcode, branch="MAIN", actor=CIRC, purpose="tests")


@pytest.fixture
def borrower(reader):
    """A patron with an open loan, a kept history, an unpaid charge on a returned loan and a hold."""
    patron, card = reader(name=f"{CJK_NAME} {MARKER}")
    with clock.frozen(T0):
        patrons.give_consent(patron, "reading_history", actor=DESK)
        circulation.set_policy(
            actor=CIRC, charges_apply=True, daily_charge_cents=20, max_charge_cents=500
        )
    on_loan = make_item(make_record("A Synthetic Atlas", index=False))
    late = make_item(make_record("=A Title Like A Formula", index=False))
    read = make_item(make_record("Synthetic Poems 合集", index=False))
    held = make_record("A Synthetic Held Title", index=False)
    make_item(held, status="on_loan")
    _lend(patron, on_loan, T0)
    _lend(patron, late, T0)
    _lend(patron, read, T0)
    _return(read, T0 + dt.timedelta(days=3))
    _return(late, T_RETURN)
    with clock.frozen(T_RETURN):
        circulation.place_hold(patron, pickup_branch="MAIN", record=held, actor=CIRC, purpose="t")
        patrons.reveal(patron, ["email"], actor=DESK, purpose="answering the patron's call")
    assert Charge.objects.filter(patron=patron, settled_on__isnull=True).count() == 1
    return patron, card


def _ask(client: Client, password: str = PASSWORD, at: dt.datetime = T_EXPORT):
    with clock.frozen(at):
        return client.post("/account/export/", {"current_password": password})


def _token(response) -> str:
    found = _TOKEN.search(response.content.decode())
    assert found, response.content.decode()[:3000]
    return found.group(1)


def _download(client: Client, token: str, at: dt.datetime = T_EXPORT):
    with clock.frozen(at):
        return client.post("/account/export/download/", {"token": token})


def _zip(response) -> zipfile.ZipFile:
    assert response.status_code == 200, response.content[:2000]
    assert response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"].startswith("attachment;")
    return zipfile.ZipFile(io.BytesIO(response.content))


def _exported(client: Client) -> zipfile.ZipFile:
    response = _ask(client)
    assert response.status_code == 200
    return _zip(_download(client, _token(response)))


# --- completeness and equality ------------------------------------------------------------


def _expected_profile(patron: Patron) -> list[dict]:
    keys = [k for k in reg.exported_keys() if k != "consents"]
    sealed = [k for k in keys if reg.get(k).sealed]
    plain = patrons.reveal(patron, sealed, actor=DESK, purpose="test expectation")
    row = Patron.objects.get(pk=patron.pk)
    clear = {
        "category": row.category.code,
        "home_branch": row.home_branch.code,
        "identity_verification": None,
    }
    rows = [
        {
            "field": k,
            "label": reg.get(k).label,
            "value": plain[k] if k in plain else clear[k],
            "purpose": reg.get(k).purpose,
            "legal_basis": reg.get(k).legal_basis,
            "retention": reg.get(k).retention,
        }
        for k in keys
    ]
    facts = {
        "card_status": row.status,
        "card_expires_on": row.expires_on.isoformat(),
        "record_created_at": row.created_at.isoformat(),
    }
    card = reg.get("card_number")
    for key, value in facts.items():
        rows.append(
            {
                "field": key,
                "value": value,
                "legal_basis": card.legal_basis,
                "retention": card.retention,
            }
        )
    return rows


def _loan(row: dict, full: dict) -> dict:
    """A loan as the export shows it, from a service row plus what the service leaves out."""
    return {**full, **{k: row[k] for k in row if k in full}}


def test_the_export_is_complete_and_equal_to_the_database(borrower):
    patron, card = borrower
    client = signed_in(card, at=T_EXPORT)
    archive = _exported(client)

    names = set(archive.namelist())
    sections = [s.name for s in export_sections()]
    assert names == {"shelfguard-export.json", "README.txt", *(f"{n}.csv" for n in sections)}
    document = json.loads(archive.read("shelfguard-export.json").decode("utf-8"))
    assert document["format"] == "shelfguard-export" and document["format_version"] == 1
    assert document["generated_at"] == T_EXPORT.isoformat()
    assert document["library"] and document["patron_id"] == patron.pk
    assert list(document["sections"]) == sections  # registration order, none left out
    got = {name: part["rows"] for name, part in document["sections"].items()}

    # Profile: every exported register field, decrypted, with its purpose.
    expected_profile = _expected_profile(patron)
    assert len(got["profile"]) == len(expected_profile)
    for want, have in zip(expected_profile, got["profile"], strict=True):
        assert {k: have[k] for k in want} == want
    by_field = {r["field"]: r["value"] for r in got["profile"]}
    assert by_field["name"] == f"{CJK_NAME} {MARKER}"
    assert by_field["card_number"] == card

    # Consents: every act, with notice version and date.
    assert got["consents"] == [
        {
            "purpose": c.purpose,
            "description": reg.CONSENT_PURPOSES[c.purpose],
            "given": c.given,
            "notice_version": c.notice_version,
            "at": c.at.isoformat(),
            "channel": c.channel,
            "by_guardian": c.by_guardian,
        }
        for c in Consent.objects.filter(patron=patron).order_by("at", "id")
    ]
    assert {c["purpose"] for c in got["consents"]} >= {"service", "reading_history"}

    me = patron_actor(patron)
    with clock.frozen(T_EXPORT):
        open_loans = circulation.loans_of(patron, actor=me, purpose="test expectation")
        history = circulation.reading_history(patron, actor=me, purpose="test expectation")
        holds = circulation.holds_of(patron, actor=me, purpose="test expectation")
    charges = list(Charge.objects.filter(patron=patron).order_by("created_on", "id"))
    charged = {c.loan_id for c in charges if c.settled_on is None}

    # Loans: the open one and the returned one an unpaid charge keeps linked.
    assert [r["loan"] for r in got["loans"]] == sorted(
        [r["loan"] for r in open_loans] + sorted(charged)
    )
    for want in open_loans:
        have = next(r for r in got["loans"] if r["loan"] == want["loan"])
        assert _loan(want, have) == have and have["outcome"] == "open"
        assert have["title"] == "A Synthetic Atlas" and have["ended_on"] is None
    late = next(r for r in got["loans"] if r["loan"] in charged)
    assert late["title"] == "=A Title Like A Formula" and late["outcome"] == "returned"

    # Reading history: the kept, returned loan (not the one held by the charge).
    kept = [r for r in history if r["loan"] not in charged]
    assert [r["loan"] for r in got["reading_history"]] == [r["loan"] for r in kept]
    for want, have in zip(kept, got["reading_history"], strict=True):
        assert _loan(want, have) == have and have["title"] == "Synthetic Poems 合集"

    # Holds.
    assert len(got["holds"]) == len(holds) == 1
    assert got["holds"][0]["hold"] == holds[0]["hold"]
    assert got["holds"][0]["title"] == holds[0]["title"]
    assert got["holds"][0]["status"] == holds[0]["status"]
    assert got["holds"][0]["pickup_branch"] == holds[0]["pickup"]

    # Charges.
    assert got["charges"] == [
        {
            "charge": c.pk,
            "kind": c.kind,
            "amount": f"{c.amount_cents // 100}.{c.amount_cents % 100:02d}",
            "created_on": c.created_on.isoformat(),
            "settled_on": None,
            "loan": c.loan_id,
        }
        for c in charges
    ]

    # Access entries: every entry about the patron up to and with the export's own.
    created = Entry.objects.get(patron_id=patron.pk, action="portal.export.create")
    with clock.frozen(T_EXPORT):
        entries = ledger.query(actor=DESK, purpose="test expectation", patron_id=patron.pk)
    entries = [e for e in entries if e.seq <= created.seq]
    assert [(r["at"], r["action"], r["purpose"]) for r in got["access_entries"]] == [
        (e.at.isoformat(), e.action, e.purpose) for e in entries
    ]
    for entry, row in zip(entries, got["access_entries"], strict=True):
        assert row["actor_kind"] == entry.actor_kind and row["channel"] == entry.channel
        assert row["fields"] == "; ".join(entry.fields)
        # No staff names unless the library chose to show them.
        assert row["actor"] in ("", "you")
    assert any(
        r["action"] == "patron.reveal" and r["purpose"] == "answering the patron's call"
        for r in got["access_entries"]
    )
    assert "desk-7" not in json.dumps(got["access_entries"])
    assert got["access_entries"][-1]["action"] == "portal.export.create"
    assert got["access_entries"][-1]["purpose"] == export.EXPORT_PURPOSE

    # Every CSV is the JSON section, in UTF-8 with a BOM, formulas defused.
    for name, part in document["sections"].items():
        raw = archive.read(f"{name}.csv")
        assert raw.startswith(b"\xef\xbb\xbf"), name
        table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
        assert table[0] == part["columns"]
        assert table[1:] == [
            [export.csv_cell(row[c]) for c in part["columns"]] for row in part["rows"]
        ]
    loans_csv = archive.read("loans.csv").decode("utf-8-sig")
    assert "'=A Title Like A Formula" in loans_csv
    assert CJK_NAME in archive.read("profile.csv").decode("utf-8-sig")

    readme = archive.read("README.txt").decode("utf-8")
    assert "shelfguard-export.json" in readme and "个人数据" in readme
    for name in sections:
        assert f"{name}.csv" in readme


def test_staff_names_appear_only_when_the_library_chooses(borrower, settings):
    _patron, card = borrower
    settings.CONFIG = {"portal": {"show_staff_names": True}}
    archive = _exported(signed_in(card, at=T_EXPORT))
    rows = json.loads(archive.read("shelfguard-export.json"))["sections"]["access_entries"]["rows"]
    assert any(r["actor"] == "desk-7" for r in rows)
    # A setting that is not true or false fails closed: nothing is built.
    settings.CONFIG = {"portal": {"show_staff_names": "yes"}}
    client = signed_in(card, at=T_EXPORT)
    with pytest.raises(ImproperlyConfigured, match="show_staff_names"):
        _ask(client)
    assert ExportFile.objects.filter(removed_at__isnull=True).count() == 0


def test_one_ledger_entry_for_the_export_and_none_per_section(borrower):
    patron, card = borrower
    client = signed_in(card, at=T_EXPORT)
    before = Entry.objects.count()
    response = _ask(client)
    assert response.status_code == 200
    added = list(Entry.objects.filter(seq__gt=before).order_by("seq"))
    assert [(e.action, e.patron_id, e.actor_kind, e.purpose) for e in added] == [
        ("portal.export.create", patron.pk, "patron", "right of access / portability")
    ]
    assert set(added[0].fields) == {s.name for s in export_sections()}


# --- at rest, once, only the owner ------------------------------------------------------------


def _only_file(home: Path) -> Path:
    files = list((home / "exports").iterdir())
    assert len(files) == 1, files
    return files[0]


def test_the_file_on_disk_is_private_and_unreadable_without_the_key(borrower, home):
    patron, card = borrower
    client = signed_in(card, at=T_EXPORT)
    response = _ask(client)
    path = _only_file(home)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE((home / "exports").stat().st_mode) == 0o700
    raw = path.read_bytes()
    for secret in (MARKER, CJK_NAME, card, "shelfguard-export.json", "profile.csv"):
        assert secret.encode("utf-8") not in raw, secret
    assert not zipfile.is_zipfile(io.BytesIO(raw))
    # The scan could have failed: with the key, the marker is right there.
    row = ExportFile.objects.get(patron=patron)
    key = patrons.open_export_key(patron, bytes(row.key.sealed))
    opened = zipfile.ZipFile(io.BytesIO(export._decrypt(key, row.file_name, raw)))
    assert MARKER in opened.read("shelfguard-export.json").decode("utf-8")
    # The token is not stored, only its keyed hash.
    token = _token(response)
    assert token not in json.dumps(list(ExportFile.objects.values()), default=str)
    assert row.token_hash != token and len(token) >= 40


def test_a_second_download_is_refused_and_the_file_and_key_are_gone(borrower, home):
    patron, card = borrower
    client = signed_in(card, at=T_EXPORT)
    token = _token(_ask(client))
    path = _only_file(home)
    _zip(_download(client, token))
    assert not path.exists()
    assert not ExportKey.objects.exists()
    row = ExportFile.objects.get(patron=patron)
    assert row.downloaded_at == T_EXPORT and row.removed_at == T_EXPORT
    again = _download(client, token)
    assert again.status_code == 410
    assert "Ask for your data again" in again.content.decode()
    assert Entry.objects.filter(action="portal.export.download").count() == 1


def test_patron_a_can_never_download_patron_b_s_export(borrower, reader, home):
    patron_a, card_a = borrower
    _patron_b, card_b = reader()
    client_a = signed_in(card_a, at=T_EXPORT)
    client_b = signed_in(card_b, at=T_EXPORT)
    token_a = _token(_ask(client_a))
    export_id = ExportFile.objects.get(patron=patron_a).pk
    # By token, from B's session.
    assert _download(client_b, token_a).status_code == 410
    # By id (no URL names one; the id as a token finds nothing).
    assert _download(client_b, str(export_id)).status_code == 410
    assert _download(client_b, f"{export_id:0>43}").status_code == 410
    # By session: A's own token from another session of A's.
    other_a = signed_in(card_a, at=T_EXPORT)
    assert _download(other_a, token_a).status_code == 410
    # Without a session at all: the sign-in page.
    anonymous = _download(Client(), token_a)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/account/login/")
    # None of these used the file up: A still gets it, once.
    assert _only_file(home).exists()
    document = json.loads(_exported_once(client_a, token_a).read("shelfguard-export.json"))
    assert document["patron_id"] == patron_a.pk


def _exported_once(client: Client, token: str) -> zipfile.ZipFile:
    return _zip(_download(client, token))


def test_a_wrong_password_builds_nothing(borrower, home):
    _patron, card = borrower
    client = signed_in(card, at=T_EXPORT)
    response = _ask(client, password="not the password at all")
    assert response.status_code == 400
    assert not ExportFile.objects.exists()
    assert not (home / "exports").exists() or not list((home / "exports").iterdir())
    assert not Entry.objects.filter(action="portal.export.create").exists()


def test_purge_deletes_what_is_older_than_24_hours(borrower, home):
    patron, card = borrower
    client = signed_in(card, at=T_EXPORT)
    token = _token(_ask(client))
    path = _only_file(home)
    with clock.frozen(T_EXPORT + dt.timedelta(hours=23)):
        assert export.purge_exports() == 0
    assert path.exists() and ExportKey.objects.exists()
    with clock.frozen(T_EXPORT + dt.timedelta(hours=24, seconds=1)):
        assert export.purge_exports() == 1
        assert export.purge_exports() == 0  # idempotent
    assert not path.exists() and not ExportKey.objects.exists()
    assert ExportFile.objects.get(patron=patron).removed_at is not None
    assert Entry.objects.filter(action="portal.export.purge", patron_id=patron.pk).count() == 1
    # Even within the session and with the token: gone.
    assert _download(client, token, at=T_EXPORT + dt.timedelta(minutes=5)).status_code == 410


def test_purge_from_the_command_line(borrower, home, run_cli):
    _patron, card = borrower
    _ask(signed_in(card, at=T_EXPORT))
    with clock.frozen(T_EXPORT + dt.timedelta(days=2)):
        result = run_cli("portal", "exports", "purge", "--json")
    assert result.code == 0, result.err
    assert result.json() == {"purged": 1}
    assert not list((home / "exports").iterdir())


def test_an_erased_patron_s_export_goes_with_them(borrower, home):
    patron, card = borrower
    client = signed_in(card, at=T_EXPORT)
    token = _token(_ask(client))
    path = _only_file(home)
    with clock.frozen(T_EXPORT):
        circulation.checkin(
            Item.objects.get(record__title="A Synthetic Atlas").barcode,
            branch="MAIN",
            actor=CIRC,
            purpose="tests",
        )
        for charge in Charge.objects.filter(patron=patron, settled_on__isnull=True):
            circulation.settle_charge(charge.pk, actor=CIRC, purpose="tests")
        patrons.erase(patron, actor=DESK, reason="patron request")
    assert not path.exists() and not ExportKey.objects.exists()
    assert _download(client, token).status_code == 302  # the session is gone too


def test_the_export_page_asks_for_the_password(reader):
    _patron, card = reader()
    client = signed_in(card)
    with clock.frozen(T0):
        page = client.get("/account/export/")
    assert page.status_code == 200
    body = page.content.decode()
    assert 'name="current_password"' in body and 'autocomplete="current-password"' in body
    assert "no-store" in page["Cache-Control"]
    with clock.frozen(T0):
        empty = client.post("/account/export/", {})
    assert empty.status_code == 400 and not ExportFile.objects.exists()
