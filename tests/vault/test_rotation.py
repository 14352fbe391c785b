"""Rotation of the master key and the index key, including resuming after a crash."""

from __future__ import annotations

import os
import uuid

import pytest

from shelfguard.core import clock
from shelfguard.vault import blind, keyfiles, keystore, rotation, sealing, wrapping
from shelfguard.vault.errors import VaultError
from shelfguard.vault.keys import index_keyring, master_keyring
from shelfguard.vault.models import DataKey
from tests.vault.conftest import KEYSTORE

pytestmark = pytest.mark.django_db(databases=KEYSTORE)


class Crash(Exception):
    """A simulated crash (power cut, kill -9) in the middle of a rotation."""


def versions() -> dict[str, int]:
    rows = DataKey.objects.using("keystore").values_list("key_id", "kek_version")
    return {str(key_id): version for key_id, version in rows}


def sealed_values(count: int) -> list[tuple[str, bytes]]:
    values = []
    for n in range(count):
        key_id = keystore.new_data_key()
        values.append((key_id, sealing.seal(key_id, f"patron:{n}", "name", f"Patron {n}")))
    return values


def assert_all_open(values: list[tuple[str, bytes]]) -> None:
    sealing.forget_cached_keys()
    for n, (key_id, sealed) in enumerate(values):
        assert sealing.unseal(key_id, f"patron:{n}", "name", sealed) == f"Patron {n}"


# --- master key ------------------------------------------------------------------------------


def test_rotation_rewraps_every_key_and_keeps_values_readable(keys, monkeypatch):
    monkeypatch.setattr(rotation, "BATCH", 7)
    values = sealed_values(30)
    old_text = (keys / "master.key").read_text()
    seen: list[tuple[int, int | None]] = []

    rewrapped = rotation.rotate_master_key(progress=lambda done, total: seen.append((done, total)))

    assert rewrapped == 30
    assert set(versions().values()) == {2}
    assert (keys / "master.key").read_text() != old_text
    assert keyfiles.parse_key_text((keys / "master.key").read_text(), where="m")[0] == 2
    assert not (keys / "master.key.1").exists()
    assert master_keyring().versions == (2,)
    assert seen[-1] == (30, 30) and [d for d, _ in seen] == [7, 14, 21, 28, 30]
    assert_all_open(values)
    # New keys are wrapped with the new version.
    new_key = keystore.new_data_key()
    assert versions()[new_key] == 2


def test_rotation_with_no_data_keys_just_replaces_the_key(keys):
    assert rotation.rotate_master_key() == 0
    assert master_keyring().current == 2
    assert not (keys / "master.key.1").exists()


def test_rotating_twice_moves_to_version_three(keys):
    values = sealed_values(3)
    rotation.rotate_master_key()
    rotation.rotate_master_key()

    assert set(versions().values()) == {3}
    assert_all_open(values)


def test_crash_midway_leaves_both_versions_usable_and_a_rerun_finishes(keys, monkeypatch):
    monkeypatch.setattr(rotation, "BATCH", 5)
    values = sealed_values(12)

    def crash_after_first_batch(done: int, total: int | None) -> None:
        raise Crash

    with pytest.raises(Crash):
        rotation.rotate_master_key(progress=crash_after_first_batch)

    # Half-way: five rows moved, seven still on version 1, both keys on disk.
    assert sorted(versions().values()) == [1] * 7 + [2] * 5
    assert (keys / "master.key.1").exists()
    ring = master_keyring()
    assert ring.current == 2 and ring.rotation_pending
    assert_all_open(values)
    new_key = keystore.new_data_key()
    assert versions()[new_key] == 2

    # The rerun finishes this rotation; it does not start a third version.
    assert rotation.rotate_master_key() == 7
    assert set(versions().values()) == {2}
    assert not (keys / "master.key.1").exists()
    assert_all_open(values)


def test_crash_before_the_new_key_is_installed(keys, monkeypatch):
    values = sealed_values(4)

    def crash(path, text):
        raise Crash

    with monkeypatch.context() as patch:
        patch.setattr(keyfiles, "replace_key_file", crash)
        with pytest.raises(Crash):
            rotation.rotate_master_key()

    # The old key was kept aside; nothing else changed.
    assert (keys / "master.key.1").exists()
    assert master_keyring().current == 1
    assert_all_open(values)

    assert rotation.rotate_master_key() == 4
    assert set(versions().values()) == {2}
    assert not (keys / "master.key.1").exists()
    assert_all_open(values)


def test_rows_added_with_the_old_version_during_rotation_are_rewrapped(keys, monkeypatch):
    """A process that still had version 1 loaded inserts a row after the batch loop."""
    values = sealed_values(3)
    retire = rotation._retire
    calls = {"n": 0}

    def late_writer(ring):
        calls["n"] += 1
        if calls["n"] == 1:
            kept = keyfiles.parse_key_text((keys / "master.key.1").read_text(), where="k")[1]
            key_id = uuid.uuid4()
            data_key = os.urandom(32)
            DataKey.objects.using("keystore").create(
                key_id=key_id,
                wrapped=wrapping.wrap(kept, 1, key_id, data_key),
                kek_version=1,
                created_at=clock.now(),
            )
        return retire(ring)

    monkeypatch.setattr(rotation, "_retire", late_writer)

    assert rotation.rotate_master_key() == 4
    assert set(versions().values()) == {2}
    assert not (keys / "master.key.1").exists()
    assert_all_open(values)


