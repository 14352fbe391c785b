"""A real headless Chromium: the privacy officer reviews an alert, by keyboard, without JavaScript."""

from __future__ import annotations

import importlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.db import connections, transaction
from playwright.sync_api import Browser, expect

from shelfguard.accounts.models import Role
from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.ledger import services as ledger
from shelfguard.monitoring import services
from shelfguard.monitoring.models import Alert
from shelfguard.vault.keys import ensure_keys
from shelfguard.vault.sealing import forget_cached_keys
from tests.accounts.helpers import PASSWORD, device_of, make_staff, totp_code
from tests.browser.conftest import browser  # noqa: F401  (the same headless Chromium)
from tests.monitoring.conftest import MONDAY, at

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, databases=["default", "keystore"]),
]


@pytest.fixture
def open_alert(transactional_db, home: Path, settings):
    """An after-hours alert and a privacy officer, committed for the live server."""
    settings.CONFIG = {}
    forget_cached_keys()
    ensure_keys(home)
    shipped = importlib.import_module("shelfguard.accounts.migrations.0002_shipped_roles")
    for spec in shipped.ROLES:
        Role.objects.get_or_create(code=spec["code"], defaults=spec)
    officer = make_staff("officer-one", "privacy-officer", branch="MAIN")
    with clock.frozen(at(MONDAY, 2)), transaction.atomic():
        ledger.append(
            actor=Actor(kind="staff", ident="desk-one", channel="web"),
            action="patron.reveal",
            purpose="serving a patron at the desk",
            patron_id=990_001,
        )
    from shelfguard.circulation import services as circulation

    for weekday in range(5):
        circulation.set_hours(
            "MAIN", weekday, at(MONDAY, 9).time(), at(MONDAY, 17).time(), actor=Actor.system("t")
        )
    make_staff("desk-one", "circulation-desk", branch="MAIN", enrol=False)
    with clock.frozen(at(MONDAY, 3)):
        services.scan()
    yield Alert.objects.get(), device_of(officer).key
    forget_cached_keys()


def _in_worker(fn):
    def run():
        try:
            return fn()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def test_the_officer_reviews_an_alert_in_a_browser(
    open_alert,
    live_server,
    browser: Browser,  # noqa: F811  (the imported fixture)
):
    alert, key = open_alert
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto("/staff/monitoring/")
        page.get_by_label("Username").fill("officer-one")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_label("Password").press("Enter")
        code = page.get_by_label("Code from your authenticator app, or a recovery code")
        code.fill(totp_code(key))
        code.press("Enter")
        page.goto("/staff/monitoring/")
        expect(page.get_by_role("heading", name="Open access alerts")).to_be_visible()
        expect(page.get_by_role("cell", name="Access outside opening hours")).to_be_visible()
        link = page.get_by_role("link", name=f"#{alert.pk}", exact=True)
        link.focus()
        page.keyboard.press("Enter")
        expect(
            page.get_by_role("heading", name=f"Alert #{alert.pk}: Access outside")
        ).to_be_visible()
        page.get_by_label("What did you find?").fill("Night cover agreed with the branch manager")
        page.get_by_role("button", name="Mark reviewed").focus()
        page.keyboard.press("Enter")
        expect(page.get_by_role("status")).to_contain_text("marked reviewed")
        expect(page.locator("#alert-status")).to_have_text("reviewed")
        expect(page.locator("#review-note")).to_have_text(
            "Night cover agreed with the branch manager"
        )
        stored = _in_worker(lambda: Alert.objects.values_list("status", "reviewer").get())
        assert stored == ("reviewed", "staff:officer-one")
    finally:
        context.close()
