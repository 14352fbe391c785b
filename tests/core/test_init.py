"""`shelfguard init` creates the data home, its secrets and the database, once."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from shelfguard.catalog.models import ItemType
from shelfguard.core import home as home_module
from shelfguard.core.models import Branch


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def new_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A data home location that does not exist yet."""
    path = tmp_path / "library" / "shelfguard"
    monkeypatch.setenv("SHELFGUARD_HOME", str(path))
    return path


def test_init_creates_home_keys_secret_and_config(db, new_home, run_cli):
    result = run_cli("init")

    assert result.code == 0, result.err
    assert new_home.is_dir()
    assert mode(new_home) == 0o750
    keys = new_home / "keys"
    assert mode(keys) == 0o700
    secret = keys / home_module.SECRET_KEY_NAME
    assert mode(secret) == 0o600
    assert len(secret.read_text().strip()) >= 50
    config = new_home / home_module.CONFIG_NAME
    assert config.read_text() == home_module.DEFAULT_CONFIG
    assert home_module.is_initialised(new_home)
    assert f"Shelfguard home: {new_home}" in result.out
    assert f"created {secret}" in result.out


def test_init_creates_branch_main_and_item_type_book(db, new_home, run_cli):
    assert run_cli("init").code == 0

    assert Branch.objects.get(code="MAIN").name == "Main Library"
    assert ItemType.objects.get(code="book").name == "Book"


def test_init_twice_changes_nothing_and_keeps_the_key(db, new_home, run_cli):
    assert run_cli("init").code == 0
    secret = new_home / "keys" / home_module.SECRET_KEY_NAME
    config = new_home / home_module.CONFIG_NAME
    key_before = secret.read_text()
    config.write_text(config.read_text() + "# the operator's own note\n")
    config_before = config.read_text()

    second = run_cli("init", "--json")

    assert second.code == 0, second.err
    assert second.json()["created"] == []
    assert second.json()["branch_main_created"] is False
    assert second.json()["item_type_book_created"] is False
    assert secret.read_text() == key_before
    assert config.read_text() == config_before
    assert Branch.objects.count() == 1
    assert ItemType.objects.count() == 1


def test_init_repairs_loose_keys_directory_mode(db, new_home, run_cli):
    assert run_cli("init").code == 0
    os.chmod(new_home / "keys", 0o755)

    assert run_cli("init").code == 0

    assert mode(new_home / "keys") == 0o700


def test_init_json_reports_what_it_created(db, new_home, run_cli):
    result = run_cli("init", "--json")

    assert result.code == 0, result.err
    summary = result.json()
    assert summary["home"] == str(new_home)
    assert set(summary["created"]) == {
        str(new_home),
        str(new_home / "keys"),
        str(new_home / "keys" / home_module.SECRET_KEY_NAME),
        str(new_home / "keys" / "master.key"),
        str(new_home / "keys" / "index.key"),
        str(new_home / home_module.CONFIG_NAME),
    }
    assert summary["branch_main_created"] is True
    assert summary["item_type_book_created"] is True


def test_init_help_runs_before_init(new_home, run_cli):
    result = run_cli("init", "--help")

    assert result.code == 0
    assert "--json" in result.out
    assert not new_home.exists()


def test_commands_other_than_init_refuse_an_uninitialised_home(new_home, run_cli):
    result = run_cli("branch", "list")

    assert result.code == 2
    assert "shelfguard init" in result.err
    assert not new_home.exists()


def test_init_creates_the_embedded_database_readable_by_owner_only(tmp_path):
    """The real console path on SQLite: a fresh process, a fresh home, no test database."""
    location = tmp_path / "home"
    env = {**os.environ, "SHELFGUARD_HOME": str(location)}
    env.pop("DATABASE_URL", None)
    env.pop("DJANGO_SETTINGS_MODULE", None)

    done = subprocess.run(
        [sys.executable, "-m", "shelfguard", "init", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["branch_main_created"] is True
    database = home_module.database_path(location)
    assert mode(database) == 0o600
    with contextlib.closing(sqlite3.connect(database)) as conn:
        assert conn.execute("SELECT code FROM core_branch").fetchall() == [("MAIN",)]
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
