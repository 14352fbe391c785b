"""Plumbing shared by the patron services: sealing, blind indexes, candidate confirmation.

Nothing here is a door: these helpers run inside the services' transactions
and never write a ledger entry themselves. Blind indexes are short by
design (several patrons share each value, see `vault/blind.py`), so every
look-up narrows to candidates that `_confirmed` unseals and compares.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.db import connection as default_connection

from shelfguard.core.actors import Actor
from shelfguard.patrons import register as reg
from shelfguard.patrons import validation as v
from shelfguard.patrons.errors import (
    KeyMissing,
    PatronErased,
    PatronNotFound,
    SealedDataDamaged,
)
from shelfguard.patrons.models import (
    Patron,
    PatronNameToken,
    PatronStatus,
)
from shelfguard.patrons.validation import PatronError
from shelfguard.vault import KeyDestroyed, SealBroken, blind, sealing

logger = logging.getLogger(__name__)


def _owner(patron_id: int) -> str:
    """The vault owner of a patron's key and ciphertexts: an opaque id, never a value."""
    return f"patron:{patron_id}"


def _clean(values: Mapping[str, Any]) -> dict[str, str | None]:
    """Normalise the given sealed values; None or "" means "clear the field".

    Refuses fields the register does not seal and fields this library does
    not collect (minimum data: nothing is kept just in case).
    """
    cleaned: dict[str, str | None] = {}
    for key, value in values.items():
        if key not in reg.SEALED_KEYS:
            raise PatronError(f"{key!r} is not a sealed field of the register.")
        if value is None or (isinstance(value, str) and not value.strip()):
            cleaned[key] = None
            continue
        if not reg.is_collected(key):
            raise PatronError(
                f"This library does not collect {reg.get(key).label.lower()} "
                f"({key}); leave it out, or add it to [patrons] collect in shelfguard.toml."
            )
        cleaned[key] = v.SEALED_NORMALISERS[key](value)
    return cleaned


# A fixed, non-personal value: its index under a key tells that key's version.
_VERSION_PROBE = "INDEX-KEY-VERSION"


def _index_columns(
    cleaned: Mapping[str, str | None], index_fn: Callable[[str, str], bytes]
) -> dict[str, bytes | None]:
    """Blind-index column values for the changed indexed fields (register-driven)."""
    columns: dict[str, bytes | None] = {}
    for key, value in cleaned.items():
        kind = reg.get(key).blind_index
        if kind is None or kind == "name_token":
            continue
        columns[f"{kind}_index"] = None if value is None else index_fn(kind, value)
    return columns


def _name_token_rows(
    patron_id: int, name: str, index_fn: Callable[[str, str], bytes]
) -> list[PatronNameToken]:
    tokens = {index_fn("name_token", token) for token in blind.name_tokens(name)}
    return [PatronNameToken(patron_id=patron_id, token=token) for token in sorted(tokens)]


def _seal_columns(patron_id: int, key_id: str, cleaned: Mapping[str, str | None]) -> dict[str, Any]:
    if not any(value is not None for value in cleaned.values()):
        return {reg.get(k).column: None for k in cleaned}
    key = sealing.open_key(key_id)
    owner = _owner(patron_id)
    return {
        reg.get(k).column: None if value is None else key.seal(owner, k, value)
        for k, value in cleaned.items()
    }


def _actor_label(actor: Actor) -> str:
    return f"{actor.kind}:{actor.ident}"


def _lock(patron: Patron | int) -> Patron:
    """The patron's current row, locked for the rest of the transaction."""
    pk = patron if isinstance(patron, int) else patron.pk
    found = Patron.objects.select_for_update().filter(pk=pk).first()
    if found is None:
        raise PatronNotFound(f"There is no patron {pk}.")
    return found


def _refuse_erased(patron: Patron) -> None:
    if patron.is_erased:
        raise PatronErased(f"Patron {patron.pk} was erased; nothing about them is kept.")