def test_a_new_key_wrapped_with_a_version_retired_meanwhile_is_rolled_back(keys, monkeypatch):
    """A process read the version-1 key files just before a rotation retired version 1:
    its insert must not commit a row no master key file can open any more."""
    stale = master_keyring()
    rotation.rotate_master_key()
    monkeypatch.setattr(keystore, "require_master_keyring", lambda: stale)

    with pytest.raises(VaultError, match="three attempts"):
        keystore.new_data_key()
    assert DataKey.objects.using("keystore").filter(kek_version=1).count() == 0


def test_rotation_refuses_a_wrong_master_key_before_writing_anything(keys):
    sealed_values(2)
    sealing.forget_cached_keys()
    (keys / "master.key").unlink()
    keyfiles.write_new_key_file(keys / "master.key", keyfiles.format_key(1, os.urandom(32)))
    before = sorted(p.name for p in keys.iterdir())

    with pytest.raises(VaultError, match="does not open"):
        rotation.rotate_master_key()
    assert sorted(p.name for p in keys.iterdir()) == before


def test_rotation_refuses_a_master_key_from_the_environment(home, monkeypatch):
    monkeypatch.setenv("SHELFGUARD_MASTER_KEY", keyfiles.format_key(1, os.urandom(32)))
    from shelfguard.vault.keys import ensure_keys

    ensure_keys(home)
    with pytest.raises(VaultError, match=r"\$SHELFGUARD_MASTER_KEY"):
        rotation.rotate_master_key()


def test_a_damaged_row_stops_rotation_with_both_versions_usable(keys):
    values = sealed_values(3)
    broken = keystore.new_data_key()
    DataKey.objects.using("keystore").filter(pk=broken).update(wrapped=b"\x01" + b"\x00" * 60)

    with pytest.raises(VaultError, match=broken):
        rotation.rotate_master_key()
    assert master_keyring().rotation_pending
    assert_all_open(values)


# --- index key -------------------------------------------------------------------------------


def test_index_rotation_switches_only_after_rebuild_returns(keys):
    old_text = (keys / "index.key").read_text()
    old_index = blind.blind_index("email", "ada@example.org")
    seen = {}

    def rebuild(new_index):
        # During the rebuild the old key is still the current one ...
        assert (keys / "index.key").read_text() == old_text
        assert (keys / "index.key.2").exists()
        seen["new"] = new_index("email", " ADA@example.org ")
        # ... new values are stored with the incoming one, lookups try both.
        assert blind.blind_index("email", "ada@example.org") == seen["new"]
        assert blind.blind_index_candidates("email", "ada@example.org") == [seen["new"], old_index]
        return 17

    assert rotation.rotate_index_key(rebuild) == 17

    assert not (keys / "index.key.2").exists()
    assert (keys / "index.key").read_text() != old_text
    assert index_keyring().current.version == 2 and index_keyring().pending is None
    assert blind.blind_index("email", "ada@example.org") == seen["new"] != old_index
    assert blind.index_version(seen["new"]) == 2
    assert blind.blind_index_candidates("email", "ada@example.org") == [seen["new"]]


def test_index_rotation_resumes_with_the_same_pending_key(keys):
    outputs = []

    def crashing_rebuild(new_index):
        outputs.append(new_index("card", "29012345"))
        raise Crash

    with pytest.raises(Crash):
        rotation.rotate_index_key(crashing_rebuild)
    assert (keys / "index.key.2").exists()
    assert index_keyring().current.version == 1

    def rebuild(new_index):
        outputs.append(new_index("card", "29012345"))
        return 1

    assert rotation.rotate_index_key(rebuild) == 1
    assert outputs[0] == outputs[1]
    assert index_keyring().current.version == 2


def test_index_rotation_plans_lengths_for_the_expected_population(keys, monkeypatch):
    monkeypatch.setenv("SHELFGUARD_EXPECTED_PATRONS", "1000000")

    rotation.rotate_index_key(lambda new_index: 0)

    assert dict(index_keyring().current.bits) == {
        "card": 128,
        "email": 18,
        "phone": 18,
        "name_token": 6,
        "address": 18,
    }
    assert len(blind.blind_index("email", "reader@example.org")) == 2 + 3


def test_index_rotation_recovers_a_lost_index_key(keys):
    (keys / "index.key").unlink()

    rotation.rotate_index_key(lambda new_index: 0)

    assert index_keyring().current.version == 1
    blind.blind_index("email", "ada@example.org")


def test_index_rotation_needs_a_count_from_rebuild(keys):
    with pytest.raises(VaultError, match="number of rows"):
        rotation.rotate_index_key(lambda new_index: None)
    assert index_keyring().pending is not None


def test_index_rotation_refuses_an_index_key_from_the_environment(keys, monkeypatch):
    monkeypatch.setenv("SHELFGUARD_INDEX_KEY", keyfiles.format_key(1, os.urandom(32)))

    with pytest.raises(VaultError, match=r"\$SHELFGUARD_INDEX_KEY"):
        rotation.rotate_index_key(lambda new_index: 0)
