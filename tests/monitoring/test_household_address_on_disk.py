"""A staff member's own address, set from the command line, is on the disk only as an index.

A real `shelfguard` in subprocesses (SQLite, the embedded deployment): `init`,
`staff create`, `staff set-household --address-file`; then every file under
$SHELFGUARD_HOME (database, -wal, -shm, keystore, keys, journal) and the
command's own output are scanned for the address and its normalised form, in
UTF-8 and UTF-16. Every value is synthetic.
"""

from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

from tests.patrons.markers import encodings, find_in_files


def test_the_staff_address_is_never_stored_or_printed_in_clear(tmp_path: Path):
    home = tmp_path / "home"
    env = {**os.environ, "SHELFGUARD_HOME": str(home)}
    for name in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE"):
        env.pop(name, None)

    def shelfguard(*args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, "-m", "shelfguard", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, f"{args}: {done.stderr}"
        return done

    marker = f"Zq{secrets.token_hex(5)}"
    address = f"17 {marker} Lane,\nSampletown"
    source = tmp_path / "address.txt"
    source.write_text(address + "\n", encoding="utf-8")

    shelfguard("init")
    shelfguard("staff", "create", "desk-home", "--role", "circulation-desk", "--branch", "MAIN")
    done = shelfguard(
        "staff", "set-household", "desk-home", "--address-file", str(source), "--json"
    )
    assert json.loads(done.stdout) == {"username": "desk-home", "address": True}

    needles = [n for text in (marker, marker.lower()) for n in encodings(text)]
    assert find_in_files(home, needles) == []
    assert marker.lower() not in (done.stdout + done.stderr).lower()
