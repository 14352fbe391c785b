"""A real headless Chromium, keyboard only and without JavaScript, restores an item from the bin."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect, sync_playwright

from shelfguard.accounts import services as accounts
from shelfguard.catalog.models import Item
from shelfguard.lifecycle import services as lifecycle
from shelfguard.vault.keys import ensure_keys
from shelfguard.vault.sealing import forget_cached_keys
from tests.accounts.helpers import PASSWORD, device_of, make_staff, totp_code
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.catalog.factories import make_item, make_record

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True, databases=["default", "keystore"]),
]


@pytest.fixture
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def restored(barcode: str) -> bool:
    # Django refuses ORM calls while Playwright's event loop runs in this thread.
    with ThreadPoolExecutor(1) as worker:
        return worker.submit(lambda: Item.objects.filter(barcode=barcode).exists()).result()


@pytest.fixture
def binned(transactional_db, home: Path, settings):
    """A cataloguer and a binned item, committed for the live server to see."""
    settings.CONFIG = {}
    forget_cached_keys()
    ensure_keys(home)
    staff = make_staff("cat-browser", "cataloguer")
    item = make_item(make_record("Synthetic estuaries"), barcode="31000000999")
    entry = lifecycle.recycle.delete(
        "item", item.pk, actor=accounts.staff_actor(staff), purpose="weeding"
    )
    yield device_of(staff).key, entry.pk
    forget_cached_keys()


def test_restore_from_the_bin_with_the_keyboard(binned, live_server, chromium: Browser):
    key, entry_id = binned
    assert not restored("31000000999")
    context = chromium.new_context(base_url=live_server.url, java_script_enabled=False)
    page = context.new_page()
    try:
        page.goto("/staff/bin/")
        page.get_by_label("Username").fill("cat-browser")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_label("Password").press("Enter")
        code_box = page.get_by_label("Code from your authenticator app, or a recovery code")
        code_box.fill(totp_code(key))
        code_box.press("Enter")
        page.goto("/staff/bin/")
        expect(page.get_by_role("heading", name="Recycle bin")).to_be_visible()
        row = page.locator("#bin-entries tbody tr")
        expect(row).to_have_count(1)
        expect(row).to_contain_text("31000000999")
        button = page.get_by_role("button", name=f"Restore entry {entry_id}")
        button.focus()
        button.press("Enter")
        expect(page.locator("#bin-done")).to_have_text("Restored.")
        expect(page.locator("#bin-empty")).to_be_visible()
    finally:
        context.close()
    assert restored("31000000999")
