"""Patron registry costs with 200,000 synthetic patrons: look-up, reveal, erasure.

    .venv/bin/python bench/bench_patrons.py [--patrons 200000] [--samples 2000]
                                            [--database-url URL] [--json]

Measured in one run, on one data home made for it:

* look-up by card through the blind index (`services.find_by_card`: keyed
  hash, indexed query, candidates unsealed and compared) against the same
  look-up on a plain indexed column in a table of the same patrons kept in
  clear (what a conventional system does), as a ratio of medians;
* a reveal of five sealed fields (`services.reveal`, ledger entry included);
* an erasure (`services.erase`: obligation checks, tombstone, ledger entry,
  key destroyed, journal flushed, WAL checkpoints).

Cards are drawn at random over all patrons, so most data keys are not in the
vault's small in-process cache, as at a busy desk. The blind-index lengths
are planned for the population (`SHELFGUARD_EXPECTED_PATRONS`), as an
operator of a library this size would configure them.

Setup writes the patrons in bulk (keys wrapped and inserted in batches, rows
with `bulk_create`): that is preparation, not what is measured. It goes
round the services on purpose, so it records no ledger entries.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import fresh_home, machine, median, percentile

TARGET_LOOKUP_RATIO = 1.2
TARGET_REVEAL_MS = 0.5
TARGET_ERASE_MS = 10.0
BATCH = 5_000
FIVE = ["card_number", "name", "email", "phone", "address"]


def synthetic(i: int) -> dict[str, str]:
    return {
        "card_number": f"2{i:010d}",
        "name": f"Benchmark{i} Person{i % 977}",
        "email": f"reader{i}@example.org",
        "phone": f"+1 555 {i % 1000:03d} {i % 10000:04d}",
        "address": f"{i} Synthetic Street\nSampletown",
        "birth_year": str(1940 + i % 60),
    }


class PatronSealer:
    """Seals synthetic patrons for bulk loading, as `patrons.registration` seals one.

    A loader only (no ledger entries, no per-row transactions): each patron
    gets its own data key, wrapped under the current master key, its personal
    fields sealed under it and its blind indexes. Shared by the patron and
    circulation benchmarks.
    """

    SEALED = ("card_number", "name", "email", "phone", "address", "birth_year")

    def __init__(self) -> None:
        from shelfguard.core import clock
        from shelfguard.vault.keys import require_master_keyring

        ring = require_master_keyring()
        self.version = ring.current
        self.kek = ring.key(self.version)
        self.now = clock.now()

    def make(self, pk: int, values: dict[str, str], **fields):
        """(DataKey, Patron) for one synthetic patron; `fields` are its clear columns."""

        from shelfguard.patrons import register as reg
        from shelfguard.patrons.models import Patron
        from shelfguard.vault import blind, keyfiles, wrapping
        from shelfguard.vault.models import DataKey
        from shelfguard.vault.sealing import SealingKey

        key_id = uuid.uuid4()
        data_key = os.urandom(keyfiles.KEY_BYTES)
        key = DataKey(
            key_id=key_id,
            wrapped=wrapping.wrap(self.kek, self.version, key_id, data_key),
            kek_version=self.version,
            created_at=self.now,
        )
        sealer = SealingKey(key_id, data_key)
        owner = f"patron:{pk}"
        sealed = {reg.get(k).column: sealer.seal(owner, k, values[k]) for k in self.SEALED}
        patron = Patron(
            pk=pk,
            status="active",
            key_id=str(key_id),
            card_index=blind.blind_index("card", values["card_number"]),
            email_index=blind.blind_index("email", values["email"]),
            phone_index=blind.blind_index("phone", values["phone"]),
            created_at=self.now,
            updated_at=self.now,
            **fields,
            **sealed,
        )
        return key, patron


def setup(count: int) -> tuple[list[str], float]:
    """Bulk-create `count` patrons (sealed, indexed, keyed) and the plain mirror table."""
    from django.db import connection, models, transaction

    from shelfguard.core import clock
    from shelfguard.core.models import Branch
    from shelfguard.patrons.models import Patron, PatronCategory, PatronNameToken
    from shelfguard.vault import blind
    from shelfguard.vault.dbsettings import KEYSTORE_ALIAS
    from shelfguard.vault.models import DataKey

    class PlainPatron(models.Model):
        """A conventional patron table: the same fields, in clear, card number indexed."""

        card_number = models.CharField(max_length=32, unique=True)
        name = models.CharField(max_length=200)
        email = models.CharField(max_length=254, null=True)
        phone = models.CharField(max_length=40, null=True)
        address = models.TextField(null=True)
        birth_year = models.CharField(max_length=4, null=True)
        status = models.CharField(max_length=16)
        category = models.ForeignKey(PatronCategory, on_delete=models.PROTECT, related_name="+")
        home_branch = models.ForeignKey(Branch, on_delete=models.PROTECT, related_name="+")
        expires_on = models.DateField()
        created_at = models.DateTimeField()
        updated_at = models.DateTimeField()

        class Meta:
            app_label = "patrons"
            db_table = "bench_plain_patron"

    with connection.schema_editor() as editor:
        editor.create_model(PlainPatron)

    started = time.perf_counter()
    sealing = PatronSealer()
    adult = PatronCategory.objects.get(code="adult")
    branch = Branch.objects.get(code="MAIN")
    now = clock.now()
    expiry = clock.today().replace(year=clock.today().year + 3)
    first_id = (Patron.objects.order_by("-pk").values_list("pk", flat=True).first() or 0) + 1
    cards = []
    for start in range(0, count, BATCH):
        keys, patrons, tokens, plain = [], [], [], []
        for i in range(start, min(start + BATCH, count)):
            pk = first_id + i
            values = synthetic(i)
            cards.append(values["card_number"])
            key, patron = sealing.make(
                pk, values, category=adult, home_branch=branch, expires_on=expiry
            )
            keys.append(key)
            patrons.append(patron)
            # Short token indexes of one name may coincide: store each value once.
            digests = {
                blind.blind_index("name_token", t) for t in blind.name_tokens(values["name"])
            }
            tokens += [PatronNameToken(patron_id=pk, token=d) for d in sorted(digests)]
            plain.append(
                PlainPatron(
                    status="active",
                    category=adult,
                    home_branch=branch,
                    expires_on=expiry,
                    created_at=now,
                    updated_at=now,
                    **values,
                )
            )
        with transaction.atomic(using=KEYSTORE_ALIAS):
            DataKey.objects.using(KEYSTORE_ALIAS).bulk_create(keys)
        with transaction.atomic():
            Patron.objects.bulk_create(patrons)
            PatronNameToken.objects.bulk_create(tokens)
            PlainPatron.objects.bulk_create(plain)
        print(f"  {min(start + BATCH, count):,} / {count:,} patrons", end="\r", file=sys.stderr)
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    print(file=sys.stderr)
    setup_seconds = time.perf_counter() - started

    global _plain_model
    _plain_model = PlainPatron
    return cards, setup_seconds


_plain_model = None


def timed(fn, samples: list[float]) -> object:
    started = time.perf_counter()
    result = fn()
    samples.append((time.perf_counter() - started) * 1000)
    return result


def run(count: int, samples: int) -> dict[str, object]:
    from django.db import connection

    from shelfguard.core.actors import Actor
    from shelfguard.patrons import services

    cards, setup_seconds = setup(count)
    rng = random.Random(20261125)
    desk = Actor(kind="staff", ident="bench-desk", channel="web")
    plain = _plain_model

    # Warm the connection and the query plans (not measured).
    for card in rng.sample(cards, 50):
        assert services.find_by_card(card) is not None
        assert plain.objects.filter(card_number=card).first() is not None

    blind_ms: list[float] = []
    plain_ms: list[float] = []
    # Interleaved, in a random order of the same cards, so drift hits both alike.
    for card in rng.sample(cards, samples):
        if rng.random() < 0.5:
            found = timed(lambda card=card: services.find_by_card(card), blind_ms)
            row = timed(lambda card=card: plain.objects.filter(card_number=card).first(), plain_ms)
        else:
            row = timed(lambda card=card: plain.objects.filter(card_number=card).first(), plain_ms)
            found = timed(lambda card=card: services.find_by_card(card), blind_ms)
        assert found is not None and row is not None

    # The same look-ups again at once: the candidates' data keys are now in the
    # vault's in-process cache (30 s), as when a desk scans the same card twice.
    warm_ms: list[float] = []
    warm_plain_ms: list[float] = []
    for card in rng.sample(cards, samples):
        services.find_by_card(card)
        timed(lambda card=card: services.find_by_card(card), warm_ms)
        timed(lambda card=card: plain.objects.filter(card_number=card).first(), warm_plain_ms)

    reveal_ms: list[float] = []
    for card in rng.sample(cards, samples):
        patron = services.find_by_card(card)
        values = timed(
            lambda patron=patron: services.reveal(patron, FIVE, actor=desk, purpose="benchmark"),
            reveal_ms,
        )
        assert values["card_number"] == card

    erase_ms: list[float] = []
    for card in rng.sample(cards, min(samples, 500)):
        patron = services.find_by_card(card)
        if patron is None:  # already erased by an earlier sample
            continue
        timed(lambda patron=patron: services.erase(patron, actor=desk, reason="bench"), erase_ms)

    lookup_ratio = median(blind_ms) / median(plain_ms)
    result = {
        "machine": machine(),
        "database": connection.vendor,
        "patrons": count,
        "setup_seconds": round(setup_seconds, 1),
        "lookup_blind_index_ms": {"median": median(blind_ms), "p95": percentile(blind_ms, 95)},
        "lookup_plain_column_ms": {"median": median(plain_ms), "p95": percentile(plain_ms, 95)},
        "lookup_ratio": lookup_ratio,
        "lookup_blind_index_warm_keys_ms": {
            "median": median(warm_ms),
            "p95": percentile(warm_ms, 95),
        },
        "lookup_ratio_warm_keys": median(warm_ms) / median(warm_plain_ms),
        "reveal_5_fields_ms": {"median": median(reveal_ms), "p95": percentile(reveal_ms, 95)},
        "erase_ms": {"median": median(erase_ms), "p95": percentile(erase_ms, 95)},
        "samples": {"lookup": len(blind_ms), "reveal": len(reveal_ms), "erase": len(erase_ms)},
        "targets": {
            "lookup_ratio": TARGET_LOOKUP_RATIO,
            "reveal_ms": TARGET_REVEAL_MS,
            "erase_ms": TARGET_ERASE_MS,
        },
        "met": {
            "lookup_ratio": lookup_ratio <= TARGET_LOOKUP_RATIO,
            "reveal_ms": median(reveal_ms) <= TARGET_REVEAL_MS,
            "erase_ms": median(erase_ms) <= TARGET_ERASE_MS,
        },
    }
    for key, value in list(result.items()):
        if isinstance(value, dict):
            result[key] = {k: round(v, 3) if isinstance(v, float) else v for k, v in value.items()}
        elif isinstance(value, float):
            result[key] = round(value, 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patrons", type=int, default=200_000)
    parser.add_argument("--samples", type=int, default=2_000)
    parser.add_argument("--database-url", help="PostgreSQL URL (default: embedded SQLite)")
    parser.add_argument("--json", action="store_true", help="one line of JSON")
    args = parser.parse_args()
    if args.database_url:
        os.environ["DATABASE_URL"] = args.database_url
    # Index lengths planned for this many patrons, as `init` would for such a library.
    os.environ.setdefault("SHELFGUARD_EXPECTED_PATRONS", str(args.patrons))
    home = fresh_home("patrons")
    print(f"data home {home}; creating {args.patrons:,} patrons…", file=sys.stderr)
    result = run(args.patrons, args.samples)
    print(json.dumps(result, indent=None if args.json else 2, ensure_ascii=False))


if __name__ == "__main__":
    main()
