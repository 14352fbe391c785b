"""Circulation costs with a loaded library: checkout+checkin pairs, checkout latency, floors.

    .venv/bin/python bench/bench_circulation.py [--scale quick|full|FRACTION]
        [--samples 2000] [--pairs 2000] [--database-url URL] [--profile FILE] [--json]

`--scale full` is the issue's library: 250,000 LC records, 750,000 items
(three copies a record in three branches), 200,000 synthetic patrons and
2,000,000 past loans. `quick` (the default) is 5% of that; a number is a
fraction of full. Everything is measured in one run, on one data home made
for it, interleaved in rounds so that a noisy machine slows every measure
alike:

* checkout latency through `circulation.services.checkout` (p50, p99), the
  patron by id and the branch by code, as a self-check terminal calls it
  (the terminal actor needs no permission query; a staff actor adds the
  permission check measured in `bench_accounts.py`);
* checkout+checkin pairs per second through the services, back to back;
* the floor: the same rows (item status, loan, ledger entry with its hash
  link and chain head) written with raw SQL, one transaction per checkout;
  and the same with plain Django ORM calls; checkout ÷ raw floor is the ratio.

Loading goes round the services on purpose (it is preparation, not what is
measured): the LC records through the catalogue import (the real path),
items and past loans with `bulk_create`, patrons sealed in batches the way
`bench_patrons.py` does (one data key each, blind indexes, consent to
service). Past loans are already anonymised: no patron link.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lcdata
from common import fresh_home, machine, median, percentile

FULL = {"records": 250_000, "items": 750_000, "patrons": 200_000, "past_loans": 2_000_000}
SCALES = {"quick": 0.05, "full": 1.0}
BRANCHES = ("MAIN", "EAST", "WEST")
BATCH = 5_000
TARGET_PAIRS = 500.0
TARGET_P50_MS = 2.0
TARGET_P99_MS = 10.0
TARGET_RATIO = 25.0


# --- loading ---


def load(sizes: dict[str, int]) -> dict[str, float]:
    """Fill the fresh data home; return seconds per part."""
    from shelfguard.catalog.models import Record
    from shelfguard.catalog.services import import_marc
    from shelfguard.core.actors import Actor
    from shelfguard.core.services import ensure_branch

    actor = Actor.cli_operator()
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    for code in BRANCHES:
        ensure_branch(code, f"{code.title()} Branch", actor=actor)
    with open(lcdata.path(), "rb") as fh:
        import_marc(fh, actor=actor, limit=sizes["records"])
    seconds["records"] = time.perf_counter() - started
    record_ids = list(Record.objects.order_by("pk").values_list("pk", flat=True))

    started = time.perf_counter()
    item_ids = _items(record_ids, sizes["items"])
    seconds["items"] = time.perf_counter() - started

    started = time.perf_counter()
    _patrons(sizes["patrons"])
    seconds["patrons"] = time.perf_counter() - started

    started = time.perf_counter()
    _past_loans(item_ids, sizes["past_loans"])
    seconds["past_loans"] = time.perf_counter() - started
    _analyse()
    return seconds


def _items(record_ids: list[int], count: int) -> list[int]:
    from django.db import transaction

    from shelfguard.catalog.models import Item, ItemType
    from shelfguard.core import clock
    from shelfguard.core.models import Branch

    book, _ = ItemType.objects.get_or_create(code="book", defaults={"name": "Book"})
    branches = [Branch.objects.get(code=c).pk for c in BRANCHES]
    now = clock.now()
    for start in range(0, count, BATCH):
        rows = [
            Item(
                barcode=f"C{n:09d}",
                record_id=record_ids[(n // 3) % len(record_ids)],
                branch_id=branches[n % 3],
                item_type=book,
                status="available",
                created_at=now,
                updated_at=now,
            )
            for n in range(start, min(start + BATCH, count))
        ]
        with transaction.atomic():
            Item.objects.bulk_create(rows)
    return list(Item.objects.order_by("pk").values_list("pk", flat=True))


def _patrons(count: int) -> None:
    """Sealed patrons in batches (as bench_patrons.py), each with consent to service."""

    from bench_patrons import PatronSealer, synthetic
    from django.db import transaction

    from shelfguard.core import clock
    from shelfguard.core.models import Branch
    from shelfguard.patrons import register as reg
    from shelfguard.patrons.models import Consent, Patron, PatronCategory
    from shelfguard.vault.dbsettings import KEYSTORE_ALIAS
    from shelfguard.vault.models import DataKey

    sealing = PatronSealer()
    adult = PatronCategory.objects.get(code="adult")
    branches = list(Branch.objects.filter(code__in=BRANCHES))
    now = clock.now()
    expiry = clock.today().replace(year=clock.today().year + 3)
    first_id = (Patron.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
    for start in range(0, count, BATCH):
        keys, patrons, consents = [], [], []
        for i in range(start, min(start + BATCH, count)):
            pk = first_id + i
            values = synthetic(i)
            key, patron = sealing.make(
                pk,
                values,
                category=adult,
                home_branch=branches[i % len(branches)],
                expires_on=expiry,
            )
            keys.append(key)
            patrons.append(patron)
            consents.append(
                Consent(
                    patron_id=pk,
                    purpose=reg.REQUIRED_CONSENT,
                    notice_version=1,
                    given=True,
                    at=now,
                    channel="cli",
                )
            )
        with transaction.atomic(using=KEYSTORE_ALIAS):
            DataKey.objects.using(KEYSTORE_ALIAS).bulk_create(keys)
        with transaction.atomic():
            Patron.objects.bulk_create(patrons)
            Consent.objects.bulk_create(consents)


def _past_loans(item_ids: list[int], count: int) -> None:
    """Ended, anonymised loans over the last two years (no patron link)."""
    from django.db import transaction

    from shelfguard.circulation.models import Loan
    from shelfguard.core import clock
    from shelfguard.core.models import Branch

    rng = random.Random(7)
    branches = [Branch.objects.get(code=c).pk for c in BRANCHES]
    today = clock.today()
    for start in range(0, count, BATCH * 2):
        rows = []
        for _ in range(start, min(start + BATCH * 2, count)):
            loaned = today - dt.timedelta(days=rng.randrange(30, 730))
            branch = branches[rng.randrange(3)]
            rows.append(
                Loan(
                    item_id=item_ids[rng.randrange(len(item_ids))],
                    patron_id=None,
                    patron_category="adult",
                    age_band="14_plus",
                    branch_id=branch,
                    return_branch_id=branch,
                    loaned_on=loaned,
                    due_on=loaned + dt.timedelta(days=21),
                    ended_on=loaned + dt.timedelta(days=rng.randrange(1, 28)),
                    outcome="returned",
                )
            )
        with transaction.atomic():
            Loan.objects.bulk_create(rows)


def _analyse() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


# --- measuring ---


class Bench:
    def __init__(self, seed: int = 11) -> None:
        from shelfguard.catalog.models import Item
        from shelfguard.core.actors import Actor
        from shelfguard.core.models import Branch
        from shelfguard.patrons.models import Patron

        self.rng = random.Random(seed)
        main = Branch.objects.get(code="MAIN")
        self.main = main
        # Items of MAIN, lent and returned at MAIN (no transit routing).
        self.items = list(
            Item.objects.filter(branch=main, status="available").values_list("pk", "barcode")
        )
        self.rng.shuffle(self.items)
        self.patrons = list(Patron.objects.values_list("pk", flat=True))
        self.actor = Actor(kind="terminal", ident="bench-selfcheck", channel="sip2")
        self.purpose = "self-check loan"
        self.next_item = 0

    def item(self) -> tuple[int, str]:
        pair = self.items[self.next_item % len(self.items)]
        self.next_item += 1
        return pair

    def patron(self) -> int:
        return self.patrons[self.rng.randrange(len(self.patrons))]

    # through the services

    def checkout_latency(self, n: int, out: list[float]) -> None:
        from shelfguard.circulation import services

        for _ in range(n):
            _pk, barcode = self.item()
            patron = self.patron()
            started = time.perf_counter()
            services.checkout(
                patron, barcode, branch="MAIN", actor=self.actor, purpose=self.purpose
            )
            out.append((time.perf_counter() - started) * 1000)
            services.checkin(barcode, branch="MAIN", actor=self.actor, purpose=self.purpose)

    def pairs(self, n: int) -> float:
        """Seconds for n checkout+checkin pairs back to back."""
        from shelfguard.circulation import services

        work = [(self.item()[1], self.patron()) for _ in range(n)]
        started = time.perf_counter()
        for barcode, patron in work:
            services.checkout(
                patron, barcode, branch="MAIN", actor=self.actor, purpose=self.purpose
            )
            services.checkin(barcode, branch="MAIN", actor=self.actor, purpose=self.purpose)
        return time.perf_counter() - started

    # the floors: the same rows, one transaction per checkout

    def _entry_values(self, seq: int, prev_hash: str, patron: int, at: dt.datetime):
        from shelfguard.ledger import chain

        fields_text = chain.fields_json(("loans",))
        detail_text = chain.detail_json({"branch": "MAIN"})
        values = (
            seq,
            chain.timestamp(at),
            "terminal",
            "bench-selfcheck",
            "sip2",
            "circulation.checkout",
            patron,
            fields_text,
            self.purpose,
            "",
            detail_text,
        )
        digest = chain.link(prev_hash, chain.encode(*values))
        return fields_text, detail_text, digest

    def raw_floor(self, n: int, out: list[float], lent: list[int]) -> None:
        from django.db import connection, transaction

        from shelfguard.core import clock

        today = clock.today()
        due = today + dt.timedelta(days=21)
        q = connection.ops.quote_name
        for _ in range(n):
            item_id, _barcode = self.item()
            patron = self.patron()
            started = time.perf_counter()
            with transaction.atomic(), connection.cursor() as cur:
                lock = " FOR UPDATE" if connection.vendor == "postgresql" else ""
                cur.execute(f"SELECT seq, hash FROM ledger_chainhead WHERE id = 1{lock}")
                seq, prev = cur.fetchone()
                cur.execute(
                    "UPDATE catalog_item SET status = %s WHERE id = %s", ["on_loan", item_id]
                )
                cur.execute(
                    "INSERT INTO circulation_loan (item_id, patron_id, patron_category, age_band,"
                    " branch_id, loaned_on, due_on, renewals, outcome, notice_stage)"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, 0, 'open', 0)",
                    [item_id, patron, "adult", "14_plus", self.main.pk, today, due],
                )
                at = clock.now().astimezone(dt.UTC)
                fields_text, detail_text, digest = self._entry_values(seq + 1, prev, patron, at)
                cur.execute(
                    "INSERT INTO ledger_entry (seq, at, actor_kind, actor_id, channel, action,"
                    f" patron_id, fields, purpose, origin, detail, prev_hash, {q('hash')})"
                    " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                    [
                        seq + 1,
                        connection.ops.adapt_datetimefield_value(at),
                        "terminal",
                        "bench-selfcheck",
                        "sip2",
                        "circulation.checkout",
                        patron,
                        fields_text,
                        self.purpose,
                        "",
                        detail_text,
                        prev,
                        digest,
                    ],
                )
                cur.execute(
                    f"UPDATE ledger_chainhead SET seq = %s, {q('hash')} = %s WHERE id = 1",
                    [seq + 1, digest],
                )
            out.append((time.perf_counter() - started) * 1000)
            lent.append(item_id)

    def orm_floor(self, n: int, out: list[float], lent: list[int]) -> None:
        import json as jsonlib

        from django.db import transaction

        from shelfguard.catalog.models import Item
        from shelfguard.circulation.models import Loan
        from shelfguard.core import clock
        from shelfguard.ledger.models import ChainHead, Entry

        today = clock.today()
        for _ in range(n):
            item_id, _barcode = self.item()
            patron = self.patron()
            started = time.perf_counter()
            with transaction.atomic():
                head = ChainHead.objects.select_for_update().get(pk=1)
                Item.objects.filter(pk=item_id).update(status="on_loan")
                Loan.objects.create(
                    item_id=item_id,
                    patron_id=patron,
                    patron_category="adult",
                    age_band="14_plus",
                    branch=self.main,
                    loaned_on=today,
                    due_on=today + dt.timedelta(days=21),
                )
                at = clock.now().astimezone(dt.UTC)
                fields_text, detail_text, digest = self._entry_values(
                    head.seq + 1, head.hash, patron, at
                )
                Entry.objects.bulk_create(
                    [
                        Entry(
                            seq=head.seq + 1,
                            at=at,
                            actor_kind="terminal",
                            actor_id="bench-selfcheck",
                            channel="sip2",
                            action="circulation.checkout",
                            patron_id=patron,
                            fields=jsonlib.loads(fields_text),
                            purpose=self.purpose,
                            origin="",
                            detail=jsonlib.loads(detail_text),
                            prev_hash=head.hash,
                            hash=digest,
                        )
                    ]
                )
                head.seq, head.hash = head.seq + 1, digest
                head.save(update_fields=["seq", "hash"])
            out.append((time.perf_counter() - started) * 1000)
            lent.append(item_id)

    def give_back(self, lent: list[int]) -> None:
        """Undo the floors' loans (not timed) so their items can be lent again."""
        from django.db import transaction

        from shelfguard.catalog.models import Item
        from shelfguard.circulation.models import Loan

        with transaction.atomic():
            Loan.objects.filter(item_id__in=lent, outcome="open").update(
                outcome="returned", ended_on=dt.date.today(), patron=None
            )
            Item.objects.filter(pk__in=lent).update(status="available")
        lent.clear()


