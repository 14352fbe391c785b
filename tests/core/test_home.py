"""The data home: where it is, and how secrets are read from it and from the environment."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shelfguard.core.home import (
    SECRET_KEY_NAME,
    HomeError,
    create_home,
    home_dir,
    keys_dir,
    read_config,
    read_secret,
    write_secret_file,
)


@pytest.fixture
def no_home_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No home variables set; the user's home directory is a fresh temp dir."""
    monkeypatch.delenv("SHELFGUARD_HOME", raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    user_home = tmp_path / "user"
    user_home.mkdir()
    monkeypatch.setenv("HOME", str(user_home))
    return user_home


def test_home_dir_defaults_to_local_share(no_home_env):
    assert home_dir() == no_home_env / ".local" / "share" / "shelfguard"


def test_home_dir_follows_xdg_data_home(no_home_env, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))

    assert home_dir() == tmp_path / "xdg" / "shelfguard"


def test_shelfguard_home_overrides_xdg(no_home_env, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("SHELFGUARD_HOME", str(tmp_path / "elsewhere"))

    assert home_dir() == tmp_path / "elsewhere"


def test_shelfguard_home_expands_tilde_and_is_absolute(no_home_env, tmp_path, monkeypatch):
    monkeypatch.setenv("SHELFGUARD_HOME", "~/library")
    assert home_dir() == no_home_env / "library"

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("SHELFGUARD_HOME", "relative/home")
    assert home_dir() == tmp_path / "relative" / "home"


def test_home_dir_is_read_on_every_call(tmp_path, monkeypatch):
    monkeypatch.setenv("SHELFGUARD_HOME", str(tmp_path / "one"))
    assert home_dir() == tmp_path / "one"
    monkeypatch.setenv("SHELFGUARD_HOME", str(tmp_path / "two"))
    assert home_dir() == tmp_path / "two"


def test_secret_key_is_read_from_the_keys_directory(home, monkeypatch):
    monkeypatch.delenv("SHELFGUARD_SECRET_KEY", raising=False)
    monkeypatch.delenv("SHELFGUARD_SECRET_KEY_FILE", raising=False)
    stored = (keys_dir(home) / SECRET_KEY_NAME).read_text().strip()

    assert read_secret(SECRET_KEY_NAME, env="SHELFGUARD_SECRET_KEY") == stored


@pytest.mark.parametrize("loose_mode", [0o644, 0o640, 0o604])
def test_key_file_readable_by_others_is_refused_with_chmod_advice(home, monkeypatch, loose_mode):
    monkeypatch.delenv("SHELFGUARD_SECRET_KEY", raising=False)
    monkeypatch.delenv("SHELFGUARD_SECRET_KEY_FILE", raising=False)
    key = keys_dir(home) / SECRET_KEY_NAME
    os.chmod(key, loose_mode)

    with pytest.raises(HomeError) as refused:
        read_secret(SECRET_KEY_NAME, env="SHELFGUARD_SECRET_KEY")

    assert f"chmod 600 {key}" in str(refused.value)
    assert f"{loose_mode:o}" in str(refused.value)


def test_command_with_loose_key_file_exits_with_chmod_advice(home):
    """The real console path: settings read the key when the process starts."""
    key = keys_dir(home) / SECRET_KEY_NAME
    os.chmod(key, 0o644)
    env = {**os.environ, "SHELFGUARD_HOME": str(home)}
    for name in ("SHELFGUARD_SECRET_KEY", "SHELFGUARD_SECRET_KEY_FILE", "DJANGO_SETTINGS_MODULE"):
        env.pop(name, None)

    done = subprocess.run(
        [sys.executable, "-m", "shelfguard", "branch", "list"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert done.returncode == 2
    assert f"run `chmod 600 {key}`" in done.stderr
    assert done.stderr.count("\n") == 1, "the reason is one line, not a traceback"


def test_secret_from_file_named_by_env(tmp_path, monkeypatch):
    secret_file = tmp_path / "secret"
    write_secret_file(secret_file, "from-a-file")
    monkeypatch.delenv("SHELFGUARD_SECRET_KEY", raising=False)
    monkeypatch.setenv("SHELFGUARD_SECRET_KEY_FILE", str(secret_file))

    assert read_secret(SECRET_KEY_NAME, env="SHELFGUARD_SECRET_KEY") == "from-a-file"


def test_secret_in_env_wins_over_file(tmp_path, monkeypatch):
    secret_file = tmp_path / "secret"
    write_secret_file(secret_file, "from-a-file")
    monkeypatch.setenv("SHELFGUARD_SECRET_KEY_FILE", str(secret_file))
    monkeypatch.setenv("SHELFGUARD_SECRET_KEY", "  from-the-environment \n")

    assert read_secret(SECRET_KEY_NAME, env="SHELFGUARD_SECRET_KEY") == "from-the-environment"


def test_secret_file_named_by_env_must_be_private(tmp_path, monkeypatch):
    secret_file = tmp_path / "secret"
    secret_file.write_text("shared\n")
    os.chmod(secret_file, 0o644)
    monkeypatch.delenv("SHELFGUARD_SECRET_KEY", raising=False)
    monkeypatch.setenv("SHELFGUARD_SECRET_KEY_FILE", str(secret_file))

    with pytest.raises(HomeError, match="chmod 600"):
        read_secret(SECRET_KEY_NAME, env="SHELFGUARD_SECRET_KEY")


def test_missing_secret_is_none(tmp_path, monkeypatch):
    monkeypatch.delenv("SHELFGUARD_SECRET_KEY", raising=False)
    monkeypatch.setenv("SHELFGUARD_SECRET_KEY_FILE", str(tmp_path / "absent"))

    assert read_secret(SECRET_KEY_NAME, env="SHELFGUARD_SECRET_KEY") is None


def test_secret_files_are_created_private_and_never_overwritten(tmp_path):
    secret_file = tmp_path / "secret"
    write_secret_file(secret_file, "first")

    assert secret_file.stat().st_mode & 0o777 == 0o600
    with pytest.raises(FileExistsError):
        write_secret_file(secret_file, "second")
    assert secret_file.read_text() == "first\n"


def test_create_home_twice_creates_nothing_new(tmp_path):
    location = tmp_path / "home"
    first = create_home(location)
    key = (keys_dir(location) / SECRET_KEY_NAME).read_text()

    assert len(first) == 4
    assert create_home(location) == []
    assert (keys_dir(location) / SECRET_KEY_NAME).read_text() == key


def test_invalid_config_is_reported_with_its_path(home):
    config = home / "shelfguard.toml"
    config.write_text("[library\nname = 'unclosed'\n")

    with pytest.raises(HomeError, match="is not valid TOML") as refused:
        read_config(home)

    assert str(config) in str(refused.value)


def test_config_before_init_is_empty(tmp_path):
    assert read_config(tmp_path / "nowhere") == {}
