"""Vault: opening a data key and unsealing a patron's fields; destroying a data key.

    .venv/bin/python bench/bench_vault.py [--keys 200000] [--samples 2000] [--destroys 300] [--json]

Runs in a throwaway data home on the embedded SQLite keystore
(keys/keystore.sqlite3: WAL, secure_delete, synchronous=FULL). DATABASE_URL
measures PostgreSQL instead, in the `keystore` schema of that database; give
it a database whose keystore is empty (the bench refuses otherwise and
empties it again at the end).

1. The keystore is filled with `--keys` data keys (wrapped exactly as
   `new_data_key` wraps them, bulk-inserted so filling takes seconds).
2. Open + unseal: for random keys, with the in-process key cache emptied
   before each sample (the cold case: a keystore read and an unwrap),
   `open_key` then `unseal` of five fields. Target: median <= 0.5 ms.
   The warm case (key cached) is printed too.
3. Destroy: `destroy_data_key` of random keys, each with its journal line
   (fsync), the delete, and the WAL checkpoint or VACUUM. Target: median
   <= 10 ms. On SQLite an erasure makes five syncs (journal, WAL header and
   commit, checkpoint of WAL and database), so the median fsync time of the
   disk is printed alongside.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
import uuid
from pathlib import Path

from common import machine, median, percentile

FIELDS = ("name", "email", "phone", "address", "birth_date")
VALUES = (
    "Ada Lovelace",
    "ada@example.org",
    "+44 20 7946 0958",
    "12 St James's Square",
    "1815-12-10",
)


def vault_home() -> Path:
    """A throwaway data home with its keys and a migrated keystore (nothing else is needed)."""
    home = Path(tempfile.mkdtemp(prefix="shelfguard-bench-vault-"))
    os.environ["SHELFGUARD_HOME"] = str(home)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shelfguard.settings")
    from shelfguard.core.home import create_home

    create_home(home)
    import django

    django.setup()
    from django.core.management import call_command

    from shelfguard.vault.keys import ensure_keys

    call_command("migrate", database="keystore", interactive=False, verbosity=0)
    ensure_keys(home)
    return home


def fill(count: int) -> tuple[list[str], float]:
    """Insert `count` wrapped data keys; returns their ids and the seconds it took."""
    from shelfguard.core import clock
    from shelfguard.vault import wrapping
    from shelfguard.vault.keys import require_master_keyring
    from shelfguard.vault.models import DataKey

    ring = require_master_keyring()
    kek, version = ring.key(ring.current), ring.current
    now = clock.now()
    ids: list[str] = []
    started = time.perf_counter()
    batch: list[DataKey] = []
    for _ in range(count):
        key_id = uuid.uuid4()
        batch.append(
            DataKey(
                key_id=key_id,
                wrapped=wrapping.wrap(kek, version, key_id, os.urandom(32)),
                kek_version=version,
                created_at=now,
            )
        )
        ids.append(str(key_id))
        if len(batch) == 5000:
            DataKey.objects.using("keystore").bulk_create(batch)
            batch = []
    if batch:
        DataKey.objects.using("keystore").bulk_create(batch)
    return ids, time.perf_counter() - started


def bench_unseal(ids: list[str], samples: int) -> dict[str, float]:
    from shelfguard.vault import sealing

    chosen = random.sample(ids, samples)
    sealed = {}
    for key_id in chosen:
        key = sealing.open_key(key_id)
        owner = f"patron:{key_id[:8]}"
        sealed[key_id] = [key.seal(owner, f, v) for f, v in zip(FIELDS, VALUES, strict=True)]
    cold: list[float] = []
    warm: list[float] = []
    for key_id in chosen:
        owner = f"patron:{key_id[:8]}"
        values = sealed[key_id]
        sealing.forget_cached_keys()
        started = time.perf_counter()
        key = sealing.open_key(key_id)
        for field, value in zip(FIELDS, values, strict=True):
            key.unseal(owner, field, value)
        cold.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        key = sealing.open_key(key_id)
        for field, value in zip(FIELDS, values, strict=True):
            key.unseal(owner, field, value)
        warm.append((time.perf_counter() - started) * 1000)
    return {
        "cold_median_ms": median(cold),
        "cold_p95_ms": percentile(cold, 95),
        "warm_median_ms": median(warm),
        "warm_p95_ms": percentile(warm, 95),
    }


def fsync_latency(directory: Path, count: int = 50) -> float:
    """Median ms of one fsync of a small append in `directory`.

    An erasure is bound by fsyncs (journal, keystore commit, checkpoint), so
    its time is only meaningful next to what one fsync costs on that disk.
    """
    path = directory / "fsync-probe"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    times: list[float] = []
    try:
        for _ in range(count):
            os.write(fd, b"x" * 100)
            started = time.perf_counter()
            os.fsync(fd)
            times.append((time.perf_counter() - started) * 1000)
    finally:
        os.close(fd)
        path.unlink()
    return median(times)


def bench_destroy(ids: list[str], count: int) -> dict[str, float]:
    from shelfguard.vault import keystore

    times: list[float] = []
    for key_id in random.sample(ids, count):
        started = time.perf_counter()
        keystore.destroy_data_key(key_id, owner=f"patron:{key_id[:8]}")
        times.append((time.perf_counter() - started) * 1000)
    return {"median_ms": median(times), "p95_ms": percentile(times, 95), "max_ms": max(times)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keys", type=int, default=200_000, help="data keys in the keystore")
    parser.add_argument("--samples", type=int, default=2000, help="open+unseal samples")
    parser.add_argument("--destroys", type=int, default=300, help="destroy_data_key samples")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()

    home = vault_home()
    from django.db import connections

    from shelfguard.vault.keys import data_key_count
    from shelfguard.vault.models import DataKey, ErasureEntry

    connection = connections["keystore"]
    if data_key_count():
        print("bench_vault: the keystore is not empty; give it an empty database", file=sys.stderr)
        return 2
    try:
        ids, fill_seconds = fill(args.keys)
        unseal = bench_unseal(ids, min(args.samples, len(ids)))
        fsync_before = fsync_latency(home / "keys")
        destroy = bench_destroy(ids, min(args.destroys, len(ids)))
        fsync_ms = (fsync_before + fsync_latency(home / "keys")) / 2
    finally:
        if connection.vendor == "postgresql":
            DataKey.objects.using("keystore").all().delete()
            ErasureEntry.objects.using("keystore").all().delete()
    results = {
        "database": connection.vendor,
        "data_keys": args.keys,
        "fill_seconds": round(fill_seconds, 2),
        "open_unseal_5_fields": {k: round(v, 4) for k, v in unseal.items()},
        "destroy_data_key": {k: round(v, 3) for k, v in destroy.items()},
        "fsync_median_ms": round(fsync_ms, 3),
        "targets": {"open_unseal_median_ms": 0.5, "destroy_median_ms": 10},
        "machine": machine(),
    }
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"Vault benchmark on {results['database']} with {args.keys:,} data keys")
    print(f"  machine: {results['machine']}")
    print(f"  fill: {fill_seconds:.1f} s")
    print(
        f"  open_key + unseal 5 fields, cold: median {unseal['cold_median_ms']:.3f} ms, "
        f"p95 {unseal['cold_p95_ms']:.3f} ms (target <= 0.5 ms median)"
    )
    print(
        f"  open_key + unseal 5 fields, cached key: median {unseal['warm_median_ms']:.3f} ms, "
        f"p95 {unseal['warm_p95_ms']:.3f} ms"
    )
    print(
        f"  destroy_data_key: median {destroy['median_ms']:.2f} ms, "
        f"p95 {destroy['p95_ms']:.2f} ms, max {destroy['max_ms']:.2f} ms (target <= 10 ms median)"
    )
    print(f"  one fsync on the keys file system: median {fsync_ms:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
