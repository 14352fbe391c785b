"""Seed data for the concurrency tests, made straight through the ORM (no keys needed).

Kept in a module of its own so the worker processes of the SQLite test can
import it too.
"""

from __future__ import annotations

from shelfguard.catalog.models import Item, ItemType, Record
from shelfguard.core import clock
from shelfguard.core.models import Branch
from shelfguard.patrons.models import Consent, Patron, PatronCategory

PREFIX = "39"


def seed(items: int, patrons: int = 2) -> tuple[list[int], list[str]]:
    """Patrons who may borrow and `items` available copies; returns (patron ids, barcodes)."""
    now = clock.now()
    branch, _ = Branch.objects.get_or_create(
        code="RACE", defaults={"name": "Race", "created_at": now}
    )
    category, _ = PatronCategory.objects.get_or_create(code="adult", defaults={"name": "Adult"})
    item_type, _ = ItemType.objects.get_or_create(code="book", defaults={"name": "Book"})
    ids = []
    for _n in range(patrons):
        patron = Patron.objects.create(
            status="active", category=category, home_branch=branch, created_at=now, updated_at=now
        )
        Consent.objects.create(
            patron=patron, purpose="service", notice_version=1, given=True, at=now, channel="cli"
        )
        ids.append(patron.pk)
    record = Record.objects.create(
        control_number="race-1", title="Race", marc=b"", created_at=now, updated_at=now
    )
    barcodes = [f"{PREFIX}{n:08d}" for n in range(items)]
    Item.objects.bulk_create(
        Item(
            barcode=code,
            record=record,
            branch=branch,
            item_type=item_type,
            created_at=now,
            updated_at=now,
        )
        for code in barcodes
    )
    return ids, barcodes


def unseed(patron_ids: list[int]) -> None:
    """Remove what `seed` and the race made (the ledger is flushed by the test case)."""
    from shelfguard.circulation.models import CirculationStat, Loan

    Loan.objects.filter(item__barcode__startswith=PREFIX).delete()
    CirculationStat.objects.filter(branch="RACE").delete()
    Item.objects.filter(barcode__startswith=PREFIX).delete()
    Record.objects.filter(control_number="race-1").delete()
    Patron.objects.filter(pk__in=patron_ids).delete()
    Branch.objects.filter(code="RACE").delete()
