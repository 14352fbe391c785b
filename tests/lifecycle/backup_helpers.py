"""Fixtures and helpers for the backup tests (imported by each test_backup_* module).

Keys are generated per test; every patron value is synthetic (see
tests/patrons/conftest.py).
"""

from __future__ import annotations

import io
import json
import shutil
import sqlite3
import subprocess
import sys
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pyrage
import pytest

from shelfguard.core.actors import Actor
from shelfguard.lifecycle import services

#: Backups copy committed data (pg_dump runs in another process), so these tests commit.
COMMITTING = pytest.mark.django_db(transaction=True, databases=["default", "keystore"])

OPERATOR = Actor(kind="cli", ident="backup-test", channel="cli")
PURPOSE = "backup test"


class AgeKey:
    """An X25519 identity written the way `age-keygen` writes it."""

    def __init__(self, directory: Path, name: str) -> None:
        self.identity = pyrage.x25519.Identity.generate()
        self.recipient = str(self.identity.to_public())
        self.path = directory / f"{name}.txt"
        self.path.write_text(f"# public key: {self.recipient}\n{self.identity}\n", encoding="utf-8")
        self.path.chmod(0o600)


@pytest.fixture
def keys_dir(tmp_path: Path) -> Path:
    path = tmp_path / "offline-keys"
    path.mkdir()
    return path


@pytest.fixture
def age_key(keys_dir: Path) -> AgeKey:
    return AgeKey(keys_dir, "library")


@pytest.fixture
def recovery_key(keys_dir: Path) -> AgeKey:
    return AgeKey(keys_dir, "recovery")


def configure(home: Path, **values: Any) -> None:
    """Append a [backup] table to the home's shelfguard.toml."""
    lines = ["", "[backup]"]
    for key, value in values.items():
        lines.append(f"{key} = {json.dumps(value)}")
    with (home / "shelfguard.toml").open("a", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")


@pytest.fixture
def configured(library: Path, age_key: AgeKey, recovery_key: AgeKey) -> Path:
    configure(library, recipients=[age_key.recipient], recovery_recipients=[recovery_key.recipient])
    return library


def create(**kwargs: Any):
    return services.create_backup(actor=OPERATOR, purpose=PURPOSE, **kwargs)


def verify(path: Path, identity: Path):
    return services.verify_backup(path, identity, actor=OPERATOR, purpose=PURPOSE)


def open_with_age_cli(path: Path, identity: Path) -> tarfile.TarFile:
    """Decrypt with the `age` command-line tool, as a library would without Shelfguard."""
    age = shutil.which("age")
    assert age, "the age command-line tool is needed for this test"
    plain = subprocess.run(
        [age, "-d", "-i", str(identity), str(path)], capture_output=True, check=True
    ).stdout
    return tarfile.open(fileobj=io.BytesIO(plain), mode="r:gz")


def rewrite_backup(
    path: Path,
    identity: AgeKey,
    change: Callable[[dict[str, Any], Path], None],
    *,
    rehash: bool = True,
) -> None:
    """Decrypt a backup, let `change(manifest, dump)` alter it, pack and encrypt it again.

    With `rehash` the manifest's hash is made to match the changed dump, so that
    the check under test (counts, chain) is the one that must catch it.
    """
    from shelfguard.lifecycle import archive

    work = path.parent / "rewrite"
    work.mkdir()
    plain = work / "plain.tar.gz"
    archive.decrypt_to(path, plain, [identity.identity], show_progress=False)
    contents = work / "contents"
    contents.mkdir()
    manifest = archive.unpack(plain, contents)
    dump = contents / manifest["dump_file"]
    change(manifest, dump)
    if rehash:
        manifest["dump_sha256"] = archive.sha256_file(dump)
    repacked = work / "repacked.tar.gz"
    archive.pack(repacked, manifest, [(dump.name, dump)])
    path.unlink()
    recipient = pyrage.x25519.Recipient.from_str(identity.recipient)
    archive.encrypt_into_place(repacked, path, [recipient], show_progress=False)
    shutil.rmtree(work)


def run_sql_on_dump(manifest: dict[str, Any], dump: Path, sqlite_sql: str) -> None:
    assert manifest["database_vendor"] == "sqlite"
    db = sqlite3.connect(dump)
    try:
        db.executescript(sqlite_sql)
        db.commit()
    finally:
        db.close()


def shelfguard(home: Path, *args: str, **kwargs: Any) -> subprocess.CompletedProcess:
    """Run the real `shelfguard` command in a child process on `home` (embedded database)."""
    import os

    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["SHELFGUARD_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "shelfguard", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        **kwargs,
    )
