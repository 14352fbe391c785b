"""A real headless Chromium for end-to-end tests of the public pages.

The browser is the Debian package, not one downloaded by Playwright, and it
is started with everything that would phone home switched off: the tests run
without network and as root (hence no sandbox).
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from shelfguard.catalog.models import ItemStatus
from tests.opac.catalogue import Copy, add_record

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture
def library(transactional_db) -> None:
    """Records committed for the live server's thread to see."""
    add_record(
        "ocm001",
        "Birds of the river valley",
        Copy("MAIN", "book", ItemStatus.AVAILABLE, "598.2 RIV", "Adult non-fiction"),
        Copy("EAST", "book", ItemStatus.ON_LOAN, "598.2 RIV", "Adult non-fiction"),
        authors=["Heron, Ada"],
        subjects=["Birds -- Rivers"],
        language="eng",
        year=1998,
        isbns=["9780316534505"],
    )
    add_record(
        "ocm002",
        "Oiseaux de la rivière : river birds",
        Copy("EAST", "dvd"),
        language="fre",
        year=2004,
    )
    add_record("ocm003", "River fishing", Copy("MAIN", "book"), language="eng", year=2011)


@pytest.fixture
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(library, live_server, browser: Browser) -> Iterator[Page]:
    """A fresh browser context (no cookies, no cache) on the live server.

    It asks for `library` first so that the records are written before
    Playwright's event loop runs in this thread: Django refuses ORM calls
    made while an event loop is running.
    """
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    yield context.new_page()
    context.close()
