"""Many self-check terminals at once, through the real server, handlers and services.

Fifty connections, each signed in as its own terminal, check out different
items at the same moment; then all fifty try to check out one item: exactly
one wins. Loans and ledger entries are counted afterwards, and the ledger's
chain is verified.

On PostgreSQL the server runs in a thread of this process. On SQLite it runs
in a child process on a database *file*, as the embedded deployment does:
the test suite's in-memory SQLite database is shared-cache, where a second
writer fails at once ("table is locked") instead of waiting its turn, which
a real installation never sees.

Terminal passwords and PINs are hashed with a fast hasher here (the code path
is the same, `django.contrib.auth.hashers`): fifty Argon2 hashes and checks
would take most of a minute on a shared machine. test_client_e2e.py keeps
Argon2.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from django.db import connection

from shelfguard.core.home import create_home
from shelfguard.sip2 import protocol
from shelfguard.sip2.protocol import Message
from tests.patrons.conftest import library  # noqa: F401  (fixture)

TERMINALS = 50
PATRONS = 10
ITEMS_EACH = 1
PASSWORD = "terminal-secret-1"  # synthetic
PIN = "4321"  # synthetic
FAST_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
BLANK_DATE = " " * 18


# --- the library, made through the services (shared by both databases) --------------


def seed() -> dict:
    """Terminals, patrons with PINs and items; returns what the clients need."""
    from shelfguard.core.actors import Actor
    from shelfguard.core.services import ensure_branch
    from shelfguard.patrons import services as patrons
    from shelfguard.sip2 import services as sip2
    from tests.catalog.factories import make_item, make_record
    from tests.patrons.conftest import adult_values

    actor = Actor(kind="system", ident="tests", channel="job")
    ensure_branch("MAIN", "Main Library", actor=actor)
    patrons.ensure_defaults()
    cards = []
    for n in range(PATRONS):
        values = adult_values(card_number=f"2977{n:07d}", pin=PIN)
        patrons.register(**values, actor=actor)
        cards.append(values["card_number"])
    logins = [f"race-sc-{n:02d}" for n in range(TERMINALS)]
    for login in logins:
        sip2.add_terminal(
            login, branch="MAIN", password=PASSWORD, actor=actor, purpose="set up a machine"
        )
    record = make_record("A Synthetic Race", index=False)
    barcodes = [make_item(record).barcode for _ in range(TERMINALS * ITEMS_EACH)]
    contested = make_item(make_record("The Contested Copy", index=False)).barcode
    return {"logins": logins, "cards": cards, "barcodes": barcodes, "contested": contested}


def counts(plan: dict) -> dict:
    from shelfguard.circulation.models import Loan
    from shelfguard.ledger.models import Entry
    from shelfguard.ledger.verify import verify

    mine = [*plan["barcodes"], plan["contested"]]
    return {
        "open_loans": Loan.objects.filter(outcome="open", item__barcode__in=mine).count(),
        "loans_of_contested": Loan.objects.filter(item__barcode=plan["contested"]).count(),
        "loaned_items": Loan.objects.filter(item__barcode__in=mine)
        .values("item")
        .distinct()
        .count(),
        "checkout_entries": Entry.objects.filter(action="circulation.checkout").count(),
        "ledger_ok": verify().ok,
    }


# --- one terminal, on a plain socket with the project's codec ------------------------


def _exchange(sock: socket.socket, msg: Message) -> Message:
    sock.sendall(protocol.build(msg))
    data = b""
    while not data.endswith(b"\r"):
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        data += chunk
    return protocol.parse(data)


def _checkout(card: str, barcode: str, *, with_pin: bool, sequence: int) -> Message:
    fields = [("AO", "MAIN"), ("AA", card), ("AB", barcode), ("AC", "")]
    if with_pin:
        fields.append(("AD", PIN))
    fixed = {
        "sc_renewal_policy": "N",
        "no_block": "N",
        "transaction_date": protocol.format_date(dt.datetime.now(dt.UTC)),
        "nb_due_date": BLANK_DATE,
    }
    return Message("11", fixed, fields, sequence % 10)


def terminal(port: int, login: str, card: str, barcodes: list[str], contested: str, gate) -> dict:
    """Sign in, wait for all, check out own items; wait again, try the contested one."""
    result: dict = {"login": login, "own": [], "contested": None, "error": None}
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=60) as sock:
            login_msg = Message(
                "93",
                {"uid_algorithm": "0", "pwd_algorithm": "0"},
                [("CN", login), ("CO", PASSWORD), ("CP", "MAIN")],
            )
            answer = _exchange(sock, login_msg)
            assert answer.code == "94" and answer.fixed["ok"] == "1", protocol.mask(answer)
            gate.wait()
            for n, barcode in enumerate(barcodes):
                answer = _exchange(sock, _checkout(card, barcode, with_pin=n == 0, sequence=n))
                result["own"].append(answer.fixed["ok"])
            gate.wait()
            answer = _exchange(sock, _checkout(card, contested, with_pin=False, sequence=9))
            result["contested"] = answer.fixed["ok"]
    except Exception as exc:  # noqa: BLE001  (reported by the test, with the login)
        result["error"] = f"{type(exc).__name__}: {exc}"
    return result


def drive(port: int, plan: dict) -> list[dict]:
    gate = threading.Barrier(TERMINALS, timeout=120)
    results: list[dict] = [{} for _ in range(TERMINALS)]

    def run(n: int) -> None:
        mine = plan["barcodes"][n * ITEMS_EACH : (n + 1) * ITEMS_EACH]
        card = plan["cards"][n % PATRONS]
        results[n] = terminal(port, plan["logins"][n], card, mine, plan["contested"], gate)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(TERMINALS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=180)
    return results


def check(results: list[dict], after: dict) -> None:
    errors = [r for r in results if r.get("error")]
    assert not errors, errors[:3]
    assert all(r["own"] == ["1"] * ITEMS_EACH for r in results), results
    winners = [r for r in results if r["contested"] == "1"]
    assert len(winners) == 1, [r["contested"] for r in results]
    expected = TERMINALS * ITEMS_EACH + 1
    assert after == {
        "open_loans": expected,
        "loans_of_contested": 1,
        "loaned_items": expected,
        "checkout_entries": expected,
        "ledger_ok": True,
    }


# --- PostgreSQL: the server in a thread ------------------------------------------------


@pytest.mark.postgres_only
@pytest.mark.django_db(transaction=True, databases=["default", "keystore"])
def test_fifty_terminals_at_once_on_postgresql(library, settings):  # noqa: F811
    from shelfguard.sip2.server import Limits, ServerThread, Sip2Server

    settings.PASSWORD_HASHERS = FAST_HASHERS
    plan = seed()
    server = Sip2Server(port=0, limits=Limits(workers=8, shutdown_grace=10))
    with ServerThread(server):
        results = drive(server.port, plan)
    check(results, counts(plan))


# --- SQLite: the embedded deployment, a child process on a database file ---------------

_SERVER = """
import io, json, os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "shelfguard.settings"
import django
django.setup()
from django.conf import settings
from django.core.management import call_command
settings.PASSWORD_HASHERS = %r
call_command("init", stdout=io.StringIO())
from tests.sip2.test_concurrency import counts, seed
from shelfguard.sip2.server import run_serve
plan = seed()
print(json.dumps(plan), flush=True)
code = run_serve({"port": 0, "json": True, "workers": 8}, stdout=sys.stdout, stderr=sys.stderr)
print(json.dumps(counts(plan)), flush=True)
sys.exit(code)
"""


def test_fifty_terminals_at_once_on_an_sqlite_file(tmp_path: Path):
    if connection.vendor != "sqlite":
        pytest.skip("the PostgreSQL test above runs the server in this process")
    home = tmp_path / "home"
    env = {**os.environ, "SHELFGUARD_HOME": str(home)}
    env.pop("DATABASE_URL", None)
    root = Path(__file__).parents[2]
    create_home(home)  # the child runs `init`, seeds and serves
    child = subprocess.Popen(
        [sys.executable, "-c", _SERVER % (FAST_HASHERS,)],
        env=env,
        cwd=root,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        plan_line = child.stdout.readline()
        started_line = child.stdout.readline()
        assert plan_line and started_line, child.stderr.read() if child.stderr else ""
        plan, started = json.loads(plan_line), json.loads(started_line)
        assert started["tls"] is False and started["host"] == "127.0.0.1"
        results = drive(started["port"], plan)
        child.send_signal(signal.SIGTERM)
        out, err = child.communicate(timeout=120)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert child.returncode == 0, err
    check(results, json.loads(out.strip().splitlines()[-1]))
