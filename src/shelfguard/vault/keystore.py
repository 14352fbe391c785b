"""The keystore: one data key per owner, wrapped by the master key, and its erasure.

Data keys live in the `keystore` database alias, apart from the main
database (see `dbsettings.py`). Destroying a data key is how an owner's data
is erased: every value sealed with it becomes unreadable, in the live
database and in every backup of it.

An erasure is made final in three places, in this order:

1. a line in `keys/erasure-journal.jsonl`, flushed to disk first: if the
   keystore is later restored from an older backup, `reapply_journal`
   destroys the key again. A crash after this line and before the delete
   leaves a key the journal already condemns, never the reverse;
2. the row's deletion and an `ErasureEntry`, in one keystore transaction;
3. the freed bytes leaving the disk: on SQLite `secure_delete` zeroes the
   freed page and a `wal_checkpoint(TRUNCATE)` empties the write-ahead log
   that still held the row; on PostgreSQL the table is vacuumed. PostgreSQL
   has no secure delete: the dead row's bytes can linger in free space
   inside the table's pages and in old WAL until overwritten. They are
   still wrapped by the master key, so a master key rotation
   (`shelfguard keys rotate`) makes every such remnant unreadable for good.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from django.db import connections, transaction

from shelfguard.core import clock
from shelfguard.core.home import home_dir, keys_dir
from shelfguard.vault import keyfiles, wrapping
from shelfguard.vault.cache import key_cache
from shelfguard.vault.dbsettings import KEYSTORE_ALIAS
from shelfguard.vault.errors import KeyDestroyed, SealBroken, VaultError
from shelfguard.vault.keys import master_keyring, require_master_keyring, verify_master_keyring
from shelfguard.vault.models import DataKey, ErasureEntry

logger = logging.getLogger(__name__)

JOURNAL_NAME = "erasure-journal.jsonl"

# Owners are opaque ids (a patron id, "p-1234", a UUID). The pattern keeps
# out spaces and "@", so an email address or a name cannot be passed as an
# owner by mistake and end up in the keystore and the journal.
_OWNER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")

_BATCH = 500
_CHECKPOINT_WAIT_SECONDS = 2.0


def check_owner(owner: str) -> str:
    """`owner` if it is an opaque id; ValueError otherwise (message without the value)."""
    if not isinstance(owner, str) or not _OWNER.match(owner):
        raise ValueError(
            "owner must be an opaque id of 1-128 letters, digits, '.', '_', ':' or '-' "
            "(a patron id, never a name or an address)"
        )
    return owner


def parse_key_id(key_id: str | uuid.UUID) -> uuid.UUID:
    """The UUID of a data key id; ValueError if it is not one."""
    if isinstance(key_id, uuid.UUID):
        return key_id
    try:
        return uuid.UUID(str(key_id))
    except ValueError:
        raise ValueError("a data key id is a UUID") from None


# --- Creating and opening -------------------------------------------------------------------


class _VersionRetired(Exception):
    """The master key version a new key was wrapped with was retired meanwhile."""


def new_data_key() -> str:
    """Create a data key for a new owner and return its id (a UUID string).

    The key is 32 random bytes, wrapped under the current master key version
    and committed to the keystore before this returns, so the caller can
    seal values with it at once.
    """
    for _attempt in range(3):
        ring = require_master_keyring()
        version = ring.current
        key_id = uuid.uuid4()
        data_key = os.urandom(keyfiles.KEY_BYTES)
        wrapped = wrapping.wrap(ring.key(version), version, key_id, data_key)
        try:
            with transaction.atomic(using=KEYSTORE_ALIAS):
                DataKey.objects.using(KEYSTORE_ALIAS).create(
                    key_id=key_id, wrapped=wrapped, kek_version=version, created_at=clock.now()
                )
                # A rotation deletes a retired master key file while it holds the
                # write lock on this table (rotation._retire). Having inserted, we
                # hold a conflicting lock; if the version we used is gone now, the
                # rotation finished between our read of the key files and our
                # insert and would never re-wrap this row: roll back and retry.
                fresh = master_keyring(fresh=True)
                if fresh is None or not fresh.has(version):
                    raise _VersionRetired
        except _VersionRetired:
            continue
        return str(key_id)
    raise VaultError("the master key changed during three attempts to create a data key; retry")


def load_data_key(key_id: uuid.UUID) -> bytes:
    """The unwrapped data key (for `sealing.open_key`; nothing else needs raw keys).

    KeyDestroyed when the key is gone; SealBroken when its row does not
    unwrap though the master key is right; VaultError when the master key is
    missing or wrong.
    """
    row = _fetch_wrapped(key_id)
    if row is None:
        raise _gone(key_id)
    wrapped, version = row
    ring = require_master_keyring()
    try:
        return wrapping.unwrap(ring.key(version), version, key_id, wrapped)
    except wrapping.UnwrapError:
        # Wrong master key, or only this row damaged? The other rows of the
        # same version tell: verify raises the clear "wrong key" error.
        verify_master_keyring(ring)
        raise SealBroken(
            f"data key {key_id} does not unwrap under master key version {version} although "
            "other keys of that version do: its keystore row is damaged or was tampered with"
        ) from None


def _fetch_wrapped(key_id: uuid.UUID) -> tuple[bytes, int] | None:
    """(wrapped key, master key version) of one row, or None.

    Plain SQL rather than the ORM: this is the hot path of every page that
    reveals a patron, and building the ORM query cost several times the
    database round trip.
    """
    connection = connections[KEYSTORE_ALIAS]
    meta = DataKey._meta
    quote = connection.ops.quote_name
    sql = (
        f"SELECT {quote(meta.get_field('wrapped').column)}, "
        f"{quote(meta.get_field('kek_version').column)} FROM {quote(meta.db_table)} "
        f"WHERE {quote(meta.pk.column)} = %s"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [meta.pk.get_db_prep_value(key_id, connection)])
        row = cursor.fetchone()
    return None if row is None else (bytes(row[0]), int(row[1]))


def _gone(key_id: uuid.UUID) -> KeyDestroyed:
    entry = (
        ErasureEntry.objects.using(KEYSTORE_ALIAS)
        .filter(pk=key_id)
        .values_list("erased_at", "owner")
    ).first()
    if entry is not None:
        erased_at, owner = entry
        return KeyDestroyed(
            f"data key {key_id} (owner {owner}) was destroyed on {erased_at:%Y-%m-%d %H:%M} UTC; "
            "what it sealed can never be read again"
        )
    return KeyDestroyed(
        f"data key {key_id} is not in the keystore: it was destroyed, or the keystore was "
        "restored from a backup older than the key"
    )


# --- Erasure -------------------------------------------------------------------------------


@dataclass(frozen=True)
class JournalEntry:
    key_id: uuid.UUID
    owner: str
    erased_at: dt.datetime

    def line(self) -> str:
        record = {
            "key_id": str(self.key_id),
            "owner": self.owner,
            "erased_at": self.erased_at.astimezone(dt.UTC).isoformat(),
        }
        return json.dumps(record, sort_keys=True, separators=(",", ":")) + "\n"


def journal_path(home: Path | None = None) -> Path:
    """`keys/erasure-journal.jsonl` of the data home."""
    return keys_dir(home or home_dir()) / JOURNAL_NAME


def _append_journal(path: Path, entries: list[JournalEntry]) -> None:
    """Append whole lines and flush them to disk before returning.

    O_APPEND makes each write land at the end even with several processes
    erasing at once; the fsync makes the erasure survive a power cut.
    """
    if not entries:
        return
    created = not path.exists()
    data = "".join(entry.line() for entry in entries).encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    try:
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
        os.fsync(fd)
    finally:
        os.close(fd)
    if created:
        keyfiles.fsync_dir(path.parent)


def read_journal(path: Path) -> list[JournalEntry]:
    """The entries of an erasure journal (empty if the file does not exist).

    A final line without its newline is the trace of a crash during an
    append; its erasure never reached the keystore (the journal is written
    first), so it is skipped. Any other unreadable line is an error: a
    journal that cannot be read in full must not be half applied.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    lines = text.split("\n")
    complete, tail = lines[:-1], lines[-1]
    if tail.strip():
        logger.warning("%s ends with an incomplete line (an interrupted append); skipped", path)
    entries: list[JournalEntry] = []
    for number, line in enumerate(complete, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            entry = JournalEntry(
                key_id=uuid.UUID(record["key_id"]),
                owner=check_owner(record["owner"]),
                erased_at=dt.datetime.fromisoformat(record["erased_at"]),
            )
            if entry.erased_at.tzinfo is None:
                raise ValueError("naive time")
        except (ValueError, KeyError, TypeError, AttributeError):
            raise VaultError(f"{path}, line {number}: not an erasure journal entry") from None
        entries.append(entry)
    return entries


def destroy_data_key(key_id: str, *, owner: str) -> None:
    """Destroy a data key: everything sealed with it becomes unreadable for good.

    `owner` is the caller's opaque id for whose key it was (e.g. a patron
    id); it goes into the erasure journal so that an operator can tell which
    erasure a line records. Destroying a key that is already gone records
    the erasure if it was not recorded (a restore may bring the key back)
    and otherwise does nothing.

    The keystore's own transaction commits the deletion at once, even when
    the caller is inside a transaction on the main database: if the caller
    then rolls back, the key stays destroyed (the data is unreadable and the
    erasure can be completed by running it again) rather than the other way
    round. Only when the caller holds an open transaction on the keystore
    itself is the shredding of freed bytes put off until it commits.
    """
    kid = parse_key_id(key_id)
    check_owner(owner)
    recorded = ErasureEntry.objects.using(KEYSTORE_ALIAS).filter(pk=kid).exists()
    if not recorded:
        entry = JournalEntry(key_id=kid, owner=owner, erased_at=clock.now())
        _append_journal(journal_path(), [entry])
    with transaction.atomic(using=KEYSTORE_ALIAS):
        deleted, _ = DataKey.objects.using(KEYSTORE_ALIAS).filter(pk=kid).delete()
        if not recorded:
            # One INSERT that tolerates a concurrent erasure of the same key.
            ErasureEntry.objects.using(KEYSTORE_ALIAS).bulk_create(
                [ErasureEntry(key_id=kid, owner=owner, erased_at=entry.erased_at)],
                ignore_conflicts=True,
            )
    key_cache.discard(kid)
    if deleted:
        _shred_when_committed()


def erased_key_ids() -> set[str]:
    """Ids (UUID strings) of every data key recorded as destroyed."""
    return {
        str(kid)
        for kid in ErasureEntry.objects.using(KEYSTORE_ALIAS).values_list("key_id", flat=True)
    }


def reapply_journal(path: str | Path) -> int:
    """Destroy every key listed in an erasure journal; returns how many were still present.

    For restores: after restoring the keystore (or the whole data home) from
    a backup, run this with the journal kept outside that backup (or the
    newest copy of it) so that no erased patron comes back. Entries missing
    from this home's own journal are appended to it first.
    """
    source = Path(path)
    entries = read_journal(source)
    if not entries:
        return 0
    live = journal_path()
    same_file = live.exists() and source.exists() and os.path.samefile(source, live)
    if not same_file:
        known = {entry.key_id for entry in read_journal(live)}
        missing: list[JournalEntry] = []
        for entry in entries:
            if entry.key_id not in known:
                known.add(entry.key_id)
                missing.append(entry)
        _append_journal(live, missing)
    destroyed = 0
    for start in range(0, len(entries), _BATCH):
        batch = entries[start : start + _BATCH]
        ids = [entry.key_id for entry in batch]
        with transaction.atomic(using=KEYSTORE_ALIAS):
            deleted, _ = DataKey.objects.using(KEYSTORE_ALIAS).filter(pk__in=ids).delete()
            destroyed += deleted
            ErasureEntry.objects.using(KEYSTORE_ALIAS).bulk_create(
                [
                    ErasureEntry(key_id=e.key_id, owner=e.owner, erased_at=e.erased_at)
                    for e in batch
                ],
                ignore_conflicts=True,
            )
        for kid in ids:
            key_cache.discard(kid)
    if destroyed:
        _shred_when_committed()
    return destroyed


# --- Getting deleted bytes off the disk ------------------------------------------------------


def _shred_when_committed() -> None:
    connection = connections[KEYSTORE_ALIAS]
    if connection.in_atomic_block:
        # Neither a checkpoint nor VACUUM can do its work inside the caller's
        # open transaction (the deletion is not even committed yet).
        transaction.on_commit(shred_freed_space, using=KEYSTORE_ALIAS)
    else:
        shred_freed_space()


def shred_freed_space() -> None:
    """Push deleted keystore rows off the disk (see the module docstring).

    Must run outside a transaction on the keystore. On SQLite, a reader
    holding the log open can stop the checkpoint; it is retried for a short
    while and then left to the next erasure, with a warning.
    """
    connection = connections[KEYSTORE_ALIAS]
    if connection.in_atomic_block:
        raise VaultError("shred_freed_space() cannot run inside a keystore transaction")
    if connection.vendor == "sqlite":
        deadline = time.monotonic() + _CHECKPOINT_WAIT_SECONDS
        pause = 0.01
        while True:
            with connection.cursor() as cursor:
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                busy = cursor.fetchone()[0]
            if not busy:
                return
            if time.monotonic() >= deadline:
                logger.warning(
                    "keystore WAL checkpoint blocked by a reader; erased keys stay in the "
                    "keystore's -wal file until the next checkpoint"
                )
                return
            time.sleep(pause)
            pause = min(pause * 2, 0.2)
    elif connection.vendor == "postgresql":
        # Vacuuming prunes the dead row from its heap page (its tuple storage
        # is released). INDEX_CLEANUP OFF leaves the index entries, which hold
        # only the key id, to autovacuum: cleaning every index after each
        # erasure would cost ~10 ms on a keystore of 200,000 keys instead of
        # well under one.
        table = connection.ops.quote_name(DataKey._meta.db_table)
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM (INDEX_CLEANUP OFF) {table}")
    else:
        raise VaultError(f"the keystore does not support {connection.vendor}")
