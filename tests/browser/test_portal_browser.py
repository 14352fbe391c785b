"""A real headless Chromium: a patron signs in to the portal on a public computer, by keyboard."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from shelfguard.vault.sealing import forget_cached_keys
from tests.browser.portal_patrons import PASSWORD, portal_patron, tab_to

CARD = "29000777001"


@pytest.fixture
def patron_with_password(transactional_db, home: Path, settings):
    """A synthetic patron with a portal password, committed for the live server's thread."""
    yield portal_patron(
        home, settings, card=CARD, name="Testa Browserperson", email="browser-reader@example.org"
    )
    forget_cached_keys()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, databases=["default", "keystore"])
def test_patron_signs_in_on_a_public_computer_by_keyboard(
    patron_with_password, live_server, browser: Browser
):
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    try:
        response = page.goto("/account/")
        assert "no-store" in response.headers["cache-control"]
        expect(page).to_have_url("/account/login/")

        card = page.get_by_label("Card number")
        tab_to(page, card)
        page.keyboard.type(CARD)
        page.keyboard.press("Tab")
        page.keyboard.type(PASSWORD)
        public = page.get_by_label("This is a public or shared computer")
        tab_to(page, public)
        page.keyboard.press("Space")
        expect(public).to_be_checked()
        tab_to(page, page.get_by_role("button", name="Sign in"))
        page.keyboard.press("Enter")

        expect(page).to_have_url("/account/")
        expect(page.locator("#card-status")).to_have_text("Active")
        expect(page.locator("#session-kind")).to_contain_text("Public computer")
        cookies = {c["name"]: c for c in context.cookies()}
        portal_cookie = cookies["shelfguard_portal"]
        # Ends with the browser: a session cookie, no expiry.
        assert portal_cookie["expires"] == -1
        assert portal_cookie["httpOnly"] is True
        assert portal_cookie["sameSite"] == "Strict"
        assert portal_cookie["path"] == "/account/"
        # The staff session is never involved.
        assert "sessionid" not in cookies

        tab_to(page, page.get_by_role("button", name="Sign out"))
        page.keyboard.press("Enter")
        expect(page.get_by_text("You have signed out.")).to_be_visible()
        # Nothing remembered: no card number in the form, no portal cookie left.
        expect(page.get_by_label("Card number")).to_have_value("")
        assert "shelfguard_portal" not in {c["name"] for c in context.cookies()}
        page.goto("/account/")
        expect(page).to_have_url("/account/login/")
    finally:
        context.close()
