"""The keystore's tables (database alias `keystore`, see `routers.py`).

Nothing here is personal data: a data key row holds random key material
wrapped by the master key; an erasure entry holds the key's id, the caller's
opaque owner id (e.g. a patron id) and a time.
"""

from __future__ import annotations

from django.db import models


class DataKey(models.Model):
    """One owner's data key, wrapped (AES-256-GCM) by a master key version."""

    key_id = models.UUIDField(primary_key=True)
    # version byte + 96-bit nonce + AES-256-GCM(data key) + tag; the AAD binds
    # key_id and kek_version so a wrapped key cannot be moved to another row.
    wrapped = models.BinaryField()
    # Which master key version wrapped it. Rotation re-wraps row by row, so
    # during a rotation old and new versions coexist; both stay readable.
    kek_version = models.PositiveIntegerField(db_index=True)
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = "data key"

    def __str__(self) -> str:
        return f"data key {self.key_id} (master key v{self.kek_version})"


class ErasureEntry(models.Model):
    """A record that a data key was destroyed, so that a restore can destroy it again.

    The same entries are appended to `keys/erasure-journal.jsonl`, which
    survives a restore of an older keystore backup.
    """

    key_id = models.UUIDField(primary_key=True)
    # The caller's opaque id for whose key it was (e.g. a patron id), never a
    # name or other personal value.
    owner = models.CharField(max_length=128)
    erased_at = models.DateTimeField()

    class Meta:
        verbose_name = "erasure entry"
        verbose_name_plural = "erasure entries"
        ordering = ["erased_at"]

    def __str__(self) -> str:
        return f"erased {self.key_id} ({self.owner})"
