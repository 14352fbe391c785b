"""Catalogue services: the only doors through which records and items change."""

from __future__ import annotations

import csv
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import BinaryIO, TextIO

import pymarc
from django.db import connection, models, transaction

from shelfguard.catalog.marc import (
    FORMATS,
    Extracted,
    ExtractionError,
    MarcFormat,
    extract,
    parse_stored,
    read_marc,
    to_iso2709,
)
from shelfguard.catalog.models import Item, ItemStatus, ItemType, Record
from shelfguard.catalog.search import SearchRequest, SearchResult, get_backend
from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.core.models import Branch


class CatalogError(ValueError):
    """A catalogue request that cannot be carried out; the message says why."""


def ensure_item_type(code: str, name: str, *, actor: Actor) -> tuple[ItemType, bool]:
    with transaction.atomic():
        return ItemType.objects.get_or_create(code=code.strip().lower(), defaults={"name": name})


def search_catalogue(request: SearchRequest, *, actor: Actor) -> SearchResult:
    """Search the catalogue. Public data only: no ledger entry, nothing about the searcher kept."""
    return get_backend().search(request)


def rebuild_search_index(
    *,
    actor: Actor,
    purpose: str = "maintenance",
    progress: Callable[[list[int]], Iterable[int]] | None = None,
) -> int:
    """Rebuild the whole search index from the stored records; returns how many were indexed.

    One transaction: searches keep using the old index until the new one is
    complete. `progress`, if given, wraps the list of record ids (e.g. a
    progress bar's `track`) and yields them back.
    """
    ids = list(Record.objects.order_by("id").values_list("id", flat=True))
    return get_backend().rebuild(progress(ids) if progress is not None else ids)


def get_record(control_number: str) -> Record | None:
    """The record with this MARC 001 (first match if several agencies share a number)."""
    if "\x00" in control_number:
        return None  # no stored number holds NUL, and PostgreSQL rejects it in a query
    return (
        Record.objects.filter(control_number=control_number.strip())
        .order_by("control_number_identifier", "id")
        .first()
    )


@dataclass(frozen=True)
class BranchHoldings:
    branch_code: str
    branch_name: str
    items: list[Item]
    available: int


def holdings_by_branch(record: Record) -> list[BranchHoldings]:
    """The record's items grouped by branch, with how many are available to borrow now."""
    items = (
        Item.objects.filter(record=record)
        .select_related("branch", "item_type")
        .order_by("branch__code", "call_number", "barcode")
    )
    groups: dict[str, list[Item]] = {}
    for item in items:
        groups.setdefault(item.branch.code, []).append(item)
    return [
        BranchHoldings(
            branch_code=code,
            branch_name=group[0].branch.name,
            items=group,
            available=sum(1 for i in group if i.status == ItemStatus.AVAILABLE),
        )
        for code, group in groups.items()
    ]


# --- MARC import and export -------------------------------------------------

_RECORD_FIELDS = [
    "title",
    "vernacular_title",
    "responsibility",
    "authors",
    "subjects",
    "publisher",
    "year",
    "language",
    "isbns",
    "lccn",
    "edition",
    "physical_description",
    "notes",
    "marc",
    "updated_at",
]


@dataclass
class ImportProblem:
    where: str
    reason: str


@dataclass
class ImportReport:
    imported: int = 0
    updated: int = 0
    skipped: int = 0
    seconds: float = 0.0
    problems: list[ImportProblem] = field(default_factory=list)
    stopped_early: bool = False  # the file could not be read to its end

    def as_dict(self) -> dict[str, object]:
        return {
            "imported": self.imported,
            "updated": self.updated,
            "skipped": self.skipped,
            "seconds": round(self.seconds, 3),
            "stopped_early": self.stopped_early,
            "problems": [{"where": p.where, "reason": p.reason} for p in self.problems],
        }


def import_marc(
    stream: BinaryIO,
    *,
    actor: Actor,
    purpose: str = "cataloguing",
    fmt: MarcFormat | None = None,
    limit: int | None = None,
    batch_size: int = 1000,
    on_batch: Callable[[ImportReport], None] | None = None,
) -> ImportReport:
    """Import MARC21 records from `stream`, one transaction per batch.

    Re-importing a record with the same 001 + 003 updates it, so an interrupted
    import can simply be run again. Records that cannot be read or stored are
    skipped and listed in the report with their position and reason.
    """
    started = time.perf_counter()
    report = ImportReport()
    batch: list[tuple[Extracted, bytes]] = []
    for entry in read_marc(stream, fmt):
        if limit is not None and report.imported + report.updated + len(batch) >= limit:
            break
        if entry.error is not None or entry.record is None:
            report.skipped += 1
            report.problems.append(ImportProblem(entry.where(), entry.error or "unreadable"))
            if entry.fatal:
                report.stopped_early = True
                break
            continue
        try:
            extracted = extract(entry.record)
            data = to_iso2709(entry)
        except ExtractionError as exc:
            report.skipped += 1
            report.problems.append(ImportProblem(entry.where(), str(exc)))
            continue
        batch.append((extracted, data))
        if len(batch) >= batch_size:
            _store_batch(batch, report)
            batch = []
            if on_batch is not None:
                on_batch(report)
    if batch:
        _store_batch(batch, report)
        if on_batch is not None:
            on_batch(report)
    report.seconds = time.perf_counter() - started
    return report


