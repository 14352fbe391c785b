"""Stands in for `shelfguard.patrons.services` in the `keys rotate --index` tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

calls: list[dict[str, Any]] = []


def rebuild_blind_indexes(
    new_blind_index_fn: Callable[[str, str], bytes], *, actor: Any, purpose: str
) -> int:
    calls.append(
        {"index": new_blind_index_fn("card", "29012345"), "actor": actor, "purpose": purpose}
    )
    return 3
