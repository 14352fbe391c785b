"""The SIP2 server over TLS on loopback: checkout round trips, sustained rate, idle memory.

    .venv/bin/python bench/bench_sip2.py [--scale 0.01] [--samples 100]
        [--terminals 50] [--seconds 20] [--idle 500] [--json]

The library is loaded as `bench_circulation.py` loads it (its `load()`: real
LC records through the catalogue import, items, sealed synthetic patrons,
anonymised past loans), at `--scale` of the issue's full size. Then, as
preparation (not measured): one terminal through `sip2.services.add_terminal`
and `--terminals - 1` copies of its row (one Argon2 hash instead of fifty), a
self-signed certificate, and a PIN for each patron used (a keyed digest, as stored).

The server is `shelfguard sip2 serve`'s own code (`run_serve`) in a child
process with the real handlers, TLS and 8 handler threads; this process is
the terminals, on plain sockets wrapped in TLS, speaking through the
project's codec. Measured:

* **round trip of a checkout**: 63 (patron information, PIN checked) then 11
  (checkout, the PIN remembered for the session), each timed from send to
  the whole reply; p50 and p99 of the pair and of the 11 alone. Each item is
  checked in again and the session ended (09, 35), not timed.
* **sustained checkouts per second**: `--terminals` TLS connections signed
  in, each with its own patron (PIN checked once), checking out and in its
  own items back to back for `--seconds`; checkouts completed ÷ seconds.
* **memory per idle connection**: the child's RSS before and after `--idle`
  TLS connections that completed their handshake and then say nothing,
  difference ÷ connections.
* **the listener's floor**: the same TLS round trip of an 11 to a second
  child whose handler only echoes the frame (`run_serve(handler=...)`): what
  the event loop, the thread hand-off and TLS cost without any handler work.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_circulation import FULL, SCALES, load
from common import fresh_home, machine, median, percentile

TARGET_P50_MS = 10.0
TARGET_P99_MS = 30.0
PASSWORD = "bench-terminal-password"  # synthetic
PIN = "2468"  # synthetic
BLANK_DATE = " " * 18

_SERVER = """
import json, os, sys
os.environ["DJANGO_SETTINGS_MODULE"] = "shelfguard.settings"
import django
django.setup()
from shelfguard.sip2.server import run_serve
from shelfguard.sip2.session import Reply
options = json.loads(sys.argv[1])
floor = sys.argv[2:] == ["--floor"]
echo = lambda conn, frame: Reply(frame + b"\\r")  # the listener alone: no handler work
handler = echo if floor else None
sys.exit(run_serve(options, stdout=sys.stdout, stderr=sys.stderr, handler=handler))
"""


# --- preparation ---


def prepare(home: Path, terminals: int, patrons_needed: int) -> dict:
    """Terminals, a certificate, PINs for some patrons; what the terminals need to know."""
    from django.db import connections

    from shelfguard.catalog.models import Item
    from shelfguard.core import tls
    from shelfguard.core.actors import Actor
    from shelfguard.patrons import services as patrons
    from shelfguard.patrons.models import Patron
    from shelfguard.patrons.registration import pin_digest
    from shelfguard.sip2 import services as sip2
    from shelfguard.sip2.models import Terminal

    actor = Actor.cli_operator()
    first = sip2.add_terminal(
        "bench-sc-00", branch="MAIN", password=PASSWORD, actor=actor, purpose="benchmark"
    )
    Terminal.objects.bulk_create(
        Terminal(
            login=f"bench-sc-{n:02d}",
            password_hash=first.password_hash,
            branch=first.branch,
            created_at=first.created_at,
        )
        for n in range(1, terminals)
    )
    chosen = list(Patron.objects.filter(status="active").order_by("pk")[:patrons_needed])
    for p in chosen:  # as `patrons.services.update(..., {"pin": PIN})` stores it
        Patron.objects.filter(pk=p.pk).update(pin_hash=pin_digest(p.pk, p.key_id, PIN))
    cards = [
        patrons.reveal(p, ["card_number"], actor=actor, purpose="benchmark set-up")["card_number"]
        for p in chosen
    ]
    barcodes = list(
        Item.objects.filter(branch__code="MAIN", status="available")
        .order_by("pk")
        .values_list("barcode", flat=True)
    )
    made = tls.make_self_signed(
        home / "tls", ["127.0.0.1"], days=2, now=dt.datetime.now(dt.UTC), replace=True
    )
    connections.close_all()
    return {
        "logins": [f"bench-sc-{n:02d}" for n in range(terminals)],
        "cards": cards,
        "barcodes": barcodes,
        "cert": str(made.cert),
        "key": str(made.key),
    }


# --- one terminal ---


class Terminal:
    def __init__(self, port: int, context: ssl.SSLContext, login: str) -> None:
        raw = socket.create_connection(("127.0.0.1", port), timeout=120)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = context.wrap_socket(raw, server_hostname="127.0.0.1")
        self.seq = 0
        from shelfguard.sip2.protocol import Message

        answer = self.ask(
            Message(
                "93",
                {"uid_algorithm": "0", "pwd_algorithm": "0"},
                [("CN", login), ("CO", PASSWORD), ("CP", "MAIN")],
            )
        )
        if answer.fixed.get("ok") != "1":
            raise SystemExit(f"terminal {login} could not sign in")

    def ask(self, msg):
        from shelfguard.sip2 import protocol

        self.seq = (self.seq + 1) % 10
        msg = protocol.Message(msg.code, msg.fixed, msg.fields, self.seq)
        self.sock.sendall(protocol.build(msg))
        data = b""
        while not data.endswith(b"\r"):
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("the server closed the connection")
            data += chunk
        return protocol.parse(data)

    def patron_information(self, card: str):
        from shelfguard.sip2.protocol import Message

        fixed = {"language": "001", "transaction_date": _now(), "summary": " " * 10}
        return self.ask(Message("63", fixed, [("AO", "MAIN"), ("AA", card), ("AD", PIN)]))

    def checkout(self, card: str, barcode: str):
        from shelfguard.sip2.protocol import Message

        fixed = {
            "sc_renewal_policy": "N",
            "no_block": "N",
            "transaction_date": _now(),
            "nb_due_date": BLANK_DATE,
        }
        return self.ask(Message("11", fixed, [("AO", "MAIN"), ("AA", card), ("AB", barcode)]))

    def checkin(self, barcode: str):
        from shelfguard.sip2.protocol import Message

        fixed = {"no_block": "N", "transaction_date": _now(), "return_date": _now()}
        return self.ask(Message("09", fixed, [("AP", "MAIN"), ("AO", "MAIN"), ("AB", barcode)]))

    def end_session(self, card: str):
        from shelfguard.sip2.protocol import Message

        return self.ask(Message("35", {"transaction_date": _now()}, [("AO", "MAIN"), ("AA", card)]))

    def close(self) -> None:
        self.sock.close()


def _now() -> str:
    from shelfguard.sip2 import protocol

    return protocol.format_date(dt.datetime.now(dt.UTC))


def _ok(answer) -> None:
    if answer.fixed.get("ok") != "1":
        from shelfguard.sip2 import protocol

        raise SystemExit(f"refused: {protocol.mask(answer)}")


# --- the measures ---


def round_trips(port, context, plan, samples: int) -> dict:
    term = Terminal(port, context, plan["logins"][0])
    pair_ms, checkout_ms, info_ms = [], [], []
    items = iter(plan["barcodes"])
    for n in range(samples + 5):
        card = plan["cards"][n % len(plan["cards"])]
        barcode = next(items)
        started = time.perf_counter()
        answer = term.patron_information(card)
        middle = time.perf_counter()
        out = term.checkout(card, barcode)
        ended = time.perf_counter()
        _ok_status(answer)
        _ok(out)
        _ok(term.checkin(barcode))
        term.end_session(card)
        if n >= 5:  # the first few warm the caches
            info_ms.append((middle - started) * 1000)
            checkout_ms.append((ended - middle) * 1000)
            pair_ms.append((ended - started) * 1000)
    term.close()
    return {
        "pair_p50_ms": median(pair_ms),
        "pair_p99_ms": percentile(pair_ms, 99),
        "patron_information_p50_ms": median(info_ms),
        "checkout_p50_ms": median(checkout_ms),
        "checkout_p99_ms": percentile(checkout_ms, 99),
        "samples": len(pair_ms),
    }


def sustained(port, context, plan, terminals: int, seconds: float, skip: int) -> dict:
    barcodes = plan["barcodes"][skip:]
    each = len(barcodes) // terminals
    counts = [0] * terminals
    errors: list[str] = []
    connected = threading.Barrier(terminals + 1, timeout=600)
    stop = threading.Event()

    def run(n: int) -> None:
        try:
            term = Terminal(port, context, plan["logins"][n])
            card = plan["cards"][n % len(plan["cards"])]
            _ok_status(term.patron_information(card))
            mine = barcodes[n * each : (n + 1) * each]
            connected.wait()
            k = 0
            while not stop.is_set():
                barcode = mine[k % len(mine)]
                _ok(term.checkout(card, barcode))
                counts[n] += 1
                _ok(term.checkin(barcode))
                k += 1
            term.close()
        except BaseException as exc:  # noqa: BLE001  (reported below)
            errors.append(f"{type(exc).__name__}: {exc}")
            connected.abort()

    threads = [threading.Thread(target=run, args=(n,), daemon=True) for n in range(terminals)]
    for thread in threads:
        thread.start()
    connected.wait()
    started = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join(timeout=120)
    elapsed = time.perf_counter() - started
    if errors:
        raise SystemExit(f"{len(errors)} terminal(s) failed, first: {errors[0]}")
    return {
        "terminals": terminals,
        "seconds": round(elapsed, 1),
        "checkouts": sum(counts),
        "checkouts_per_s": sum(counts) / elapsed,
        "slowest_terminal_checkouts": min(counts),
    }


def _ok_status(answer) -> None:
    if answer.code != "64":
        raise SystemExit("no patron information")


def listener_floor(context, plan, options: dict, samples: int) -> dict:
    """The same TLS round trip of an 11 to the listener with a handler that only echoes."""
    from shelfguard.sip2 import protocol
    from shelfguard.sip2.protocol import Message

    child, port = _start(options, floor=True)
    try:
        raw = socket.create_connection(("127.0.0.1", port), timeout=60)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock = context.wrap_socket(raw, server_hostname="127.0.0.1")
        fixed = {
            "sc_renewal_policy": "N",
            "no_block": "N",
            "transaction_date": _now(),
            "nb_due_date": BLANK_DATE,
        }
        fields = [("AO", "MAIN"), ("AA", plan["cards"][0]), ("AB", plan["barcodes"][0])]
        request = protocol.build(Message("11", fixed, fields, 1))
        timings = []
        for n in range(samples * 5 + 50):
            started = time.perf_counter()
            sock.sendall(request)
            data = b""
            while not data.endswith(b"\r"):
                data += sock.recv(4096)
            if n >= 50:
                timings.append((time.perf_counter() - started) * 1000)
        sock.close()
    finally:
        _stop(child)
    return {"echo_p50_ms": median(timings), "echo_p99_ms": percentile(timings, 99)}


def _start(options: dict, *, floor: bool = False) -> tuple[subprocess.Popen, int]:
    child = subprocess.Popen(
        [sys.executable, "-c", _SERVER, json.dumps(options), *(["--floor"] if floor else [])],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    line = child.stdout.readline()
    if not line:
        raise SystemExit("the SIP2 server did not start")
    return child, json.loads(line)["port"]


def _stop(child: subprocess.Popen) -> None:
    child.send_signal(signal.SIGTERM)
    try:
        child.wait(timeout=60)
    except subprocess.TimeoutExpired:
        child.kill()


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise SystemExit("no VmRSS")


def idle_memory(port, context, pid: int, count: int) -> dict:
    time.sleep(1)
    before = rss_kib(pid)
    held = []
    for _ in range(count):
        raw = socket.create_connection(("127.0.0.1", port), timeout=60)
        held.append(context.wrap_socket(raw, server_hostname="127.0.0.1"))
    time.sleep(2)
    after = rss_kib(pid)
    for sock in held:
        sock.close()
    return {
        "idle_connections": count,
        "rss_before_mib": before / 1024,
        "rss_after_mib": after / 1024,
        "kib_per_idle_connection": (after - before) / count,
    }


# --- the run ---


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="0.01", help="quick (5%%), full, or a fraction")
    parser.add_argument("--samples", type=int, default=100, help="63+11 round trips timed")
    parser.add_argument("--terminals", type=int, default=50, help="terminals for the rate")
    parser.add_argument("--seconds", type=float, default=20, help="duration of the rate run")
    parser.add_argument("--idle", type=int, default=500, help="idle TLS connections")
    parser.add_argument("--json", action="store_true", help="one line of JSON")
    args = parser.parse_args()
    fraction = SCALES.get(args.scale) or float(args.scale)
    sizes = {k: max(1, int(v * fraction)) for k, v in FULL.items()}
    home = fresh_home("sip2")
    print(f"data home {home}; loading {sizes}…", file=sys.stderr)
    started = time.perf_counter()
    load(sizes)
    plan = prepare(home, args.terminals, max(args.terminals, 100))
    print(f"loaded in {time.perf_counter() - started:.0f} s; serving…", file=sys.stderr)

    options = {
        "port": 0,
        "json": True,
        "tls_cert": plan["cert"],
        "tls_key": plan["key"],
        "workers": 8,
        "max_connections": args.idle + args.terminals + 50,
    }
    context = ssl.create_default_context(cafile=plan["cert"])
    result: dict[str, object] = {
        "machine": machine(),
        "sizes": sizes,
        "load_average": os.getloadavg(),
    }
    child, port = _start(options)
    try:
        print("round trips…", file=sys.stderr)
        result["round_trip"] = round_trips(port, context, plan, args.samples)
        print("sustained rate…", file=sys.stderr)
        result["sustained"] = sustained(
            port, context, plan, args.terminals, args.seconds, skip=args.samples + 5
        )
        print("idle memory…", file=sys.stderr)
        result["idle"] = idle_memory(port, context, child.pid, args.idle)
    finally:
        _stop(child)
    print("listener floor…", file=sys.stderr)
    result["listener_floor"] = listener_floor(context, plan, options, args.samples)
    result["load_average_after"] = os.getloadavg()
    result["targets"] = {"pair_p50_ms": TARGET_P50_MS, "pair_p99_ms": TARGET_P99_MS}
    print(json.dumps(_rounded(result), indent=None if args.json else 2))


def _rounded(value):
    if isinstance(value, float):
        return round(value, 2)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_rounded(v) for v in value]
    return value


if __name__ == "__main__":
    main()
