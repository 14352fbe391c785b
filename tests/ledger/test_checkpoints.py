"""Checkpoints: a signing key made by init, signed files outside the database, a shipping hook."""

from __future__ import annotations

import base64
import json
import shlex
import stat
import sys
from pathlib import Path

import pytest

from shelfguard.ledger import checkpoints
from shelfguard.ledger.errors import ChainBroken, CheckpointError, CheckpointHookError
from shelfguard.ledger.models import Entry
from shelfguard.ledger.verify import verify

from .conftest import sql


def test_the_signing_key_is_created_once_and_readable_by_its_owner_only(home):
    key = home / "keys" / checkpoints.SIGNING_KEY_NAME

    assert checkpoints.ensure_signing_key(home) is True
    first = key.read_text()
    assert checkpoints.ensure_signing_key(home) is False

    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert key.read_text() == first
    assert first.startswith("-----BEGIN PRIVATE KEY-----")
    assert checkpoints.load_signing_key(home) is not None


# Every database: init also sets up the other apps' stores (a keystore, for one).
@pytest.mark.django_db(databases="__all__")
def test_init_creates_the_signing_key(tmp_path, monkeypatch, run_cli):
    location = tmp_path / "fresh"
    monkeypatch.setenv("SHELFGUARD_HOME", str(location))

    result = run_cli("init", "--json")

    assert result.code == 0, result.err
    assert result.json()["ledger_signing_key_created"] is True
    key = location / "keys" / checkpoints.SIGNING_KEY_NAME
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert run_cli("init", "--json").json()["ledger_signing_key_created"] is False


def test_a_checkpoint_signs_the_chain_head_outside_the_database(db, chain_of, signing_home):
    entries = chain_of(5)

    path = checkpoints.write_checkpoint()

    assert path == signing_home / "ledger-checkpoints" / "5.json"
    document = json.loads(path.read_text())
    assert (document["seq"], document["hash"]) == (5, entries[-1].hash)
    public = checkpoints.public_key_of()
    public.verify(
        base64.b64decode(document["signature"]),
        checkpoints.signed_bytes(document["seq"], document["hash"], document["at"]),
    )
    good, bad = checkpoints.read_checkpoints(public)
    assert [c.seq for c in good] == [5] and bad == []
    report = verify()
    assert report.ok and report.checkpoints == 1 and report.newest_checkpoint == 5


def test_an_empty_chain_can_be_checkpointed(db, signing_home):
    assert checkpoints.write_checkpoint().name == "0.json"
    assert verify().ok


def test_checkpointing_needs_the_signing_key(db, chain_of, home):
    chain_of(1)

    with pytest.raises(CheckpointError, match="shelfguard init"):
        checkpoints.write_checkpoint()


def test_a_broken_chain_is_not_signed(db, chain_of, signing_home):
    chain_of(4)
    checkpoints.write_checkpoint()
    chain_of(3)
    sql("UPDATE ledger_entry SET purpose = 'other' WHERE seq = 6")

    with pytest.raises(ChainBroken, match="altered at #6"):
        checkpoints.write_checkpoint()

    assert not (signing_home / "ledger-checkpoints" / "7.json").exists()


def test_a_truncated_chain_is_not_signed(db, chain_of, signing_home):
    chain_of(4)
    checkpoints.write_checkpoint()
    third = Entry.objects.get(seq=3)
    sql("DELETE FROM ledger_entry WHERE seq = 4")
    sql("UPDATE ledger_chainhead SET seq = 3, hash = %s", (third.hash,))

    with pytest.raises(ChainBroken, match="newer than the chain head"):
        checkpoints.write_checkpoint()


def _hook(tmp_path: Path, body: str) -> str:
    script = tmp_path / "hook.py"
    script.write_text(body)
    return shlex.join([sys.executable, str(script)])


def test_the_hook_ships_the_checkpoint_file(db, chain_of, signing_home, tmp_path, settings):
    shipped = tmp_path / "elsewhere"
    shipped.mkdir()
    settings.CONFIG = {
        "ledger": {
            "checkpoint_hook": _hook(
                tmp_path,
                f"import shutil, sys\nshutil.copy(sys.argv[1], {str(shipped)!r})\n",
            )
        }
    }
    chain_of(2)

    path = checkpoints.write_checkpoint()

    assert (shipped / "2.json").read_bytes() == path.read_bytes()


def test_a_failing_hook_is_reported_and_the_checkpoint_kept(
    db, chain_of, signing_home, tmp_path, settings
):
    settings.CONFIG = {
        "ledger": {
            "checkpoint_hook": _hook(
                tmp_path,
                "import sys\nprint('remote refused\\x1b[2J', file=sys.stderr)\nsys.exit(4)\n",
            )
        }
    }
    chain_of(2)

    with pytest.raises(CheckpointHookError) as failure:
        checkpoints.write_checkpoint()

    assert "status 4" in str(failure.value)
    assert "remote refused" in str(failure.value)
    assert "\x1b" not in str(failure.value)
    assert failure.value.path.is_file()


def test_a_missing_hook_program_is_reported(db, signing_home, tmp_path, settings):
    settings.CONFIG = {"ledger": {"checkpoint_hook": str(tmp_path / "no-such-program")}}

    with pytest.raises(CheckpointHookError, match="not found"):
        checkpoints.write_checkpoint()


def test_a_hung_hook_times_out(db, signing_home, tmp_path, settings):
    settings.CONFIG = {
        "ledger": {
            "checkpoint_hook": _hook(tmp_path, "import time\ntime.sleep(30)\n"),
            "checkpoint_hook_timeout": 0.5,
        }
    }

    with pytest.raises(CheckpointHookError, match="did not finish"):
        checkpoints.write_checkpoint()
