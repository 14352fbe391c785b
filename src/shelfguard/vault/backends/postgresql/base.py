"""PostgreSQL backend for the `keystore` alias: the keystore schema in the main database.

The alias connects with `search_path=keystore`, so its tables (and its own
`django_migrations`) live in that schema. Two additions over Django's backend:

* `prepare_database` (called by `migrate` before anything else) creates the
  schema when it is missing; without it PostgreSQL has nowhere to create
  tables ("no schema has been selected to create in");
* `creation_class` makes the test database for this alias the *same* test
  database as `default`'s, with the keystore schema migrated in it (see
  `creation.py`).
"""

from __future__ import annotations

from django.db.backends.postgresql import base

from shelfguard.vault.backends.postgresql.creation import DatabaseCreation
from shelfguard.vault.dbsettings import KEYSTORE_SCHEMA


class DatabaseWrapper(base.DatabaseWrapper):
    creation_class = DatabaseCreation

    def prepare_database(self) -> None:
        super().prepare_database()
        with self.cursor() as cursor:
            # Look before creating: CREATE SCHEMA IF NOT EXISTS still needs the
            # CREATE privilege on the database, which a least-privilege role
            # that was given an existing schema may rightly lack.
            cursor.execute(
                "SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = %s", [KEYSTORE_SCHEMA]
            )
            if cursor.fetchone() is None:
                cursor.execute(
                    f"CREATE SCHEMA IF NOT EXISTS {self.ops.quote_name(KEYSTORE_SCHEMA)}"
                )
