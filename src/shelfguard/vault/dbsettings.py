"""The `keystore` database alias, derived from the `default` one.

Data keys live apart from the data they seal, so that a copy of the main
database (or of its backups) decrypts nothing on its own:

* on SQLite the keystore is its own file, `keys/keystore.sqlite3`, inside the
  owner-only keys directory, with `secure_delete` (freed pages are overwritten)
  and WAL (checkpointed after every erasure so deleted keys leave the log);
* on PostgreSQL it is the same server and database but its own schema,
  `keystore`, reached through a connection whose `search_path` is only that
  schema: the main connection cannot see the keystore tables by accident, and
  an operator can grant the schema to a different role.

This module is imported by `settings.py`, before Django is set up: it must not
import Django models or anything that needs settings.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

KEYSTORE_ALIAS = "keystore"
KEYSTORE_SCHEMA = "keystore"
KEYSTORE_FILE_NAME = "keystore.sqlite3"

_SQLITE = "django.db.backends.sqlite3"
_POSTGRESQL = "django.db.backends.postgresql"
# A thin subclass of Django's PostgreSQL backend: it creates the schema before
# migrating and gives the alias its own tables in the test database (see
# `shelfguard.vault.backends.postgresql`).
KEYSTORE_POSTGRESQL_ENGINE = "shelfguard.vault.backends.postgresql"


def keystore_path(home: Path) -> Path:
    """Where the SQLite keystore lives under a data home."""
    return home / "keys" / KEYSTORE_FILE_NAME


def keystore_database(default: dict[str, Any], home: Path) -> dict[str, Any]:
    """The `DATABASES["keystore"]` entry that goes with `default`."""
    engine = default.get("ENGINE", "")
    if engine == _SQLITE:
        return {
            "ENGINE": _SQLITE,
            "NAME": str(keystore_path(home)),
            "OPTIONS": {
                "timeout": 20,
                # Writers queue at BEGIN instead of failing on a lock upgrade; this
                # also serialises key creation against a rotation's final step.
                "transaction_mode": "IMMEDIATE",
                # synchronous=FULL: a data key must be on disk before the sealed
                # values that need it are committed to the main database, or a
                # power cut could keep the values and lose their key.
                "init_command": (
                    "PRAGMA journal_mode=WAL;"
                    "PRAGMA synchronous=FULL;"
                    "PRAGMA secure_delete=ON;"
                    "PRAGMA foreign_keys=ON;"
                ),
            },
            # The keystore's test database needs nothing from default's; without
            # this Django makes it wait for default, and a test run that only
            # asks for the keystore would fail to set up.
            "TEST": {"DEPENDENCIES": []},
        }
    if engine in (_POSTGRESQL, "django.db.backends.postgresql_psycopg2"):
        entry = copy.deepcopy(default)
        entry["ENGINE"] = KEYSTORE_POSTGRESQL_ENGINE
        options = dict(entry.get("OPTIONS") or {})
        extra = f"-c search_path={KEYSTORE_SCHEMA}"
        options["options"] = f"{options['options']} {extra}" if options.get("options") else extra
        entry["OPTIONS"] = options
        entry["TEST"] = {**(entry.get("TEST") or {}), "DEPENDENCIES": []}
        return entry
    raise ValueError(
        f"the keystore supports SQLite and PostgreSQL, not {engine or 'an unset ENGINE'}"
    )
