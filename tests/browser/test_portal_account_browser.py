"""A real headless Chromium: a patron turns their reading history off, and places a hold.

By keyboard where a patron would use one, without JavaScript (the pages work
without it). The database is checked from a worker thread: Django refuses
ORM calls from the thread that runs Playwright's event loop.
"""

from __future__ import annotations

import datetime as dt
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from shelfguard.circulation import services as circulation
from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.patrons import services as patrons
from shelfguard.vault.sealing import forget_cached_keys
from tests.browser.portal_patrons import PASSWORD, portal_patron, tab_to
from tests.catalog.factories import make_item, make_record
from tests.patrons.conftest import DESK

CARD = "29000777002"
JOB = Actor(kind="system", ident="tests", channel="job")


@pytest.fixture
def reader_with_history(transactional_db, home: Path, settings):
    """A synthetic patron who keeps a reading history with one returned loan, and a title."""
    patron = portal_patron(
        home,
        settings,
        card=CARD,
        name="Testa Historyperson",
        email="history-reader@example.org",
        branches=(("MAIN", "Main Library"), ("EAST", "East Branch")),
    )
    patrons.give_consent(patron, "reading_history", actor=DESK)
    with clock.frozen(clock.now() - dt.timedelta(days=3)):
        item = make_item(make_record("A Kept Title", index=False))
        circulation.checkout(patron, item.barcode, branch="MAIN", actor=JOB, purpose="tests")
    circulation.checkin(item.barcode, branch="MAIN", actor=JOB, purpose="tests")
    wanted = make_record("A Wanted Title", index=False, control_number="acct0001")
    make_item(wanted, branch="EAST")
    yield patron
    forget_cached_keys()


def _in_worker(fn):
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(fn).result()


def _sign_in(page) -> None:
    card = page.get_by_label("Card number")
    tab_to(page, card)
    page.keyboard.type(CARD)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    tab_to(page, page.get_by_role("button", name="Sign in"))
    page.keyboard.press("Enter")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, databases=["default", "keystore"])
def test_patron_turns_reading_history_off_by_keyboard(
    reader_with_history, live_server, browser: Browser
):
    from shelfguard.circulation.models import Loan

    patron_id = reader_with_history.pk
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto("/account/")
        _sign_in(page)
        expect(page).to_have_url("/account/")
        history_link = page.get_by_role("link", name="My reading history")
        tab_to(page, history_link)
        page.keyboard.press("Enter")
        expect(page.locator("#history")).to_contain_text("A Kept Title")

        page.goto("/account/consent/")
        section = page.locator("#consent-reading_history")
        expect(section.locator(".consent-state")).to_contain_text("On")
        box = page.get_by_label("Delete the reading history kept so far")
        expect(box).to_be_checked()
        tab_to(page, section.get_by_role("button"))
        page.keyboard.press("Enter")
        expect(page.get_by_role("status")).to_contain_text("The history kept so far is deleted.")
        expect(section.locator(".consent-state")).to_contain_text("Off")

        page.goto("/account/history/")
        expect(page.locator("#history-off")).to_be_visible()
        expect(page.locator("body")).not_to_contain_text("A Kept Title")
        # Gone from the database, not only from the page.
        linked = _in_worker(
            lambda: Loan.objects.filter(patron_id=patron_id).exclude(outcome="open").count()
        )
        assert linked == 0
    finally:
        context.close()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, databases=["default", "keystore"])
def test_patron_places_a_hold_from_the_catalogue_and_returns_after_sign_in(
    reader_with_history, live_server, browser: Browser
):
    from shelfguard.circulation.models import Hold

    patron_id = reader_with_history.pk
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto("/records/acct0001/")
        link = page.get_by_role("link", name="Place a hold")
        tab_to(page, link)
        page.keyboard.press("Enter")
        expect(page).to_have_url(
            re.compile(r"/account/login/\?next=%2Faccount%2Fholds%2Fplace%2F\d+%2F$")
        )
        _sign_in(page)
        expect(page.locator("#hold-title")).to_have_text("A Wanted Title")
        branch = page.get_by_label("Collect it at")
        expect(branch).to_have_value("MAIN")
        branch.select_option("EAST")
        tab_to(page, page.get_by_role("button", name="Place the hold"))
        page.keyboard.press("Enter")
        expect(page.get_by_role("status")).to_contain_text("Your hold is placed.")
        expect(page.locator("#holds")).to_contain_text("A Wanted Title")
        pickup = _in_worker(
            lambda: list(
                Hold.objects.filter(patron_id=patron_id).values_list(
                    "pickup_branch__code", flat=True
                )
            )
        )
        assert pickup == ["EAST"]
    finally:
        context.close()
