"""Fixtures for the vault's tests.

Tests that touch the keystore declare both databases:
`@pytest.mark.django_db(databases=["default", "keystore"])`. The keystore's
test database is created by pytest-django (on SQLite in memory, on
PostgreSQL as the `keystore` schema of the shared test database); the
`keystore_file` fixture points it at a real file for the tests that scan
the disk.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import connections

from shelfguard.vault.dbsettings import KEYSTORE_ALIAS, keystore_path
from shelfguard.vault.keys import ensure_keys
from shelfguard.vault.sealing import forget_cached_keys

KEYSTORE = ["default", "keystore"]

_KEY_VARIABLES = (
    "SHELFGUARD_MASTER_KEY",
    "SHELFGUARD_MASTER_KEY_FILE",
    "SHELFGUARD_INDEX_KEY",
    "SHELFGUARD_INDEX_KEY_FILE",
    "SHELFGUARD_EXPECTED_PATRONS",
)


@pytest.fixture(autouse=True)
def _isolated_keys(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No key from the caller's environment, no unwrapped key left over from another test."""
    for name in _KEY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    forget_cached_keys()
    yield
    forget_cached_keys()


@pytest.fixture
def keys(home: Path) -> Path:
    """A data home with its master and index keys (the test must allow the keystore)."""
    ensure_keys(home)
    return home / "keys"


@pytest.fixture
def keystore_file(home: Path) -> Iterator[Path]:
    """Point the keystore alias at a real SQLite file, `keys/keystore.sqlite3` of the test home.

    The in-memory test keystore is set aside (its connection kept open, so it
    survives) and put back afterwards. Use with a transactional test
    (`transaction=True`): erasures then commit and checkpoint for real.
    """
    connection = connections[KEYSTORE_ALIAS]
    if connection.vendor != "sqlite":
        pytest.skip("the keystore is a file only on SQLite")
    path = keystore_path(home)
    saved_name, saved_connection = connection.settings_dict["NAME"], connection.connection
    connection.connection = None
    connection.settings_dict["NAME"] = str(path)
    try:
        call_command("migrate", database=KEYSTORE_ALIAS, verbosity=0, interactive=False)
        yield path
    finally:
        connection.close()
        connection.settings_dict["NAME"] = saved_name
        connection.connection = saved_connection
