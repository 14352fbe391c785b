"""A synthetic portal patron for the browser tests, and the steps to sign them in.

The patron is made before Playwright's event loop runs in the test's thread
(Django refuses ORM calls made while an event loop is running) and committed,
for the live server's thread to see.
"""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import expect

from shelfguard.core.services import ensure_branch
from shelfguard.patrons import services as patrons
from shelfguard.patrons.models import Patron
from shelfguard.portal import services as portal
from shelfguard.vault.keys import ensure_keys
from shelfguard.vault.sealing import forget_cached_keys
from tests.patrons.conftest import DESK

PASSWORD = "a quiet reading room at dusk"


def portal_patron(
    home: Path, settings, *, card: str, name: str, email: str, branches=(("MAIN", "Main Library"),)
) -> Patron:
    """Keys, the branches, and a patron with the portal password `PASSWORD`.

    The caller forgets the cached keys again when its test ends.
    """
    settings.CONFIG = {}
    forget_cached_keys()
    ensure_keys(home)
    for code, branch_name in branches:
        ensure_branch(code, branch_name, actor=DESK)
    patrons.ensure_defaults()
    patron = patrons.register(card_number=card, name=name, email=email, actor=DESK)
    portal.set_password(patron, PASSWORD, actor=DESK, purpose="tests")
    return patron


def sign_in(page, card: str, password: str = PASSWORD) -> None:
    """Sign in with the portal form (by pointer) and land on the account page."""
    page.goto("/account/login/")
    page.get_by_label("Card number").fill(card)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url("/account/")


def tab_to(page, locator, limit: int = 40) -> None:
    """Press Tab until `locator` has the keyboard focus (as a keyboard user would)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if locator.evaluate("el => el === document.activeElement"):
            return
    raise AssertionError("could not reach the control with the Tab key")
