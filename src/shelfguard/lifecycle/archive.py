"""The backup file: names, the `[backup]` settings, age encryption and the tar inside.

A backup is `tar | gzip | age`: a tar with `manifest.json` first and then the
payload, gzip-compressed, encrypted in the age format (X25519 recipients) with
pyrage. Any age implementation opens it (`age -d -i key.txt FILE | tar xz`),
so a library can read its backups without Shelfguard.

Files are written under a `.tmp-` name in the backup directory and renamed
when complete: a run killed half-way leaves only a `.tmp-` entry, which the
next run removes, never a file that looks like a backup.
"""

from __future__ import annotations

import datetime as dt
import errno
import fcntl
import hashlib
import io
import json
import os
import re
import shutil
import sqlite3
import tarfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import pyrage

from shelfguard.core import progress as progress_bars
from shelfguard.core.home import home_dir, read_config
from shelfguard.lifecycle.errors import BackupError

FORMAT_VERSION = 1
MANIFEST_NAME = "manifest.json"
DATA = "data"
KEYS = "keys"
TEMP_PREFIX = ".tmp-"
LOCK_NAME = ".lock"
_NAME = re.compile(r"^shelfguard-(data|keys)-(\d{8}T\d{6}Z)(?:-(\d+))?\.tar\.gz\.age$")
_DISK_FULL = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT}
_CHUNK = 1 << 20

DEFAULT_RETENTION = {"keep_daily": 7, "keep_weekly": 4, "keep_monthly": 6, "keys_keep_days": 7}


# --- Settings ---------------------------------------------------------------------------------


def settings() -> dict[str, Any]:
    """The `[backup]` table of shelfguard.toml (read afresh: operators edit it while running)."""
    section = read_config().get("backup", {})
    if not isinstance(section, dict):
        raise BackupError("config", "[backup] in shelfguard.toml must be a table; fix the file.")
    return section


def retention_setting(name: str) -> int:
    value = settings().get(name, DEFAULT_RETENTION[name])
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise BackupError(
            "config", f"[backup] {name} must be a whole number of 0 or more; fix shelfguard.toml."
        )
    return value


def recipients(setting: str) -> list[pyrage.x25519.Recipient]:
    """The age recipients listed in `[backup] <setting>`; refuses when there are none."""
    values = settings().get(setting, [])
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list) or not values:
        raise BackupError(
            "no_recipients",
            f"No [backup] {setting} configured in shelfguard.toml, so there is nobody to encrypt "
            "the backup to. Make a key pair offline with `age-keygen -o backup-key.txt`, keep "
            f'that file away from this server, and add its public key: {setting} = ["age1..."].',
        )
    parsed = []
    for number, value in enumerate(values, start=1):
        try:
            parsed.append(pyrage.x25519.Recipient.from_str(str(value).strip()))
        except pyrage.RecipientError:
            raise BackupError(
                "bad_recipient",
                f"[backup] {setting}: entry {number} is not an age X25519 public key "
                "(age1...); copy it from `age-keygen -y backup-key.txt`.",
            ) from None
    return parsed


