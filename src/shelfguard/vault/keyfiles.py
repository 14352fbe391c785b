"""Key files under `$SHELFGUARD_HOME/keys/`: their format, reading and writing.

A key file holds one line::

    v<version>:<32 random bytes, base64>[:<parameters>]

for example `v3:q1w2...=` for a master key, or
`v1:Zm9v...=:card=12,email=12,phone=12,name_token=4` for an index key (the
parameters are the blind-index lengths fixed for that key version). A bare
base64 key, as `openssl rand -base64 32` prints it, is read as version 1.

Files are created owner-only (0600) through `core.home.write_secret_file`,
published atomically (a crash never leaves half a key under the real name),
flushed to disk together with their directory, and refused when group or
other accounts can read them.
"""

from __future__ import annotations

import base64
import binascii
import os
import re
import stat
from pathlib import Path

from shelfguard.core.home import write_secret_file
from shelfguard.vault.errors import VaultError

KEY_BYTES = 32

_LINE = re.compile(
    r"^v(?P<version>[1-9][0-9]{0,8}):(?P<key>[A-Za-z0-9+/=_-]+)(?::(?P<params>.*))?$"
)
_PARAM = re.compile(r"^(?P<name>[a-z_]+)=(?P<value>[0-9]{1,4})$")


def parse_key_text(
    text: str, *, where: str, with_params: bool = False
) -> tuple[int, bytes, dict[str, int] | None]:
    """(version, key bytes, parameters or None) from a key file's text.

    `where` names the source for error messages (a file or a variable); the
    messages never contain any part of the key.
    """
    text = text.strip()
    match = _LINE.match(text)
    if match:
        version = int(match["version"])
        encoded = match["key"]
        raw_params = match["params"]
    elif ":" not in text:
        version, encoded, raw_params = 1, text, None
    else:
        raise VaultError(f"{where} is not a Shelfguard key (expected v<version>:<base64 key>)")
    try:
        key = base64.b64decode(encoded.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError):
        key = None
    if key is None or len(key) != KEY_BYTES:
        raise VaultError(f"{where} does not hold a {KEY_BYTES}-byte base64 key; it is damaged")
    params: dict[str, int] | None = None
    if raw_params is not None:
        if not with_params:
            raise VaultError(f"{where} has parameters a master key never has; it is damaged")
        params = {}
        for part in raw_params.split(","):
            found = _PARAM.match(part.strip())
            if not found:
                raise VaultError(f"{where} has an unreadable parameter list; it is damaged")
            params[found["name"]] = int(found["value"])
    return version, key, params


def format_key(version: int, key: bytes, params: dict[str, int] | None = None) -> str:
    """The one-line text of a key file."""
    if version < 1 or len(key) != KEY_BYTES:
        raise ValueError("a key file holds a positive version and a 32-byte key")
    line = f"v{version}:{base64.b64encode(key).decode('ascii')}"
    if params:
        line += ":" + ",".join(f"{name}={value}" for name, value in sorted(params.items()))
    return line


def read_key_file(path: Path) -> str | None:
    """The text of a key file, or None when it does not exist.

    Refuses (VaultError) a file other accounts can read or that is not a
    regular file: a key others can read is no longer a secret.
    """
    try:
        info = path.lstat()
    except FileNotFoundError:
        return None
    if not stat.S_ISREG(info.st_mode):
        raise VaultError(f"{path} is not a regular file; a key file must be one")
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise VaultError(
            f"{path} is readable by other accounts (mode {mode:o}); run `chmod 600 {path}`."
        )
    return path.read_text(encoding="utf-8")


def fsync_dir(directory: Path) -> None:
    """Flush a directory entry change (create, rename, delete) to disk."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_temp(path: Path, text: str) -> Path:
    temp = path.with_name(path.name + ".tmp")
    temp.unlink(missing_ok=True)
    write_secret_file(temp, text)
    _fsync_file(temp)
    return temp


def write_new_key_file(path: Path, text: str) -> None:
    """Create a key file that must not exist yet; never replaces an existing key.

    The key is written to a temporary name and then hard-linked to its real
    name, which fails if that name exists: two processes creating the same
    key at once cannot overwrite each other, and a crash leaves either no
    key or a whole one.
    """
    temp = _write_temp(path, text)
    try:
        os.link(temp, path)
    except FileExistsError as exc:
        raise VaultError(f"{path} already exists; an existing key is never replaced") from exc
    except OSError:
        # A file system without hard links: create the real name exclusively
        # instead (still never overwrites; a crash may leave it short, which
        # parse_key_text then refuses as damaged).
        try:
            write_secret_file(path, text)
        except FileExistsError as exc:
            raise VaultError(f"{path} already exists; an existing key is never replaced") from exc
        _fsync_file(path)
    finally:
        temp.unlink(missing_ok=True)
    fsync_dir(path.parent)


def replace_key_file(path: Path, text: str) -> None:
    """Atomically put a new key under `path` (rotation: the caller kept the old one)."""
    temp = _write_temp(path, text)
    os.replace(temp, path)
    fsync_dir(path.parent)


def remove_key_file(path: Path) -> None:
    """Delete a key file and make the deletion durable."""
    path.unlink(missing_ok=True)
    fsync_dir(path.parent)


def versioned_files(directory: Path, base_name: str) -> dict[int, Path]:
    """`<base_name>.<version>` files in `directory` (retained or pending key versions)."""
    pattern = re.compile(re.escape(base_name) + r"\.([1-9][0-9]{0,8})$")
    found: dict[int, Path] = {}
    try:
        entries = list(os.scandir(directory))
    except FileNotFoundError:
        return found
    for entry in entries:
        match = pattern.match(entry.name)
        if match:
            found[int(match.group(1))] = Path(entry.path)
    return found
