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

Restore supports the embedded (SQLite) database; on PostgreSQL the dump is
loaded with psql and the journal re-applied with `backup finish-restore`
(see docs/operators/backups.md).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

from django.db import connections

from shelfguard.core import home as home_mod
from shelfguard.lifecycle import archive, snapshot
from shelfguard.lifecycle.errors import BackupError
from shelfguard.lifecycle.verify import open_backup
from shelfguard.vault.dbsettings import KEYSTORE_ALIAS, KEYSTORE_FILE_NAME

_JOURNAL = "erasure-journal.jsonl"
_CHECKPOINTS = "ledger-checkpoints"
_SKIP_FROM_LIVE = {KEYSTORE_FILE_NAME, f"{KEYSTORE_FILE_NAME}-wal", f"{KEYSTORE_FILE_NAME}-shm"}


def restore(
    path: Path,
    identity: Path,
    target: Path,
    *,
    keys_backup: Path | None = None,
    keys_identity: Path | None = None,
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
    staging = target.parent / f".{target.name}.restore-{uuid.uuid4().hex[:8]}"
    staging.mkdir(mode=0o700)
    work = Path(tempfile.mkdtemp(prefix="shelfguard-restore-"))
    try:
        manifest, contents = open_backup(path, identity, work, show_progress=show_progress)
        if manifest.get("kind") != archive.DATA:
            raise BackupError("wrong_kind", "That file is a keys backup; pass a data backup.")
        if manifest.get("database_vendor") != "sqlite":
            raise BackupError(
                "vendor",
                "This is a PostgreSQL backup: load database.sql with psql and run "
                "`shelfguard backup finish-restore` (see docs/operators/backups.md).",
            )
        dump = contents / manifest["dump_file"]
        if archive.sha256_file(dump) != manifest.get("dump_sha256"):
            raise BackupError("hash_mismatch", "The database dump does not match its SHA-256.")
        if snapshot.sqlite_integrity(dump) != "ok":
            raise BackupError("integrity", "The database dump fails SQLite's integrity check.")
        _stage_home(staging, target, live, dump)
        keys_restored = False
        if keys_backup is not None:
            _stage_keys_backup(staging, keys_backup, keys_identity or identity, work, show_progress)
            keys_restored = True
        if not (home_mod.keys_dir(staging) / KEYSTORE_FILE_NAME).is_file():
            raise BackupError(
                "no_keystore",
                "The live keystore is not an SQLite file to copy; pass a keys backup with --keys.",
            )
        finished = _finish_in_child(staging)
        _move_into_place(staging, target)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return {
        "home": str(target),
        "backup_created_at": manifest.get("created_at"),
        "keys_restored": keys_restored,
        **finished,
    }


def _stage_home(staging: Path, target: Path, live: Path, dump: Path) -> None:
    """Config and keys (live keystore copied consistently), plus the restored database."""
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
    if connections[KEYSTORE_ALIAS].vendor == "sqlite":
        # Through the live connection, so the copy is one consistent state.
        snapshot.copy_sqlite(KEYSTORE_ALIAS, keys / KEYSTORE_FILE_NAME)
    journals.append(home_mod.keys_dir(target) / _JOURNAL)
    _merge_journals([j for j in journals if j.is_file()], keys / _JOURNAL)
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
    staging: Path, keys_backup: Path, identity: Path, work: Path, show_progress: bool
) -> None:
    keys_work = work / "keys"
    keys_work.mkdir(mode=0o700)
    manifest, contents = open_backup(keys_backup, identity, keys_work, show_progress=show_progress)
    if manifest.get("kind") != archive.KEYS:
        raise BackupError("wrong_kind", "The --keys file is not a keys backup.")
    for name, digest in (manifest.get("files") or {}).items():
        if archive.sha256_file(contents / name) != digest:
            raise BackupError("hash_mismatch", f"{name} in the keys backup does not match.")
    if not (contents / "keystore.sqlite3").is_file():
        raise BackupError(
            "vendor",
            "That keys backup holds a PostgreSQL keystore; load its keystore.sql with psql "
            "(see docs/operators/backups.md).",
        )
    keys = home_mod.keys_dir(staging)
    for entry in (contents / "keys").iterdir():
        if entry.name == _JOURNAL:
            continue
        shutil.copyfile(entry, keys / entry.name)
        os.chmod(keys / entry.name, 0o600)
    for suffix in ("", "-wal", "-shm"):
        (keys / f"{KEYSTORE_FILE_NAME}{suffix}").unlink(missing_ok=True)
    shutil.copyfile(contents / "keystore.sqlite3", keys / KEYSTORE_FILE_NAME)
    os.chmod(keys / KEYSTORE_FILE_NAME, 0o600)
    backup_journal = contents / "keys" / _JOURNAL
    if backup_journal.is_file():
        staged = keys / _JOURNAL
        merged = work / "merged-journal"
        _merge_journals([p for p in (staged, backup_journal) if p.is_file()], merged)
        os.replace(merged, staged)


def _finish_in_child(staging: Path) -> dict[str, Any]:
    """Run `backup finish-restore` with Django set up on the staged home."""
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["SHELFGUARD_HOME"] = str(staging)
    result = subprocess.run(
        [sys.executable, "-m", "shelfguard", "backup", "finish-restore", "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["no reason given"])[-1]
        raise BackupError("finish", f"Re-applying erasures to the restored home failed: {reason}")
    return json.loads(result.stdout)


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
