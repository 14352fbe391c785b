"""A real headless Chromium: a patron signs in to the portal on a public computer, by keyboard."""

from __future__ import annotations

from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from shelfguard.core.services import ensure_branch
from shelfguard.patrons import services as patrons
from shelfguard.portal import services as portal
from shelfguard.vault.keys import ensure_keys
from shelfguard.vault.sealing import forget_cached_keys
from tests.patrons.conftest import DESK

CARD = "29000777001"
PASSWORD = "a quiet reading room at dusk"


@pytest.fixture
def patron_with_password(transactional_db, home: Path, settings):
    """A synthetic patron with a portal password, committed for the live server's thread.

    Created before Playwright's event loop runs in this thread: Django refuses
    ORM calls made while an event loop is running.
    """
    settings.CONFIG = {}
    forget_cached_keys()
    ensure_keys(home)
    ensure_branch("MAIN", "Main Library", actor=DESK)
    patrons.ensure_defaults()
    patron = patrons.register(
        card_number=CARD,
        name="Testa Browserperson",
        email="browser-reader@example.org",
        actor=DESK,
    )
    portal.set_password(patron, PASSWORD, actor=DESK, purpose="tests")
    yield patron
    forget_cached_keys()


def _tab_to(page, locator, limit: int = 20) -> None:
    """Press Tab until `locator` has the keyboard focus (as a keyboard user would)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if locator.evaluate("el => el === document.activeElement"):
            return
    raise AssertionError("could not reach the control with the Tab key")


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
        _tab_to(page, card)
        page.keyboard.type(CARD)
        page.keyboard.press("Tab")
        page.keyboard.type(PASSWORD)
        public = page.get_by_label("This is a public or shared computer")
        _tab_to(page, public)
        page.keyboard.press("Space")
        expect(public).to_be_checked()
        _tab_to(page, page.get_by_role("button", name="Sign in"))
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

        _tab_to(page, page.get_by_role("button", name="Sign out"))
        page.keyboard.press("Enter")
        expect(page.get_by_text("You have signed out.")).to_be_visible()
        # Nothing remembered: no card number in the form, no portal cookie left.
        expect(page.get_by_label("Card number")).to_have_value("")
        assert "shelfguard_portal" not in {c["name"] for c in context.cookies()}
        page.goto("/account/")
        expect(page).to_have_url("/account/login/")
    finally:
        context.close()
