"""A real headless Chromium enrols a passkey and signs in with it.

Chromium's virtual authenticator (DevTools protocol, `WebAuthn` domain)
stands in for a platform authenticator: CTAP2, internal transport, resident
keys and user verification. The pages' own script (static/shelfguard/
passkeys.js, loaded under the site's CSP) runs the ceremonies; the server
checks them with the relying party id "localhost" and the live server's
origin.
"""

from __future__ import annotations

import datetime as dt
import importlib

import pytest
from playwright.sync_api import Browser, expect

from shelfguard.accounts import services
from shelfguard.accounts.models import Role
from shelfguard.core import clock
from tests.accounts.helpers import ADMIN, PASSWORD, branches, device_of, make_staff, totp_code

# Naming the apps makes the flush after the test cascade on PostgreSQL. The
# vault is named too: TOTP secrets are sealed with keystore data keys, and
# the keystore must be flushed with the rest, or a later test's fresh home
# finds data keys without their master key.
STAFF_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "shelfguard.core",
    "shelfguard.vault",
    "shelfguard.ledger",
    "shelfguard.accounts",
    "shelfguard.staff",
]


@pytest.fixture
def newcomer(transactional_db):
    """A new staff member with an enrolment code, committed for the live server to see.

    Made before Playwright's event loop runs in this thread (Django refuses
    ORM calls made while one runs). The shipped roles are put back first, as
    an earlier transactional test may have flushed them.
    """
    shipped = importlib.import_module("shelfguard.accounts.migrations.0002_shipped_roles")
    for spec in shipped.ROLES:
        Role.objects.get_or_create(code=spec["code"], defaults=spec)
    branches()
    staff, code = services.create_staff(
        "kit", roles=["circulation-desk"], branch="MAIN", password=PASSWORD, actor=ADMIN
    )
    return staff, code


def _virtual_authenticator(page):
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    added = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return cdp, added["authenticatorId"]


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, available_apps=STAFF_APPS)
def test_enrol_a_passkey_then_sign_in_with_it(newcomer, live_server, browser: Browser):
    _staff, code = newcomer
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        cdp, authenticator = _virtual_authenticator(page)

        # Enrolment: the one-time code and the password, then a passkey instead of an app.
        page.goto("/staff/enrol/")
        page.get_by_label("Username").fill("kit")
        page.get_by_label("Enrolment code").fill(code)
        page.locator("#id_password").fill(PASSWORD)
        page.get_by_role("button", name="Continue").click()
        expect(page).to_have_url("/staff/enrol/device/")
        expect(page.get_by_role("heading", name="Use a passkey")).to_be_visible()
        page.get_by_label("A name for this passkey").fill("Test laptop")
        page.get_by_role("button", name="Create a passkey").click()

        expect(page.get_by_role("heading", name="Your recovery codes")).to_be_visible()
        expect(page.get_by_text("Your passkey is set up and you are signed in.")).to_be_visible()
        credentials = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
        assert len(credentials["credentials"]) == 1

        page.goto("/staff/")
        expect(page.locator("#staff-username")).to_have_text("kit")
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_text("You have signed out.")).to_be_visible()

        # Sign-in: the password, then the passkey at the second step.
        page.goto("/staff/")
        page.get_by_label("Username").fill("kit")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_label("Password").press("Enter")
        expect(page.get_by_role("heading", name="Second step")).to_be_visible()
        page.get_by_role("button", name="Sign in with a passkey").click()

        expect(page).to_have_url("/staff/")
        expect(page.locator("#staff-username")).to_have_text("kit")

        # The passkeys page lists it, under the name given at enrolment.
        page.goto("/staff/account/passkeys/")
        expect(page.get_by_role("cell", name="Test laptop", exact=True)).to_be_visible()
        # Used once to sign in: "Last used" holds a time, not "never".
        expect(page.get_by_role("cell", name="never", exact=True)).to_have_count(0)
        assert not [e for e in errors if "Content Security Policy" in e], errors
    finally:
        context.close()


@pytest.fixture
def desk(transactional_db):
    """A staff member with an authenticator app, committed for the live server."""
    shipped = importlib.import_module("shelfguard.accounts.migrations.0002_shipped_roles")
    for spec in shipped.ROLES:
        Role.objects.get_or_create(code=spec["code"], defaults=spec)
    staff = make_staff("desk", "circulation-desk")
    return staff, device_of(staff).key


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, available_apps=STAFF_APPS)
def test_add_a_passkey_from_the_account_page_then_remove_it(desk, live_server, browser: Browser):
    _staff, key = desk
    context = browser.new_context(base_url=live_server.url)
    page = context.new_page()
    try:
        cdp, authenticator = _virtual_authenticator(page)
        page.goto("/staff/")
        page.get_by_label("Username").fill("desk")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_label("Password").press("Enter")
        # No passkey yet: the second step is the code form alone.
        expect(page.get_by_role("heading", name="Second step")).to_be_visible()
        expect(page.get_by_role("button", name="Sign in with a passkey")).to_have_count(0)
        code_box = page.get_by_label("Code from your authenticator app, or a recovery code")
        code_box.fill(totp_code(key))
        code_box.press("Enter")
        expect(page).to_have_url("/staff/")

        # Adding one asks again for the password and a fresh code (the next time step).
        page.goto("/staff/account/passkeys/")
        page.get_by_label("A name for this passkey").fill("Desk security key")
        page.get_by_label("Your current password").fill(PASSWORD)
        page.get_by_label("Code from your authenticator app").fill(
            totp_code(key, clock.now() + dt.timedelta(seconds=30))
        )
        page.get_by_role("button", name="Add a passkey").click()
        expect(page.get_by_text("Passkey “Desk security key” added.")).to_be_visible()
        credentials = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
        assert len(credentials["credentials"]) == 1

        # Removing it: the password, and the passkey itself instead of a code.
        page.get_by_role("link", name="Remove Desk security key").click()
        page.get_by_label("Your current password").fill(PASSWORD)
        page.get_by_role("button", name="Remove this passkey").click()
        expect(page.get_by_text("Passkey removed.")).to_be_visible()
        expect(page.get_by_text("You have no passkey yet.")).to_be_visible()
    finally:
        context.close()
