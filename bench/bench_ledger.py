"""Access ledger: what an append adds to a transaction, and how fast the chain verifies.

    .venv/bin/python bench/bench_ledger.py [--entries 1000000] [--appends 3000] [--json]

Runs in a throwaway data home on embedded SQLite. DATABASE_URL measures
PostgreSQL instead; give it an empty database, since a chain already there is
extended, not replaced. Two measurements:

1. Append cost. The same small transaction (one UPDATE of a branch row, as a
   service would do) is timed with and without `ledger.services.append` inside
   it, alternating so that both see the same machine state; the medians and
   their difference are printed. Target: append adds at most 0.3 ms.
2. Verify throughput. The chain is filled to `--entries` real entries (hashed
   exactly as append hashes them, bulk-inserted so filling takes seconds, not
   an hour of single appends), then `ledger.verify.verify()` runs over all of
   them. Target: 100,000 entries/s or better (1,000,000 in under 10 s).
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

from common import machine, median, percentile

_ACTIONS = ("patron.reveal", "patron.register", "patron.update", "consent.change", "loan.checkout")
_FIELDS = (["name"], ["name", "email"], ["address", "phone"], [], ["birth_date"])


def ledger_home() -> Path:
    """A throwaway data home with migrated tables and branch MAIN.

    Only the schema and one branch are needed, so this skips the full `init`
    (and whatever other apps set up there), which keeps the bench independent
    of them.
    """
    home = Path(tempfile.mkdtemp(prefix="shelfguard-bench-ledger-"))
    os.environ["SHELFGUARD_HOME"] = str(home)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shelfguard.settings")
    from shelfguard.core.home import create_home

    create_home(home)
    import django

    django.setup()
    from django.core.management import call_command

    from shelfguard.core.actors import Actor
    from shelfguard.core.services import ensure_branch

    call_command("migrate", interactive=False, verbosity=0)
    ensure_branch("MAIN", "Main Library", actor=Actor.cli_operator())
    return home


def bench_append(rounds: int) -> dict[str, float]:
    from django.db import transaction

    from shelfguard.core.actors import Actor
    from shelfguard.core.models import Branch
    from shelfguard.ledger import services

    actor = Actor(kind="staff", ident="bench-desk", channel="web")
    branch = Branch.objects.get(code="MAIN")
    branches = Branch.objects.filter(pk=branch.pk)

    def run(with_entry: bool, i: int) -> float:
        started = time.perf_counter()
        with transaction.atomic():
            branches.update(name=f"Main Library {i}")
            if with_entry:
                services.append(
                    actor=actor,
                    action="patron.reveal",
                    purpose="circulation desk",
                    patron_id=1 + i % 5000,
                    fields=("name", "email"),
                    origin="192.0.2.10",
                    detail={"count": 1},
                )
        return time.perf_counter() - started

    for i in range(200):  # warm up caches, the WAL and the statement cache
        run(i % 2 == 0, i)
    without, with_entry = [], []
    for i in range(rounds):
        without.append(run(False, i))
        with_entry.append(run(True, i))
    base, total = median(without), median(with_entry)
    return {
        "rounds": rounds,
        "transaction_ms": base * 1e3,
        "transaction_with_append_ms": total * 1e3,
        "append_adds_ms": (total - base) * 1e3,
        "ratio": total / base,
        "with_append_p95_ms": percentile(with_entry, 95) * 1e3,
    }


def fill(entries: int, batch: int = 20000) -> float:
    """Extend the chain to `entries` entries with genuine hashes; return seconds taken."""
    import datetime as dt

    from django.db import connection, transaction

    from shelfguard.ledger import chain, services
    from shelfguard.ledger.models import ChainHead

    rng = random.Random(20261125)
    start = time.perf_counter()
    with transaction.atomic():
        seq, prev = services._lock_head("default")
    moment = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    insert = services._insert_sql(connection)
    adapt = connection.ops.adapt_datetimefield_value
    while seq < entries:
        rows = []
        for _ in range(min(batch, entries - seq)):
            seq += 1
            moment += dt.timedelta(microseconds=rng.randrange(1, 60_000_000))
            action = rng.choice(_ACTIONS)
            fields = chain.fields_json(rng.choice(_FIELDS))
            detail = chain.detail_json({"count": rng.randrange(1, 20)})
            values = (
                "staff",
                f"staff{rng.randrange(40)}",
                "web",
                action,
                rng.randrange(1, 200_000),
                fields,
                "circulation desk",
                f"192.0.2.{rng.randrange(1, 255)}",
                detail,
            )
            digest = chain.link(
                prev,
                chain.encode(seq, chain.timestamp(moment), *values[:5], values[5], *values[6:]),
            )
            rows.append((seq, adapt(moment), *values, prev, digest))
            prev = digest
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.executemany(insert, rows)
            ChainHead.objects.filter(pk=1).update(seq=seq, hash=prev)
        print(f"\r  filled {seq:,} entries", end="", file=sys.stderr, flush=True)
    print(file=sys.stderr)
    return time.perf_counter() - start


def bench_verify(entries: int, runs: int) -> dict[str, float]:
    from shelfguard.ledger.verify import verify

    fill_seconds = fill(entries)
    timings = []
    for _ in range(runs):
        report = verify()
        if not report.ok:
            raise SystemExit(f"the bench chain does not verify: {report.first}")
        timings.append(report.seconds)
    best = min(timings)
    return {
        "entries": report.entries,
        "fill_seconds": fill_seconds,
        "verify_seconds_median": median(timings),
        "verify_seconds_best": best,
        "entries_per_second_median": report.entries / median(timings),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--appends", type=int, default=3000, help="timed transactions of each kind")
    parser.add_argument("--verify-runs", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    home = ledger_home()
    from django.db import connection

    try:
        results = {
            "machine": machine(),
            "database": connection.vendor,
            "append": bench_append(args.appends),
            "verify": bench_verify(args.entries, args.verify_runs),
        }
    finally:
        # A million entries take hundreds of megabytes; nothing here is worth keeping.
        connection.close()
        shutil.rmtree(home, ignore_errors=True)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    a, v = results["append"], results["verify"]
    print(f"machine: {results['machine']}; database: {results['database']}")
    print(
        f"append: transaction {a['transaction_ms']:.3f} ms, with append "
        f"{a['transaction_with_append_ms']:.3f} ms (p95 {a['with_append_p95_ms']:.3f} ms): "
        f"append adds {a['append_adds_ms']:.3f} ms (x{a['ratio']:.2f}), median of {a['rounds']}"
    )
    print(
        f"verify: {v['entries']:,} entries in {v['verify_seconds_median']:.2f} s median "
        f"(best {v['verify_seconds_best']:.2f} s) = {v['entries_per_second_median']:,.0f} "
        f"entries/s; filling took {v['fill_seconds']:.0f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
