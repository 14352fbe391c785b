"""The retention sweep at scale, on SQLite: 1,000,000 ended loans and 200,000 patrons.

    .venv/bin/python bench/bench_retention.py [--loans 1000000] [--patrons 200000]
        [--runs 3] [--erasures 300] [--json]

The target (issue 7): a whole sweep (`lifecycle.retention.sweep`, every rule)
over that data finishes in under 60 s. The data is synthetic and inserted
with bulk SQL (it is preparation, not what is measured):

* patrons: plain rows (status, category, branch, expiry dates spread over
  the next three years, so none is due for erasure), 10% of them with
  consent to keep a reading history;
* loans: all ended (returned) over the last two years, and all still linked
  to their patron: the worst case, a check-in path that never unlinked
  anything, so the sweep must unlink the 90% whose patrons keep no history;
* 100,000 sign-in failure records, half of them past their 30 days.

Each run re-links the loans and restores the failure rows with one SQL
statement each, then times a full (real, not dry) sweep; the median of the
runs is reported with each rule's time.

Crypto-erasure is measured separately: `--erasures` sealed patrons (each
with its own data key in the keystore, as `bench_patrons.py` loads them)
whose cards expired over two years ago are erased by the `expired-patrons`
rule, which goes through `patrons.services.erase` one patron at a time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import fresh_home, machine, median

TARGET_SECONDS = 60.0
BATCH = 20_000


def _sql(statement: str, params: list | tuple = ()) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def _table(model) -> str:
    from django.db import connection

    return connection.ops.quote_name(model._meta.db_table)


def load(loans: int, patrons: int) -> dict[str, float]:
    """Bulk-insert the synthetic library; return seconds per part."""
    from django.db import connection, transaction

    from shelfguard.accounts.models import Throttle
    from shelfguard.catalog.models import Item, ItemType, Record
    from shelfguard.circulation.models import Loan
    from shelfguard.core import clock
    from shelfguard.core.actors import Actor
    from shelfguard.core.models import Branch
    from shelfguard.core.services import ensure_branch
    from shelfguard.patrons.models import Consent, Patron, PatronCategory
    from shelfguard.patrons.services import ensure_defaults

    seconds = {}
    started = time.perf_counter()
    actor = Actor.cli_operator()
    ensure_branch("MAIN", "Main Branch", actor=actor)
    ensure_defaults()
    branch = Branch.objects.get(code="MAIN").pk
    adult = PatronCategory.objects.get(code="adult").pk
    book, _ = ItemType.objects.get_or_create(code="book", defaults={"name": "Book"})
    now = clock.now()
    today = clock.today()
    with transaction.atomic():
        record = Record.objects.create(
            control_number="bench-retention",
            title="A Synthetic Title",
            language="eng",
            created_at=now,
            updated_at=now,
        )
        Item.objects.bulk_create(
            Item(
                barcode=f"R{n:08d}",
                record=record,
                branch_id=branch,
                item_type=book,
                status="available",
                created_at=now,
                updated_at=now,
            )
            for n in range(10_000)
        )
    items = list(Item.objects.order_by("pk").values_list("pk", flat=True))

    patron_table = _table(Patron)
    with transaction.atomic():
        for start in range(0, patrons, BATCH):
            rows = [
                (
                    "active",
                    adult,
                    branch,
                    (today + dt.timedelta(days=1 + n % 1000)).isoformat(),
                    False,
                    "",
                    "",
                    "",
                    "",
                    "",
                )
                for n in range(start, min(start + BATCH, patrons))
            ]
            with connection.cursor() as cursor:
                cursor.executemany(
                    f"INSERT INTO {patron_table} (status, category_id, home_branch_id, "
                    "expires_on, guardian_required, key_id, pin_hash, identity_document, "
                    "identity_verified_by, created_at) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                    rows,
                )
    first_patron, last_patron = (
        Patron.objects.order_by("pk").values_list("pk", flat=True)[0],
        (Patron.objects.order_by("-pk").values_list("pk", flat=True)[0]),
    )
    with transaction.atomic():
        Consent.objects.bulk_create(
            (
                Consent(
                    patron_id=pk,
                    purpose="reading_history",
                    notice_version=1,
                    given=True,
                    at=now,
                    channel="cli",
                )
                for pk in range(first_patron, last_patron + 1, 10)
            ),
            batch_size=5000,
        )
    seconds["patrons"] = time.perf_counter() - started

    started = time.perf_counter()
    loan_table = _table(Loan)
    with transaction.atomic():
        for start in range(0, loans, BATCH):
            rows = []
            for n in range(start, min(start + BATCH, loans)):
                ended = today - dt.timedelta(days=n % 730)
                loaned = ended - dt.timedelta(days=14)
                rows.append(
                    (
                        items[n % len(items)],
                        first_patron + n % patrons,
                        "adult",
                        "14_plus",
                        branch,
                        branch,
                        loaned.isoformat(),
                        (loaned + dt.timedelta(days=21)).isoformat(),
                        ended.isoformat(),
                        0,
                        "returned",
                        0,
                    )
                )
            with connection.cursor() as cursor:
                cursor.executemany(
                    f"INSERT INTO {loan_table} (item_id, patron_id, patron_category, age_band, "
                    "branch_id, return_branch_id, loaned_on, due_on, ended_on, renewals, "
                    "outcome, notice_stage) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                    rows,
                )
    seconds["loans"] = time.perf_counter() - started
    _sql("ANALYZE")
    _ = Throttle  # restored before each run
    return seconds


def relink(first_patron: int, patrons: int) -> None:
    """Put every loan's patron link back and the failure rows in place (between runs)."""
    from django.db import connection, transaction

    from shelfguard.accounts.models import Throttle
    from shelfguard.circulation.models import Loan
    from shelfguard.core import clock

    with transaction.atomic():
        _sql(
            f"UPDATE {_table(Loan)} SET patron_id = %s + (id % %s)",
            [first_patron, patrons],
        )
        Throttle.objects.all().delete()
        now = clock.now()
        with connection.cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {_table(Throttle)} (scope, key, failures, last_failure_at) "
                "VALUES (%s, %s, %s, %s)",
                [
                    (
                        "source",
                        f"{n:064x}",
                        1,
                        connection.ops.adapt_datetimefield_value(
                            now - dt.timedelta(days=n % 60, hours=1)
                        ),
                    )
                    for n in range(100_000)
                ],
            )


