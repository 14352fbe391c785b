"""Catalogue services: the only doors through which records and items change."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction

from shelfguard.catalog.models import Item, ItemStatus, ItemType, Record
from shelfguard.catalog.search import SearchRequest, SearchResult, get_backend
from shelfguard.core.actors import Actor


class CatalogError(ValueError):
    """A catalogue request that cannot be carried out; the message says why."""


def ensure_item_type(code: str, name: str, *, actor: Actor) -> tuple[ItemType, bool]:
    with transaction.atomic():
        return ItemType.objects.get_or_create(code=code.strip().lower(), defaults={"name": name})


def search_catalogue(request: SearchRequest, *, actor: Actor) -> SearchResult:
    """Search the catalogue. Public data only: no ledger entry, nothing about the searcher kept."""
    return get_backend().search(request)


def get_record(control_number: str) -> Record | None:
    """The record with this MARC 001 (first match if several agencies share a number)."""
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
