"""A real headless Chromium at the patron desk: scan a card, land on the patron, by keyboard only.

The scanner is a keyboard: it types the card number and presses Enter. So
the test types the digits into whatever has the focus when the page opens
and presses Enter, with no click and no `fill`: if the focus did not start
in the scan box, the digits would go nowhere.
"""

from __future__ import annotations

import importlib
from concurrent.futures import ThreadPoolExecutor

import pytest
from playwright.sync_api import Browser, expect

from shelfguard.accounts.models import Role
from shelfguard.ledger.models import Entry
from shelfguard.patrons import services as patrons
from shelfguard.vault.sealing import forget_cached_keys
from tests.accounts.helpers import PASSWORD, device_of, make_staff, totp_code
from tests.patrons.conftest import DESK, adult_values
from tests.staff.test_browser import STAFF_APPS

DESK_APPS = [*STAFF_APPS, "shelfguard.vault", "shelfguard.patrons"]
CARD = "29000004242"


@pytest.fixture
def desk_and_patron(transactional_db, settings):
    """A desk member and a patron, committed before Playwright's event loop starts.

    The run's shared data home is used (as `make_staff` does), not a fresh one:
    an earlier committing test may have left data keys in the keystore, and a
    fresh home's new master key would then be refused.
    """
    settings.CONFIG = {}
    shipped = importlib.import_module("shelfguard.accounts.migrations.0002_shipped_roles")
    for spec in shipped.ROLES:
        Role.objects.get_or_create(code=spec["code"], defaults=spec)
    forget_cached_keys()
    staff = make_staff("desk", "circulation-desk")  # also the vault keys and the branches
    patrons.ensure_defaults()
    patron = patrons.register(**adult_values(card_number=CARD, name="Juniper Scanwell"), actor=DESK)
    return device_of(staff).key, patron.pk


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, available_apps=DESK_APPS)
def test_a_desk_member_scans_a_card_and_lands_on_the_patron(
    desk_and_patron, live_server, browser: Browser
):
    key, patron_id = desk_and_patron
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto("/staff/desk/patrons/")
        expect(page).to_have_url("/staff/login/?next=%2Fstaff%2Fdesk%2Fpatrons%2F")
        page.get_by_label("Username").fill("desk")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_label("Password").press("Enter")
        code_box = page.get_by_label("Code from your authenticator app, or a recovery code")
        code_box.fill(totp_code(key))
        code_box.press("Enter")
        # Signed in, the desk member is taken back to the page they asked for,
        # and the focus starts in the scan box.
        expect(page).to_have_url("/staff/desk/patrons/")
        scan_box = page.get_by_label("Scan a card, or type a name or e-mail address")
        expect(scan_box).to_be_focused()

        # The "scanner": digits, then Enter, into whatever has the focus.
        page.keyboard.type(CARD)
        page.keyboard.press("Enter")

        expect(page).to_have_url(f"/staff/desk/patrons/{patron_id}/")
        expect(page.locator("#patron-name")).to_have_text("Juniper Scanwell")
        expect(page.locator("#patron-status")).to_have_text("Active")
        # Ready for the next patron: the scan box has the focus again.
        expect(page.get_by_label("Scan a card, or type a name or e-mail address")).to_be_focused()
        # The card number itself is not on the page, nor in its address.
        assert CARD not in page.content()
        assert CARD not in page.url

        # Reveal the card number by keyboard only: tick, say why, press Enter.
        page.keyboard.press("Tab")  # the Find button
        page.keyboard.press("Tab")  # the first detail: the card number
        expect(page.get_by_label("Reveal Library card number")).to_be_focused()
        page.keyboard.press("Space")
        page.keyboard.press("Tab")  # the purpose list: its first choice is circulation
        page.keyboard.press("Tab")  # the note
        page.keyboard.type("patron forgot the card")
        page.keyboard.press("Enter")
        expect(page.locator("#detail-card_number .detail-value")).to_have_text(CARD)
    finally:
        context.close()
    # Read from another thread: Django refuses ORM calls beside Playwright's event loop.
    with ThreadPoolExecutor(max_workers=1) as pool:
        entries = pool.submit(reveal_entries, patron_id).result()
    assert ("circulation", ["name"]) in entries
    assert ("circulation: patron forgot the card", ["card_number"]) in entries


def reveal_entries(patron_id: int) -> list[tuple[str, list[str]]]:
    from django.db import connections

    try:
        rows = Entry.objects.filter(patron_id=patron_id, action="patron.reveal").order_by("seq")
        return [(e.purpose, e.fields) for e in rows]
    finally:
        connections.close_all()
