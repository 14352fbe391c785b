"""Restoring a data backup into a data home, with every later erasure re-applied.

The danger of a restore is resurrection: a backup taken on Monday holds the
sealed data of a patron erased on Tuesday. Their data key is gone from the
live keystore, so the data stays unreadable as long as the restored home
uses the live keys. Two cases need more:

* a keys backup is restored too (the live keys were lost): it may still hold
  the erased patron's key. So the erasure journal, the union of the live
  home's journal, the target's and the keys backup's, is applied to the
  restored keystore and those keys are destroyed again;
* the restored data still holds the erased patron's row with its ciphertext;
  it is erased again through the patrons service (tombstone, ledger entry in
  the restored ledger). Should the patrons service refuse (an obligation in
  the old state), the key is already gone and the row stays unreadable.

Both run inside the staged home, in a child process whose Django is set up
on it, before the staged home is moved into place: the restored home is
never usable with an erased patron readable. The move is two renames on
one file system (the old home, if any, first steps aside).

A PostgreSQL backup is restored into a named database (`database_url`):
refused when it holds any table unless `overwrite`; the data dump and a
keystore (the live keystore schema dumped with pg_dump, or the keys
backup's) are loaded with the server's psql in one transaction; the staged
home gets `keys/database-url` naming that database, and the child process
runs on it. Should anything after the load fail, the loaded schemas are
dropped again; nothing points at that database until the home moves into place.
"""

from __future__ import annotations

import contextlib
import fcntl
import glob
import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from django.db import connections

from shelfguard.core import home as home_mod
from shelfguard.lifecycle import archive, snapshot
from shelfguard.lifecycle.errors import BackupError
from shelfguard.lifecycle.verify import open_backup
from shelfguard.vault.dbsettings import KEYSTORE_ALIAS, KEYSTORE_FILE_NAME, KEYSTORE_SCHEMA

_JOURNAL = "erasure-journal.jsonl"
_CHECKPOINTS = "ledger-checkpoints"
_STAGING = ".restore-"
# The live home's database URL names the live database, never the restored one.
_SKIP_FROM_LIVE = {
    KEYSTORE_FILE_NAME,
    f"{KEYSTORE_FILE_NAME}-wal",
    f"{KEYSTORE_FILE_NAME}-shm",
    home_mod.DATABASE_URL_NAME,
}


