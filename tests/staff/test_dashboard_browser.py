"""A real headless Chromium opens the privacy dashboard as the privacy officer, by keyboard."""

from __future__ import annotations

import datetime as dt
import importlib

import pytest
from playwright.sync_api import Browser, expect

from shelfguard.accounts.models import Role
from shelfguard.core import clock
from shelfguard.lifecycle.models import BackupRun
from tests.accounts.helpers import PASSWORD, device_of, make_staff, totp_code
from tests.patrons.conftest import library  # noqa: F401  (a fixture, used by name)


@pytest.fixture
def officer(transactional_db, library):  # noqa: F811
    """Committed before Playwright's event loop runs (Django refuses ORM calls inside it)."""
    shipped = importlib.import_module("shelfguard.accounts.migrations.0002_shipped_roles")
    for spec in shipped.ROLES:
        Role.objects.get_or_create(code=spec["code"], defaults=spec)
    staff = make_staff("dash-browser", "privacy-officer")
    BackupRun.objects.create(
        kind="verify", outcome="ok", started_at=clock.now() - dt.timedelta(hours=2)
    )
    return staff, device_of(staff).key


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, databases=["default", "keystore"])
def test_privacy_officer_opens_the_dashboard_by_keyboard(officer, live_server, browser: Browser):
    _staff, key = officer
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    blocked: list[str] = []
    page.on("console", lambda msg: blocked.append(msg.text) if msg.type == "error" else None)
    page.on(
        "request",
        lambda req: blocked.append(req.url) if not req.url.startswith(live_server.url) else None,
    )
    try:
        page.goto("/staff/privacy/")
        page.get_by_label("Username").fill("dash-browser")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_label("Password").press("Enter")
        code_box = page.get_by_label("Code from your authenticator app, or a recovery code")
        code_box.fill(totp_code(key))
        code_box.press("Enter")

        expect(page).to_have_url("/staff/privacy/")
        expect(page.get_by_role("heading", name="Privacy dashboard", level=1)).to_be_visible()
        expect(page.locator("#backup-ok")).to_contain_text("Last verified backup: 2.0 hours ago")
        expect(
            page.get_by_role("img", name="Reveals of patron data per day, by channel")
        ).to_be_visible()
        expect(page.get_by_role("table", name="Last backup runs")).to_be_visible()

        # Keyboard only: tab to the section list's "Access ledger" link and follow it.
        link = page.get_by_role("link", name="Access ledger")
        for _ in range(60):
            page.keyboard.press("Tab")
            if link.evaluate("el => el === document.activeElement"):
                break
        else:
            raise AssertionError("the Access ledger link is not reachable by Tab")
        page.keyboard.press("Enter")
        expect(page).to_have_url("/staff/privacy/#ledger")

        # A chart's table alternative opens from the keyboard too.
        summary = page.locator("#backup-age summary")
        summary.focus()
        page.keyboard.press("Enter")
        expect(page.get_by_role("table", name="Age of the newest verified backup")).to_be_visible()
        assert not blocked, blocked  # no CSP violation, nothing fetched from elsewhere
    finally:
        context.close()
