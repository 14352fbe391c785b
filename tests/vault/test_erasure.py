"""Crypto-erasure: destroyed keys are gone from the keystore, the journal and the disk."""

from __future__ import annotations

import base64
import json
import stat
import uuid

import pytest
from django.db import connections, transaction

from shelfguard.vault import keystore, sealing, wrapping
from shelfguard.vault.errors import KeyDestroyed, VaultError
from shelfguard.vault.keys import master_keyring
from shelfguard.vault.models import DataKey, ErasureEntry
from shelfguard.vault.rotation import rotate_master_key
from tests.vault.conftest import KEYSTORE

keystore_db = pytest.mark.django_db(databases=KEYSTORE)
# Committing tests ask for the keystore alone: flushing it after the test is all
# they need, and they never touch the main database.
keystore_db_committing = pytest.mark.django_db(databases=["keystore"], transaction=True)


def wrapped_and_raw(key_id: str) -> tuple[bytes, bytes]:
    """The stored wrapped key and the data key inside it (for scanning the disk)."""
    row = DataKey.objects.using("keystore").get(pk=key_id)
    ring = master_keyring()
    raw = wrapping.unwrap(
        ring.key(row.kek_version), row.kek_version, row.key_id, bytes(row.wrapped)
    )
    return bytes(row.wrapped), raw


def encodings(secret: bytes) -> list[bytes]:
    """The forms the bytes could take in a file: raw, hex, base64 (and 16-byte pieces of each)."""
    forms = [secret, secret.hex().encode(), secret.hex().upper().encode(), base64.b64encode(secret)]
    pieces = [secret[i : i + 16] for i in range(0, len(secret) - 15, 8)]
    return forms + pieces


def files_holding(directory, secrets: list[bytes]) -> list[str]:
    found = []
    for path in sorted(directory.iterdir()):
        if not path.is_file():
            continue
        data = path.read_bytes()
        for secret in secrets:
            for form in encodings(secret):
                if form in data:
                    found.append(f"{path.name} holds {len(form)} bytes of a key")
                    break
    return found


@keystore_db
def test_destroy_makes_sealed_values_unreadable(keys):
    key_id = keystore.new_data_key()
    sealed = sealing.seal(key_id, "patron:41", "email", "ada@example.org")

    keystore.destroy_data_key(key_id, owner="patron:41")

    with pytest.raises(KeyDestroyed) as error:
        sealing.unseal(key_id, "patron:41", "email", sealed)
    assert "patron:41" in str(error.value)
    assert not DataKey.objects.using("keystore").filter(pk=key_id).exists()
    assert keystore.erased_key_ids() == {key_id}


@keystore_db
def test_destroy_writes_the_journal_first_and_owner_only(keys, monkeypatch):
    key_id = keystore.new_data_key()
    journal = keystore.journal_path()

    # If the journal cannot be written, the key must not be destroyed.
    def disk_full(path, entries):
        raise OSError(28, "No space left on device")

    with monkeypatch.context() as patch:
        patch.setattr(keystore, "_append_journal", disk_full)
        with pytest.raises(OSError):
            keystore.destroy_data_key(key_id, owner="patron:2")
    assert DataKey.objects.using("keystore").filter(pk=key_id).exists()

    keystore.destroy_data_key(key_id, owner="patron:2")

    lines = journal.read_text().splitlines()
    assert len(lines) == 1
    entry = json.loads(lines[0])
    assert entry["key_id"] == key_id and entry["owner"] == "patron:2"
    assert entry["erased_at"].endswith("+00:00")
    assert stat.S_IMODE(journal.stat().st_mode) == 0o600


@keystore_db
def test_destroying_twice_is_harmless_and_journals_once(keys):
    key_id = keystore.new_data_key()
    keystore.destroy_data_key(key_id, owner="patron:3")
    keystore.destroy_data_key(key_id, owner="patron:3")

    assert len(keystore.journal_path().read_text().splitlines()) == 1
    assert ErasureEntry.objects.using("keystore").filter(pk=key_id).count() == 1


@keystore_db
def test_destroying_an_unknown_key_records_the_erasure(keys):
    # The key may be in a backup that will be restored: record the erasure anyway.
    key_id = str(uuid.uuid4())

    keystore.destroy_data_key(key_id, owner="patron:4")

    assert key_id in keystore.erased_key_ids()
    assert key_id in keystore.journal_path().read_text()


@keystore_db
@pytest.mark.parametrize("owner", ["ada@example.org", "Ada Lovelace", ""])
def test_owner_must_be_an_opaque_id(keys, owner):
    key_id = keystore.new_data_key()
    with pytest.raises(ValueError):
        keystore.destroy_data_key(key_id, owner=owner)
    assert DataKey.objects.using("keystore").filter(pk=key_id).exists()


@keystore_db
def test_reapply_journal_destroys_keys_a_restore_brought_back(keys, tmp_path):
    kept, erased = keystore.new_data_key(), keystore.new_data_key()
    backup = list(DataKey.objects.using("keystore").filter(pk=erased).values())
    keystore.destroy_data_key(erased, owner="patron:5")
    saved_journal = tmp_path / "erasure-journal.jsonl"
    saved_journal.write_bytes(keystore.journal_path().read_bytes())

    # Restore an older keystore (the erased key is back, its erasure record
    # and this home's journal are gone), then re-apply the kept journal.
    DataKey.objects.using("keystore").bulk_create([DataKey(**row) for row in backup])
    ErasureEntry.objects.using("keystore").all().delete()
    keystore.journal_path().unlink()

    assert keystore.reapply_journal(saved_journal) == 1
    assert keystore.reapply_journal(saved_journal) == 0

    with pytest.raises(KeyDestroyed):
        sealing.open_key(erased)
    sealing.open_key(kept)
    assert keystore.erased_key_ids() == {erased}
    assert erased in keystore.journal_path().read_text()


