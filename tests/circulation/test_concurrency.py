"""Two desks lending the same items at the same moment: exactly one wins each item."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.db import connection, connections

from shelfguard.circulation import errors as e
from shelfguard.circulation import services
from shelfguard.circulation.models import Loan, LoanOutcome
from shelfguard.core.actors import Actor
from shelfguard.ledger.models import Entry

from .concurrency import seed, unseed

ITEMS = 25


def _desk(name, patron_id, barcodes, start, outcomes, errors):
    actor = Actor(kind="system", ident=name, channel="job")
    try:
        start.wait()
        for code in barcodes:
            try:
                services.checkout(patron_id, code, branch="RACE", actor=actor, purpose="race")
                outcomes.append((name, code, "lent"))
            except e.CirculationError as exc:
                outcomes.append((name, code, exc.code))
    except BaseException as exc:  # noqa: BLE001  (handed to the test thread, which fails)
        errors.append(exc)
    finally:
        connections.close_all()


# Real transactions; the flush afterwards is limited to the ledger's tables, and
# the test removes what it made itself (as tests/ledger/test_concurrency.py does).
@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True, available_apps=["shelfguard.ledger"])
def test_two_desks_lending_the_same_items_at_once_on_postgresql():
    patrons, barcodes = seed(ITEMS)
    try:
        start = threading.Barrier(2)
        outcomes, errors = [], []
        threads = [
            threading.Thread(target=_desk, args=(name, pk, barcodes, start, outcomes, errors))
            for name, pk in zip(("desk-a", "desk-b"), patrons, strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert not errors, errors
        lent = [o for o in outcomes if o[2] == "lent"]
        refused = [o for o in outcomes if o[2] != "lent"]
        assert len(lent) == ITEMS and len(refused) == ITEMS
        assert {o[2] for o in refused} == {e.ON_LOAN_TO_OTHER}
        assert sorted(o[1] for o in lent) == barcodes
        assert (
            Loan.objects.filter(outcome=LoanOutcome.OPEN, item__barcode__in=barcodes).count()
            == ITEMS
        )
        assert Entry.objects.filter(action="circulation.checkout").count() == ITEMS
    finally:
        unseed(patrons)


_WORKER = """
import json, os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "shelfguard.settings"
import django
django.setup()
from shelfguard.circulation import services
from shelfguard.core.actors import Actor
actor = Actor(kind="system", ident=sys.argv[1], channel="job")
results = []
for code in json.loads(sys.argv[3]):
    try:
        services.checkout(int(sys.argv[2]), code, branch="RACE", actor=actor, purpose="race")
        results.append("lent")
    except services.CirculationError as exc:
        results.append(exc.code)
print(json.dumps(results))
"""

_SEED = """
import json, os
os.environ["DJANGO_SETTINGS_MODULE"] = "shelfguard.settings"
import django
django.setup()
from tests.circulation.concurrency import seed
print(json.dumps(seed(%d)))
"""

_CHECK = """
import json, os
os.environ["DJANGO_SETTINGS_MODULE"] = "shelfguard.settings"
import django
django.setup()
from shelfguard.circulation.models import Loan
from shelfguard.ledger.models import Entry
print(json.dumps({
    "open": Loan.objects.filter(outcome="open").count(),
    "items": Loan.objects.values("item").distinct().count(),
    "entries": Entry.objects.filter(action="circulation.checkout").count(),
}))
"""


def _python(code: str, env: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).parents[2],
    )


def test_two_processes_lending_from_one_sqlite_file(tmp_path: Path):
    """The embedded deployment: separate processes, one database file, IMMEDIATE transactions."""
    if connection.vendor != "sqlite":
        pytest.skip("the PostgreSQL test above covers PostgreSQL")
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
    out, err = _python(_SEED % ITEMS, env).communicate(timeout=120)
    assert out, err
    patrons, barcodes = json.loads(out)
    workers = [
        _python(_WORKER, env, name, str(pk), json.dumps(barcodes))
        for name, pk in zip(("desk-a", "desk-b"), patrons, strict=True)
    ]
    results = []
    for worker in workers:
        out, err = worker.communicate(timeout=300)
        assert worker.returncode == 0, err
        results.append(json.loads(out))
    for a, b in zip(*results, strict=True):
        assert sorted([a, b]) == sorted(["lent", e.ON_LOAN_TO_OTHER])
    out, err = _python(_CHECK, env).communicate(timeout=120)
    assert json.loads(out) == {"open": ITEMS, "items": ITEMS, "entries": ITEMS}, err
    verified = subprocess.run(
        [sys.executable, "-m", "shelfguard", "audit", "verify", "--json"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert verified.returncode == 0, verified.stdout + verified.stderr
