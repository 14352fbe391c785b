"""A real headless Chromium: a patron signs in, asks for their data and downloads the ZIP."""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from shelfguard.vault.sealing import forget_cached_keys
from tests.browser.portal_patrons import PASSWORD, portal_patron, sign_in

CARD = "29000777042"
NAME = "测试读者 Testa Downloader"


@pytest.fixture
def patron_with_password(transactional_db, home: Path, settings):
    """A synthetic patron with a portal password, committed for the live server's thread."""
    yield portal_patron(home, settings, card=CARD, name=NAME, email="download-reader@example.org")
    forget_cached_keys()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True, databases=["default", "keystore"])
def test_patron_downloads_their_data_once(
    patron_with_password, live_server, browser: Browser, home
):
    context = browser.new_context(
        base_url=live_server.url, java_script_enabled=False, accept_downloads=True
    )
    page = context.new_page()
    try:
        sign_in(page, CARD)

        page.goto("/account/export/")
        expect(page.get_by_role("heading", name="Download my data")).to_be_visible()
        page.get_by_label("Your password").fill(PASSWORD)
        page.get_by_role("button", name="Prepare my data").click()
        expect(page.get_by_role("heading", name="Your file is ready")).to_be_visible()

        with page.expect_download() as info:
            page.get_by_role("button", name="Download the ZIP file").click()
        download = info.value
        assert download.suggested_filename.startswith("shelfguard-export-")
        assert download.suggested_filename.endswith(".zip")
        content = Path(download.path()).read_bytes()
        archive = zipfile.ZipFile(io.BytesIO(content))
        names = set(archive.namelist())
        assert {"shelfguard-export.json", "README.txt", "profile.csv", "consents.csv"} <= names
        assert {"loans.csv", "holds.csv", "charges.csv", "access_entries.csv"} <= names
        document = json.loads(archive.read("shelfguard-export.json"))
        assert document["patron_id"] == patron_with_password.pk
        profile = {r["field"]: r["value"] for r in document["sections"]["profile"]["rows"]}
        assert profile["name"] == NAME and profile["card_number"] == CARD
        assert NAME in archive.read("profile.csv").decode("utf-8-sig")
        # Offered once: the file has left the server.
        assert not list((home / "exports").iterdir())

        # The page still holds the form; a second try is refused with a clear message.
        page.get_by_role("button", name="Download the ZIP file").click()
        expect(page.locator("#form-error")).to_contain_text("Ask for your data again")
    finally:
        context.close()
