"""Finding patrons (blind indexes, confirmed by unsealing) and revealing their fields."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import connections, router, transaction

from shelfguard.core.actors import Actor
from shelfguard.ledger import services as ledger
from shelfguard.patrons import register as reg
from shelfguard.patrons import validation as v
from shelfguard.patrons.errors import (
    PatronErased,
    PatronNotFound,
)
from shelfguard.patrons.models import (
    Patron,
    PatronNameToken,
    PatronStatus,
)
from shelfguard.patrons.records import (
    _candidates,
    _confirmed,
    _same,
    _unseal_row,
)
from shelfguard.patrons.validation import PatronError
from shelfguard.vault import blind


def get_patron(patron_id: int) -> Patron | None:
    """The patron (or tombstone) with this id; holds no plaintext."""
    return Patron.objects.filter(pk=patron_id).first()


def find_by_card(card: str) -> Patron | None:
    """The patron holding this card (found by blind index, confirmed by unsealing), or None.

    None too for text that is not a card number at all, and for erased
    patrons, whose card number is gone.
    """
    try:
        normalised = v.card_number(card)
    except PatronError:
        return None
    digests, collision_free = blind.lookup_candidates("card", normalised)
    if collision_free:
        # A 128-bit card index does not coincide by chance (see vault.sizing),
        # so the row it finds is the holder: one query, nothing to unseal.
        # Two rows would mean a broken uniqueness invariant: confirm below.
        found = list(Patron.objects.filter(card_index__in=digests)[:2])
        if len(found) <= 1:
            return found[0] if found and found[0].status != PatronStatus.ERASED else None
    live = Patron.objects.filter(card_index__in=digests).exclude(status=PatronStatus.ERASED)
    # Shorter (older) card indexes are shared by chance: confirm by unsealing.
    rows = list(live.order_by("pk").values("pk", "key_id", "card_number_sealed"))
    holders = _confirmed(rows, "card_number", _same("card", normalised), first_only=True)
    return Patron.objects.filter(pk=holders[0]).first() if holders else None


def find_by_email(email: str) -> list[Patron]:
    """Patrons with this email address (a family may share one), by blind index."""
    try:
        normalised = v.email(email)
    except PatronError:
        return []
    ids = _confirmed(
        _candidates("email", blind.blind_index_candidates("email", normalised)),
        "email",
        _same("email", normalised),
    )
    return list(Patron.objects.filter(pk__in=ids).order_by("pk"))


def find_by_phone(phone: str) -> list[Patron]:
    """Patrons with this phone number, by blind index (formatting is ignored)."""
    try:
        normalised = v.phone(phone)
    except PatronError:
        return []
    ids = _confirmed(
        _candidates("phone", blind.blind_index_candidates("phone", normalised)),
        "phone",
        _same("phone", normalised),
    )
    return list(Patron.objects.filter(pk__in=ids).order_by("pk"))


def search_by_name(text: str, *, limit: int = 50) -> list[Patron]:
    """Patrons whose name has every token of `text`, in any order, oldest record first.

    Case, accents, apostrophes and punctuation are folded as the vault's
    `name_tokens` does (a CJK name also matches on its character pairs, so a
    given name alone finds it). Candidates come from the name-token blind
    indexes; each is confirmed by unsealing its name.
    """
    if not isinstance(text, str) or limit < 1:
        return []
    query_tokens = blind.name_tokens(text)
    if not query_tokens:
        return []
    candidates = Patron.objects.exclude(status=PatronStatus.ERASED)
    for token in query_tokens:
        digests = blind.blind_index_candidates("name_token", token)
        candidates = candidates.filter(
            pk__in=PatronNameToken.objects.filter(token__in=digests).values("patron_id")
        )
    wanted = set(query_tokens)
    found: list[int] = []
    # In chunks, so a common token does not unseal every candidate when the
    # first few already fill the page.
    rows = candidates.order_by("pk").values("pk", "key_id", "name_sealed")
    chunk, offset = max(limit, 100), 0
    while len(found) < limit:
        batch = list(rows[offset : offset + chunk])
        if not batch:
            break
        offset += chunk
        found += _confirmed(batch, "name", lambda name: wanted <= set(blind.name_tokens(name)))
    return list(Patron.objects.filter(pk__in=found[:limit]).order_by("pk"))


def _sealed_row(pk: int, columns: list[str]) -> dict[str, Any] | None:
    """The patron's status, key id and the given ciphertext columns, read afresh.

    Read again rather than taken from the caller's instance, which may be
    stale (changed or erased since). Plain SQL because this is the hot path
    of every reveal and the ORM's query building costs more than the query;
    the column names come from the register, never from input.
    """
    connection = connections[router.db_for_read(Patron)]
    names = ("status", "key_id", *columns)
    select = ", ".join(connection.ops.quote_name(name) for name in names)
    table = connection.ops.quote_name(Patron._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {select} FROM {table} WHERE id = %s", [pk])
        found = cursor.fetchone()
    return dict(zip(names, found, strict=True)) if found else None


def reveal(
    patron: Patron | int,
    fields: Iterable[str],
    *,
    actor: Actor,
    purpose: str,
    origin: str = "",
) -> dict[str, str | None]:
    """Decrypt the named sealed fields of one patron; the ledger entry names the fields.

    Returns {field: text or None when not kept}. Raises `PatronErased` for a
    tombstone, `SealedDataDamaged` naming the patron and the fields whose
    ciphertext does not open (nothing is returned and nothing is recorded,
    since nothing was revealed), `KeyMissing` when an erasure was interrupted.
    """
    wanted = list(dict.fromkeys(fields))
    if isinstance(fields, str) or not wanted:
        raise PatronError("Name the fields to reveal, e.g. ['name', 'email'].")
    bad = [k for k in wanted if k not in reg.SEALED_KEYS]
    if bad:
        raise PatronError(
            f"Cannot reveal {', '.join(bad)}: revealable fields are {', '.join(reg.SEALED_KEYS)}."
        )
    pk = patron if isinstance(patron, int) else patron.pk
    columns = [reg.get(k).column for k in wanted]
    with transaction.atomic():
        row = _sealed_row(pk, columns)
        if row is None:
            raise PatronNotFound(f"There is no patron {pk}.")
        if row["status"] == PatronStatus.ERASED:
            raise PatronErased(f"Patron {pk} was erased; nothing about them is kept.")
        ledger.append(
            actor=actor,
            action="patron.reveal",
            purpose=purpose,
            patron_id=pk,
            fields=wanted,
            origin=origin,
        )
        return _unseal_row(pk, row, wanted)
