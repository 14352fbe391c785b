"""Catalogue services: the only doors through which records and items change."""

from __future__ import annotations

from django.db import transaction

from shelfguard.catalog.models import ItemType
from shelfguard.core.actors import Actor


class CatalogError(ValueError):
    """A catalogue request that cannot be carried out; the message says why."""


def ensure_item_type(code: str, name: str, *, actor: Actor) -> tuple[ItemType, bool]:
    with transaction.atomic():
        return ItemType.objects.get_or_create(code=code.strip().lower(), defaults={"name": name})