def read_identities(path: Path) -> list[pyrage.x25519.Identity]:
    """The AGE-SECRET-KEY lines of an identity file made by `age-keygen`."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        raise BackupError(
            "identity", "The identity file cannot be read; pass the file age-keygen wrote."
        ) from None
    identities = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            identities.append(pyrage.x25519.Identity.from_str(line))
        except pyrage.IdentityError:
            raise BackupError(
                "identity",
                "The identity file holds a line that is not an age secret key "
                "(AGE-SECRET-KEY-1...); pass the file age-keygen wrote.",
            ) from None
    if not identities:
        raise BackupError("identity", "The identity file holds no age secret key.")
    return identities


# --- Where backups live ---------------------------------------------------------------------


def default_directory() -> Path:
    return home_dir() / "backups"


def prepare_directory(directory: Path | None) -> Path:
    """The backup directory, created owner-only (0700) if missing."""
    target = Path(directory) if directory else default_directory()
    target = target.expanduser().resolve()
    try:
        target.mkdir(mode=0o700, parents=True, exist_ok=True)
        if directory is None:
            os.chmod(target, 0o700)
    except OSError as exc:
        raise BackupError(
            "directory", f"The backup directory cannot be created ({exc.strerror}); check --to."
        ) from None
    return target


@dataclass(frozen=True)
class BackupFile:
    path: Path
    kind: str
    created_at: dt.datetime

    @property
    def size(self) -> int:
        return self.path.stat().st_size


def parse_name(path: Path) -> BackupFile | None:
    match = _NAME.match(path.name)
    if not match:
        return None
    created = dt.datetime.strptime(match.group(2), "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC)
    return BackupFile(path=path, kind=match.group(1), created_at=created)


def backup_files(directory: Path) -> list[BackupFile]:
    """Complete backup files in `directory`, oldest first (temp files are not listed)."""
    if not directory.is_dir():
        return []
    found = [b for b in (parse_name(p) for p in directory.iterdir() if p.is_file()) if b]
    return sorted(found, key=lambda b: (b.created_at, b.path.name))


def final_name(directory: Path, kind: str, created_at: dt.datetime) -> Path:
    stamp = created_at.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    path = directory / f"shelfguard-{kind}-{stamp}.tar.gz.age"
    serial = 2
    while path.exists():
        path = directory / f"shelfguard-{kind}-{stamp}-{serial}.tar.gz.age"
        serial += 1
    return path


@contextmanager
def locked(directory: Path) -> Iterator[None]:
    """One backup writer per directory; leftovers of killed runs are removed under the lock."""
    fd = os.open(directory / LOCK_NAME, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BackupError(
                "busy", "Another backup is running in this directory; wait for it to finish."
            ) from None
        remove_leftovers(directory)
        yield
    finally:
        os.close(fd)


def remove_leftovers(directory: Path) -> list[str]:
    """Remove `.tmp-` files and directories left by an interrupted run."""
    removed = []
    for entry in directory.iterdir():
        if entry.name.startswith(TEMP_PREFIX):
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed.append(entry.name)
    return removed


def disk_full(exc: BaseException) -> bool:
    if isinstance(exc, OSError) and exc.errno in _DISK_FULL:
        return True
    # SQLITE_FULL, and SQLITE_IOERR_WRITE, which is what SQLite reports for EFBIG.
    return isinstance(exc, sqlite3.Error) and getattr(exc, "sqlite_errorcode", None) in {13, 778}


def disk_full_error(directory: Path) -> BackupError:
    return BackupError(
        "disk_full",
        "Writing the backup failed: the disk is full, a file-size limit was reached or the "
        "disk reported a write error; nothing was kept and older backups are untouched. Free "
        f"space in {directory} or choose another directory with --to.",
    )


# --- Packing ----------------------------------------------------------------------------------


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def pack(archive: Path, manifest: dict[str, Any], members: list[tuple[str, Path]]) -> None:
    """Write `manifest.json` then each (name, file) into a gzip-compressed tar."""
    body = json.dumps(manifest, indent=2, sort_keys=True).encode("utf-8")
    with tarfile.open(archive, "w:gz", compresslevel=6, format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(MANIFEST_NAME)
        info.size = len(body)
        info.mode = 0o600
        info.mtime = int(dt.datetime.fromisoformat(manifest["created_at"]).timestamp())
        tar.addfile(info, io.BytesIO(body))
        for name, path in members:
            member = tar.gettarinfo(str(path), arcname=name)
            member.mode, member.uid, member.gid, member.uname, member.gname = 0o600, 0, 0, "", ""
            with path.open("rb") as fh:
                tar.addfile(member, fh)


def unpack(archive: Path, into: Path) -> dict[str, Any]:
    """Extract a backup tar into `into`; returns the manifest. BackupError if unreadable."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            tar.extractall(into, filter="data")
    except (tarfile.TarError, EOFError, OSError, ValueError) as exc:
        if disk_full(exc):
            raise disk_full_error(into) from None
        raise BackupError(
            "damaged", "The backup's contents are truncated or damaged (the tar does not read)."
        ) from None
    try:
        manifest = json.loads((into / MANIFEST_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise BackupError("manifest", "The backup has no readable manifest.json.") from None
    if not isinstance(manifest, dict) or manifest.get("format_version") != FORMAT_VERSION:
        raise BackupError(
            "manifest",
            f"The backup's manifest is not format version {FORMAT_VERSION}; use the Shelfguard "
            "version named in it to read it.",
        )
    return manifest


# --- Encryption -------------------------------------------------------------------------------


class _Writer:
    """A file writer that remembers the OS error pyrage's wrapper would otherwise hide."""

    def __init__(self, fh: BinaryIO) -> None:
        self.fh = fh
        self.error: OSError | None = None

    def write(self, data: bytes) -> int:
        try:
            return self.fh.write(data)
        except OSError as exc:
            self.error = exc
            raise

    def flush(self) -> None:
        self.fh.flush()


def encrypt_into_place(
    plain: Path, target: Path, to: list[pyrage.x25519.Recipient], *, show_progress: bool
) -> None:
    """Encrypt `plain` to a temp file beside `target`, fsync it, rename it to `target`."""
    temp = target.with_name(f"{TEMP_PREFIX}{target.name}.{os.getpid()}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as out, plain.open("rb") as src:
            writer = _Writer(out)
            total = plain.stat().st_size
            with progress_bars.file_progress(src, total, "Encrypting", show_progress) as reader:
                try:
                    pyrage.encrypt_io(reader, writer, to)
                except pyrage.EncryptError as exc:
                    if writer.error is not None:
                        raise writer.error from None
                    raise BackupError("encrypt", f"Encryption failed ({exc}).") from None
            out.flush()
            os.fsync(out.fileno())
        os.rename(temp, target)
        _fsync_dir(target.parent)
    except BaseException as exc:
        temp.unlink(missing_ok=True)
        if disk_full(exc):
            raise disk_full_error(target.parent) from None
        raise


def decrypt_to(
    source: Path, plain: Path, identities: list[pyrage.x25519.Identity], *, show_progress: bool
) -> None:
    """Decrypt a backup file into `plain`; BackupError naming what went wrong."""
    try:
        src = source.open("rb")
    except OSError:
        raise BackupError("missing", "The backup file cannot be opened; check the path.") from None
    try:
        with src, plain.open("wb") as out:
            total = source.stat().st_size
            with progress_bars.file_progress(src, total, "Decrypting", show_progress) as reader:
                pyrage.decrypt_io(reader, out, identities)
    except pyrage.DecryptError as exc:
        text = str(exc).lower()
        if "no matching keys" in text:
            raise BackupError(
                "wrong_key",
                "The identity does not open this backup: wrong key, or the file's header was "
                "altered. Use the identity whose public key is in [backup] recipients.",
            ) from None
        raise BackupError(
            "damaged", "The backup file is truncated or damaged: its header does not read."
        ) from None
    except OSError as exc:
        if disk_full(exc):
            raise disk_full_error(plain.parent) from None
        raise BackupError(
            "damaged",
            "The backup file is truncated or its bytes were altered (age authentication failed).",
        ) from None


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
