"""Small catalogues for the public-page, API and browser tests, and a link reader.

Records and items are written through the ORM (the MARC import has its own
tests) and then indexed, so each test states exactly the fields it checks.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import unescape
from itertools import count

from shelfguard.catalog.models import Item, ItemStatus, ItemType, Record
from shelfguard.catalog.search import get_backend
from shelfguard.core.clock import now
from shelfguard.core.models import Branch

BRANCHES = {"MAIN": "Main Library", "EAST": "East Branch"}
ITEM_TYPES = {"book": "Book", "dvd": "DVD"}

_barcodes = count(1)


@dataclass(frozen=True)
class Copy:
    branch: str = "MAIN"
    item_type: str = "book"
    status: str = ItemStatus.AVAILABLE
    call_number: str = ""
    location: str = ""


def add_record(control_number: str, title: str, *copies: Copy, **fields: object) -> Record:
    """A record with these copies, indexed for search; other Record fields by keyword."""
    moment = now()
    record = Record.objects.create(
        control_number=control_number,
        title=title,
        marc=b"",
        created_at=moment,
        updated_at=moment,
        **fields,
    )
    for copy in copies:
        Item.objects.create(
            barcode=f"T{next(_barcodes):08d}",
            record=record,
            branch=_branch(copy.branch),
            item_type=_item_type(copy.item_type),
            status=copy.status,
            call_number=copy.call_number,
            location=copy.location,
            created_at=moment,
            updated_at=moment,
        )
    get_backend().index_records([record.id])
    return record


def add_gardens() -> None:
    """Three garden books in two languages, decades, branches and item types."""
    add_record(
        "g1",
        "Gardens of England",
        Copy("MAIN", "book"),
        authors=["Hobhouse, Penelope"],
        language="eng",
        year=1994,
        isbns=["9780316534505"],
    )
    add_record("g2", "Jardins: gardens of France", Copy("EAST", "dvd"), language="fre", year=2003)
    add_record(
        "g3",
        "Gardens in winter",
        Copy("EAST", "book", ItemStatus.ON_LOAN),
        language="eng",
        year=1999,
    )


def links(html: str) -> list[tuple[str, str]]:
    """(visible and visually hidden text, href) of every link in this HTML, in order."""
    return [
        (unescape(re.sub(r"<[^>]+>", "", text)).strip(), unescape(href))
        for href, text in re.findall(r'<a href="([^"]+)"[^>]*>(.*?)</a>', html, re.DOTALL)
    ]


def _branch(code: str) -> Branch:
    branch, _ = Branch.objects.get_or_create(
        code=code, defaults={"name": BRANCHES.get(code, code.title()), "created_at": now()}
    )
    return branch


def _item_type(code: str) -> ItemType:
    item_type, _ = ItemType.objects.get_or_create(
        code=code, defaults={"name": ITEM_TYPES.get(code, code.title())}
    )
    return item_type
