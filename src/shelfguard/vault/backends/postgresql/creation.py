"""Test-database handling for the keystore alias on PostgreSQL.

In production the keystore is a schema of the main database. Tests must look
the same: one test database, the keystore tables in its `keystore` schema,
written through the keystore alias's own connection.

Django groups aliases whose test databases share a "signature" (host, port,
engine, test name): the first alias creates and migrates the test database,
the others are only pointed at it (`set_as_test_mirror`) and are never
migrated, so the keystore schema would stay empty. `TEST["MIRROR"]` is no
answer either: a mirror alias is treated as a read replica in tests.

So this creation class reports the stock PostgreSQL signature (the alias
groups with `default` when they name the same server and database), and when
it is pointed at the shared test database it migrates its own schema there.
Created after `default` (Django puts `default` first in a group), it is also
destroyed with it: dropping the test database drops the schema. PostgreSQL
refuses to drop a database another session is connected to, and test
runners that keep connections open between tests (pytest-django) would
still hold this alias's connection then; so the keystore connection is
closed just before the primary alias drops the database.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.db import connections
from django.db.backends.postgresql import creation

_STOCK_ENGINE = "django.db.backends.postgresql"


class DatabaseCreation(creation.DatabaseCreation):
    def test_db_signature(self) -> tuple[Any, ...]:
        host, port, _engine, name = super().test_db_signature()
        return (host, port, _STOCK_ENGINE, name)

    def set_as_test_mirror(self, primary_settings_dict: dict[str, Any]) -> None:
        super().set_as_test_mirror(primary_settings_dict)
        alias = self.connection.alias
        settings.DATABASES[alias]["NAME"] = primary_settings_dict["NAME"]
        self.connection.close()
        # `migrate` calls prepare_database(), which creates the schema first.
        call_command("migrate", verbosity=0, interactive=False, database=alias, run_syncdb=True)
        self._close_before_primary_drops(primary_settings_dict)

    def _close_before_primary_drops(self, primary_settings_dict: dict[str, Any]) -> None:
        primary = next(
            (c for c in connections.all() if c.settings_dict is primary_settings_dict), None
        )
        if primary is None:
            return
        destroy = primary.creation._destroy_test_db
        keystore = self.connection

        def close_keystore_then_destroy(test_database_name: str, verbosity: int) -> Any:
            keystore.close()
            return destroy(test_database_name, verbosity)

        primary.creation._destroy_test_db = close_keystore_then_destroy
