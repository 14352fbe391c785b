"""Erasure: destroy the patron's key and every personal column, keep an id-only tombstone."""

from __future__ import annotations

import logging

from django.db import DatabaseError, connections, router, transaction

from shelfguard.core import clock
from shelfguard.core.actors import Actor
from shelfguard.ledger import services as ledger
from shelfguard.patrons import obligations
from shelfguard.patrons import register as reg
from shelfguard.patrons.errors import (
    ErasureRefused,
)
from shelfguard.patrons.models import (
    Consent,
    CorrectionRequest,
    Patron,
    PatronChange,
    PatronNameToken,
    PatronStatus,
    SelfRegistration,
)
from shelfguard.patrons.records import (
    _lock,
    _owner,
    _refuse_erased,
)
from shelfguard.patrons.validation import PatronError
from shelfguard.vault import KeyDestroyed, keystore

logger = logging.getLogger(__name__)


def erase(
    patron: Patron | int,
    *,
    actor: Actor,
    reason: str,
    purpose: str = "erasure",
    origin: str = "",
) -> Patron:
    """Erase a patron: destroy their data key, clear every personal column, keep a tombstone.

    Refused with `ErasureRefused` (listing the reasons) while any registered
    obligation check reports something outstanding. Otherwise, in one
    transaction: sealed columns, blind indexes, name tokens, PIN hash,
    identity check, category, branch, consents, change history, correction
    requests and any card application are removed; the row keeps only its id, the status `erased` and the erasure
    time; one ledger entry (ids only) records it; and last, the vault
    destroys the key, so a failure there rolls everything back. Should the
    commit itself fail after the key is gone, the data is unreadable anyway
    and running `erase` again completes the tombstone.
    """
    reason = " ".join(str(reason or "").split())
    if not reason:
        raise PatronError("Say why the patron is erased (e.g. 'patron request').")
    if len(reason) > 200:
        raise PatronError("Keep the reason under 200 characters, and leave personal details out.")
    with transaction.atomic():
        row = _lock(patron)
        _refuse_erased(row)
        reasons = obligations.outstanding(row)
        if reasons:
            raise ErasureRefused(row.pk, reasons)
        key_id = row.key_id
        now = clock.now()
        for field in reg.SEALED:
            setattr(row, field.column, None)
        row.card_index = row.email_index = row.phone_index = row.address_index = None
        row.pin_hash = ""
        row.identity_document = ""
        row.identity_verified_by = ""
        row.identity_verified_at = None
        row.category = None
        row.home_branch = None
        row.expires_on = None
        row.guardian_required = False
        row.created_at = None
        row.updated_at = None
        row.status = PatronStatus.ERASED
        row.erased_at = now
        row.save()
        PatronNameToken.objects.filter(patron=row).delete()
        Consent.objects.filter(patron=row).delete()
        PatronChange.objects.filter(patron=row).delete()
        # Correction requests hold sealed proposals (unreadable once the key is
        # gone) but also staff's reasons in clear; card applications hold the
        # e-mail check. Neither outlives the patron.
        CorrectionRequest.objects.filter(patron=row).delete()
        SelfRegistration.objects.filter(patron=row).delete()
        ledger.append(
            actor=actor,
            action="patron.erase",
            purpose=purpose,
            patron_id=row.pk,
            fields=[f.key for f in reg.FIELDS],
            origin=origin,
            detail={"reason": reason},
        )
        if key_id:
            try:
                keystore.destroy_data_key(key_id, owner=_owner(row.pk))
            except KeyDestroyed:
                pass  # an earlier, interrupted erasure already destroyed it
        transaction.on_commit(_checkpoint_after_erasure, using=router.db_for_write(Patron))
    return row


def _checkpoint_after_erasure() -> None:
    """Fold SQLite's write-ahead log into the database so old page images leave the disk.

    With `secure_delete` the database file overwrites what was freed; the WAL
    still holds the previous pages until a checkpoint, so truncate it now.
    (They are ciphertext whose key is gone; this removes even that.)
    """
    connection = connections[router.db_for_write(Patron)]
    if connection.vendor != "sqlite":
        return
    try:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    except DatabaseError:
        # A busy reader can block the checkpoint; SQLite retries at the next one.
        logger.warning("WAL checkpoint after an erasure did not complete; it will run later.")