def queries_per_checkout(bench: Bench) -> dict[str, int]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from shelfguard.circulation import services

    _pk, barcode = bench.item()
    patron = bench.patron()
    with CaptureQueriesContext(connection) as out:
        services.checkout(patron, barcode, branch="MAIN", actor=bench.actor, purpose=bench.purpose)
    with CaptureQueriesContext(connection) as back:
        services.checkin(barcode, branch="MAIN", actor=bench.actor, purpose=bench.purpose)
    return {"checkout": len(out), "checkin": len(back)}


def profile(bench: Bench, n: int, path: str) -> None:
    from pyinstrument import Profiler

    from shelfguard.circulation import services

    profiler = Profiler(interval=0.0002)
    profiler.start()
    for _ in range(n):
        _pk, barcode = bench.item()
        services.checkout(
            bench.patron(), barcode, branch="MAIN", actor=bench.actor, purpose=bench.purpose
        )
        services.checkin(barcode, branch="MAIN", actor=bench.actor, purpose=bench.purpose)
    profiler.stop()
    Path(path).write_text(profiler.output_text(unicode=True, color=False, show_all=False))


def _api_ready() -> bool:
    from django.urls import Resolver404, resolve

    try:
        resolve("/api/v1/circulation/checkout")
    except Resolver404:
        return False
    return True