def _store_batch(batch: list[tuple[Extracted, bytes]], report: ImportReport) -> None:
    now = clock.now()
    # Later copies of the same record in one batch win, as they would across batches.
    latest: dict[tuple[str, str], tuple[Extracted, bytes]] = {}
    for extracted, data in batch:
        latest[(extracted.control_number, extracted.control_number_identifier)] = (
            extracted,
            data,
        )
    with transaction.atomic():
        existing = _existing_ids(latest)
        rows_new = [(key, row) for key, row in latest.items() if key not in existing]
        rows_old = [(existing[key], row) for key, row in latest.items() if key in existing]
        _insert_records([row for _, row in rows_new], now)
        _update_records(rows_old, now)
        ids = list(existing.values())
        if rows_new:
            created = _existing_ids(dict(rows_new))
            ids.extend(created.values())
        get_backend().index_records(ids)
    report.imported += len(rows_new)
    report.updated += len(batch) - len(rows_new)


def _existing_ids(keys: dict[tuple[str, str], object]) -> dict[tuple[str, str], int]:
    wanted = set(keys)
    return {
        (cn, ident): pk
        for pk, cn, ident in Record.objects.filter(
            control_number__in={key[0] for key in wanted}
        ).values_list("id", "control_number", "control_number_identifier")
        if (cn, ident) in wanted
    }


# The importer writes with executemany rather than bulk_create/bulk_update:
# bulk_update builds one CASE expression per column per row (seconds per
# thousand records), and bulk_create spends most of its time preparing SQL.
# Values still go through the model fields' own get_db_prep_save where the
# encoding depends on the database (JSON, dates), so they are stored exactly
# as the ORM would store them; text, integer and binary values pass as they are.
_INSERT_FIELDS = ["control_number", "control_number_identifier", *_RECORD_FIELDS, "created_at"]
_JSON_FIELDS = frozenset(
    f.name for f in Record._meta.concrete_fields if isinstance(f, models.JSONField)
)


def _row_maker(columns: list[str], now) -> Callable[[Extracted, bytes], list[object]]:
    stamp = Record._meta.get_field("updated_at").get_db_prep_save(now, connection)
    prepare = {
        name: Record._meta.get_field(name).get_db_prep_save
        for name in columns
        if name in _JSON_FIELDS
    }

    def row(extracted: Extracted, data: bytes) -> list[object]:
        values: list[object] = []
        for name in columns:
            if name == "marc":
                values.append(data)
            elif name in ("updated_at", "created_at"):
                values.append(stamp)
            elif name in prepare:
                values.append(prepare[name](getattr(extracted, name), connection))
            else:
                values.append(getattr(extracted, name))
        return values

    return row


def _insert_records(rows: list[tuple[Extracted, bytes]], now) -> None:
    if not rows:
        return
    table = connection.ops.quote_name(Record._meta.db_table)
    columns = ", ".join(connection.ops.quote_name(c) for c in _INSERT_FIELDS)
    marks = ", ".join(["%s"] * len(_INSERT_FIELDS))
    make_row = _row_maker(_INSERT_FIELDS, now)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {table} ({columns}) VALUES ({marks})",
            [make_row(ex, data) for ex, data in rows],
        )


def _update_records(rows: list[tuple[int, tuple[Extracted, bytes]]], now) -> None:
    if not rows:
        return
    table = connection.ops.quote_name(Record._meta.db_table)
    assignments = ", ".join(f"{connection.ops.quote_name(c)} = %s" for c in _RECORD_FIELDS)
    make_row = _row_maker(_RECORD_FIELDS, now)
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {table} SET {assignments} WHERE id = %s",
            [[*make_row(ex, data), pk] for pk, (ex, data) in rows],
        )


def export_marc(
    out: BinaryIO,
    *,
    actor: Actor,
    fmt: MarcFormat = "iso2709",
    on_record: Callable[[int], None] | None = None,
) -> int:
    """Write every stored record to `out`; returns how many were written."""
    if fmt not in FORMATS:
        raise CatalogError(f"Unknown format {fmt!r}; use one of {', '.join(FORMATS)}.")
    queryset = Record.objects.order_by("id").values_list("marc", flat=True)
    count = 0
    if fmt == "marcxml":
        out.write(b'<?xml version="1.0" encoding="UTF-8"?>\n')
        out.write(b'<collection xmlns="http://www.loc.gov/MARC21/slim">\n')
    elif fmt == "json":
        out.write(b"[")
    for data in queryset.iterator(chunk_size=2000):
        if fmt == "iso2709":
            out.write(bytes(data))
        elif fmt == "marcxml":
            out.write(pymarc.record_to_xml(parse_stored(data), namespace=False))
            out.write(b"\n")
        else:
            out.write(b"," if count else b"")
            out.write(parse_stored(data).as_json().encode("utf-8"))
        count += 1
        if on_record is not None:
            on_record(count)
    if fmt == "marcxml":
        out.write(b"</collection>\n")
    elif fmt == "json":
        out.write(b"]\n")
    return count


