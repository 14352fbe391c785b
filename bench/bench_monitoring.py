"""Access monitoring on a large ledger: how fast the anomaly scan works through it.

    .venv/bin/python bench/bench_monitoring.py [--entries 1000000] [--batch 20000] [--json]

Runs in a throwaway data home on embedded SQLite (DATABASE_URL: PostgreSQL,
an empty database). The chain is filled to `--entries` genuine entries by
`bench_ledger.fill` (40 staff at one branch, a fifth of the entries reveals,
one entry every 30 s on average, so a million entries span about a year),
and the 40 staff accounts exist with a desk role, so every rule has real
work (baselines, opening hours, idle reveals). Measured:

1. catch-up: scans of `--batch` entries each until the whole ledger is
   scanned (the first run after installing monitoring on an old ledger);
   the median and worst seconds per run, and entries per second;
2. steady state: 1,000 new entries appended at the head, then one scan, as
   the five-minute job would meet them: its time must not grow with the
   size of the ledger behind it.

Target: a batch of 20,000 entries in under 5 s, the steady-state scan in
under 1 s, on a ledger of a million entries.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ledger import fill, ledger_home
from common import machine, median


def add_staff() -> None:
    """The 40 staff the filled entries name, as plain rows (preparation, not measured)."""
    from django.utils import timezone

    from shelfguard.accounts.models import Role, StaffUser
    from shelfguard.core.models import Branch

    branch = Branch.objects.get(code="MAIN")
    role, _ = Role.objects.get_or_create(
        code="circulation-desk", defaults={"name": "Circulation desk"}
    )
    StaffUser.objects.bulk_create(
        [
            StaffUser(username=f"staff{n}", branch=branch, created_at=timezone.now())
            for n in range(40)
        ],
        ignore_conflicts=True,
    )
    for staff in StaffUser.objects.filter(username__startswith="staff"):
        staff.roles.add(role)


def scan_all(batch: int) -> tuple[list[float], int, int]:
    from django.conf import settings

    from shelfguard.core import clock
    from shelfguard.ledger.models import Entry
    from shelfguard.monitoring import services

    settings.CONFIG = {**settings.CONFIG, "monitoring": {"scan_batch": batch}}
    newest = Entry.objects.order_by("-seq").values_list("at", flat=True).first()
    seconds, raised, scanned = [], 0, 0
    with clock.frozen(newest):
        while True:
            start = time.perf_counter()
            report = services.scan()
            seconds.append(time.perf_counter() - start)
            raised += len(report.raised)
            scanned += report.scanned
            print(f"\r  scanned {scanned:,} entries", end="", file=sys.stderr, flush=True)
            if not report.behind:
                break
    print(file=sys.stderr)
    return seconds, scanned, raised


def steady_state() -> float:
    import datetime as dt

    from django.db import transaction

    from shelfguard.core import clock
    from shelfguard.core.actors import Actor
    from shelfguard.ledger import services as ledger
    from shelfguard.ledger.models import Entry
    from shelfguard.monitoring import services

    newest = Entry.objects.order_by("-seq").values_list("at", flat=True).first()
    for n in range(1000):
        moment = newest + dt.timedelta(seconds=n + 1)
        with clock.frozen(moment), transaction.atomic():
            ledger.append(
                actor=Actor(kind="staff", ident=f"staff{n % 40}", channel="web"),
                action="patron.reveal",
                purpose="circulation desk",
                patron_id=1 + n * 7,
            )
    with clock.frozen(newest + dt.timedelta(seconds=1001)):
        start = time.perf_counter()
        services.scan()
        return time.perf_counter() - start


def opening_hours() -> None:
    import datetime as dt

    from shelfguard.circulation import services as circulation
    from shelfguard.core.actors import Actor

    for weekday in range(5):
        circulation.set_hours("MAIN", weekday, dt.time(9), dt.time(17), actor=Actor.cli_operator())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=20_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    home = ledger_home()
    from django.db import connection

    try:
        opening_hours()
        fill_seconds = fill(args.entries)
        add_staff()
        runs, scanned, raised = scan_all(args.batch)
        steady = steady_state()
        results = {
            "machine": machine(),
            "database": connection.vendor,
            "entries": args.entries,
            "fill_seconds": fill_seconds,
            "batch": args.batch,
            "runs": len(runs),
            "run_seconds_median": median(runs),
            "run_seconds_worst": max(runs),
            "entries_per_second": scanned / sum(runs),
            "alerts_raised": raised,
            "steady_scan_seconds": steady,
        }
    finally:
        connection.close()
        shutil.rmtree(home, ignore_errors=True)
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    r = results
    print(f"machine: {r['machine']}; database: {r['database']}")
    print(
        f"catch-up: {r['entries']:,} entries in {r['runs']} runs of {r['batch']:,}: "
        f"median {r['run_seconds_median']:.2f} s, worst {r['run_seconds_worst']:.2f} s per run "
        f"({r['entries_per_second']:,.0f} entries/s); {r['alerts_raised']:,} alerts"
    )
    print(f"steady state: 1,000 new entries scanned in {r['steady_scan_seconds']:.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