def over_http(bench: Bench, n: int) -> dict[str, object]:
    """Checkout latency through the JSON API: `shelfguard serve` on loopback, one keep-alive
    connection, a staff token with scope circulation (checkin after each, not timed)."""
    import http.client
    import socket
    import subprocess

    from bench_patrons import synthetic
    from common import ROOT

    from shelfguard.accounts import services as accounts
    from shelfguard.api import services as api_services
    from shelfguard.core import clock
    from shelfguard.core.actors import Actor
    from shelfguard.patrons.models import Patron

    try:
        if not _api_ready():
            return {"http": "not measured: endpoint not there"}
    except Exception as exc:  # noqa: BLE001 - report, do not fail the other measures
        return {"http": f"not measured: {type(exc).__name__}: {exc}"}
    admin = Actor.system("bench")
    from shelfguard.accounts.models import StaffUser

    # A re-measure (`--home`) finds the desk account of the first run.
    staff = StaffUser.objects.filter(username="benchdesk").first()
    if staff is None:
        staff, _code = accounts.create_staff(
            "benchdesk", roles=("circulation-desk",), branch="MAIN", password=None, actor=admin
        )
    accounts.certify(
        staff,
        course="Patron privacy basics",
        until=clock.today() + dt.timedelta(days=365),
        actor=admin,
    )
    _token, secret = api_services.create_token(staff, ["circulation"], actor=admin)
    first = Patron.objects.order_by("pk").values_list("pk", flat=True).first()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "shelfguard", "serve", "--port", str(port), "--workers", "1"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    timings: list[float] = []
    refused = 0
    try:
        for _ in range(200):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Authorization": f"Bearer {secret}", "Content-Type": "application/json"}

        def post(path: str, body: dict) -> int:
            conn.request("POST", f"/api/v1/circulation/{path}", json.dumps(body), headers)
            response = conn.getresponse()
            response.read()
            return response.status

        for i in range(n + 50):
            _pk, barcode = bench.item()
            card = synthetic(bench.patron() - first)["card_number"]
            started = time.perf_counter()
            status = post("checkout", {"patron_card": card, "barcode": barcode, "branch": "MAIN"})
            elapsed = (time.perf_counter() - started) * 1000
            if status != 200:
                refused += 1
                continue
            if i >= 50:  # the first 50 warm the worker
                timings.append(elapsed)
            post("checkin", {"barcode": barcode, "branch": "MAIN"})
    finally:
        server.terminate()
        server.wait(timeout=30)
    if not timings:
        return {"http": f"not measured: every request refused ({refused})"}
    return {
        "http_checkout_p50_ms": median(timings),
        "http_checkout_p99_ms": percentile(timings, 99),
        "http_samples": len(timings),
        "http_refused": refused,
    }


