"""A real headless Chromium signs a staff member in with a password and a TOTP code."""

from __future__ import annotations

import importlib

import pytest
from django.conf import settings
from playwright.sync_api import Browser, expect

from shelfguard.accounts.models import Role
from tests.accounts.helpers import PASSWORD, device_of, make_staff, totp_code

# Naming the apps makes the flush after the test cascade on PostgreSQL.
STAFF_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_otp.plugins.otp_static",
    "shelfguard.core",
    "shelfguard.ledger",
    "shelfguard.vault",
    "shelfguard.accounts",
    "shelfguard.staff",
]


@pytest.fixture
def desk(transactional_db):
    """A staff member committed for the live server's thread to see.

    Created before Playwright's event loop runs in this thread: Django refuses
    ORM calls made while an event loop is running.

    An earlier transactional test may have flushed the shipped roles, so they
    are put back from the data migration first.
    """
    shipped = importlib.import_module("shelfguard.accounts.migrations.0002_shipped_roles")
    for spec in shipped.ROLES:
        Role.objects.get_or_create(code=spec["code"], defaults=spec)
    staff = make_staff("desk", "circulation-desk")
    return staff, device_of(staff).key


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, available_apps=STAFF_APPS)
def test_staff_sign_in_with_totp_by_keyboard(desk, live_server, browser: Browser):
    _staff, key = desk
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    try:
        response = page.goto("/staff/")
        assert "no-store" in response.headers["cache-control"]
        expect(page).to_have_url("/staff/login/?next=%2Fstaff%2F")

        page.get_by_label("Username").fill("desk")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_label("Password").press("Enter")
        expect(page.get_by_role("heading", name="Second step")).to_be_visible()

        code_box = page.get_by_label("Code from your authenticator app, or a recovery code")
        code_box.fill(totp_code(key))
        code_box.press("Enter")

        expect(page).to_have_url("/staff/")
        expect(page.locator("#staff-username")).to_have_text("desk")
        cookies = {c["name"]: c for c in context.cookies()}
        assert cookies[settings.SESSION_COOKIE_NAME]["httpOnly"] is True

        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_text("You have signed out.")).to_be_visible()
        page.goto("/staff/")
        expect(page).to_have_url("/staff/login/?next=%2Fstaff%2F")
    finally:
        context.close()
