"""Restore: erasures made after the backup stay made; everyone else comes back intact."""

from __future__ import annotations

import json
import sqlite3
import uuid

import pytest
from django.db import connection

from shelfguard.lifecycle import services
from shelfguard.patrons import services as patrons
from tests.patrons.conftest import DESK

from .backup_helpers import (
    COMMITTING,
    OPERATOR,
    PURPOSE,
    create,
    shelfguard,
)

pytestmark = [
    COMMITTING,
    pytest.mark.skipif(
        connection.vendor != "sqlite", reason="restore into a data home is for SQLite"
    ),
]


def restore(path, identity, target, **kwargs):
    return services.restore_backup(
        path, identity, target, actor=OPERATOR, purpose=PURPOSE, **kwargs
    )


def show(home, patron_id):
    return shelfguard(
        home, "patron", "show", f"id:{patron_id}", "--purpose", "restore check", "--json"
    )


def keystore_ids(home) -> set[str]:
    db = sqlite3.connect(home / "keys" / "keystore.sqlite3")
    try:
        return {str(uuid.UUID(row[0])) for row in db.execute("SELECT key_id FROM vault_datakey")}
    finally:
        db.close()


def test_a_patron_erased_after_the_backup_stays_erased_after_a_restore(
    configured, make_patron, age_key, tmp_path
):
    kept, gone = make_patron(), make_patron()
    backup = create().path
    patrons.erase(gone, actor=DESK, reason="patron request")

    outcome = restore(backup, age_key.path, tmp_path / "restored")

    home = tmp_path / "restored"
    assert outcome["tombstoned"] == 1
    assert gone.key_id not in keystore_ids(home)
    assert kept.key_id in keystore_ids(home)
    erased = show(home, gone.pk)
    assert erased.returncode == 0, erased.stderr
    assert json.loads(erased.stdout)["status"] == "erased"
    assert "Testa Person" not in erased.stdout
    intact = show(home, kept.pk)
    assert intact.returncode == 0, intact.stderr
    assert kept.pk == json.loads(intact.stdout)["id"]
    assert "Testa Person" in intact.stdout
    assert not list(tmp_path.glob(".restored.restore-*")), "the staging directory is gone"


def test_restoring_an_old_keys_backup_too_destroys_the_erased_key_again(
    configured, make_patron, age_key, recovery_key, tmp_path
):
    kept, gone = make_patron(), make_patron()
    keys_backup = services.create_keys_backup(actor=OPERATOR, purpose=PURPOSE).path
    backup = create().path
    patrons.erase(gone, actor=DESK, reason="patron request")

    outcome = restore(
        backup,
        age_key.path,
        tmp_path / "restored",
        keys_backup=keys_backup,
        keys_identity=recovery_key.path,
    )

    home = tmp_path / "restored"
    assert outcome["keys_restored"] is True
    assert outcome["keys_destroyed"] == 1, "the keys backup still held the erased key"
    assert gone.key_id not in keystore_ids(home)
    assert kept.key_id in keystore_ids(home)
    assert json.loads(show(home, gone.pk).stdout)["status"] == "erased"
    assert "Testa Person" in show(home, kept.pk).stdout
    journal = (home / "keys" / "erasure-journal.jsonl").read_text()
    assert gone.key_id in journal


def test_the_live_home_and_a_non_empty_directory_are_refused_without_yes(
    configured, make_patron, age_key, tmp_path, run_cli
):
    make_patron()
    backup = create().path
    occupied = tmp_path / "occupied"
    occupied.mkdir()
    (occupied / "something").write_text("x")

    live = run_cli(
        "backup", "restore", str(backup), "--identity", str(age_key.path), "--home", str(configured)
    )
    other = run_cli(
        "backup", "restore", str(backup), "--identity", str(age_key.path), "--home", str(occupied)
    )

    assert live.code != 0 and "--yes" in live.err
    assert other.code != 0 and "not empty" in other.err
    assert (occupied / "something").read_text() == "x"


def test_restoring_over_an_existing_home_with_yes_replaces_it(
    configured, make_patron, age_key, tmp_path
):
    patron = make_patron()
    backup = create().path
    target = tmp_path / "old-home"
    (target / "keys").mkdir(parents=True)
    (target / "shelfguard.sqlite3").write_text("the old database")
    (target / "keys" / "stale.key").write_text("old")
    (target / "backups").mkdir()
    (target / "backups" / "kept-backup").write_text("an older backup")

    restore(backup, age_key.path, target, overwrite=True)

    assert not (target / "keys" / "stale.key").exists()
    assert (target / "backups" / "kept-backup").read_text() == "an older backup"
    assert "Testa Person" in show(target, patron.pk).stdout
    assert not list(tmp_path.glob(".old-home.*")), "nothing is left beside the home"
