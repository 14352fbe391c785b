"""A real headless Chromium: a patron asks for a correction of their name, then withdraws it.

No JavaScript: the pages work as plain forms. The note holds markup, which
must come back as text (escaped), never as an element.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from shelfguard.patrons import services as patrons
from shelfguard.patrons.models import CorrectionRequest, CorrectionStatus
from shelfguard.vault.sealing import forget_cached_keys
from tests.browser.portal_patrons import portal_patron, sign_in
from tests.patrons.conftest import DESK

CARD = "29000777101"
NOTE = "My name was misspelt <b id='injected'>at the desk</b>"


@pytest.fixture
def patron_with_password(transactional_db, home: Path, settings):
    """A synthetic patron with a portal password, committed for the live server's thread."""
    yield portal_patron(
        home,
        settings,
        card=CARD,
        name="Testa Mispelt",
        email="browser-corrections@example.org",
    )
    forget_cached_keys()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, databases=["default", "keystore"])
def test_patron_sends_and_withdraws_a_correction_request(
    patron_with_password, live_server, browser: Browser
):
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    try:
        sign_in(page, CARD)

        page.goto("/account/requests/")
        expect(page.locator("#no-requests")).to_be_visible()
        form = page.locator("#fix-form")
        form.get_by_label("Name:", exact=True).fill("Testa Misspelt")
        form.get_by_label("Note for the library (optional)").fill(NOTE)
        form.get_by_role("button", name="Send the request").click()

        expect(page.get_by_role("status")).to_contain_text("Your request is sent")
        request = page.locator("article.correction").first
        expect(request).to_have_attribute("data-status", "open")
        expect(request).to_contain_text("Waiting for review")
        expect(request).to_contain_text("Testa Misspelt")
        # The markup is text on the page, not an element.
        expect(request).to_contain_text(NOTE)
        expect(page.locator("#injected")).to_have_count(0)

        request.get_by_role("button", name="Withdraw this request").click()
        expect(page.get_by_role("status")).to_contain_text("Your request is withdrawn")
        expect(page.locator("article.correction").first).to_have_attribute(
            "data-status", "withdrawn"
        )
    finally:
        context.close()

    def stored() -> tuple[str, str | None]:
        row = CorrectionRequest.objects.get(patron=patron_with_password)
        name = patrons.reveal(patron_with_password, ["name"], actor=DESK, purpose="tests")["name"]
        return row.status, name

    # Django refuses ORM calls in the thread where Playwright's event loop runs.
    with ThreadPoolExecutor(max_workers=1) as pool:
        status, name = pool.submit(stored).result()
    assert status == CorrectionStatus.WITHDRAWN
    assert name == "Testa Mispelt"  # a withdrawn request changes nothing
