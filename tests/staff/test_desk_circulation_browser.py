"""A real headless Chromium at the circulation desk, keyboard only, JavaScript on.

The scanner is a keyboard: it types the digits and presses Enter. The test
types into whatever has the focus (no click, no `fill`), so the focus must
start in the card box and come back to the item box after every answer. A
value set on `window` when the page loaded must survive all the scans: each
scan is answered in place, without a page load.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from playwright.sync_api import Browser, expect

from shelfguard.patrons import services as patrons
from shelfguard.vault.sealing import forget_cached_keys
from tests.accounts.helpers import PASSWORD, device_of, make_staff, totp_code
from tests.conftest import restore_shipped_rows
from tests.patrons.conftest import DESK, adult_values
from tests.staff.test_desk_patrons_browser import DESK_APPS

CARD = "29000007373"
BARCODES = ["3730000001", "3730000002"]
CONTROL = "desk-browser-1"
TITLE = "A Synthetic Atlas of Quiet Rivers"


def _seed_catalogue() -> None:
    from tests.catalog.factories import make_item, make_record

    record = make_record(TITLE, index=False, control_number=CONTROL)
    for code in BARCODES:
        make_item(record, branch="MAIN", barcode=code)


def _unseed() -> None:
    """Remove what the catalogue and circulation kept (their apps are not flushed here)."""
    from django.db import connections

    from shelfguard.catalog.models import Item, Record
    from shelfguard.circulation.models import CirculationStat, Hold, Loan, Notice

    try:
        Loan.objects.filter(item__barcode__in=BARCODES).delete()
        Hold.objects.filter(record__control_number=CONTROL).delete()
        Notice.objects.all().delete()
        CirculationStat.objects.filter(branch="MAIN").delete()
        Item.objects.filter(barcode__in=BARCODES).delete()
        Record.objects.filter(control_number=CONTROL).delete()
    finally:
        connections.close_all()


@pytest.fixture
def desk_at_the_counter(transactional_db, settings):
    """A desk member, a patron and two copies, committed before Playwright's event loop starts."""
    settings.CONFIG = {}
    restore_shipped_rows()
    forget_cached_keys()
    staff = make_staff("desk", "circulation-desk")  # also the vault keys and the branches
    patrons.ensure_defaults()
    patrons.register(**adult_values(card_number=CARD, name="Juniper Scanwell"), actor=DESK)
    _seed_catalogue()
    yield device_of(staff).key
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(_unseed).result()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, available_apps=DESK_APPS)
def test_a_desk_member_lends_two_items_and_checks_one_in_by_keyboard(
    desk_at_the_counter, live_server, browser: Browser
):
    key = desk_at_the_counter
    context = browser.new_context(base_url=live_server.url, java_script_enabled=True)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        page.goto("/staff/desk/circulation/checkout/")
        page.get_by_label("Username").fill("desk")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_label("Password").press("Enter")
        code_box = page.get_by_label("Code from your authenticator app, or a recovery code")
        code_box.fill(totp_code(key))
        code_box.press("Enter")
        expect(page).to_have_url("/staff/desk/circulation/checkout/")
        expect(page.get_by_label("Scan the patron's card")).to_be_focused()
        # desk.js is deferred: the scan box has the focus (autofocus) before it runs.
        page.wait_for_function("() => Boolean(window.shelfguardDeskLoadedAt)")
        page.evaluate("window.deskMarker = 'loaded once'")
        loaded_at = page.evaluate("window.shelfguardDeskLoadedAt")
        assert loaded_at

        # The card, then two items, each as a scanner would send it.
        page.keyboard.type(CARD)
        page.keyboard.press("Enter")
        expect(page.locator("#patron-name")).to_have_text("Juniper Scanwell")
        item_box = page.get_by_label("Scan an item to lend")
        expect(item_box).to_be_focused()
        for code in BARCODES:
            page.keyboard.type(code)
            page.keyboard.press("Enter")
        rows = page.locator("#loan-rows tr")
        expect(rows).to_have_count(2)
        expect(page.locator("#loan-count")).to_have_text("2")
        for code in BARCODES:
            expect(page.locator(f'#loan-rows tr[data-barcode="{code}"]')).to_contain_text(TITLE)
        expect(page.locator("#desk-outcome")).to_contain_text("Lent:")
        expect(item_box).to_be_focused()
        # No page load happened: what the page set when it loaded is still there.
        assert page.evaluate("window.deskMarker") == "loaded once"
        assert page.evaluate("window.shelfguardDeskLoadedAt") == loaded_at
        assert page.evaluate("performance.getEntriesByType('navigation').length") == 1

        # A refusal is answered in place too: the same item again.
        page.keyboard.type(BARCODES[0])
        page.keyboard.press("Enter")
        expect(page.locator("#desk-outcome")).to_have_attribute(
            "data-code", "already_on_loan_to_patron"
        )
        expect(page.locator("#desk-outcome")).to_contain_text("renew it instead")

        # Escape: done, next patron. The card box has the focus again.
        page.keyboard.press("Escape")
        expect(page.get_by_label("Scan the patron's card")).to_be_focused()
        expect(page.locator("#patron-name")).to_have_count(0)
        assert page.evaluate("window.deskMarker") == "loaded once"

        # Check one in: the routing is shown in place.
        page.goto("/staff/desk/circulation/checkin/")
        expect(page.get_by_label("Scan an item to check in")).to_be_focused()
        page.wait_for_function("() => Boolean(window.shelfguardDeskLoadedAt)")
        page.evaluate("window.deskMarker = 'checkin page'")
        page.keyboard.type(BARCODES[0])
        page.keyboard.press("Enter")
        result = page.locator("#checkin-results li").first
        expect(result).to_contain_text("Reshelve it.")
        expect(result).to_contain_text(TITLE)
        expect(page.locator("#desk-outcome")).to_have_text("Reshelve it.")
        expect(page.get_by_label("Scan an item to check in")).to_be_focused()
        page.wait_for_function("() => Boolean(window.shelfguardDeskLoadedAt)")
        assert page.evaluate("window.deskMarker") == "checkin page"
        assert CARD not in page.content()
    finally:
        context.close()
    # The refusal is answered with HTTP 400, which Chromium notes in the console.
    assert [e for e in errors if "status of 400" not in e] == [], errors