# --- items --------------------------------------------------------------------

ITEM_COLUMNS = ("barcode", "control_number", "branch", "call_number", "item_type")
ITEM_OPTIONAL_COLUMNS = ("location",)
_BARCODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass
class ItemImportReport:
    imported: int = 0
    rejected: int = 0
    seconds: float = 0.0
    problems: list[ImportProblem] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "imported": self.imported,
            "rejected": self.rejected,
            "seconds": round(self.seconds, 3),
            "problems": [{"where": p.where, "reason": p.reason} for p in self.problems],
        }


def import_items_csv(
    text: TextIO, *, actor: Actor, purpose: str = "cataloguing", batch_size: int = 1000
) -> ItemImportReport:
    """Create items from CSV rows; bad rows are rejected with their line numbers.

    Columns: barcode,control_number,branch,call_number,item_type[,location].
    Each batch of good rows is written in one transaction.
    """
    started = time.perf_counter()
    report = ItemImportReport()
    reader = csv.reader(text)
    header = next(reader, None)
    columns = [c.strip().lower() for c in header] if header else []
    missing = [c for c in ITEM_COLUMNS if c not in columns]
    unknown = [c for c in columns if c not in ITEM_COLUMNS + ITEM_OPTIONAL_COLUMNS]
    if missing or unknown:
        raise CatalogError(
            "The first line must name the columns "
            f"{','.join(ITEM_COLUMNS)}[,location]"
            + (f"; missing: {', '.join(missing)}" if missing else "")
            + (f"; unknown: {', '.join(unknown)}" if unknown else "")
            + "."
        )
    branches = {b.code: b for b in Branch.objects.all()}
    item_types = {t.code: t for t in ItemType.objects.all()}
    seen: set[str] = set()
    batch: list[tuple[int, dict[str, str]]] = []
    for row in reader:
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(columns):
            report.rejected += 1
            report.problems.append(
                ImportProblem(f"line {line}", f"expected {len(columns)} columns, found {len(row)}")
            )
            continue
        values = {name: cell.strip() for name, cell in zip(columns, row, strict=True)}
        barcode = values["barcode"]
        if barcode in seen:
            report.rejected += 1
            report.problems.append(
                ImportProblem(f"line {line}", f"barcode {barcode} appears twice in the file")
            )
            continue
        seen.add(barcode)
        batch.append((line, values))
        if len(batch) >= batch_size:
            _store_items(batch, branches, item_types, report)
            batch = []
    if batch:
        _store_items(batch, branches, item_types, report)
    report.seconds = time.perf_counter() - started
    return report


def _store_items(
    batch: list[tuple[int, dict[str, str]]],
    branches: dict[str, Branch],
    item_types: dict[str, ItemType],
    report: ItemImportReport,
) -> None:
    now = clock.now()
    with transaction.atomic():
        barcodes = [values["barcode"] for _, values in batch]
        taken = set(Item.objects.filter(barcode__in=barcodes).values_list("barcode", flat=True))
        records: dict[str, int] = {}
        for pk, cn in Record.objects.filter(
            control_number__in={values["control_number"] for _, values in batch}
        ).values_list("id", "control_number"):
            records.setdefault(cn, pk)
        items: list[Item] = []
        for line, values in batch:
            reason = _item_problem(values, taken, records, branches, item_types)
            if reason:
                report.rejected += 1
                report.problems.append(ImportProblem(f"line {line}", reason))
                continue
            items.append(
                Item(
                    barcode=values["barcode"],
                    record_id=records[values["control_number"]],
                    branch=branches[values["branch"].upper()],
                    item_type=item_types[values["item_type"].lower()],
                    call_number=values["call_number"][:100],
                    location=values.get("location", "")[:100],
                    created_at=now,
                    updated_at=now,
                )
            )
        Item.objects.bulk_create(items)
    report.imported += len(items)


def _item_problem(
    values: dict[str, str],
    taken: set[str],
    records: dict[str, int],
    branches: dict[str, Branch],
    item_types: dict[str, ItemType],
) -> str | None:
    barcode = values["barcode"]
    if not _BARCODE.match(barcode):
        return (
            f"barcode {barcode!r} is not valid: use 1–64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    if barcode in taken:
        return f"barcode {barcode} already exists"
    if values["control_number"] not in records:
        return f"no record with control number {values['control_number']!r}; import it first"
    if values["branch"].upper() not in branches:
        return f"unknown branch {values['branch']!r}; add it with `shelfguard branch add`"
    if values["item_type"].lower() not in item_types:
        known = ", ".join(sorted(item_types)) or "none"
        return f"unknown item type {values['item_type']!r} (known: {known})"
    return None