def run(
    samples: int, pairs: int, rounds: int, profile_to: str | None, http_samples: int
) -> dict[str, object]:
    bench = Bench()
    warm: list[float] = []
    bench.checkout_latency(200, warm)  # warm caches and the page cache
    lent: list[int] = []
    bench.raw_floor(200, [], lent)
    bench.orm_floor(200, [], lent)
    bench.give_back(lent)

    checkout_ms: list[float] = []
    raw_ms: list[float] = []
    orm_ms: list[float] = []
    pair_seconds: list[float] = []
    per = max(1, samples // rounds)
    per_pairs = max(1, pairs // rounds)
    for _ in range(rounds):
        bench.checkout_latency(per, checkout_ms)
        bench.raw_floor(per, raw_ms, lent)
        bench.orm_floor(per, orm_ms, lent)
        bench.give_back(lent)
        pair_seconds.append(bench.pairs(per_pairs) / per_pairs)
    result: dict[str, object] = {
        "checkout_p50_ms": median(checkout_ms),
        "checkout_p99_ms": percentile(checkout_ms, 99),
        "raw_floor_p50_ms": median(raw_ms),
        "orm_floor_p50_ms": median(orm_ms),
        "pairs_per_s": 1 / median(pair_seconds),
        "pairs_per_s_rounds": sorted(round(1 / s, 1) for s in pair_seconds),
        "samples": len(checkout_ms),
        "pairs": per_pairs * rounds,
    }
    result["ratio_checkout_to_raw"] = result["checkout_p50_ms"] / result["raw_floor_p50_ms"]
    result["ratio_checkout_to_orm"] = result["checkout_p50_ms"] / result["orm_floor_p50_ms"]
    result["queries"] = queries_per_checkout(bench)
    if http_samples:
        result.update(over_http(bench, http_samples))
    if profile_to:
        profile(bench, 500, profile_to)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", default="quick", help="quick (5%%), full, or a fraction")
    parser.add_argument("--samples", type=int, default=2_000, help="checkouts timed")
    parser.add_argument("--pairs", type=int, default=2_000, help="checkout+checkin pairs timed")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds")
    parser.add_argument("--database-url", help="PostgreSQL URL (default: embedded SQLite)")
    parser.add_argument("--profile", help="write a pyinstrument profile of 500 pairs here")
    parser.add_argument("--http", type=int, default=1_000, help="checkouts timed over HTTP")
    parser.add_argument("--home", help="measure again on a data home this script loaded before")
    parser.add_argument("--json", action="store_true", help="one line of JSON")
    args = parser.parse_args()
    fraction = SCALES.get(args.scale) or float(args.scale)
    sizes = {k: max(1, int(v * fraction)) for k, v in FULL.items()}
    if args.database_url:
        os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("SHELFGUARD_EXPECTED_PATRONS", str(sizes["patrons"]))
    if args.home:
        os.environ["SHELFGUARD_HOME"] = args.home
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shelfguard.settings")
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        from shelfguard.catalog.models import Item
        from shelfguard.circulation.models import Loan
        from shelfguard.patrons.models import Patron

        sizes = {
            "items": Item.objects.count(),
            "patrons": Patron.objects.count(),
            "loans": Loan.objects.count(),
        }
        load_seconds = {"total": 0.0}
        print(f"reusing {args.home}: {sizes}", file=sys.stderr)
    else:
        home = fresh_home("circulation")
        print(f"data home {home}; loading {sizes}…", file=sys.stderr)
        started = time.perf_counter()
        load_seconds = load(sizes)
        load_seconds["total"] = time.perf_counter() - started
    print(f"loaded in {load_seconds['total']:.0f} s; measuring…", file=sys.stderr)
    from django.db import connection

    result = {
        "machine": machine(),
        "database": connection.vendor,
        "sizes": sizes,
        "load_seconds": {k: round(v, 1) for k, v in load_seconds.items()},
        "load_average": os.getloadavg(),
        **run(args.samples, args.pairs, args.rounds, args.profile, args.http),
        "load_average_after": os.getloadavg(),
        "targets": {
            "pairs_per_s": TARGET_PAIRS,
            "checkout_p50_ms": TARGET_P50_MS,
            "checkout_p99_ms": TARGET_P99_MS,
            "ratio_checkout_to_raw": TARGET_RATIO,
        },
    }
    for key, value in list(result.items()):
        if isinstance(value, float):
            result[key] = round(value, 3)
    print(json.dumps(result, indent=None if args.json else 2, ensure_ascii=False))


if __name__ == "__main__":
    main()
