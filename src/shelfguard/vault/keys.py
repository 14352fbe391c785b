"""The master key (KEK) and the index key: where they come from, their versions,
and `ensure_keys`, which `shelfguard init` calls to create them.

Master key
    32 random bytes in `keys/master.key` (or `$SHELFGUARD_MASTER_KEY`, or the
    file named by `$SHELFGUARD_MASTER_KEY_FILE`). It wraps every data key and
    never touches personal data itself. While a rotation runs, the previous
    version is kept as `keys/master.key.<version>` so that rows not yet
    re-wrapped stay readable; it is deleted when the last row has moved.

Index key
    32 random bytes in `keys/index.key` (or `$SHELFGUARD_INDEX_KEY[_FILE]`),
    separate from the master key so that blind indexes can be computed
    without being able to unwrap anything. A rotation first writes the new
    version as `keys/index.key.<version>` (pending) and renames it over
    `keys/index.key` once every index has been rebuilt with it.

Key files are read on demand and cached in memory until the file (or the
keys directory) changes, so a rotation done by another process is noticed.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import stat
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from django.db import connections

from shelfguard.core.home import HomeError, home_dir, keys_dir, read_config, read_secret
from shelfguard.vault import keyfiles, sizing, wrapping
from shelfguard.vault.dbsettings import KEYSTORE_ALIAS, keystore_path
from shelfguard.vault.errors import VaultError

MASTER_KEY_NAME = "master.key"
INDEX_KEY_NAME = "index.key"
MASTER_ENV = "SHELFGUARD_MASTER_KEY"
INDEX_ENV = "SHELFGUARD_INDEX_KEY"
POPULATION_ENV = "SHELFGUARD_EXPECTED_PATRONS"

_INDEX_SUBKEY_TAG = b"shelfguard.vault.blind.v1\x00"

RESTORE_MASTER_KEY = (
    "restore keys/master.key from your key backup; a new key would make every sealed value "
    "unreadable"
)


# --- Master key ----------------------------------------------------------------------------


@dataclass(frozen=True)
class MasterKeyring:
    """Every usable master key version: the current one and any kept by a rotation."""

    current: int
    source: str
    from_environment: bool
    retained: tuple[int, ...]
    _keys: Mapping[int, bytes] = field(repr=False)

    @property
    def versions(self) -> tuple[int, ...]:
        return tuple(sorted(self._keys))

    @property
    def rotation_pending(self) -> bool:
        """A rotation started and has not yet retired the previous version."""
        return any(version < self.current for version in self.retained)

    def has(self, version: int) -> bool:
        return version in self._keys

    def key(self, version: int) -> bytes:
        try:
            return self._keys[version]
        except KeyError:
            raise VaultError(
                f"master key version {version} is needed but not available ({self.source} holds "
                f"version {self.current}); restore the master key of version {version} from "
                "your key backup"
            ) from None


def _environment_source(env: str) -> str | None:
    if os.environ.get(env):
        return f"${env}"
    if os.environ.get(f"{env}_FILE"):
        return f"${env}_FILE ({os.environ[f'{env}_FILE']})"
    return None


def _stat_signature(path: Path) -> tuple[int, ...] | None:
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return None
    return (info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns, info.st_mode)


def _signature(home: Path, env: str, name: str) -> tuple[object, ...]:
    """What, if unchanged, guarantees a cached keyring is still the truth on disk.

    The directory's mtime changes whenever a versioned file appears or goes
    (rotation in another process); the key file's inode and times change
    when it is replaced or its mode changes.
    """
    keys = keys_dir(home)
    env_file = os.environ.get(f"{env}_FILE")
    return (
        str(home),
        os.environ.get(env),
        env_file,
        _stat_signature(Path(env_file) if env_file else keys / name),
        _stat_signature(keys),
    )


def _read_current(home: Path, env: str, name: str) -> tuple[str | None, str, bool]:
    """(text or None, where it came from, whether from the environment)."""
    source = _environment_source(env)
    try:
        text = read_secret(name, env=env, home=home)
    except HomeError as exc:
        raise VaultError(str(exc)) from exc
    if source is None:
        return text, f"keys/{name}", False
    return text, source, True


def _load_master(home: Path) -> MasterKeyring | None:
    text, source, from_env = _read_current(home, MASTER_ENV, MASTER_KEY_NAME)
    retained_files = keyfiles.versioned_files(keys_dir(home), MASTER_KEY_NAME)
    if text is None:
        if retained_files:
            raise VaultError(
                "keys/master.key is missing while an unfinished rotation kept older versions; "
                + RESTORE_MASTER_KEY
            )
        return None
    current, key, _ = keyfiles.parse_key_text(text, where=source)
    keys = {current: key}
    for version, path in sorted(retained_files.items()):
        kept_text = keyfiles.read_key_file(path)
        if kept_text is None:
            continue  # retired by a rotation finishing in another process just now
        kept_version, kept, _ = keyfiles.parse_key_text(kept_text, where=str(path))
        if kept_version != version:
            raise VaultError(f"{path} holds master key version {kept_version}, not {version}")
        if version > current:
            raise VaultError(
                f"{path} is newer than the current master key (version {current}); {source} is "
                f"out of date: restore master key version {version} or newer"
            )
        if version == current and not hmac.compare_digest(kept, key):
            raise VaultError(
                f"{path} and {source} are both master key version {version} but differ; "
                "one of them is not this keystore's key"
            )
        keys[version] = kept
    return MasterKeyring(
        current=current,
        source=source,
        from_environment=from_env,
        retained=tuple(sorted(keys.keys() & retained_files.keys())),
        _keys=keys,
    )


T = TypeVar("T")

_lock = threading.Lock()
# Loaded keyrings by key file name, each with the `_signature` it was loaded under.
_keyring_cache: dict[str, tuple[tuple[object, ...], object]] = {}


def _cached_keyring(
    home: Path | None, env: str, name: str, load: Callable[[Path], T], fresh: bool
) -> T:
    """`load(home)`, reused while the key files' `_signature` is unchanged."""
    home = home or home_dir()
    signature = _signature(home, env, name)
    with _lock:
        cached = _keyring_cache.get(name)
    if not fresh and cached is not None and cached[0] == signature:
        return cached[1]  # type: ignore[return-value]
    ring = load(home)
    with _lock:
        _keyring_cache[name] = (signature, ring)
    return ring


