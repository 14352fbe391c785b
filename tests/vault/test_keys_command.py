"""`shelfguard keys status|rotate [--index] [--json]`."""

from __future__ import annotations

import base64

import pytest

from shelfguard.vault import blind, keyfiles, keystore, sealing
from shelfguard.vault.management.commands import keys as keys_command
from tests.vault import fake_patrons_services
from tests.vault.conftest import KEYSTORE

pytestmark = pytest.mark.django_db(databases=KEYSTORE)


def key_material(keys_dir) -> list[str]:
    found = []
    for name in ("master.key", "index.key"):
        for version_file in [keys_dir / name, *keys_dir.glob(name + ".*")]:
            if version_file.exists():
                _, raw, _ = keyfiles.parse_key_text(
                    version_file.read_text(), where=name, with_params=True
                )
                found += [base64.b64encode(raw).decode(), raw.hex()]
    return found


def test_status_json(keys, run_cli):
    erased = keystore.new_data_key()
    keystore.new_data_key()
    keystore.destroy_data_key(erased, owner="patron:1")

    result = run_cli("keys", "status", "--json")

    assert result.code == 0, result.err
    report = result.json()
    assert report["master_key"] == {
        "version": 1,
        "source": "keys/master.key",
        "versions_available": [1],
        "rotation_pending": False,
        "opens_keystore": True,
    }
    assert report["index_key"]["version"] == 1
    assert report["index_key"]["pending_version"] is None
    assert set(report["index_key"]["bits"]) == {"card", "email", "phone", "name_token", "address"}
    assert report["data_keys"] == 1
    assert report["data_keys_by_master_version"] == {"1": 1}
    assert report["erased_keys"] == 1
    assert report["keystore"]["engine"] in {"sqlite", "postgresql"}
    for secret in key_material(keys):
        assert secret not in result.out and secret not in result.err


def test_status_text(keys, run_cli):
    keystore.new_data_key()

    result = run_cli("keys", "status")

    assert result.code == 0, result.err
    assert "Master key: version 1 (keys/master.key)" in result.out
    assert "Data keys: 1 (master key v1: 1)" in result.out
    for secret in key_material(keys):
        assert secret not in result.out


def test_status_fails_when_the_master_key_does_not_open_the_keystore(keys, run_cli):
    import os

    keystore.new_data_key()
    (keys / "master.key").unlink()
    keyfiles.write_new_key_file(keys / "master.key", keyfiles.format_key(1, os.urandom(32)))

    result = run_cli("keys", "status", "--json")

    assert result.code != 0
    assert result.json()["master_key"]["opens_keystore"] is False
    assert "does not open the keystore" in result.err


def test_rotate_json(keys, run_cli):
    key_id = keystore.new_data_key()
    sealed = sealing.seal(key_id, "patron:1", "email", "ada@example.org")

    result = run_cli("keys", "rotate", "--json")

    assert result.code == 0, result.err
    assert result.json() == {"rotated": "master", "version": 2, "rewrapped": 1}
    sealing.forget_cached_keys()
    assert sealing.unseal(key_id, "patron:1", "email", sealed) == "ada@example.org"
    for secret in key_material(keys):
        assert secret not in result.out
    status = run_cli("keys", "status", "--json").json()
    assert status["master_key"]["version"] == 2
    assert status["data_keys_by_master_version"] == {"2": 1}


def test_rotate_index_json_calls_the_patrons_rebuild(keys, run_cli, monkeypatch):
    monkeypatch.setattr(keys_command, "REBUILD_MODULE", "tests.vault.fake_patrons_services")
    fake_patrons_services.calls.clear()

    result = run_cli("keys", "rotate", "--index", "--json")

    assert result.code == 0, result.err
    data = result.json()
    assert data["rotated"] == "index" and data["version"] == 2 and data["rebuilt"] == 3
    assert set(data["bits"]) == {"card", "email", "phone", "name_token", "address"}
    (call,) = fake_patrons_services.calls
    assert call["index"] == blind.blind_index("card", "29012345")
    assert call["actor"].kind == "cli"
    assert call["purpose"] == "blind index key rotation"


def test_rotate_index_without_the_patrons_app_fails_clearly(keys, run_cli, monkeypatch):
    monkeypatch.setattr(keys_command, "REBUILD_MODULE", "shelfguard.nothing_here.services")

    result = run_cli("keys", "rotate", "--index", "--json")

    assert result.code != 0
    assert "shelfguard.nothing_here.services is not installed" in result.err
    assert not list(keys.glob("index.key.*"))


def test_rotate_refuses_when_the_master_key_is_missing(keys, run_cli):
    keystore.new_data_key()
    (keys / "master.key").unlink()

    result = run_cli("keys", "rotate")

    assert result.code != 0
    assert "restore keys/master.key from your key backup" in result.err


def test_help(run_cli, home):
    result = run_cli("keys", "--help")

    assert result.code == 0
    assert "status" in result.out and "rotate" in result.out
