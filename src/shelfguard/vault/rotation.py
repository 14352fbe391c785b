"""Rotating the master key and the index key, resumably.

Master key rotation re-wraps every data key under a new master key version.
Sealed values are untouched (they are sealed with data keys, which do not
change), so no patron row is read or written. Steps, each safe to crash
after:

1. keep the current key as `keys/master.key.<old>` (flushed to disk);
2. write the new key to `keys/master.key` (atomic rename): from here new data
   keys are wrapped with the new version, old rows still open with the kept
   file;
3. re-wrap rows of older versions in batches, one transaction each; every
   row records its `kek_version`, so a rerun picks up where a crash left off;
4. under the keystore's write lock, check no row of an older version is left
   and delete the kept file(s). The lock closes the race with a process that
   read the old version just before step 2 and inserts a row with it (see
   `keystore.new_data_key`).

A rerun after a crash finishes the rotation in progress instead of starting
another one. Every crash point leaves both versions usable.

Index key rotation writes the new version as `keys/index.key.<new>`
(pending), hands the caller's `rebuild` a function computing indexes with it,
and renames it over `keys/index.key` only when `rebuild` has returned. While
pending, new index values are made with the new version and lookups try
both (`blind.blind_index_candidates`). A rerun reuses the pending key.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from django.db import connections, transaction

from shelfguard.core.home import home_dir, keys_dir
from shelfguard.vault import blind, keyfiles, sizing, wrapping
from shelfguard.vault.dbsettings import KEYSTORE_ALIAS
from shelfguard.vault.errors import VaultError
from shelfguard.vault.keys import (
    INDEX_KEY_NAME,
    MASTER_KEY_NAME,
    MasterKeyring,
    expected_population,
    index_keyring,
    master_keyring,
    require_master_keyring,
    verify_master_keyring,
)
from shelfguard.vault.models import DataKey

Progress = Callable[[int, int | None], None]
"""progress(done, total): called as work advances; total is None when unknown."""

BATCH = 500


def _refuse_environment(source: str, what: str) -> None:
    raise VaultError(
        f"the {what} comes from {source}; rotation writes the new key to keys/. Move the key "
        f"into keys/ (mode 600) and unset the variable, rotate, then put the new key back into "
        "your secret store"
    )


# --- Master key ----------------------------------------------------------------------------


def _start_master_rotation(ring: MasterKeyring) -> MasterKeyring:
    """Steps 1 and 2: keep the current version, install the next one."""
    keys = keys_dir(home_dir())
    old = ring.current
    kept = keys / f"{MASTER_KEY_NAME}.{old}"
    if not kept.exists():
        keyfiles.write_new_key_file(kept, keyfiles.format_key(old, ring.key(old)))
    new_key = os.urandom(keyfiles.KEY_BYTES)
    keyfiles.replace_key_file(keys / MASTER_KEY_NAME, keyfiles.format_key(old + 1, new_key))
    fresh = master_keyring(fresh=True)
    if fresh is None or fresh.current != old + 1:
        raise VaultError("keys/master.key did not take the new master key; check the disk")
    return fresh


def _old_rows():
    return DataKey.objects.using(KEYSTORE_ALIAS)


def _rewrap(ring: MasterKeyring, progress: Progress | None, done: int) -> int:
    """Step 3: re-wrap rows of older versions under the current one, batch by batch."""
    current = ring.current
    total = done + _old_rows().filter(kek_version__lt=current).count()
    connection = connections[KEYSTORE_ALIAS]
    table = connection.ops.quote_name(DataKey._meta.db_table)
    key_field = DataKey._meta.get_field("key_id")
    while True:
        with transaction.atomic(using=KEYSTORE_ALIAS):
            batch = list(
                _old_rows()
                .filter(kek_version__lt=current)
                .order_by("key_id")
                .values_list("key_id", "wrapped", "kek_version")[:BATCH]
            )
            if not batch:
                return done
            updates = []
            for key_id, wrapped, version in batch:
                try:
                    data_key = wrapping.unwrap(ring.key(version), version, key_id, bytes(wrapped))
                except wrapping.UnwrapError:
                    raise VaultError(
                        f"data key {key_id} does not unwrap under master key version {version}; "
                        "its row is damaged. The rotation stopped; both versions stay usable"
                    ) from None
                rewrapped = wrapping.wrap(ring.key(current), current, key_id, data_key)
                updates.append(
                    (rewrapped, current, key_field.get_db_prep_value(key_id, connection), version)
                )
            with connection.cursor() as cursor:
                # The version guard leaves alone a row a concurrent rotation
                # already moved; a row destroyed meanwhile simply matches nothing.
                cursor.executemany(
                    f"UPDATE {table} SET wrapped = %s, kek_version = %s "
                    "WHERE key_id = %s AND kek_version = %s",
                    updates,
                )
        done += len(batch)
        if progress is not None:
            progress(done, max(total, done))


def _lock_data_keys() -> None:
    connection = connections[KEYSTORE_ALIAS]
    if connection.vendor == "postgresql":
        # Conflicts with the ROW EXCLUSIVE lock every INSERT takes, and with
        # itself; readers go on. On SQLite the IMMEDIATE transaction already
        # holds the database's write lock.
        table = connection.ops.quote_name(DataKey._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")


def _retire(ring: MasterKeyring) -> bool:
    """Step 4: delete kept older versions once no row needs them. False if rows remain."""
    keys = keys_dir(home_dir())
    with transaction.atomic(using=KEYSTORE_ALIAS):
        _lock_data_keys()
        if _old_rows().filter(kek_version__lt=ring.current).exists():
            return False
        for version in ring.retained:
            if version < ring.current:
                keyfiles.remove_key_file(keys / f"{MASTER_KEY_NAME}.{version}")
    return True


def rotate_master_key(progress: Progress | None = None) -> int:
    """Re-wrap every data key under a new master key version; returns how many.

    Resumable: after a crash, run it again and it completes the rotation that
    was under way (it does not start another). Patron rows are not touched.
    VaultError when the master key comes from the environment (the new key
    must be written to keys/), is missing, or does not open the keystore.
    """
    ring = require_master_keyring()
    if ring.from_environment:
        _refuse_environment(ring.source, "master key")
    # A wrong key must stop us before anything is written.
    verify_master_keyring(ring)
    if not ring.rotation_pending:
        ring = _start_master_rotation(ring)
    done = 0
    while True:
        done = _rewrap(ring, progress, done)
        if _retire(ring):
            master_keyring(fresh=True)
            return done
        # Rows with an older version appeared after the batch loop (a process
        # that still had the old key loaded); re-wrap them too.
        ring = require_master_keyring()


# --- Index key -----------------------------------------------------------------------------


def rotate_index_key(
    rebuild: Callable[[Callable[[str, str], bytes]], int], progress: Progress | None = None
) -> int:
    """Make a new index key version, have `rebuild` re-index every row, then switch.

    `rebuild(index)` is the owner of the indexed rows (the patrons service):
    it must store `index(kind, value)` for every indexed value and return how
    many rows it rebuilt. It may run more than once (after a crash), so it
    must be idempotent. The new version's index lengths are planned afresh
    for the expected number of patrons (`keys.expected_population`).
    Returns what `rebuild` returned. If `rebuild` raises, the pending key
    stays and a rerun reuses it.
    """
    home = home_dir()
    ring = index_keyring(home, fresh=True)
    if ring is not None and ring.from_environment:
        _refuse_environment(ring.source, "index key")
    keys = keys_dir(home)
    if ring is None or ring.pending is None:
        version = ring.current.version + 1 if ring is not None and ring.current else 1
        bits = sizing.plan_bits(expected_population(home))
        keyfiles.write_new_key_file(
            keys / f"{INDEX_KEY_NAME}.{version}",
            keyfiles.format_key(version, os.urandom(keyfiles.KEY_BYTES), bits),
        )
        ring = index_keyring(home, fresh=True)
    assert ring is not None and ring.pending is not None
    pending = ring.pending
    make_index = blind.index_function(pending)
    calls = 0

    def index(kind: str, value: str) -> bytes:
        nonlocal calls
        result = make_index(kind, value)
        calls += 1
        if progress is not None and calls % 100 == 0:
            progress(calls, None)
        return result

    rebuilt = rebuild(index)
    if not isinstance(rebuilt, int):
        raise VaultError("the rebuild function must return the number of rows it rebuilt")
    pending_path = keys / f"{INDEX_KEY_NAME}.{pending.version}"
    if not pending_path.exists():
        raise VaultError(f"{pending_path} vanished during the rebuild; rerun the rotation")
    # Rename over index.key: the switch is atomic, and the old version is gone
    # with it (nothing is indexed with it any more).
    os.replace(pending_path, keys / INDEX_KEY_NAME)
    keyfiles.fsync_dir(keys)
    index_keyring(home, fresh=True)
    if progress is not None:
        progress(calls, calls)
    return rebuilt