def restore(
    path: Path,
    identity: Path,
    target: Path,
    *,
    keys_backup: Path | None = None,
    keys_identity: Path | None = None,
    database_url: str | None = None,
    overwrite: bool = False,
    show_progress: bool = False,
) -> dict[str, Any]:
    target = Path(target).expanduser().resolve()
    live = home_mod.home_dir()
    if target == live and not overwrite:
        raise BackupError(
            "live_home",
            "That is the data home this installation runs on; stop the server and add --yes "
            "to replace it, or restore into a new directory.",
        )
    if target.exists() and any(target.iterdir()) and not overwrite:
        raise BackupError(
            "target_exists",
            "The target directory is not empty; add --yes to replace it, or choose a new one.",
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    with _locked(target):
        _remove_stale(target)
        return _restore_locked(
            path,
            identity,
            target,
            live,
            keys_backup=keys_backup,
            keys_identity=keys_identity,
            database_url=database_url,
            overwrite=overwrite,
            show_progress=show_progress,
        )


def _restore_locked(
    path: Path,
    identity: Path,
    target: Path,
    live: Path,
    *,
    keys_backup: Path | None,
    keys_identity: Path | None,
    database_url: str | None,
    overwrite: bool,
    show_progress: bool,
) -> dict[str, Any]:
    staging = target.parent / f".{target.name}{_STAGING}{uuid.uuid4().hex[:8]}"
    staging.mkdir(mode=0o700)
    # Beside the target (not in /tmp), so a killed run's decrypted dump is found
    # and removed by the next run.
    work = target.parent / f".{target.name}{_STAGING}work-{uuid.uuid4().hex[:8]}"
    work.mkdir(mode=0o700)
    loaded: list[str] = []
    try:
        manifest, contents = open_backup(path, identity, work, show_progress=show_progress)
        if manifest.get("kind") != archive.DATA:
            raise BackupError("wrong_kind", "That file is a keys backup; pass a data backup.")
        vendor = manifest.get("database_vendor")
        if vendor not in ("sqlite", "postgresql"):
            raise BackupError("vendor", "The manifest names no supported database vendor.")
        if vendor == "postgresql" and not database_url:
            raise BackupError(
                "database_url",
                "This is a PostgreSQL backup: name an empty database to restore it into with "
                "--database-url postgres://HOST/DATABASE.",
            )
        if vendor == "sqlite" and database_url:
            raise BackupError(
                "database_url", "This is an SQLite backup; --database-url is for PostgreSQL ones."
            )
        dump = contents / manifest["dump_file"]
        if archive.sha256_file(dump) != manifest.get("dump_sha256"):
            raise BackupError("hash_mismatch", "The database dump does not match its SHA-256.")
        if vendor == "sqlite" and snapshot.sqlite_integrity(dump) != "ok":
            raise BackupError("integrity", "The database dump fails SQLite's integrity check.")
        _stage_home(staging, target, live, dump if vendor == "sqlite" else None)
        keys_restored = False
        keystore_sql: Path | None = None
        if keys_backup is not None:
            keystore_sql = _stage_keys_backup(
                staging, keys_backup, keys_identity or identity, work, show_progress, vendor
            )
            keys_restored = True
        if vendor == "postgresql":
            if keystore_sql is None:
                keystore_sql = _live_keystore_sql(work)
            schemas = [manifest.get("database_schema") or "public", KEYSTORE_SCHEMA]
            snapshot.load_postgresql(database_url, schemas, [dump, keystore_sql], replace=overwrite)
            loaded = schemas
            home_mod.write_secret_file(
                home_mod.keys_dir(staging) / home_mod.DATABASE_URL_NAME, database_url
            )
        elif not (home_mod.keys_dir(staging) / KEYSTORE_FILE_NAME).is_file():
            raise BackupError(
                "no_keystore",
                "The live keystore is not an SQLite file to copy; pass a keys backup with --keys.",
            )
        finished = _finish_in_child(staging)
        _move_into_place(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if loaded and database_url:
            # Nothing points at the half-restored database; leave it empty again.
            with contextlib.suppress(Exception):
                snapshot.empty_postgresql(database_url, loaded)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    outcome = {
        "home": str(target),
        "backup_created_at": manifest.get("created_at"),
        "keys_restored": keys_restored,
        **finished,
    }
    if database_url:
        outcome["database"] = snapshot.postgresql_settings(database_url)["NAME"]
    return outcome


@contextlib.contextmanager
def _locked(target: Path) -> Iterator[None]:
    """One restore at a time beside the target; a killed run's lock goes with its process.

    The lock is taken on the parent directory itself, so nothing is left beside the home.
    """
    fd = os.open(target.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BackupError(
                "busy", "Another restore into this directory is running; wait for it to finish."
            ) from None
        yield
    finally:
        os.close(fd)


def _remove_stale(target: Path) -> None:
    """Remove what a killed restore left beside the target (its staging and work directories).

    A home set aside by a move that was cut short (the target gone, a
    `.replaced-` directory left) is the operator's old home: it is never
    deleted here, and the restore stops until it is put back.
    """
    replaced = sorted(target.parent.glob(f".{glob.escape(target.name)}.replaced-*"))
    if replaced and not target.exists():
        raise BackupError(
            "interrupted",
            f"An earlier restore was stopped while replacing this home; its old home is in "
            f"{replaced[0].name} beside it: move that back to {target.name} (or remove it) "
            "and run the restore again.",
        )
    for entry in [
        *target.parent.glob(f".{glob.escape(target.name)}{_STAGING}*"),
        *replaced,
    ]:
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)


def _live_keystore_sql(work: Path) -> Path:
    """A dump of the live keystore schema, for a PostgreSQL restore without --keys."""
    if connections[KEYSTORE_ALIAS].vendor != "postgresql":
        raise BackupError(
            "no_keystore",
            "The live keystore is not in PostgreSQL; pass a keys backup of a PostgreSQL "
            "installation with --keys.",
        )
    out = work / "live-keystore.sql"
    snapshot.dump_postgresql_schema(KEYSTORE_ALIAS, KEYSTORE_SCHEMA, out)
    return out


def _stage_home(staging: Path, target: Path, live: Path, dump: Path | None) -> None:
    """Config and keys, plus the restored SQLite database and live keystore copy (`dump`).

    Without `dump` (a PostgreSQL restore) both databases are loaded elsewhere.
    """
    keys = staging / "keys"
    keys.mkdir(mode=0o700)
    journals: list[Path] = []
    config_from = target if home_mod.config_path(target).is_file() else live
    if home_mod.config_path(config_from).is_file():
        shutil.copy2(home_mod.config_path(config_from), home_mod.config_path(staging))
    live_keys = home_mod.keys_dir(live)
    if live_keys.is_dir():
        for entry in live_keys.iterdir():
            if entry.is_file() and entry.name not in _SKIP_FROM_LIVE and entry.name != _JOURNAL:
                shutil.copy2(entry, keys / entry.name)
        journals.append(live_keys / _JOURNAL)
    if dump is not None and connections[KEYSTORE_ALIAS].vendor == "sqlite":
        # Through the live connection, so the copy is one consistent state.
        snapshot.copy_sqlite(KEYSTORE_ALIAS, keys / KEYSTORE_FILE_NAME)
    journals.append(home_mod.keys_dir(target) / _JOURNAL)
    _merge_journals([j for j in journals if j.is_file()], keys / _JOURNAL)
    if dump is not None:
        shutil.copyfile(dump, home_mod.database_path(staging))
        os.chmod(home_mod.database_path(staging), 0o600)
    home_mod.create_home(staging)


def _merge_journals(sources: list[Path], target: Path) -> None:
    """One journal holding every complete line of every source, each key id once."""
    seen: set[str] = set()
    lines: list[str] = []
    for source in sources:
        text = source.read_text(encoding="utf-8")
        for line in text.split("\n")[:-1]:
            if not line.strip():
                continue
            key_id = json.loads(line).get("key_id")
            if key_id not in seen:
                seen.add(key_id)
                lines.append(line + "\n")
    existing = target.read_text(encoding="utf-8") if target.exists() else ""
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(existing + "".join(lines))
        fh.flush()
        os.fsync(fh.fileno())


def _stage_keys_backup(
    staging: Path,
    keys_backup: Path,
    identity: Path,
    work: Path,
    show_progress: bool,
    vendor: str = "sqlite",
) -> Path | None:
    """Key files and journal into the staged home; the keystore copied (SQLite) or returned.

    For a PostgreSQL restore the keys backup's `keystore.sql` is returned, to
    be loaded with the data dump.
    """
    keys_work = work / "keys"
    keys_work.mkdir(mode=0o700)
    manifest, contents = open_backup(keys_backup, identity, keys_work, show_progress=show_progress)
    if manifest.get("kind") != archive.KEYS:
        raise BackupError("wrong_kind", "The --keys file is not a keys backup.")
    for name, digest in (manifest.get("files") or {}).items():
        if archive.sha256_file(contents / name) != digest:
            raise BackupError("hash_mismatch", f"{name} in the keys backup does not match.")
    wanted = "keystore.sqlite3" if vendor == "sqlite" else "keystore.sql"
    if not (contents / wanted).is_file():
        raise BackupError(
            "vendor",
            "That keys backup is from an installation on another database than the data backup.",
        )
    keys = home_mod.keys_dir(staging)
    for entry in (contents / "keys").iterdir():
        if entry.name == _JOURNAL:
            continue
        shutil.copyfile(entry, keys / entry.name)
        os.chmod(keys / entry.name, 0o600)
    for suffix in ("", "-wal", "-shm"):
        (keys / f"{KEYSTORE_FILE_NAME}{suffix}").unlink(missing_ok=True)
    if vendor == "sqlite":
        shutil.copyfile(contents / "keystore.sqlite3", keys / KEYSTORE_FILE_NAME)
        os.chmod(keys / KEYSTORE_FILE_NAME, 0o600)
    backup_journal = contents / "keys" / _JOURNAL
    if backup_journal.is_file():
        staged = keys / _JOURNAL
        merged = work / "merged-journal"
        _merge_journals([p for p in (staged, backup_journal) if p.is_file()], merged)
        os.replace(merged, staged)
    return contents / wanted if vendor == "postgresql" else None


def _finish_in_child(staging: Path) -> dict[str, Any]:
    """Run `backup finish-restore` with Django set up on the staged home."""
    # The staged home names its own database (keys/database-url on PostgreSQL).
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "DATABASE_URL_FILE")}
    env["SHELFGUARD_HOME"] = str(staging)
    result = subprocess.run(
        [sys.executable, "-m", "shelfguard", "backup", "finish-restore", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        preexec_fn=_die_with_parent,
    )
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["no reason given"])[-1]
        raise BackupError("finish", f"Re-applying erasures to the restored home failed: {reason}")
    return json.loads(result.stdout)


