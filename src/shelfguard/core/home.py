"""The data home: where every piece of Shelfguard's state lives.

Everything the program keeps (database, keys, configuration, exports) sits
under one directory so that an operator can back it up, move it or wipe it
as a whole. The default follows the XDG base-directory convention.
"""

from __future__ import annotations

import functools
import os
import secrets
import stat
import tomllib
from pathlib import Path
from typing import Any

CONFIG_NAME = "shelfguard.toml"
DATABASE_NAME = "shelfguard.sqlite3"
SECRET_KEY_NAME = "django-secret-key"
# A PostgreSQL home's DATABASE_URL kept as a key file (it may hold a password).
DATABASE_URL_NAME = "database-url"


class HomeError(Exception):
    """The data home is missing, unreadable or unsafe; the message says what to do."""


def home_dir() -> Path:
    """`$SHELFGUARD_HOME`, else `$XDG_DATA_HOME/shelfguard`, else `~/.local/share/shelfguard`."""
    return _resolve_home(
        os.environ.get("SHELFGUARD_HOME"), os.environ.get("XDG_DATA_HOME"), os.environ.get("HOME")
    )


# Resolving walks every component of the path on disk; the vault asks for the
# home on each key look-up, so the answer is kept per environment.
@functools.lru_cache(maxsize=16)
def _resolve_home(explicit: str | None, xdg: str | None, user_home: str | None) -> Path:
    if explicit:
        return Path(explicit).expanduser().resolve()
    base = Path(xdg).expanduser() if xdg else Path.home() / ".local" / "share"
    return (base / "shelfguard").resolve()


def keys_dir(home: Path | None = None) -> Path:
    return (home or home_dir()) / "keys"


def database_path(home: Path | None = None) -> Path:
    return (home or home_dir()) / DATABASE_NAME


def config_path(home: Path | None = None) -> Path:
    return (home or home_dir()) / CONFIG_NAME


def is_initialised(home: Path | None = None) -> bool:
    home = home or home_dir()
    return config_path(home).is_file() and (keys_dir(home) / SECRET_KEY_NAME).is_file()


def read_config(home: Path | None = None) -> dict[str, Any]:
    """The parsed `shelfguard.toml`, or an empty mapping before `init`."""
    path = config_path(home)
    if not path.is_file():
        return {}
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise HomeError(f"{path} is not valid TOML ({exc}); fix or remove the file.") from exc


def read_secret(name: str, *, env: str, home: Path | None = None) -> str | None:
    """A secret from `$ENV`, `$ENV_FILE`, or a key file in `keys/`, in that order.

    Key files must not be readable by group or others: a key that other
    accounts on the machine can read is no longer a secret, so refuse it.
    """
    value = os.environ.get(env)
    if value:
        return value.strip()
    file_name = os.environ.get(f"{env}_FILE")
    path = Path(file_name) if file_name else keys_dir(home) / name
    if not path.is_file():
        return None
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        raise HomeError(
            f"{path} is readable by other accounts (mode {mode:o}); run `chmod 600 {path}`."
        )
    return path.read_text(encoding="utf-8").strip()


def write_secret_file(path: Path, value: str) -> None:
    """Create a key file readable by its owner only; never overwrite an existing key."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(value + "\n")


DEFAULT_CONFIG = """\
# Shelfguard configuration. Environment variables override these values.
[library]
name = "Shelfguard Public Library"
# The library's own time zone: dates are shown in it and stored in UTC.
time_zone = "UTC"
language = "en"

[web]
# Host names this installation answers to (besides localhost).
allowed_hosts = []
"""


def create_home(home: Path) -> list[str]:
    """Create the data home, its key directory and first secrets. Idempotent.

    Returns a list of what was created, for the caller to report.
    """
    created: list[str] = []
    if not home.exists():
        home.mkdir(parents=True, mode=0o750)
        created.append(str(home))
    keys = keys_dir(home)
    if not keys.exists():
        keys.mkdir(mode=0o700)
        created.append(str(keys))
    os.chmod(keys, 0o700)
    secret = keys / SECRET_KEY_NAME
    if not secret.exists():
        write_secret_file(secret, secrets.token_urlsafe(50))
        created.append(str(secret))
    cfg = config_path(home)
    if not cfg.exists():
        cfg.write_text(DEFAULT_CONFIG, encoding="utf-8")
        created.append(str(cfg))
    return created


def restrict_database_file(home: Path) -> None:
    """Make the embedded database (and its WAL files) readable by the owner only."""
    base = database_path(home)
    for path in (base, base.with_name(base.name + "-wal"), base.with_name(base.name + "-shm")):
        if path.exists():
            os.chmod(path, 0o600)
