"""Creating backups: the data database, and (separately) the keys.

Data backups hold the data database only: sealed columns, blind indexes and
the access ledger, never a data key. They are encrypted to `[backup]
recipients`, whose identities the library keeps offline.

Keys backups hold the master key file(s), the index key and a copy of the
keystore, encrypted to `[backup] recovery_recipients`, and are kept only
`keys_keep_days`: a keystore backup brings back the keys of patrons erased
since, so it must expire soon after every erasure. Without it a data
backup decrypts nothing; with the live keystore, an erased patron's data in
an old data backup stays unreadable.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import platform
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from django.db import connections

from shelfguard.core import clock
from shelfguard.core import progress as progress_bars
from shelfguard.core.home import home_dir, keys_dir
from shelfguard.lifecycle import archive, snapshot
from shelfguard.lifecycle.errors import BackupError
from shelfguard.vault.dbsettings import KEYSTORE_ALIAS, KEYSTORE_SCHEMA
from shelfguard.vault.keys import data_key_count

KEYSTORE_MEMBER = "keystore.sqlite3"


def shelfguard_version() -> str:
    try:
        return metadata.version("shelfguard")
    except metadata.PackageNotFoundError:
        return "unknown"


@dataclass
class Created:
    path: Path
    kind: str
    size_bytes: int
    dump_bytes: int
    seconds: float
    manifest: dict[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": str(self.path),
            "kind": self.kind,
            "size_bytes": self.size_bytes,
            "dump_bytes": self.dump_bytes,
            "seconds": round(self.seconds, 3),
            "created_at": self.manifest["created_at"],
            "row_counts": self.manifest.get("row_counts", {}),
            "ledger_head": self.manifest.get("ledger_head"),
        }


def _manifest(kind: str, created_at: dt.datetime, **rest: Any) -> dict[str, Any]:
    return {
        "format_version": archive.FORMAT_VERSION,
        "kind": kind,
        "created_at": created_at.astimezone(dt.UTC).isoformat(),
        "shelfguard_version": shelfguard_version(),
        "python": platform.python_version(),
        **rest,
    }


@contextlib.contextmanager
def _work_dir(target_dir: Path) -> Iterator[Path]:
    """Lock `target_dir` and give a temporary directory in it, removed afterwards.

    A full disk, whatever step ran out of it, is raised as the disk-full BackupError.
    """
    with archive.locked(target_dir):
        work = Path(tempfile.mkdtemp(prefix=archive.TEMP_PREFIX, dir=target_dir))
        try:
            yield work
        except BaseException as exc:
            if archive.disk_full(exc):
                raise archive.disk_full_error(target_dir) from None
            raise
        finally:
            shutil.rmtree(work, ignore_errors=True)


def create_data_backup(directory: Path | None, *, show_progress: bool) -> Created:
    """A consistent snapshot of the data database, packed, compressed and age-encrypted."""
    to = archive.recipients("recipients")
    target_dir = archive.prepare_directory(directory)
    started = time.perf_counter()
    vendor = connections["default"].vendor
    with _work_dir(target_dir) as work:
        created_at = clock.now()
        if vendor == "sqlite":
            dump = work / snapshot.SQLITE_DUMP
            with progress_bars.count_progress(None, "Snapshot", show_progress) as bar:

                def step(done: int, total: int) -> None:
                    if bar is not None:
                        bar.update(bar.task_ids[0], completed=done, total=total)

                snapshot.copy_sqlite("default", dump, step)
            facts = snapshot.sqlite_facts(dump)
        elif vendor == "postgresql":
            dump = work / snapshot.POSTGRESQL_DUMP
            facts = snapshot.dump_postgresql("default", dump)
        else:
            raise BackupError("vendor", f"Backups do not support {vendor} databases.")
        manifest = _manifest(
            archive.DATA,
            created_at,
            database_vendor=facts.vendor,
            database_schema=facts.schema,
            dump_file=dump.name,
            dump_sha256=archive.sha256_file(dump),
            dump_bytes=dump.stat().st_size,
            migrations=facts.migrations,
            row_counts=facts.row_counts,
            ledger_head=facts.ledger_head,
        )
        packed = work / "backup.tar.gz"
        archive.pack(packed, manifest, [(dump.name, dump)])
        target = archive.final_name(target_dir, archive.DATA, created_at)
        archive.encrypt_into_place(packed, target, to, show_progress=show_progress)
    return Created(
        path=target,
        kind=archive.DATA,
        size_bytes=target.stat().st_size,
        dump_bytes=manifest["dump_bytes"],
        seconds=time.perf_counter() - started,
        manifest=manifest,
    )


def _copy_keystore(work: Path) -> Path:
    """A consistent copy of the keystore: its SQLite file, or a dump of its schema."""
    connection = connections[KEYSTORE_ALIAS]
    if connection.vendor == "sqlite":
        target = work / KEYSTORE_MEMBER
        snapshot.copy_sqlite(KEYSTORE_ALIAS, target)
    else:
        target = work / "keystore.sql"
        snapshot.dump_postgresql_schema(KEYSTORE_ALIAS, KEYSTORE_SCHEMA, target)
    return target


def _key_files(home: Path) -> list[Path]:
    from shelfguard.vault.keys import INDEX_KEY_NAME, MASTER_KEY_NAME

    keys = keys_dir(home)
    found = []
    for base in (MASTER_KEY_NAME, INDEX_KEY_NAME):
        found += sorted(p for p in keys.glob(f"{base}*") if p.is_file())
    return found


def create_keys_backup(directory: Path | None, *, show_progress: bool) -> Created:
    """The master and index key files and the keystore, age-encrypted to the recovery keys."""
    to = archive.recipients("recovery_recipients")
    target_dir = archive.prepare_directory(directory)
    started = time.perf_counter()
    home = home_dir()
    files = _key_files(home)
    if not any(p.name == "master.key" for p in files):
        raise BackupError(
            "no_master_key",
            "keys/master.key is not a file in the data home (it may come from the environment); "
            "back that secret up where it is kept.",
        )
    with _work_dir(target_dir) as work:
        created_at = clock.now()
        keystore_copy = _copy_keystore(work)
        members = [(f"keys/{p.name}", p) for p in files]
        members.append((keystore_copy.name, keystore_copy))
        journal = keys_dir(home) / "erasure-journal.jsonl"
        if journal.is_file():
            members.append((f"keys/{journal.name}", journal))
        data_keys = data_key_count()
        plain_bytes = sum(path.stat().st_size for _, path in members)
        manifest = _manifest(
            archive.KEYS,
            created_at,
            files={name: archive.sha256_file(path) for name, path in members},
            data_keys=int(data_keys),
        )
        packed = work / "keys.tar.gz"
        archive.pack(packed, manifest, members)
        target = archive.final_name(target_dir, archive.KEYS, created_at)
        archive.encrypt_into_place(packed, target, to, show_progress=show_progress)
    return Created(
        path=target,
        kind=archive.KEYS,
        size_bytes=target.stat().st_size,
        dump_bytes=plain_bytes,
        seconds=time.perf_counter() - started,
        manifest=manifest,
    )
