"""A real headless Chromium: a patron adds a passkey, signs in with it, then removes it.

Chromium's virtual authenticator (DevTools protocol, `WebAuthn` domain)
stands in for the patron's phone; the portal pages' own script
(static/shelfguard/passkeys.js, under the site's CSP) runs the ceremonies
against the live server (relying party id "localhost").
"""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, expect

from tests.browser.test_passkey_browser import _virtual_authenticator
from tests.browser.test_portal_browser import (  # noqa: F401  (fixture)
    CARD,
    PASSWORD,
    patron_with_password,
)


def _sign_in(page) -> None:
    page.goto("/account/login/")
    page.get_by_label("Card number").fill(CARD)
    page.locator("#id_password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, databases=["default", "keystore"])
def test_patron_adds_a_passkey_signs_in_with_it_and_removes_it(
    patron_with_password,  # noqa: F811
    live_server,
    browser: Browser,
):
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        cdp, authenticator = _virtual_authenticator(page)

        # No second factor yet: the password alone signs in.
        _sign_in(page)
        expect(page).to_have_url("/account/")

        # Adding one asks again for the password; the browser then creates it.
        page.goto("/account/security/")
        expect(page.get_by_text("You have no passkey yet.")).to_be_visible()
        add = page.locator("#passkey-add")
        add.get_by_label("A name for this passkey").fill("Reading laptop")
        add.get_by_label("Your current password").fill(PASSWORD)
        add.get_by_role("button", name="Add a passkey").click()
        expect(page.get_by_text("Passkey “Reading laptop” added.", exact=False)).to_be_visible()
        credentials = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
        assert len(credentials["credentials"]) == 1

        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_text("You have signed out.")).to_be_visible()

        # Sign-in: the password, then the passkey as the second step (no code box).
        _sign_in(page)
        expect(page).to_have_url("/account/verify/")
        expect(page.get_by_role("heading", name="Second step")).to_be_visible()
        expect(page.locator("input[name=code]")).to_have_count(0)
        page.get_by_role("button", name="Sign in with a passkey").click()
        expect(page).to_have_url("/account/")

        # Listed under its name, used once; then removed after the password.
        page.goto("/account/security/")
        expect(page.get_by_role("heading", name="Reading laptop")).to_be_visible()
        manage = page.get_by_role("form", name="Change passkey Reading laptop")
        manage.get_by_label("Your current password").fill(PASSWORD)
        manage.get_by_role("button", name="Remove Reading laptop").click()
        expect(page.get_by_text("Passkey removed.")).to_be_visible()
        expect(page.get_by_text("You have no passkey yet.")).to_be_visible()
        assert not [e for e in errors if "Content Security Policy" in e], errors
        # Gone from the browser's list of sign-in steps too: the password alone again.
        page.get_by_role("button", name="Sign out").click()
        _sign_in(page)
        expect(page).to_have_url("/account/")
    finally:
        context.close()