def sweep_once() -> tuple[float, dict[str, float], dict[str, dict[str, int]]]:
    from shelfguard.lifecycle import retention

    started = time.perf_counter()
    report = retention.sweep(batch_size=5000)
    total = time.perf_counter() - started
    failed = report.failed
    if failed:
        raise SystemExit(f"retention rules failed: {failed}: {[r.error for r in report.rules]}")
    return (
        total,
        {r.name: r.seconds for r in report.rules},
        {r.name: r.counts for r in report.rules},
    )


def erasure(count: int) -> dict[str, float]:
    """Erase `count` sealed, long-expired patrons through the expired-patrons rule."""
    from bench_patrons import PatronSealer, synthetic
    from django.db import transaction

    from shelfguard.core import clock
    from shelfguard.core.models import Branch
    from shelfguard.lifecycle import retention
    from shelfguard.patrons.models import Patron, PatronCategory
    from shelfguard.vault.dbsettings import KEYSTORE_ALIAS
    from shelfguard.vault.models import DataKey

    sealing = PatronSealer()
    adult = PatronCategory.objects.get(code="adult")
    branch = Branch.objects.get(code="MAIN")
    long_ago = clock.today() - dt.timedelta(days=800)
    first = (Patron.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
    keys, rows = [], []
    for i in range(count):
        key, patron = sealing.make(
            first + i,
            synthetic(900_000 + i),
            category=adult,
            home_branch=branch,
            expires_on=long_ago,
        )
        keys.append(key)
        rows.append(patron)
    with transaction.atomic(using=KEYSTORE_ALIAS):
        DataKey.objects.using(KEYSTORE_ALIAS).bulk_create(keys)
    with transaction.atomic():
        Patron.objects.bulk_create(rows)
    started = time.perf_counter()
    report = retention.sweep(only=["expired-patrons"])
    seconds = time.perf_counter() - started
    (result,) = report.rules
    erased = result.counts.get("destroyed", 0)
    if erased != count:
        raise SystemExit(f"expected {count} erasures, got {result.counts} {result.error}")
    return {"erased": erased, "seconds": seconds, "per_patron_ms": seconds / erased * 1000}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loans", type=int, default=1_000_000)
    parser.add_argument("--patrons", type=int, default=200_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--erasures", type=int, default=300)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    home = fresh_home("retention")
    from shelfguard.patrons.models import Patron

    loaded = load(args.loans, args.patrons)
    first_patron = Patron.objects.order_by("pk").values_list("pk", flat=True)[0]
    runs = []
    for _ in range(args.runs):
        relink(first_patron, args.patrons)
        runs.append(sweep_once())
    totals = [r[0] for r in runs]
    per_rule = {name: median([r[1][name] for r in runs]) for name in runs[0][1]}
    counts = runs[-1][2]
    erased = erasure(args.erasures) if args.erasures else {}
    result = {
        "date": dt.date.today().isoformat(),
        "machine": machine(),
        "home": str(home),
        "loans": args.loans,
        "patrons": args.patrons,
        "load_seconds": loaded,
        "sweep_seconds_median": median(totals),
        "sweep_seconds_all": totals,
        "rule_seconds_median": per_rule,
        "counts_last_run": counts,
        "target_seconds": TARGET_SECONDS,
        "met": median(totals) < TARGET_SECONDS,
        "erasure": erased,
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{result['machine']}")
        print(f"loaded {args.loans} loans, {args.patrons} patrons: {loaded}")
        print(
            f"sweep median {median(totals):.1f} s over {args.runs} runs "
            f"({', '.join(f'{t:.1f}' for t in totals)}); target < {TARGET_SECONDS:.0f} s: "
            f"{'met' if result['met'] else 'MISSED'}"
        )
        for name, seconds in per_rule.items():
            print(f"  {name:<26} {seconds:7.2f} s  {counts.get(name)}")
        if erased:
            print(
                f"crypto-erasure: {erased['erased']} patrons in {erased['seconds']:.1f} s "
                f"({erased['per_patron_ms']:.1f} ms per patron)"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
