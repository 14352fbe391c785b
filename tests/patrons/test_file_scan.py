"""Sealed at rest, proved on the disk: no personal value in any file of a real data home.

A real `shelfguard` in subprocesses (SQLite, the embedded deployment): `init`,
`patron import` of synthetic patrons whose every value carries a unique
marker, a recorded `patron show`; then every file under $SHELFGUARD_HOME
(database, -wal, -shm, keystore, journal, keys, checkpoints) is scanned for
every marker in UTF-8 and UTF-16. Then one patron is erased and its
ciphertexts must no longer open and its wrapped data key must be gone from
every file.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import sqlite3
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from shelfguard.core.home import database_path
from shelfguard.vault.dbsettings import keystore_path

from .markers import encodings, files_under, find_in_files, marked_patrons

HEADER = ["card_number", "name", "email", "phone", "address", "birth_year", "category",
          "branch", "pin"]  # fmt: skip


@pytest.fixture
def real_home(tmp_path: Path):
    home = tmp_path / "home"
    env = {**os.environ, "SHELFGUARD_HOME": str(home)}
    for name in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE"):
        env.pop(name, None)

    def shelfguard(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "shelfguard", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        if check:
            assert done.returncode == 0, f"{args}: {done.stderr}"
        return done

    def python(code: str) -> str:
        done = subprocess.run(
            [sys.executable, "-c", code],
            env={**env, "DJANGO_SETTINGS_MODULE": "shelfguard.settings"},
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    shelfguard("init")
    return home, shelfguard, python


def _sealed_columns(home: Path, card_patron_id: int) -> tuple[str, list[bytes]]:
    with contextlib.closing(sqlite3.connect(database_path(home))) as db:
        row = db.execute(
            "SELECT key_id, card_number_sealed, name_sealed, email_sealed, phone_sealed, "
            "address_sealed FROM patrons_patron WHERE id = ?",
            (card_patron_id,),
        ).fetchone()
    return row[0], [bytes(value) for value in row[1:]]


def _wrapped_key(home: Path, key_id: str) -> bytes:
    with contextlib.closing(sqlite3.connect(keystore_path(home))) as db:
        rows = db.execute("SELECT key_id, wrapped FROM vault_datakey").fetchall()
    for stored_id, wrapped in rows:
        if uuid.UUID(str(stored_id)) == uuid.UUID(key_id):
            return bytes(wrapped)
    raise AssertionError("the data key is not in the keystore")


def test_no_personal_value_in_any_file_and_erasure_leaves_nothing_readable(real_home, tmp_path):
    home, shelfguard, python = real_home
    patrons = marked_patrons(6)
    source = tmp_path / "legacy" / "export.csv"  # outside the data home, as an operator's file is
    source.parent.mkdir()
    with source.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        writer.writerows(p.row() for p in patrons)

    report = json.loads(shelfguard("patron", "import", str(source), "--json").stdout)
    assert report["imported"] == len(patrons), report
    shown = json.loads(
        shelfguard(
            "patron", "show", patrons[0].card_number, "--purpose", "scan test", "--json"
        ).stdout
    )
    assert shown["name"] == patrons[0].name and shown["email"] == patrons[0].email

    needles = [(p, form) for p in patrons for form in p.needles()]
    encoded = [enc for _, form in needles for enc in encodings(form)]
    # The scanner works: it finds every UTF-8 needle in the source file.
    utf8 = [form.encode("utf-8") for _, form in needles]
    in_source = {index for _, index in find_in_files(source.parent, utf8)}
    originals = {i for i, (p, form) in enumerate(needles) if form in ",".join(p.row())}
    assert originals <= in_source
    names = {path.name for path in files_under(home)}
    assert {"shelfguard.sqlite3", "keystore.sqlite3", "master.key", "index.key"} <= names
    assert find_in_files(home, encoded) == []

    # Erase one patron; keep what an attacker with an old copy of the files would hold.
    victim = patrons[1]
    victim_id = report["patron_ids"][1]
    key_id, ciphertexts = _sealed_columns(home, victim_id)
    wrapped = _wrapped_key(home, key_id)
    assert find_in_files(home, [wrapped])  # present before the erasure

    shelfguard("patron", "erase", victim.card_number, "--reason", "scan test", "--yes")

    # The wrapped key is in no file any more, and the vault will not open the ciphertexts.
    assert find_in_files(home, [wrapped]) == []
    outcome = python(
        "import django, json\n"
        "django.setup()\n"
        "from shelfguard.vault import KeyDestroyed, sealing\n"
        f"ciphertexts = {[c.hex() for c in ciphertexts]!r}\n"
        "fields = ['card_number', 'name', 'email', 'phone', 'address']\n"
        "results = []\n"
        "for field, data in zip(fields, ciphertexts):\n"
        "    try:\n"
        f"        sealing.unseal({key_id!r}, 'patron:{victim_id}', field, bytes.fromhex(data))\n"
        "        results.append('opened')\n"
        "    except KeyDestroyed:\n"
        "        results.append('destroyed')\n"
        "print(json.dumps(results))\n"
    )
    assert json.loads(outcome) == ["destroyed"] * 5
    # Deleted means gone from the disk: the ciphertexts themselves left the files too.
    assert find_in_files(home, ciphertexts) == []
    # The others are untouched and still no marker appears anywhere.
    other = json.loads(
        shelfguard(
            "patron", "show", patrons[2].card_number, "--purpose", "scan test", "--json"
        ).stdout
    )
    assert other["email"] == patrons[2].email
    assert find_in_files(home, encoded) == []
    gone = shelfguard("patron", "show", f"id:{victim_id}", "--purpose", "scan test", "--json")
    assert json.loads(gone.stdout) == {
        "id": victim_id,
        "status": "erased",
        "erased_at": json.loads(gone.stdout)["erased_at"],
    }
