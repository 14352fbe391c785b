"""The ledger's tables: the entries, the chain head, and the anchors left by pruning.

Entries are written only by `services.append` and removed only by
`services.prune`; the model and its queryset refuse every other write so that
a stray `save()` or `update()` elsewhere in the code cannot rewrite history
(and would break the chain if it did).
"""

from __future__ import annotations

import json
from typing import Any

from django.db import models

from shelfguard.ledger.chain import GENESIS


class CanonicalJSONField(models.TextField):
    """JSON kept as the exact canonical text that was hashed.

    Not a `JSONField`: PostgreSQL's jsonb would store a normalised form
    (reordered keys, rewritten numbers), and the chain needs the stored bytes
    to be the hashed bytes on every database. Python code sees lists and dicts.
    """

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> Any:
        return None if value is None else json.loads(value)

    def to_python(self, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    def get_prep_value(self, value: Any) -> str | None:
        if value is None:
            return None
        # The same encoding as chain.fields_json/detail_json for values they produced.
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


class ImmutableEntry(Exception):
    """An attempt to change or delete ledger entries outside append and prune."""


class EntryQuerySet(models.QuerySet):
    def update(self, **kwargs: Any) -> int:
        raise ImmutableEntry("Ledger entries are never updated.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise ImmutableEntry("Ledger entries are removed only by ledger.services.prune().")

    def _prune(self) -> int:
        """Delete these rows in one statement (no signals, nothing cascades to entries)."""
        return self._raw_delete(self.db)


class Entry(models.Model):
    """One recorded access: who, when, which patron (by id), which fields, why."""

    seq = models.BigIntegerField(primary_key=True)
    at = models.DateTimeField()
    actor_kind = models.CharField(max_length=16)
    actor_id = models.CharField(max_length=150, blank=True)
    channel = models.CharField(max_length=8)
    action = models.CharField(max_length=64)
    # An id, never a value; not a foreign key: the ledger outlives erased patrons
    # and imports no service app.
    patron_id = models.BigIntegerField(null=True, blank=True)
    fields = CanonicalJSONField(default=list)
    purpose = models.CharField(max_length=200)
    origin = models.CharField(max_length=255, blank=True)
    detail = CanonicalJSONField(default=dict)
    prev_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    objects = EntryQuerySet.as_manager()

    class Meta:
        ordering = ["seq"]
        verbose_name_plural = "entries"
        indexes = [
            # "Who looked at this patron" and "what did this person look at",
            # both read in chain order.
            models.Index(fields=["patron_id", "seq"], name="ledger_entry_patron_seq"),
            models.Index(fields=["actor_id", "seq"], name="ledger_entry_actor_seq"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} by {self.actor_kind}:{self.actor_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        raise ImmutableEntry("Ledger entries are written only by ledger.services.append().")

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise ImmutableEntry("Ledger entries are removed only by ledger.services.prune().")


class ChainHead(models.Model):
    """The newest entry's seq and hash, in one row that every append locks.

    Locking this row (SELECT ... FOR UPDATE on PostgreSQL; SQLite's IMMEDIATE
    transactions already serialise writers) makes concurrent appends queue, so
    the chain cannot fork. It also lets `verify` notice deleted newest entries
    when no checkpoint has been taken since.
    """

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    seq = models.BigIntegerField(default=0)
    hash = models.CharField(max_length=64, default=GENESIS)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(id=1), name="ledger_head_single_row")
        ]

    def __str__(self) -> str:
        return f"head #{self.seq}"


class PruneAnchor(models.Model):
    """Where a pruned prefix of the chain ended, so the rest still verifies.

    Verification starts after the newest anchor with its `last_hash` as the
    previous hash. Each anchor is matched by the `ledger.prune` entry that
    recorded it (`entry_seq`), so an anchor forged to hide deleted entries
    does not verify.
    """

    first_seq = models.BigIntegerField()
    last_seq = models.BigIntegerField(unique=True)
    last_hash = models.CharField(max_length=64)
    count = models.BigIntegerField()
    cutoff = models.DateTimeField()
    pruned_at = models.DateTimeField()
    entry_seq = models.BigIntegerField()

    class Meta:
        ordering = ["last_seq"]

    def __str__(self) -> str:
        return f"pruned #{self.first_seq}–#{self.last_seq}"