def master_keyring(home: Path | None = None, *, fresh: bool = False) -> MasterKeyring | None:
    """The master key versions available now, or None when there is no master key."""
    return _cached_keyring(home, MASTER_ENV, MASTER_KEY_NAME, _load_master, fresh)


def data_key_count() -> int:
    """How many data keys the keystore holds (0 before its tables exist)."""
    from shelfguard.vault.models import DataKey

    connection = connections[KEYSTORE_ALIAS]
    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
    if DataKey._meta.db_table not in tables:
        return 0
    return DataKey.objects.using(KEYSTORE_ALIAS).count()


def require_master_keyring(home: Path | None = None) -> MasterKeyring:
    """The master keyring, or a VaultError saying what to do when there is none."""
    ring = master_keyring(home)
    if ring is not None:
        return ring
    count = data_key_count()
    if count:
        raise VaultError(
            f"keys/master.key is missing but the keystore holds {count} data keys; "
            + RESTORE_MASTER_KEY
        )
    raise VaultError("there is no master key yet; run `shelfguard init`")


def verify_master_keyring(ring: MasterKeyring, *, sample: int = 3) -> None:
    """Check that each master key version opens the data keys wrapped with it.

    A wrong key (another installation's, or an old backup's) is reported
    clearly here instead of as a broken seal later. A version opens if any
    of a few of its rows unwraps; one damaged row is not a wrong key.
    """
    from shelfguard.vault.models import DataKey

    if not data_key_count():
        return
    rows = DataKey.objects.using(KEYSTORE_ALIAS)
    for version in sorted({*ring.versions, *rows.values_list("kek_version", flat=True).distinct()}):
        candidates = list(
            rows.filter(kek_version=version).values_list("key_id", "wrapped")[:sample]
        )
        if not candidates:
            continue
        kek = ring.key(version)  # VaultError when rows need a version no file holds
        for key_id, wrapped in candidates:
            try:
                wrapping.unwrap(kek, version, key_id, bytes(wrapped))
                break
            except wrapping.UnwrapError:
                continue
        else:
            where = ring.source if version == ring.current else f"keys/master.key.{version}"
            raise VaultError(
                f"{where} (master key version {version}) does not open the keystore's data "
                "keys: it is not the key they were wrapped with. " + RESTORE_MASTER_KEY.capitalize()
            )


# --- Index key -----------------------------------------------------------------------------


@dataclass(frozen=True)
class IndexKey:
    """One index key version with its per-kind subkeys and index lengths."""

    version: int
    bits: Mapping[str, int]
    _subkeys: Mapping[str, bytes] = field(repr=False)

    def subkey(self, kind: str) -> bytes:
        return self._subkeys[kind]


def _index_key(version: int, key: bytes, bits: Mapping[str, int]) -> IndexKey:
    # One subkey per kind (domain separation): the same value indexed as an
    # email and as a name token gives unrelated outputs, so columns of
    # different kinds cannot be joined on their index values.
    subkeys = {
        kind: hmac.new(key, _INDEX_SUBKEY_TAG + kind.encode("ascii"), hashlib.sha256).digest()
        for kind in sizing.KINDS
    }
    return IndexKey(version=version, bits=dict(bits), _subkeys=subkeys)


def _parse_index(text: str, where: str) -> IndexKey:
    version, key, params = keyfiles.parse_key_text(text, where=where, with_params=True)
    try:
        bits = (
            sizing.check_bits(params)
            if params is not None
            else sizing.plan_bits(sizing.DEFAULT_POPULATION)
        )
    except ValueError as exc:
        raise VaultError(f"{where}: {exc}") from exc
    return _index_key(version, key, bits)


