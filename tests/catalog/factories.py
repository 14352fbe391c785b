"""Catalogue objects for tests, made directly through the ORM.

Records made here are indexed for search unless `index=False`, as the MARC
importer would index them.
"""

from __future__ import annotations

import itertools
from typing import Any

from shelfguard.catalog.models import Item, ItemStatus, ItemType, Record
from shelfguard.catalog.search import get_backend
from shelfguard.core import clock
from shelfguard.core.models import Branch

_numbers = itertools.count(1)


def make_branch(code: str = "MAIN", name: str = "") -> Branch:
    branch, _ = Branch.objects.get_or_create(
        code=code, defaults={"name": name or f"{code.title()} Library", "created_at": clock.now()}
    )
    return branch


def make_item_type(code: str = "book", name: str = "") -> ItemType:
    item_type, _ = ItemType.objects.get_or_create(code=code, defaults={"name": name or code})
    return item_type


def make_record(title: str = "Untitled", *, index: bool = True, **fields: Any) -> Record:
    """A record with this title; other Record fields as keywords (control_number is made up)."""
    now = clock.now()
    values: dict[str, Any] = {
        "control_number": f"t{next(_numbers):07d}",
        "title": title,
        "language": "eng",
        "marc": b"",
        "created_at": now,
        "updated_at": now,
    }
    values.update(fields)
    record = Record.objects.create(**values)
    if index:
        get_backend().index_records([record.id])
    return record


def make_item(
    record: Record,
    *,
    branch: str = "MAIN",
    item_type: str = "book",
    status: str = ItemStatus.AVAILABLE,
    barcode: str = "",
) -> Item:
    now = clock.now()
    return Item.objects.create(
        barcode=barcode or f"3{next(_numbers):010d}",
        record=record,
        branch=make_branch(branch),
        item_type=make_item_type(item_type),
        status=status,
        created_at=now,
        updated_at=now,
    )
