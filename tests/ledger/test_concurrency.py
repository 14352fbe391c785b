"""Appenders running at the same time queue on the chain head: one chain, never a fork."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.db import connection, connections, transaction

from shelfguard.core.actors import Actor
from shelfguard.ledger import services
from shelfguard.ledger.models import Entry
from shelfguard.ledger.verify import verify

PER_THREAD = 40


def _appender(name: str, start: threading.Barrier, errors: list[BaseException]) -> None:
    actor = Actor(kind="staff", ident=name, channel="web")
    try:
        start.wait()
        for i in range(PER_THREAD):
            with transaction.atomic():
                services.append(
                    actor=actor, action="patron.reveal", purpose="desk", patron_id=i + 1
                )
    except BaseException as exc:  # noqa: BLE001  (handed to the test thread, which fails)
        errors.append(exc)
    finally:
        connections.close_all()


# Real transactions (the transactional_db kind); the flush afterwards is limited to the
# ledger's tables, so other apps' raw tables with foreign keys need not be truncatable.
@pytest.mark.django_db(transaction=True, available_apps=["shelfguard.ledger"])
def test_two_threads_appending_at_once_make_one_valid_chain():
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.skip(
            "the in-memory SQLite test database locks per table without waiting; "
            "the file-database test below covers SQLite"
        )
    start = threading.Barrier(2)
    errors: list[BaseException] = []
    threads = [
        threading.Thread(target=_appender, args=(name, start, errors)) for name in ("ann", "ben")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert not errors, errors
    assert list(Entry.objects.values_list("seq", flat=True)) == list(range(1, 2 * PER_THREAD + 1))
    assert Entry.objects.filter(actor_id="ann").count() == PER_THREAD
    report = verify()
    assert report.ok, report.problems


_SCRIPT = """
import os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "shelfguard.settings"
import django
django.setup()
from django.db import transaction
from shelfguard.core.actors import Actor
from shelfguard.ledger import services
actor = Actor(kind="staff", ident=sys.argv[1], channel="web")
for i in range(int(sys.argv[2])):
    with transaction.atomic():
        services.append(actor=actor, action="patron.reveal", purpose="desk", patron_id=i + 1)
"""


def test_two_processes_appending_to_one_sqlite_file_make_one_valid_chain(tmp_path: Path):
    """The embedded deployment: separate processes, one database file, IMMEDIATE transactions."""
    location = tmp_path / "home"
    env = {**os.environ, "SHELFGUARD_HOME": str(location)}
    env.pop("DATABASE_URL", None)
    from shelfguard.core.home import create_home

    create_home(location)
    subprocess.run(
        [sys.executable, "-m", "shelfguard", "migrate", "-v", "0"],
        env=env,
        check=True,
        capture_output=True,
        timeout=300,
    )
    script = tmp_path / "append.py"
    script.write_text(_SCRIPT)
    workers = [
        subprocess.Popen(
            [sys.executable, str(script), name, "150"], env=env, stderr=subprocess.PIPE, text=True
        )
        for name in ("ann", "ben", "cat")
    ]
    for worker in workers:
        _, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err

    done = subprocess.run(
        [sys.executable, "-m", "shelfguard", "audit", "verify", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    import json

    report = json.loads(done.stdout)
    assert report["ok"] and report["entries"] == 450 and report["last_seq"] == 450
