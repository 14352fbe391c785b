"""My data, who looked at my record, consent, the privacy notice and the reading history.

Through the real pages, services, vault and ledger; values are synthetic.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.test import Client

from shelfguard.accounts.services import staff_actor
from shelfguard.circulation import services as circulation
from shelfguard.circulation.models import Loan
from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.ledger.models import Entry
from shelfguard.patrons import privacy_notice
from shelfguard.patrons import services as patrons
from shelfguard.patrons.models import Consent, PrivacyNotice
from tests.accounts.helpers import make_staff
from tests.catalog.factories import make_item, make_record
from tests.patrons.conftest import DESK as REGISTRAR
from tests.portal.conftest import T0, sign_in, signed_in

pytestmark = pytest.mark.django_db(databases=["default", "keystore"])

JOB = Actor(kind="system", ident="tests", channel="job")
BOBS = "bob keeps another long passphrase"


def get(client: Client, path: str, **extra) -> str:
    with clock.frozen(T0):
        response = client.get(path, **extra)
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def post(client: Client, path: str, data: dict):
    with clock.frozen(T0):
        return client.post(path, data)


def read_and_return(patron, title: str) -> Loan:
    with clock.frozen(T0 - dt.timedelta(days=20)):
        item = make_item(make_record(title, index=False))
        circulation.checkout(patron, item.barcode, branch="MAIN", actor=JOB, purpose="tests")
    with clock.frozen(T0 - dt.timedelta(days=5)):
        circulation.checkin(item.barcode, branch="MAIN", actor=JOB, purpose="tests")
    return Loan.objects.get(item=item)


def linked_history(patron) -> int:
    return Loan.objects.filter(patron_id=patron.pk).exclude(outcome="open").count()


# --- My data ---------------------------------------------------------------------------------


def test_my_data_shows_every_field_with_purpose_and_retention_revealed_for_self_service(reader):
    patron, card = reader()
    with clock.frozen(T0):
        mine = patrons.reveal(patron, ["name", "email"], actor=REGISTRAR, purpose="tests")
    html = get(signed_in(card), "/account/my-data/")
    assert mine["name"] in html and mine["email"] in html and card in html
    for key in ("card_number", "name", "email", "phone", "address", "home_branch", "consents"):
        assert f'id="field-{key}"' in html
    assert "Main Library" in html
    assert "Reach the patron about their loans and holds" in html  # a purpose
    assert "While the card is held" in html  # a retention
    # Consents: the service consent with the notice version and when.
    row = re.search(r'<tr id="consent-service">(.*?)</tr>', html, re.DOTALL).group(1)
    assert ">on<" in row.replace(" ", "") or "on" in row
    assert ">1<" in row and T0.strftime("%Y-%m-%d") in row
    reveal = Entry.objects.filter(action="patron.reveal", actor_kind="patron").get()
    assert reveal.actor_id == str(patron.pk) and reveal.patron_id == patron.pk
    assert reveal.purpose == "self-service view" and "name" in reveal.fields
    assert reveal.channel == "web"


def test_my_data_of_patron_b_holds_nothing_of_patron_a(reader):
    alice, _card_a = reader()
    _bob, card_b = reader(password=BOBS)
    with clock.frozen(T0):
        alices = patrons.reveal(alice, ["name", "email"], actor=REGISTRAR, purpose="tests")
    bob = Client()
    assert sign_in(bob, card_b, BOBS).status_code == 302
    html = get(bob, "/account/my-data/")
    assert alices["name"] not in html and alices["email"] not in html
    assert not Entry.objects.filter(actor_kind="patron", patron_id=alice.pk).exists()


# --- Who looked at my record --------------------------------------------------------------


def _rows(html: str) -> list[str]:
    body = re.search(r'<table id="looks">.*?<tbody>(.*?)</tbody>', html, re.DOTALL)
    return re.findall(r"<tr class=\"(?:yours|others)\">(.*?)</tr>", body.group(1), re.DOTALL)


def test_who_looked_shows_exactly_the_entries_about_me(reader, make_patron, settings):
    patron, card = reader()
    other = make_patron()
    with clock.frozen(T0):
        looker = make_staff("looker", "circulation-desk", branch="EAST")
        patrons.reveal(patron, ["email"], actor=staff_actor(looker), purpose="desk enquiry 12")
        patrons.reveal(other, ["email"], actor=staff_actor(looker), purpose="not about you 99")
        item = make_item(make_record("Self-check Title", index=False), branch="EAST")
        terminal = Actor(kind="terminal", ident="sc-east-1", channel="sip2")
        circulation.checkout(patron, item.barcode, branch="EAST", actor=terminal, purpose="sip2")
        circulation.loans_of(patron, actor=JOB, purpose="due-date notices")
    client = signed_in(card)
    get(client, "/account/my-data/")
    about_me = list(Entry.objects.filter(patron_id=patron.pk).order_by("-seq"))
    html = get(client, "/account/who-looked/")
    rows = _rows(html)
    assert len(rows) == len(about_me)
    for row, entry in zip(rows, about_me, strict=True):
        assert entry.purpose in row
    text = " ".join(rows)
    assert "not about you 99" not in text
    staff_row = next(r for r in rows if "desk enquiry 12" in r)
    assert "Library staff" in staff_row and "East Branch" in staff_row
    assert "Circulation" in staff_row or "circulation" in staff_row.lower()
    assert "looker" not in staff_row  # names only when the library chooses so
    assert any("Self-check machine at East Branch" in r for r in rows)
    assert any("The library&#x27;s system" in r for r in rows)
    assert any(r.lstrip().startswith("<td>") and "You" in r for r in rows)
    # Reading the list was recorded, and shows up the next time.
    read = Entry.objects.filter(action="ledger.query", patron_id=patron.pk).latest("seq")
    assert read.actor_kind == "patron" and read.actor_id == str(patron.pk)
    again = _rows(get(client, "/account/who-looked/"))
    assert len(again) == len(about_me) + 1 and "this list of who looked" in again[0]

    settings.CONFIG = {**settings.CONFIG, "portal": {"show_staff_names": True}}
    named = next(r for r in _rows(get(client, "/account/who-looked/")) if "desk enquiry 12" in r)
    assert "(looker)" in named


def test_who_looked_is_paged_newest_first(reader):
    patron, card = reader()
    with clock.frozen(T0):
        for n in range(30):
            patrons.reveal(patron, ["name"], actor=REGISTRAR, purpose=f"look number {n:02d}")
    client = signed_in(card)
    first = _rows(get(client, "/account/who-looked/"))
    looks = [row for row in first if "look number" in row]
    assert len(first) == 25 and "look number 29" in looks[0] and "look number 28" in looks[1]
    second_html = get(client, "/account/who-looked/?page=2")
    second = _rows(second_html)
    # 30 looks, the registration's own entries and the first page's read: all on two pages.
    total = Entry.objects.filter(patron_id=patron.pk).count() - 1
    assert len(first) + len(second) == total
    assert 'rel="prev"' in second_html
    with clock.frozen(T0):
        assert client.get("/account/who-looked/?page=99")["Location"].endswith("?page=2")


# --- Consent and the reading history -------------------------------------------------------


def test_turning_history_off_deletes_it_from_the_database(reader):
    patron, card = reader()
    client = signed_in(card)
    html = get(client, "/account/consent/")
    for key in ("reading_history", "recommendations", "email_notices", "sms_notices"):
        assert f'id="consent-{key}"' in html
    assert 'id="consent-service"' not in html
    response = post(client, "/account/consent/", {"consent": "reading_history", "on": "1"})
    assert "Turned on" in response.content.decode()
    loans = [read_and_return(patron, f"Kept Title {n}") for n in range(2)]
    assert linked_history(patron) == 2
    # Unticking "delete what was kept" changes nothing and says why.
    refused = post(client, "/account/consent/", {"consent": "reading_history", "on": "0"})
    assert refused.status_code == 400 and "may not keep your reading history" in (
        refused.content.decode()
    )
    assert patrons.has_consent(patron, "reading_history") and linked_history(patron) == 2
    done = post(
        client,
        "/account/consent/",
        {"consent": "reading_history", "on": "0", "delete_history": "1"},
    )
    assert "The history kept so far is deleted." in done.content.decode()
    assert not patrons.has_consent(patron, "reading_history")
    # Gone from the database, not hidden: the loan rows no longer name the patron.
    assert linked_history(patron) == 0
    for loan in loans:
        loan.refresh_from_db()
        assert loan.patron_id is None
    withdrawal = Entry.objects.get(action="patron.consent.withdraw")
    assert withdrawal.actor_kind == "patron" and withdrawal.detail["consent"] == "reading_history"


def test_other_consents_turn_on_and_off_and_need_csrf(reader):
    patron, card = reader()
    client = signed_in(card)
    post(client, "/account/consent/", {"consent": "email_notices", "on": "1"})
    assert patrons.has_consent(patron, "email_notices")
    post(client, "/account/consent/", {"consent": "email_notices", "on": "0"})
    assert not patrons.has_consent(patron, "email_notices")
    # `service` is not a choice here, nor is anything unknown.
    for key in ("service", "everything"):
        response = post(client, "/account/consent/", {"consent": key, "on": "0"})
        assert response.status_code == 400
    assert patrons.has_consent(patron, "service")
    strict = Client(enforce_csrf_checks=True)
    strict.cookies = client.cookies
    assert post(strict, "/account/consent/", {"consent": "sms_notices", "on": "1"}).status_code == (
        403
    )
    assert not patrons.has_consent(patron, "sms_notices")


def _publish_new_notice() -> int:
    version = privacy_notice.current_version() + 1
    for language, text in (
        ("en", "Notice in English, second edition."),
        ("zh-hans", "隐私声明第二版。"),
    ):
        PrivacyNotice.objects.create(
            version=version, language=language, text=text, published_at=clock.now()
        )
    return version


def test_a_newer_notice_is_shown_in_the_page_language_and_accepted(reader):
    patron, card = reader()
    client = signed_in(card)
    post(client, "/account/consent/", {"consent": "recommendations", "on": "1"})
    with clock.frozen(T0):
        version = _publish_new_notice()
    home = get(client, "/account/")
    assert "The privacy notice has changed" in home
    english = get(client, "/account/consent/")
    assert "Notice in English, second edition." in english and "隐私声明第二版" not in english
    chinese = get(client, "/account/consent/", HTTP_ACCEPT_LANGUAGE="zh-hans")
    assert "隐私声明第二版。" in chinese
    stale = post(client, "/account/consent/", {"version": version - 1})
    assert stale.status_code == 400
    accepted = post(client, "/account/consent/", {"version": version})
    assert "you accepted the current notice" in accepted.content.decode()
    newest = {
        row.purpose: row.notice_version
        for row in Consent.objects.filter(patron=patron).order_by("at", "id")
    }
    assert newest["service"] == version and newest["recommendations"] == version
    assert "The privacy notice has changed" not in get(client, "/account/")
    assert 'id="privacy-notice"' not in get(client, "/account/consent/")


def test_reading_history_search_and_delete_one_then_all(reader):
    patron, card = reader()
    client = signed_in(card)
    off = get(client, "/account/history/")
    assert 'id="history-off"' in off
    post(client, "/account/consent/", {"consent": "reading_history", "on": "1"})
    river = read_and_return(patron, "The River Book")
    read_and_return(patron, "Mountain Walks")
    read_and_return(patron, "A River Guide")
    html = get(client, "/account/history/")
    assert all(t in html for t in ("The River Book", "Mountain Walks", "A River Guide"))
    found = get(client, "/account/history/?q=river book")
    assert "The River Book" in found and "Mountain Walks" not in found
    assert "A River Guide" not in found
    response = post(client, "/account/history/", {"loan": river.pk})
    assert "The entry is deleted" in response.content.decode()
    river.refresh_from_db()
    assert river.patron_id is None and linked_history(patron) == 2
    assert "The River Book" not in get(client, "/account/history/")
    response = post(client, "/account/history/", {"all": "1"})
    assert "Deleted 2 entries" in response.content.decode()
    assert linked_history(patron) == 0
    deletes = Entry.objects.filter(action="circulation.history_delete", actor_kind="patron")
    assert deletes.count() == 2


def test_patron_b_cannot_read_or_delete_patron_a_s_history_or_consents(reader):
    alice, card_a = reader()
    _bob, card_b = reader(password=BOBS)
    alice_client = signed_in(card_a)
    post(alice_client, "/account/consent/", {"consent": "reading_history", "on": "1"})
    kept = read_and_return(alice, "Private Reading Matter")
    bob = Client()
    assert sign_in(bob, card_b, BOBS).status_code == 302
    assert "Private Reading Matter" not in get(bob, "/account/history/")
    refused = post(bob, "/account/history/", {"loan": kept.pk})
    assert refused.status_code == 400
    kept.refresh_from_db()
    assert kept.patron_id == alice.pk
    assert "Private Reading Matter" not in get(bob, "/account/who-looked/")
    bobs_looks = get(bob, "/account/who-looked/")
    assert "Private Reading Matter" not in bobs_looks
    assert not Entry.objects.filter(actor_kind="patron", actor_id=str(_bob.pk), patron_id=alice.pk)
    assert patrons.has_consent(alice, "reading_history")
