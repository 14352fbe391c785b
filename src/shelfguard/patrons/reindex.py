"""Re-indexing every patron under a new blind-index key (index-key rotation)."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import transaction

from shelfguard.core.actors import Actor
from shelfguard.ledger import services as ledger
from shelfguard.patrons import register as reg
from shelfguard.patrons.errors import (
    KeyMissing,
    SealedDataDamaged,
)
from shelfguard.patrons.models import (
    Patron,
    PatronNameToken,
    PatronStatus,
)
from shelfguard.patrons.records import (
    _VERSION_PROBE,
    _index_columns,
    _name_token_rows,
    _unseal_row,
)
from shelfguard.patrons.validation import PatronError
from shelfguard.vault import blind

logger = logging.getLogger(__name__)

KEY_ROTATION_PURPOSE = "key-rotation"


_ROTATION_ACTOR = Actor.system("index-key-rotation")


def rebuild_blind_indexes(
    new_blind_index_fn: Callable[[str, str], bytes], *, batch_size: int = 500
) -> int:
    """Recompute every live patron's blind indexes and name tokens with a new index key.

    Called by `vault.rotation.rotate_index_key` (`shelfguard keys rotate
    --index`), which is also how patrons registered before a field got its
    index (the postal address) receive it. Each patron's card, name, email,
    phone and address are revealed under actor system/`key-rotation` (one
    ledger entry per patron, ids only), indexed with `new_blind_index_fn`
    and written back, in batches that each commit on their own. Every index
    value carries its key version, so a patron whose card index is already
    of the new version is skipped: a rotation that stopped half-way resumes
    where it left off, and patrons registered during the rotation (indexed
    with the new key already) are left alone. Returns how many patrons were
    re-indexed in this run.

    Patrons whose sealed data does not open are skipped and reported at the
    end by one `PatronError` listing their ids: the rotation must not retire
    the old key while some patrons could only be found with it.
    """
    new_version = blind.index_version(new_blind_index_fn("card", _VERSION_PROBE))
    indexed = [f.key for f in reg.SEALED if f.blind_index is not None]
    columns = [reg.get(k).column for k in indexed]
    done = 0
    failed: list[int] = []
    last_id = 0
    while True:
        with transaction.atomic():
            batch = list(
                Patron.objects.select_for_update()
                .filter(pk__gt=last_id)
                .exclude(status=PatronStatus.ERASED)
                .order_by("pk")
                .values("pk", "key_id", "card_index", *columns)[:batch_size]
            )
            if not batch:
                break
            last_id = batch[-1]["pk"]
            for row in batch:
                current = row["card_index"]
                if current is not None and blind.index_version(bytes(current)) == new_version:
                    continue
                try:
                    values = _unseal_row(row["pk"], row, indexed)
                except (SealedDataDamaged, KeyMissing):
                    failed.append(row["pk"])
                    logger.warning(
                        "Patron %s could not be re-indexed: its sealed data does not open.",
                        row["pk"],
                    )
                    continue
                ledger.append(
                    actor=_ROTATION_ACTOR,
                    action="patron.reindex",
                    purpose=KEY_ROTATION_PURPOSE,
                    patron_id=row["pk"],
                    fields=indexed,
                )
                others = {k: val for k, val in values.items() if k != "name"}
                Patron.objects.filter(pk=row["pk"]).update(
                    **_index_columns(others, new_blind_index_fn)
                )
                PatronNameToken.objects.filter(patron_id=row["pk"]).delete()
                if values.get("name"):
                    PatronNameToken.objects.bulk_create(
                        _name_token_rows(row["pk"], values["name"], new_blind_index_fn)
                    )
                done += 1
    if failed:
        shown = ", ".join(str(pk) for pk in failed[:20])
        more = f" and {len(failed) - 20} more" if len(failed) > 20 else ""
        raise PatronError(
            f"{done} patrons were re-indexed, but patrons {shown}{more} have sealed data that "
            "does not open, so they could not be. Restore or erase them, then run the rotation "
            "again: it resumes where it stopped."
        )
    return done
