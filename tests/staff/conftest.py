"""The project's headless Chromium (see tests/browser/conftest.py), reused here."""

from tests.browser.conftest import browser  # noqa: F401  (a fixture, used by name)
