"""Restore of a PostgreSQL backup into a named database: erasures since stay made.

Runs on PostgreSQL only (`./dev.sh test --postgres-only tests/lifecycle`): the
backup is restored into a fresh database on the test server, and the
restored home is then used by the real `shelfguard` command, which finds its
database through the home's own `keys/database-url`.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from django.db import connection

from shelfguard.lifecycle import services
from shelfguard.patrons import services as patrons
from tests.patrons.conftest import DESK

from .backup_helpers import COMMITTING, OPERATOR, PURPOSE, create, shelfguard

pytestmark = [COMMITTING, pytest.mark.postgres_only]


def _url(name: str) -> str:
    s = connection.settings_dict
    auth = quote(s["USER"] or "", safe="")
    if s.get("PASSWORD"):
        auth += ":" + quote(s["PASSWORD"], safe="")
    host = s.get("HOST") or "localhost"
    port = f":{s['PORT']}" if s.get("PORT") else ""
    return f"postgres://{auth}@{host}{port}/{name}"


@pytest.fixture
def fresh_database() -> Iterator[str]:
    """An empty database on the test server, dropped afterwards; yields its URL."""
    name = f"shelfguard_restored_{uuid.uuid4().hex[:12]}"
    raw = connection.get_new_connection(connection.get_connection_params())
    raw.autocommit = True
    try:
        with raw.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        yield _url(name)
    finally:
        with raw.cursor() as cursor:
            cursor.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        raw.close()


def restore(path, identity, target, **kwargs):
    return services.restore_backup(
        path, identity, target, actor=OPERATOR, purpose=PURPOSE, **kwargs
    )


def show(home, patron_id):
    return shelfguard(
        home, "patron", "show", f"id:{patron_id}", "--purpose", "restore check", "--json"
    )


def keystore_ids(url: str) -> set[str]:
    import psycopg

    with psycopg.connect(url) as db:
        return {str(row[0]) for row in db.execute("SELECT key_id FROM keystore.vault_datakey")}


def test_a_postgresql_backup_restores_into_a_new_database_without_the_erased_patron(
    configured, make_patron, age_key, tmp_path, fresh_database
):
    kept, gone = make_patron(), make_patron()
    backup = create().path
    patrons.erase(gone, actor=DESK, reason="patron request")
    home = tmp_path / "restored"

    outcome = restore(backup, age_key.path, home, database_url=fresh_database)

    assert outcome["tombstoned"] == 1
    assert outcome["database"] == fresh_database.rsplit("/", 1)[1]
    assert fresh_database not in json.dumps(outcome), "no URL (nor password) in the outcome"
    assert (home / "keys" / "database-url").stat().st_mode & 0o077 == 0
    assert not (home / "shelfguard.sqlite3").exists()
    ids = keystore_ids(fresh_database)
    assert gone.key_id not in ids and kept.key_id in ids
    erased = show(home, gone.pk)
    assert erased.returncode == 0, erased.stderr
    assert json.loads(erased.stdout)["status"] == "erased"
    assert "Testa Person" not in erased.stdout
    intact = show(home, kept.pk)
    assert intact.returncode == 0, intact.stderr
    assert "Testa Person" in intact.stdout
    chain = shelfguard(home, "audit", "verify")
    assert chain.returncode == 0, chain.stdout + chain.stderr
    assert not list(tmp_path.glob(".restored.restore-*"))


def test_a_non_empty_database_is_refused_without_yes_and_left_alone(
    configured, make_patron, age_key, tmp_path, fresh_database
):
    kept = make_patron()
    backup = create().path
    restore(backup, age_key.path, tmp_path / "first", database_url=fresh_database)
    before = keystore_ids(fresh_database)

    with pytest.raises(services.BackupError) as refused:
        restore(backup, age_key.path, tmp_path / "second", database_url=fresh_database)

    assert refused.value.code == "target_exists"
    assert keystore_ids(fresh_database) == before
    assert not (tmp_path / "second").exists()
    assert not list(tmp_path.glob(".second.restore-*"))

    again = restore(
        backup, age_key.path, tmp_path / "second", database_url=fresh_database, overwrite=True
    )
    assert again["database"] == fresh_database.rsplit("/", 1)[1]
    assert "Testa Person" in show(tmp_path / "second", kept.pk).stdout


def test_a_postgresql_backup_needs_a_database_url(configured, make_patron, age_key, tmp_path):
    make_patron()
    backup = create().path

    with pytest.raises(services.BackupError) as refused:
        restore(backup, age_key.path, tmp_path / "restored")

    assert refused.value.code == "database_url"
    assert not (tmp_path / "restored").exists()
