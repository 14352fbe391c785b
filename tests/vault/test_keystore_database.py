"""The keystore lives apart from the main database: its own file, or its own schema."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.db import connections

from shelfguard.vault import keystore
from shelfguard.vault.dbsettings import keystore_database
from shelfguard.vault.models import DataKey, ErasureEntry
from shelfguard.vault.routers import KeystoreRouter
from tests.vault.conftest import KEYSTORE


def test_sqlite_keystore_is_its_own_file_under_keys():
    entry = keystore_database(
        {"ENGINE": "django.db.backends.sqlite3", "NAME": "/srv/x/shelfguard.sqlite3"},
        Path("/srv/x"),
    )

    assert entry["NAME"] == "/srv/x/keys/keystore.sqlite3"
    pragmas = entry["OPTIONS"]["init_command"]
    for pragma in ("journal_mode=WAL", "secure_delete=ON", "synchronous=FULL"):
        assert pragma in pragmas
    assert entry["OPTIONS"]["transaction_mode"] == "IMMEDIATE"


def test_postgresql_keystore_is_a_schema_of_the_same_database():
    default = {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": "shelfguard",
        "HOST": "db",
        "PORT": 5432,
        "OPTIONS": {"options": "-c statement_timeout=5000"},
    }

    entry = keystore_database(default, Path("/srv/x"))

    assert entry["ENGINE"] == "shelfguard.vault.backends.postgresql"
    assert (entry["NAME"], entry["HOST"], entry["PORT"]) == ("shelfguard", "db", 5432)
    assert entry["OPTIONS"]["options"] == "-c statement_timeout=5000 -c search_path=keystore"
    assert default["OPTIONS"]["options"] == "-c statement_timeout=5000"  # not modified


def test_other_engines_are_refused():
    with pytest.raises(ValueError, match="SQLite and PostgreSQL"):
        keystore_database({"ENGINE": "django.db.backends.mysql"}, Path("/srv/x"))


def test_router_keeps_vault_tables_in_the_keystore_and_others_out():
    router = KeystoreRouter()

    assert router.db_for_read(DataKey) == "keystore"
    assert router.db_for_write(ErasureEntry) == "keystore"
    assert router.allow_migrate("keystore", "vault") is True
    assert router.allow_migrate("default", "vault") is False
    assert router.allow_migrate("keystore", "patrons") is False
    assert router.allow_migrate("keystore", "contenttypes") is False
    assert router.allow_migrate("default", "patrons") is None


@pytest.mark.django_db(databases=KEYSTORE)
def test_main_database_has_no_keystore_table(keys):
    keystore.new_data_key()
    default = connections["default"]
    with default.cursor() as cursor:
        tables = default.introspection.table_names(cursor)

    assert DataKey._meta.db_table not in tables
    assert ErasureEntry._meta.db_table not in tables


@pytest.mark.postgres_only
@pytest.mark.django_db(databases=KEYSTORE)
def test_postgresql_writes_land_in_the_keystore_schema_of_the_test_database(keys):
    key_id = keystore.new_data_key()
    default, store = connections["default"], connections["keystore"]

    assert store.settings_dict["NAME"] == default.settings_dict["NAME"]
    assert store.settings_dict["NAME"].startswith("test_")
    with store.cursor() as cursor:
        cursor.execute("SELECT current_database(), current_schemas(false)")
        database, schemas = cursor.fetchone()
    assert database == default.settings_dict["NAME"]
    assert schemas == ["keystore"]
    with default.cursor() as cursor:
        cursor.execute(
            "SELECT table_schema FROM information_schema.tables WHERE table_name = %s",
            [DataKey._meta.db_table],
        )
        assert [row[0] for row in cursor.fetchall()] == ["keystore"]
    # The write went through the keystore connection; the default connection sees
    # nothing of it (separate transactions in tests, as in production).
    assert DataKey.objects.using("keystore").filter(pk=key_id).exists()
