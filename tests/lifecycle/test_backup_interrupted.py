"""A full disk and a killed process: no file that looks complete, old backups untouched.

These run the real `shelfguard backup create` in child processes on a data
home with its own SQLite files, as an operator or a cron job would.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .backup_helpers import AgeKey, configure, shelfguard

_FILLER_BYTES = 24 * 1024 * 1024


@pytest.fixture(scope="module")
def initialised_home(tmp_path_factory) -> tuple[Path, AgeKey]:
    base = tmp_path_factory.mktemp("backup-home")
    home = base / "home"
    done = shelfguard(home, "init", "--json")
    assert done.returncode == 0, done.stderr
    key = AgeKey(base, "library")
    configure(home, recipients=[key.recipient])
    return home, key


@pytest.fixture
def home(initialised_home, tmp_path) -> tuple[Path, AgeKey]:
    source, key = initialised_home
    copy = tmp_path / "home"
    shutil.copytree(source, copy)
    return copy, key


def backups(home: Path) -> list[Path]:
    return sorted((home / "backups").glob("shelfguard-data-*"))


def leftovers(home: Path) -> list[Path]:
    return sorted((home / "backups").glob(".tmp-*"))


def _limit_file_size(limit: int):
    def apply() -> None:
        # A write past the limit fails with EFBIG instead of killing the process.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def test_a_full_disk_gives_a_clear_error_and_leaves_old_backups_alone(home):
    home, _key = home
    first = shelfguard(home, "backup", "create", "--json")
    assert first.returncode == 0, first.stderr
    (old,) = backups(home)
    old_bytes = old.read_bytes()

    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["SHELFGUARD_HOME"] = str(home)
    full = subprocess.run(
        [sys.executable, "-m", "shelfguard", "backup", "create"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        preexec_fn=_limit_file_size(64 * 1024),
    )

    assert full.returncode != 0
    last_line = full.stderr.strip().splitlines()[-1]
    assert "the disk is full" in last_line and "older backups are untouched" in last_line
    assert "Traceback" not in full.stderr
    assert backups(home) == [old] and old.read_bytes() == old_bytes
    assert leftovers(home) == []


def _fill(home: Path) -> None:
    """Make the database big enough (incompressible) that a backup takes a while."""
    db = sqlite3.connect(home / "shelfguard.sqlite3")
    try:
        db.execute("CREATE TABLE bulk_filler (data BLOB)")
        for _ in range(_FILLER_BYTES // (1024 * 1024)):
            db.execute("INSERT INTO bulk_filler VALUES (?)", (os.urandom(1024 * 1024),))
        db.commit()
    finally:
        db.close()


def test_a_backup_killed_mid_way_leaves_nothing_that_looks_complete(home):
    home, key = home
    _fill(home)
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["SHELFGUARD_HOME"] = str(home)

    child = subprocess.Popen(
        [sys.executable, "-m", "shelfguard", "backup", "create"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not ((home / "backups").is_dir() and leftovers(home)):
        assert child.poll() is None, "the backup finished before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.002)
    time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()

    assert child.returncode == -signal.SIGKILL
    assert backups(home) == []
    assert leftovers(home), "the interrupted run left its temp files (removed by the next run)"

    again = shelfguard(home, "backup", "create", "--json")

    assert again.returncode == 0, again.stderr
    assert len(backups(home)) == 1
    assert leftovers(home) == []
    checked = shelfguard(
        home, "backup", "verify", str(backups(home)[0]), "--identity", str(key.path)
    )
    assert checked.returncode == 0, checked.stderr + checked.stdout


@pytest.mark.django_db(databases=["default", "keystore"])
def test_a_backup_inside_an_open_transaction_is_refused_not_left_waiting(tmp_path):
    from django.db import connection

    from shelfguard.lifecycle.errors import BackupError
    from shelfguard.lifecycle.snapshot import copy_sqlite

    if connection.vendor != "sqlite":
        pytest.skip("the online backup API is SQLite's")
    with pytest.raises(BackupError) as refused:
        copy_sqlite("default", tmp_path / "copy.sqlite3")
    assert refused.value.code == "database_busy"
    assert not (tmp_path / "copy.sqlite3").exists()


def _staged(target: Path) -> list[Path]:
    return sorted(target.parent.glob(f".{target.name}.restore-*"))


def _restore_args(backup: Path, key: AgeKey, target: Path) -> list[str]:
    return ["backup", "restore", str(backup), "--identity", str(key.path), "--home", str(target)]


@pytest.mark.parametrize("existing", [False, True], ids=["new-home", "replacing-a-home"])
def test_a_restore_killed_mid_way_leaves_nothing_half_applied_and_the_next_run_succeeds(
    home, tmp_path, existing
):
    home, key = home
    made = shelfguard(home, "backup", "create", "--json")
    assert made.returncode == 0, made.stderr
    (backup,) = backups(home)
    target = tmp_path / "restored"
    if existing:
        target.mkdir()
        (target / "shelfguard.sqlite3").write_text("the old database")
    before = sorted(p.name for p in target.iterdir()) if existing else None
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["SHELFGUARD_HOME"] = str(home)

    extra = ["--yes"] if existing else []
    child = subprocess.Popen(
        [sys.executable, "-m", "shelfguard", *_restore_args(backup, key, target), *extra],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    # Mid-way: the staged home holds the restored database, erasures not yet re-applied.
    deadline = time.monotonic() + 60
    while not any((s / "shelfguard.sqlite3").is_file() for s in _staged(target)):
        assert child.poll() is None, "the restore finished before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.002)
    child.send_signal(signal.SIGKILL)
    child.wait()

    assert child.returncode == -signal.SIGKILL
    if existing:
        assert sorted(p.name for p in target.iterdir()) == before
        assert (target / "shelfguard.sqlite3").read_text() == "the old database"
    else:
        assert not target.exists(), "no home appears at the target"
    assert _staged(target), "the killed run's staging is left (the next run removes it)"
    assert not list(target.parent.glob(f".{target.name}.replaced-*"))

    again = shelfguard(home, *_restore_args(backup, key, target), *extra, "--json")

    assert again.returncode == 0, again.stderr
    assert _staged(target) == [], "the next run removed the stale staging"
    status = shelfguard(target, "backup", "status", "--json")
    assert status.returncode == 0, status.stderr
    db = sqlite3.connect(target / "shelfguard.sqlite3")
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    finally:
        db.close()