def _die_with_parent() -> None:
    """Linux: the child is killed when the restore is, so it never works on a removed staging."""
    with contextlib.suppress(OSError, AttributeError):
        import ctypes
        import signal

        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _carry_over(old: Path, staging: Path) -> list[tuple[Path, Path]]:
    """Move what the old home holds besides its data (backups, TLS files, ...) to the new one.

    The restored database and keys come from the backup; everything else of
    the home (above all the backups directory, which may hold the very file
    being restored) stays. Signed ledger checkpoints describe the old chain,
    which the restore replaces: they are kept under another name for the audit.
    """
    moved: list[tuple[Path, Path]] = []
    for entry in old.iterdir():
        if entry.name.startswith(home_mod.DATABASE_NAME) or entry.name == "keys":
            continue
        name = entry.name
        if name == _CHECKPOINTS:
            name = f"{_CHECKPOINTS}.before-restore"
        destination = staging / name
        if destination.exists():
            continue
        os.rename(entry, destination)
        moved.append((destination, entry))
    return moved


def _move_into_place(staging: Path, target: Path) -> None:
    aside = None
    moved: list[tuple[Path, Path]] = []
    if target.exists():
        aside = target.parent / f".{target.name}.replaced-{uuid.uuid4().hex[:8]}"
        os.rename(target, aside)
        moved = _carry_over(aside, staging)
    try:
        os.rename(staging, target)
    except OSError:
        if aside is not None:
            for now, before in moved:
                os.rename(now, before)
            os.rename(aside, target)
        raise
    if aside is not None:
        shutil.rmtree(aside, ignore_errors=True)
