"""Key files: creation, permissions, sources, and refusing a missing or wrong master key."""

from __future__ import annotations

import base64
import os
import stat

import pytest

from shelfguard.vault import keyfiles, keystore, sealing
from shelfguard.vault.errors import VaultError
from shelfguard.vault.keys import (
    ensure_keys,
    index_keyring,
    master_keyring,
    require_master_keyring,
)
from tests.vault.conftest import KEYSTORE

pytestmark = pytest.mark.django_db(databases=KEYSTORE)


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def other_key_text(version: int = 1) -> str:
    return keyfiles.format_key(version, os.urandom(32))


def test_ensure_keys_creates_owner_only_master_and_index_keys(home):
    created = ensure_keys(home)

    keys = home / "keys"
    assert created == [str(keys / "master.key"), str(keys / "index.key")]
    for name in ("master.key", "index.key"):
        assert mode(keys / name) == 0o600
    version, key, params = keyfiles.parse_key_text(
        (keys / "master.key").read_text(), where="master.key"
    )
    assert (version, len(key), params) == (1, 32, None)
    assert master_keyring(home).current == 1
    assert index_keyring(home).current.version == 1


def test_ensure_keys_twice_keeps_the_keys(home):
    ensure_keys(home)
    before = {n: (home / "keys" / n).read_text() for n in ("master.key", "index.key")}

    assert ensure_keys(home) == []
    assert {n: (home / "keys" / n).read_text() for n in before} == before


def test_master_and_index_keys_differ(keys):
    _, master, _ = keyfiles.parse_key_text((keys / "master.key").read_text(), where="m")
    _, index, _ = keyfiles.parse_key_text(
        (keys / "index.key").read_text(), where="i", with_params=True
    )
    assert master != index


@pytest.mark.parametrize("name", ["master.key", "index.key"])
@pytest.mark.parametrize("loose", [0o640, 0o604, 0o644])
def test_key_files_readable_by_others_are_refused(keys, name, loose):
    os.chmod(keys / name, loose)

    with pytest.raises(VaultError) as error:
        ensure_keys(keys.parent)
    assert "chmod 600" in str(error.value)
    assert str(keys / name) in str(error.value)


def test_loose_master_key_file_blocks_sealing(keys):
    key_id = keystore.new_data_key()
    sealing.forget_cached_keys()
    os.chmod(keys / "master.key", 0o644)

    with pytest.raises(VaultError, match="readable by other accounts"):
        sealing.open_key(key_id)


def test_retained_master_key_with_loose_mode_is_refused(keys):
    (keys / "master.key.1").write_text((keys / "master.key").read_text())
    os.chmod(keys / "master.key.1", 0o644)

    with pytest.raises(VaultError, match="readable by other accounts"):
        master_keyring(keys.parent)


def test_master_key_from_environment(home, monkeypatch):
    text = other_key_text()
    monkeypatch.setenv("SHELFGUARD_MASTER_KEY", text)

    created = ensure_keys(home)

    assert str(home / "keys" / "master.key") not in created
    assert not (home / "keys" / "master.key").exists()
    ring = master_keyring(home)
    assert ring.from_environment and ring.source == "$SHELFGUARD_MASTER_KEY"
    key_id = keystore.new_data_key()
    assert sealing.unseal(key_id, "p1", "name", sealing.seal(key_id, "p1", "name", "Ada")) == "Ada"


def test_bare_base64_master_key_is_version_one(home, monkeypatch):
    monkeypatch.setenv("SHELFGUARD_MASTER_KEY", base64.b64encode(os.urandom(32)).decode())

    assert master_keyring(home).current == 1


def test_master_key_file_from_environment_must_be_owner_only(home, tmp_path, monkeypatch):
    path = tmp_path / "secret-store" / "kek"
    path.parent.mkdir()
    path.write_text(other_key_text())
    os.chmod(path, 0o644)
    monkeypatch.setenv("SHELFGUARD_MASTER_KEY_FILE", str(path))

    with pytest.raises(VaultError, match="chmod 600"):
        ensure_keys(home)
    os.chmod(path, 0o600)
    ensure_keys(home)
    assert master_keyring(home).from_environment


@pytest.mark.parametrize(
    "text",
    ["v1:not base64!", "v1:" + base64.b64encode(b"short").decode(), "vX:abc", "v1:a:b:c", ""],
)
def test_damaged_master_key_is_refused_without_showing_it(keys, text):
    (keys / "master.key").write_text(text + "\n")

    with pytest.raises(VaultError) as error:
        master_keyring(keys.parent)
    assert "keys/master.key" in str(error.value)
    if len(text) > 4:
        assert text[3:] not in str(error.value)


def test_missing_master_key_with_data_keys_is_refused(keys):
    keystore.new_data_key()
    (keys / "master.key").unlink()

    with pytest.raises(VaultError) as error:
        ensure_keys(keys.parent)
    message = str(error.value)
    assert "restore keys/master.key from your key backup" in message
    assert "a new key would make every sealed value unreadable" in message
    assert not (keys / "master.key").exists()

    with pytest.raises(VaultError, match="restore keys/master.key"):
        keystore.new_data_key()


def test_missing_master_key_with_no_data_keys_is_simply_created(keys):
    (keys / "master.key").unlink()

    assert ensure_keys(keys.parent) == [str(keys / "master.key")]


def test_missing_master_key_before_init_says_run_init(home):
    with pytest.raises(VaultError, match="shelfguard init"):
        require_master_keyring(home)


def test_wrong_master_key_is_refused_clearly(keys):
    key_id = keystore.new_data_key()
    sealed = sealing.seal(key_id, "patron:1", "name", "Ada")
    sealing.forget_cached_keys()
    (keys / "master.key").unlink()
    keyfiles.write_new_key_file(keys / "master.key", other_key_text())

    with pytest.raises(VaultError) as at_init:
        ensure_keys(keys.parent)
    with pytest.raises(VaultError) as at_use:
        sealing.unseal(key_id, "patron:1", "name", sealed)

    for error in (at_init.value, at_use.value):
        assert "does not open the keystore" in str(error)
        assert "restore" in str(error).lower()


def test_older_master_key_version_than_the_keystore_needs_is_refused(keys):
    key_id = keystore.new_data_key()
    sealing.forget_cached_keys()
    (keys / "master.key").unlink()
    keyfiles.write_new_key_file(keys / "master.key", other_key_text(version=7))

    with pytest.raises(VaultError, match="master key version 1 is needed"):
        sealing.open_key(key_id)


def test_missing_index_key_with_data_keys_is_refused(keys):
    keystore.new_data_key()
    (keys / "index.key").unlink()

    with pytest.raises(VaultError, match="keys rotate --index"):
        ensure_keys(keys.parent)


def test_key_files_are_never_overwritten(keys):
    with pytest.raises(VaultError, match="already exists"):
        keyfiles.write_new_key_file(keys / "master.key", other_key_text())


def test_keyring_repr_shows_no_key_material(keys):
    ring = master_keyring(keys.parent)
    _, raw, _ = keyfiles.parse_key_text((keys / "master.key").read_text(), where="m")

    for text in (repr(ring), str(ring), repr(index_keyring(keys.parent))):
        assert base64.b64encode(raw).decode() not in text
        assert raw.hex() not in text
        assert "_keys" not in text and "_subkeys" not in text
