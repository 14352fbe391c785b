"""A real headless Chromium: anonymous feedback, a privacy request and its status page.

Without JavaScript and by keyboard where a visitor would use one. The
database is checked from a worker thread: Django refuses ORM calls from the
thread that runs Playwright's event loop.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.db import connections
from playwright.sync_api import Browser, expect

from shelfguard.feedback.models import Feedback, PrivacyRequest
from shelfguard.vault.keys import ensure_keys
from shelfguard.vault.sealing import forget_cached_keys

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, databases=["default", "keystore"]),
]


@pytest.fixture
def vault(transactional_db, home: Path, settings):
    settings.CONFIG = {}
    forget_cached_keys()
    ensure_keys(home)
    yield home
    forget_cached_keys()


def _in_worker(fn):
    def run():
        try:
            return fn()
        finally:
            # The worker's own connection, or PostgreSQL cannot drop the test database.
            connections.close_all()

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(run).result()


def test_feedback_and_a_privacy_request_in_a_browser(vault, live_server, browser: Browser):
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    try:
        response = page.goto("/feedback/")
        assert "set-cookie" not in response.headers
        page.get_by_label("Building").check()
        page.get_by_label("Your feedback").fill("The <b>lift</b> near the entrance is slow.")
        page.get_by_role("button", name="Send feedback").press("Enter")
        expect(page.get_by_role("heading", name="Thank you for your feedback")).to_be_visible()
        stored = _in_worker(lambda: list(Feedback.objects.values_list("category", "text")))
        assert stored == [("building", "The <b>lift</b> near the entrance is slow.")]

        page.goto("/feedback/privacy-request/")
        page.get_by_label("See the data the library holds about me").check()
        page.get_by_label("Describe your request").fill("A copy of my record, please.")
        page.get_by_label("By e-mail, at the address below").check()
        page.get_by_label("E-mail address for the answer").fill("browser-requester@example.org")
        page.get_by_role("button", name="File the request").press("Enter")
        expect(page.get_by_role("heading", name="Your request was received")).to_be_visible()
        reference = page.locator("#reference").inner_text()
        assert reference.startswith("PR-")
        link = page.locator("#status-link")
        link.focus()
        page.keyboard.press("Enter")
        expect(page.get_by_role("heading", name=f"Privacy request {reference}")).to_be_visible()
        expect(page.locator("#status")).to_have_text("Received")
        assert "/feedback/privacy-request/status/" in page.url
        stored = _in_worker(lambda: PrivacyRequest.objects.values_list("reference", flat=True)[0])
        assert stored == reference
        # Nothing on the way set a cookie.
        assert context.cookies() == []
    finally:
        context.close()


CARD = "29000888003"
PASSWORD = "a quiet reading room at dusk"


@pytest.fixture
def signed_up_patron(vault, settings):
    from shelfguard.core.services import ensure_branch
    from shelfguard.patrons import services as patrons
    from shelfguard.portal import services as portal
    from tests.patrons.conftest import DESK

    ensure_branch("MAIN", "Main Library", actor=DESK)
    patrons.ensure_defaults()
    patron = patrons.register(
        card_number=CARD, name="Testa Requestperson", email="pr-reader@example.org", actor=DESK
    )
    portal.set_password(patron, PASSWORD, actor=DESK, purpose="tests")
    return patron


def test_a_signed_in_patron_links_the_request(signed_up_patron, live_server, browser: Browser):
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    try:
        # Under /feedback/ the browser does not send the portal cookie (path /account/):
        # the form says so instead of filing an unanswerable request.
        page.goto("/account/login/")
        page.get_by_label("Card number").fill(CARD)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Sign in").press("Enter")
        expect(page).to_have_url("/account/")

        page.goto("/feedback/privacy-request/")
        page.get_by_label("Object to a use of my data").check()
        page.get_by_label("Describe your request").fill("Please stop the reminder letters.")
        page.get_by_label("I am signed in to my library account").check()
        page.get_by_role("button", name="File the request").press("Enter")
        expect(page.get_by_text("We cannot see that you are signed in")).to_be_visible()

        page.goto("/account/privacy-request/")
        page.get_by_label("Object to a use of my data").check()
        page.get_by_label("Describe your request").fill("Please stop the reminder letters.")
        page.get_by_label("I am signed in to my library account").check()
        page.get_by_role("button", name="File the request").press("Enter")
        expect(page.get_by_role("heading", name="Your request was received")).to_be_visible()
        expect(page.get_by_text("linked to your library account")).to_be_visible()
        linked = _in_worker(
            lambda: list(PrivacyRequest.objects.values_list("patron_id", flat=True))
        )
        assert linked == [signed_up_patron.pk]
        page.locator("#status-link").click()
        expect(page.locator("#status")).to_have_text("Received")
    finally:
        context.close()