@keystore_db
def test_reapplying_the_live_journal_does_not_duplicate_it(keys):
    key_id = keystore.new_data_key()
    keystore.destroy_data_key(key_id, owner="patron:6")

    assert keystore.reapply_journal(keystore.journal_path()) == 0
    assert len(keystore.journal_path().read_text().splitlines()) == 1


@keystore_db
def test_journal_skips_an_interrupted_last_line_and_refuses_damage(keys, tmp_path):
    key_id = keystore.new_data_key()
    line = json.dumps(
        {"key_id": key_id, "owner": "patron:7", "erased_at": "2025-01-02T03:04:05+00:00"}
    )
    journal = tmp_path / "journal.jsonl"

    journal.write_text(line + "\n" + '{"key_id": "12')
    assert keystore.reapply_journal(journal) == 1

    journal.write_text("not json\n" + line + "\n")
    with pytest.raises(VaultError, match="line 1"):
        keystore.reapply_journal(journal)


@keystore_db
def test_destroy_inside_a_keystore_transaction_shreds_after_commit(
    keys, django_capture_on_commit_callbacks
):
    key_id = keystore.new_data_key()

    with (
        django_capture_on_commit_callbacks(using="keystore") as callbacks,
        transaction.atomic(using="keystore"),
    ):
        keystore.destroy_data_key(key_id, owner="patron:8")

    assert callbacks == [keystore.shred_freed_space]


@keystore_db_committing
def test_destroyed_key_bytes_leave_every_file_under_keys(keystore_file, keys):
    """SQLite: nothing of the wrapped or the raw key is left in keys/ after an erasure."""
    survivors = [keystore.new_data_key() for _ in range(20)]
    key_id = keystore.new_data_key()
    wrapped, raw = wrapped_and_raw(key_id)
    sealing.seal(key_id, "patron:9", "name", "Ada Lovelace")
    for other in survivors[:5]:
        keystore.destroy_data_key(other, owner="patron:10")  # WAL has seen erasures before
    keystore_dir = keystore_file.parent
    assert {p.name for p in keystore_dir.iterdir()} >= {
        "keystore.sqlite3",
        "keystore.sqlite3-wal",
        "keystore.sqlite3-shm",
        "master.key",
        "index.key",
        "erasure-journal.jsonl",
    }
    assert files_holding(keystore_dir, [wrapped]), "the scan must find the key before erasure"
    for name in ("keystore.sqlite3", "keystore.sqlite3-wal", "keystore.sqlite3-shm"):
        assert stat.S_IMODE((keystore_dir / name).stat().st_mode) == 0o600

    keystore.destroy_data_key(key_id, owner="patron:9")

    assert files_holding(keystore_dir, [wrapped, raw]) == []
    with pytest.raises(KeyDestroyed):
        sealing.open_key(key_id)
    for other in survivors[5:]:
        sealing.open_key(other)
    # The write-ahead log was checkpointed and truncated, not just left to rot.
    assert (keystore_dir / "keystore.sqlite3-wal").stat().st_size == 0
    connection = connections["keystore"]
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA secure_delete")
        assert cursor.fetchone()[0] == 1
        cursor.execute("PRAGMA journal_mode")
        assert cursor.fetchone()[0] == "wal"


@pytest.mark.postgres_only
@keystore_db_committing
def test_postgresql_row_is_gone_and_the_table_vacuumed(keys):
    key_id = keystore.new_data_key()
    connection = connections["keystore"]

    def vacuum_count() -> int:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_clear_snapshot()")
            cursor.execute(
                "SELECT vacuum_count FROM pg_stat_user_tables "
                "WHERE schemaname = 'keystore' AND relname = %s",
                [DataKey._meta.db_table],
            )
            return cursor.fetchone()[0]

    before = vacuum_count()
    keystore.destroy_data_key(key_id, owner="patron:11")

    assert vacuum_count() == before + 1
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM {DataKey._meta.db_table} WHERE key_id = %s", [uuid.UUID(key_id)]
        )
        assert cursor.fetchone()[0] == 0
    with pytest.raises(KeyDestroyed):
        sealing.open_key(key_id)


@keystore_db
def test_a_master_key_rotation_makes_any_remnant_of_an_erased_key_useless(keys):
    """Where deleted bytes may linger (PostgreSQL pages and WAL, old backups), they are
    wrapped under a master key version that rotation then deletes."""
    key_id = keystore.new_data_key()
    wrapped, _ = wrapped_and_raw(key_id)
    keystore.destroy_data_key(key_id, owner="patron:12")

    rotate_master_key()

    ring = master_keyring()
    assert ring.versions == (2,)
    assert not (keys / "master.key.1").exists()
    with pytest.raises(wrapping.UnwrapError):
        wrapping.unwrap(ring.key(2), 1, uuid.UUID(key_id), wrapped)
    with pytest.raises(VaultError, match="version 1 is needed"):
        ring.key(1)