@dataclass(frozen=True)
class IndexKeyring:
    """The current index key and, during a rotation, the pending one."""

    current: IndexKey | None
    pending: IndexKey | None
    source: str
    from_environment: bool

    @property
    def for_storage(self) -> IndexKey:
        """The version new index values are made with: the pending one during a rotation."""
        key = self.pending or self.current
        assert key is not None  # an IndexKeyring always holds at least one key
        return key

    @property
    def for_lookup(self) -> tuple[IndexKey, ...]:
        """Every version a stored index value may have been made with, newest first."""
        return tuple(key for key in (self.pending, self.current) if key is not None)


def _load_index(home: Path) -> IndexKeyring | None:
    text, source, from_env = _read_current(home, INDEX_ENV, INDEX_KEY_NAME)
    current = _parse_index(text, source) if text is not None else None
    pending: IndexKey | None = None
    files = keyfiles.versioned_files(keys_dir(home), INDEX_KEY_NAME)
    if len(files) > 1:
        raise VaultError(
            "more than one pending index key ("
            + ", ".join(str(p) for p in files.values())
            + "); keep the newest, remove the others and rerun `shelfguard keys rotate --index`"
        )
    for version, path in files.items():
        if current is not None and version <= current.version:
            raise VaultError(
                f"{path} is not newer than the current index key (version {current.version}); "
                "it is a leftover: remove it"
            )
        pending_text = keyfiles.read_key_file(path)
        if pending_text is None:
            continue  # renamed over index.key by a rotation finishing just now
        pending = _parse_index(pending_text, str(path))
        if pending.version != version:
            raise VaultError(f"{path} holds index key version {pending.version}, not {version}")
    if current is None and pending is None:
        return None
    return IndexKeyring(current=current, pending=pending, source=source, from_environment=from_env)


def index_keyring(home: Path | None = None, *, fresh: bool = False) -> IndexKeyring | None:
    """The index key versions available now, or None when there is no index key."""
    return _cached_keyring(home, INDEX_ENV, INDEX_KEY_NAME, _load_index, fresh)


def require_index_keyring(home: Path | None = None) -> IndexKeyring:
    ring = index_keyring(home)
    if ring is None:
        raise VaultError(
            "there is no index key (keys/index.key); run `shelfguard init`, or restore it from "
            "your key backup"
        )
    return ring


def expected_population(home: Path | None = None) -> int:
    """How many patrons the blind-index lengths are planned for.

    `$SHELFGUARD_EXPECTED_PATRONS`, else `[privacy] expected_patrons` in
    shelfguard.toml, else sizing.DEFAULT_POPULATION.
    """
    raw: object = os.environ.get(POPULATION_ENV)
    where = f"${POPULATION_ENV}"
    if raw is None:
        raw = read_config(home).get("privacy", {}).get("expected_patrons")
        where = "[privacy] expected_patrons in shelfguard.toml"
    if raw is None:
        return sizing.DEFAULT_POPULATION
    try:
        value = int(str(raw).replace("_", ""))
    except ValueError:
        raise VaultError(f"{where} must be a whole number of patrons") from None
    if value < 1:
        raise VaultError(f"{where} must be at least 1")
    return value


# --- Creating keys -------------------------------------------------------------------------


def _restrict_keystore_file(home: Path) -> None:
    base = keystore_path(home)
    for path in (base, base.with_name(base.name + "-wal"), base.with_name(base.name + "-shm")):
        if path.exists():
            os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)


def ensure_keys(home: Path) -> list[str]:
    """Create `keys/master.key` and `keys/index.key` when absent; check them when present.

    Returns the paths created. Never replaces a key. Refuses (VaultError) to
    create a master key while the keystore holds data keys (a new key would
    open none of them), to create an index key while it holds data keys
    (existing blind indexes would stop matching; rotate instead), and to go
    on with a master key that does not open the keystore.
    """
    keys = keys_dir(home)
    keys.mkdir(mode=0o700, exist_ok=True)
    created: list[str] = []

    master = master_keyring(home, fresh=True)
    if master is None:
        count = data_key_count()
        if count:
            raise VaultError(
                f"keys/master.key is missing but the keystore holds {count} data keys; "
                + RESTORE_MASTER_KEY
            )
        path = keys / MASTER_KEY_NAME
        keyfiles.write_new_key_file(path, keyfiles.format_key(1, os.urandom(keyfiles.KEY_BYTES)))
        created.append(str(path))
        master = master_keyring(home, fresh=True)
        assert master is not None
    verify_master_keyring(master)

    if index_keyring(home, fresh=True) is None:
        count = data_key_count()
        if count:
            raise VaultError(
                f"keys/index.key is missing but the keystore holds {count} data keys, so blind "
                "indexes exist: restore keys/index.key from your key backup, or run "
                "`shelfguard keys rotate --index` to make a new one and rebuild every index"
            )
        path = keys / INDEX_KEY_NAME
        bits = sizing.plan_bits(expected_population(home))
        keyfiles.write_new_key_file(
            path, keyfiles.format_key(1, os.urandom(keyfiles.KEY_BYTES), bits)
        )
        created.append(str(path))
        index_keyring(home, fresh=True)

    _restrict_keystore_file(home)
    return created
