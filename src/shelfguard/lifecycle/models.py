"""One row per backup run (create, keys, verify, restore): what `status()` reports from.

Nothing here is personal data: file names, sizes, durations and outcome codes.
"""

from __future__ import annotations

from django.db import models


class BackupRun(models.Model):
    class Kind(models.TextChoices):
        CREATE = "create", "create"
        KEYS = "keys", "keys"
        VERIFY = "verify", "verify"
        RESTORE = "restore", "restore"

    class Outcome(models.TextChoices):
        OK = "ok", "ok"
        FAILED = "failed", "failed"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    started_at = models.DateTimeField(db_index=True)
    duration_ms = models.PositiveIntegerField(default=0)
    # The backup file's name (not its directory: the row must not depend on where
    # the operator keeps copies).
    file_name = models.CharField(max_length=255, blank=True)
    # Size of the encrypted file, and of the database dump inside it.
    size_bytes = models.BigIntegerField(null=True)
    dump_bytes = models.BigIntegerField(null=True)
    # Stable failure codes (e.g. "hash_mismatch"), empty on success.
    problems = models.JSONField(default=list)
    message = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["kind", "outcome", "started_at"])]

    def __str__(self) -> str:
        return f"backup {self.kind} {self.outcome} at {self.started_at:%Y-%m-%d %H:%M}"


class BinEntry(models.Model):
    """One deleted object in the recycle bin, with what a restore needs to put it back.

    `snapshot` is Django's JSON serialisation of the object and the dependent
    rows its deletion took with it (a record's items, a branch's calendar), so
    a restore re-inserts every row with its original primary key and links.
    A patron's entry holds only blind indexes and name tokens (keyed hashes,
    never plaintext): the sealed row itself stays in place, its key in the
    keystore, until the bin period ends and the patron is crypto-erased.
    """

    class Kind(models.TextChoices):
        RECORD = "record", "record"
        ITEM = "item", "item"
        PATRON = "patron", "patron"
        POLICY = "policy", "loan policy"
        BRANCH = "branch", "branch"
        STAFF = "staff", "staff account"

    class State(models.TextChoices):
        BINNED = "binned", "binned"
        RESTORED = "restored", "restored"
        PURGED = "purged", "purged"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    object_id = models.BigIntegerField()
    # A non-personal label for lists: a barcode, a control number, a branch
    # code, a username; for a patron only "patron <id>".
    label = models.CharField(max_length=200, blank=True)
    snapshot = models.JSONField(default=list)
    rows = models.PositiveIntegerField(default=0)
    state = models.CharField(max_length=16, choices=State.choices, default=State.BINNED)
    deleted_by = models.CharField(max_length=180)
    deleted_at = models.DateTimeField()
    reason = models.CharField(max_length=200, blank=True)
    purge_after = models.DateTimeField(db_index=True)
    restored_by = models.CharField(max_length=180, blank=True)
    restored_at = models.DateTimeField(null=True)
    purged_at = models.DateTimeField(null=True)

    class Meta:
        ordering = ["-deleted_at", "-id"]
        indexes = [models.Index(fields=["state", "kind", "deleted_at"])]

    def __str__(self) -> str:
        return f"bin {self.pk}: {self.kind} {self.object_id} ({self.state})"


class ApprovalRequest(models.Model):
    """A request for a second staff member to approve one bulk action (four eyes).

    `params` names what the action will do (ids, counts, kinds), never a
    personal value; the action is refused unless the request it carries is
    approved, unexpired, unused and its parameters match exactly.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        APPROVED = "approved", "approved"
        REJECTED = "rejected", "rejected"
        USED = "used", "used"
        EXPIRED = "expired", "expired"

    action = models.CharField(max_length=40)
    params = models.JSONField(default=dict)
    requested_by = models.CharField(max_length=180)
    reason = models.CharField(max_length=200)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    decided_by = models.CharField(max_length=180, blank=True)
    decided_at = models.DateTimeField(null=True)
    used_at = models.DateTimeField(null=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "expires_at"])]

    def __str__(self) -> str:
        return f"approval {self.pk}: {self.action} ({self.status})"


class AcceptedPeriod(models.Model):
    """The retention period of one rule as last accepted (four eyes on the register).

    The sweep destroys by these periods, not straight from shelfguard.toml: a
    changed period takes effect only once a second person has approved it
    (`lifecycle.retention_changes`), so one person editing one file can make
    nothing be destroyed earlier, or kept longer, than agreed.
    """

    rule = models.CharField(max_length=64, unique=True)
    days = models.PositiveIntegerField()
    accepted_at = models.DateTimeField()
    #: The approval that accepted it; None for the first period recorded.
    approval_id = models.BigIntegerField(null=True)

    def __str__(self) -> str:
        return f"{self.rule}: {self.days} days"