def _require_name_tokens(name: str) -> None:
    if not blind.name_tokens(name):
        raise PatronError("The name must contain at least one letter or digit.")


def _lock_card(card: str) -> None:
    """Serialise registrations and changes of one card number until the transaction ends.

    Blind indexes are shared by design, so no unique constraint can keep card
    numbers unique; the check unseals candidates instead, and two
    transactions must not both pass it for the same card. SQLite already
    runs one writer at a time (IMMEDIATE transactions); PostgreSQL takes a
    transaction-scoped advisory lock per index value, which names no card.
    """
    if default_connection.vendor != "postgresql":
        return
    with default_connection.cursor() as cursor:
        for digest in sorted(blind.blind_index_candidates("card", card)):
            lock_id = int.from_bytes(
                hashlib.sha256(b"patrons.card:" + digest).digest()[:8], "big", signed=True
            )
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [lock_id])


def _refuse_taken_card(card: str, *, exclude: int | None = None) -> None:
    _lock_card(card)
    taken = [pk for pk in _card_holders(card) if pk != exclude]
    if taken:
        raise PatronError("That card number is already registered to another patron.")


def _confirmed(
    candidates: Iterable[Mapping[str, Any]],
    field: str,
    accept: Callable[[str], bool],
    *,
    first_only: bool = False,
) -> list[int]:
    """Ids of the candidate rows whose sealed `field` passes `accept`.

    Blind indexes only narrow a search (several patrons share each index
    value by design), so every candidate's value is unsealed and compared
    here. The plaintext never leaves this function and no ledger entry is
    written: the caller learns only which patron matches what it already
    knew, and recording every near-miss would put other patrons' ids into
    the ledger for look-ups that were not about them. A candidate whose
    value does not open is skipped (logged by id), so one damaged record
    cannot stop look-ups of everyone else.
    """
    column = reg.get(field).column
    matched: list[int] = []
    for row in candidates:
        data = row[column]
        if data is None:
            continue
        try:
            value = sealing.open_key(row["key_id"]).unseal(_owner(row["pk"]), field, bytes(data))
        except (SealBroken, KeyDestroyed):
            logger.warning(
                "Patron %s skipped in a look-up: its sealed %s does not open.", row["pk"], field
            )
            continue
        if accept(value):
            matched.append(row["pk"])
            if first_only:
                break
    return matched


def _candidates(field: str, digests: list[bytes]) -> Iterable[Mapping[str, Any]]:
    kind = reg.get(field).blind_index
    return (
        Patron.objects.filter(**{f"{kind}_index__in": digests})
        .exclude(status=PatronStatus.ERASED)
        .order_by("pk")
        .values("pk", "key_id", reg.get(field).column)
    )


def _same(kind: str, wanted: str) -> Callable[[str], bool]:
    """Equality as the blind index sees it (the vault's normalisation for `kind`)."""
    target = blind.normalise(kind, wanted)

    def accept(value: str) -> bool:
        try:
            return blind.normalise(kind, value) == target
        except ValueError:
            return False

    return accept


def _card_holders(card: str) -> list[int]:
    return _confirmed(
        _candidates("card_number", blind.blind_index_candidates("card", card)),
        "card_number",
        _same("card", card),
    )


def _unseal_row(pk: int, row: Mapping[str, Any], wanted: list[str]) -> dict[str, str | None]:
    try:
        key = sealing.open_key(row["key_id"])
    except KeyDestroyed:
        raise KeyMissing(pk) from None
    owner = _owner(pk)
    values: dict[str, str | None] = {}
    broken: list[str] = []
    for k in wanted:
        data = row[reg.get(k).column]
        if data is None:
            values[k] = None
            continue
        try:
            values[k] = key.unseal(owner, k, bytes(data))
        except SealBroken:
            broken.append(k)
    if broken:
        raise SealedDataDamaged(pk, broken)
    return values
